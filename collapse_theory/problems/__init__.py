"""What is maximised: utility families, utilities, ranking losses, and the framework presets that name them."""

__all__: list[str] = []
