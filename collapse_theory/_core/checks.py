"""Checks every entry point shares: seeds, and whether a request fits in memory.

Sizes are refused *before* memory is spent: each entry point estimates the bytes a
request needs from its sizes alone and compares them with the memory this machine
can still give (``MemAvailable`` on Linux, the physical memory elsewhere), so a
request that cannot fit gets one clear error naming the largest size that would,
instead of the kernel's out-of-memory killer or a traceback minutes later.

Example:
    >>> check_seed(7)
    7
    >>> check_seed(2**70)
    Traceback (most recent call last):
    ...
    collapse_theory.errors.InputError: seed must be an integer in [0, 4294967295], got 1180591620717411303424
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

# MemoryLimitError is defined with the other error kinds and imported from here too.
from collapse_theory.errors import InputError, MemoryLimitError

#: Seeds are 32-bit unsigned integers everywhere (NumPy's and JAX's PRNGs both take them).
MAX_SEED = 2**32 - 1


def check_seed(seed: object) -> int:
    """A seed as an int in [0, 2**32 - 1]; :class:`~collapse_theory.errors.InputError` (one line) otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        try:
            if isinstance(seed, str):
                seed = int(seed.strip())
            else:
                raise TypeError
        except (TypeError, ValueError):
            raise InputError(f"seed must be an integer in [0, {MAX_SEED}], got {seed!r}") from None
    assert isinstance(seed, int)
    if not 0 <= seed <= MAX_SEED:
        raise InputError(f"seed must be an integer in [0, {MAX_SEED}], got {seed}")
    return seed


def available_memory() -> int:
    """Bytes this process may still allocate: ``MemAvailable`` (Linux) or physical memory.

    ``COLLAPSE_THEORY_MEMORY_LIMIT`` (bytes) overrides the reading, for tests and for
    users who want a tighter bound on a shared machine.
    """
    override = os.environ.get("COLLAPSE_THEORY_MEMORY_LIMIT")
    if override:
        return int(float(override))
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 1 << 40


def format_bytes(count: float) -> str:
    """``count`` bytes in readable units, e.g. ``'4.3 GB'``."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(count) < 1000 or unit == "PB":
            return f"{count:.3g} {unit}"
        count /= 1000
    return f"{count:.3g} PB"  # pragma: no cover


def largest_fitting(estimate: Callable[[int], float], budget: float, lower: int = 1) -> int:
    """The largest size s >= lower with ``estimate(s) <= budget`` (estimate increasing), or lower - 1."""
    if estimate(lower) > budget:
        return lower - 1
    high = lower
    while estimate(high * 2) <= budget and high < 1 << 62:
        high *= 2
    low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if estimate(middle) <= budget:
            low = middle
        else:
            high = middle
    return low


def check_memory(what: str, size: int, estimate: Callable[[int], float], *, size_name: str = "n", lower: int = 1) -> None:
    """Refuse ``size`` when ``estimate(size)`` bytes exceed the available memory.

    The message names the request, its estimate, the memory available and the
    largest size that would fit.
    """
    needed = estimate(size)
    budget = available_memory()
    if needed <= budget and math.isfinite(needed):
        return
    fitting = largest_fitting(estimate, budget, lower)
    advice = f"the largest {size_name} that fits is {fitting}" if fitting >= lower else "nothing of this kind fits"
    raise MemoryLimitError(
        f"{what} with {size_name} = {size} needs about {format_bytes(needed)}, "
        f"more than the {format_bytes(budget)} available; {advice}"
    )
