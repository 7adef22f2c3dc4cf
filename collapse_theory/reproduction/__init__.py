"""Reproducing the paper's figures and claims: steps, claims, cached records and the report."""

__all__: list[str] = []
