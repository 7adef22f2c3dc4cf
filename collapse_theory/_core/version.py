"""The package's version and its source folder, read by cache keys and reports without importing the package root."""

from pathlib import Path

__all__ = ["PACKAGE_ROOT", "__version__"]

__version__ = "0.1.0"

#: The folder of the package's sources (``collapse_theory/``), whatever module asks.
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
