"""collapse_theory: the numerical theory of reward collapse (arXiv 2305.17608)."""
