"""Output helpers shared by the commands: CSV tables (``--format csv``)."""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Sequence
from typing import Any


def write_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a CSV table to stdout: one header row, then the rows; None and non-finite numbers are empty cells."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None or (isinstance(v, float) and not math.isfinite(v)) else v for v in row])


def numbers(values: Any) -> str:
    """A vector as one CSV cell: numbers separated by spaces ('' for None)."""
    return "" if values is None else " ".join(f"{float(v):.10g}" for v in values)
