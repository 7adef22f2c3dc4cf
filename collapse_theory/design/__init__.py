"""Inverse problems: the utility whose optimum or limit law is a target, for utilities and for losses."""

__all__: list[str] = []
