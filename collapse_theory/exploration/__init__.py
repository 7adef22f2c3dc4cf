"""Exploring a utility or a loss numerically: optimum, fitted law, and a one-sentence answer."""

__all__: list[str] = []
