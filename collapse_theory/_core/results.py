"""One way to turn a typed result into JSON: ``as_dict`` for every result dataclass.

Results are frozen dataclasses built by keyword. Their JSON form comes from this one
helper instead of a hand-written ``as_dict`` per class: NumPy arrays become lists,
NumPy and JAX scalars become Python numbers, nested results become objects, and
non-finite floats become ``null`` (JSON has no NaN or Infinity; a result that has
such a value also carries a status saying why).

Example:
    >>> from dataclasses import dataclass
    >>> import numpy as np
    >>> @dataclass(frozen=True)
    ... class Point:
    ...     x: float
    ...     values: np.ndarray
    >>> as_dict(Point(x=float("nan"), values=np.array([1.0, 2.0])))
    {'x': None, 'values': [1.0, 2.0]}
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np


def json_value(value: Any) -> Any:
    """``value`` as strict JSON data (lists, dicts, str, int, finite float, bool, None)."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, enum.Enum):
        return json_value(value.value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return as_dict(value)
    if hasattr(value, "_asdict"):  # NamedTuple
        return {key: json_value(item) for key, item in value._asdict().items()}
    if isinstance(value, Mapping):
        return {str(key): json_value(item) for key, item in value.items()}
    if hasattr(value, "__array__") and not isinstance(value, (list, tuple)):
        array = np.asarray(value)
        if array.ndim == 0:
            return json_value(array.item())
        return [json_value(item) for item in array.tolist()]
    if isinstance(value, Iterable):
        return [json_value(item) for item in value]
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def as_dict(result: Any, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The fields of a result dataclass as strict JSON data, in field order.

    Fields declared with ``metadata={"json": False}`` are left out, as are the
    names in ``exclude``.
    """
    skipped = set(exclude)
    return {
        field.name: json_value(getattr(result, field.name))
        for field in dataclasses.fields(result)
        if field.name not in skipped and field.metadata.get("json", True)
    }
