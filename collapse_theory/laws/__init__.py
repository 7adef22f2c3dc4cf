"""The n -> infinity laws: closed forms, numerical laws, distances between laws, and convergence studies."""

__all__: list[str] = []
