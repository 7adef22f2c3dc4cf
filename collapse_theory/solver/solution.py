"""The answer of one (utility, n) problem: rewards, certificate, and one status.

A :class:`Solution` carries one :class:`~collapse_theory.solver.status.Status` from which
``converged`` and ``certified`` follow, so contradictory combinations (certified but not
converged, NaN rewards certified) cannot be built. The status of a concave solve is decided
here, from the values alone (:func:`concave_status`): non-finite values fail, and a
Frank-Wolfe gap within ``tol`` times the scale of the gradient's prefix sums certifies.

Example:
    >>> import numpy as np
    >>> from collapse_theory.solver.status import Status
    >>> s = Solution(utility="linear", n=2, rewards=np.array([1.0, 0.0]), objective=1.0, gap=0.0,
    ...              status=Status.OPTIMAL, iterations=0, seconds=0.0, message="exact")
    >>> s.converged, s.certified
    (True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from collapse_theory._core.precision import float64
from collapse_theory._core.results import as_dict
from collapse_theory.problems.utilities import Utility
from collapse_theory.solver.status import Status

__all__ = ["Solution", "concave_status", "within_tolerance"]


@dataclass(frozen=True, kw_only=True)
class Solution:
    """The optimal rewards of one (utility, n) problem and how far they are trusted.

    Built by keyword. ``converged`` and ``certified`` are read from ``status``, so
    they cannot contradict each other or the values (a certified solution has
    finite rewards, objective and gap).

    Attributes:
        utility: the utility's spec string.
        n: number of ranked completions.
        rewards: float64 array of shape (n,), descending (r_1 is the best-ranked).
        objective: S(rewards).
        gap: Frank-Wolfe gap, an upper bound on S* - S(rewards) when U is concave.
        status: the outcome (:class:`~collapse_theory.solver.status.Status`).
        iterations: Newton steps taken.
        seconds: wall-clock time of the solve (including compilation on first use).
        message: a human-readable account of the status.
    """

    utility: str
    n: int
    rewards: np.ndarray
    objective: float
    gap: float
    status: Status
    iterations: int
    seconds: float
    message: str

    def __post_init__(self) -> None:
        if not isinstance(self.status, Status):
            raise TypeError(f"status must be a Status, got {self.status!r}")
        finite = math.isfinite(self.objective) and bool(np.all(np.isfinite(self.rewards)))
        if self.status.converged and not (finite and (math.isfinite(self.gap) or not self.status.certified)):
            raise ValueError(f"a {self.status.value} solution needs finite rewards, objective and gap")

    @property
    def converged(self) -> bool:
        """Optimal to the tolerance: certified by the gap (concave U) or exact (convex U)."""
        return self.status.converged

    @property
    def certified(self) -> bool:
        """The Frank-Wolfe gap certifies optimality to the tolerance (status ``OPTIMAL``)."""
        return self.status.certified

    def as_dict(self) -> dict[str, Any]:
        """The JSON contract of ``collapse-theory solve --format json`` (strict: NaN and infinities are null)."""
        fields = as_dict(self)
        keys = ("utility", "n", "rewards", "objective", "gap", "converged", "certified", "iterations", "seconds", "message")
        data = {key: fields.get(key) for key in keys}
        data["converged"], data["certified"] = self.converged, self.certified
        data["status"] = fields["status"]
        return data


def within_tolerance(gap: Any, scale: Any, tol: float) -> Any:
    """``gap <= tol * scale`` with both finite, elementwise (the host twin of ``_symmetric.within_tolerance``)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.isfinite(gap) & np.isfinite(scale) & (gap <= tol * scale)


def concave_status(
    utility: Utility, rewards: np.ndarray, objective: float, gap: float, scale: float, tol: float, iterations: int
) -> tuple[Status, str]:
    """The status of a concave solve: FAILED on any non-finite value, else OPTIMAL or NOT_CONVERGED."""
    bad = [
        name
        for name, ok in (("rewards", np.all(np.isfinite(rewards))), ("S", math.isfinite(objective)), ("gap", math.isfinite(gap)))
        if not ok
    ]
    if bad:
        reason = _concavity_violation(utility) or "U or its derivatives overflow float64, or U is NaN somewhere on (0, 1]"
        return Status.FAILED, f"failed: non-finite {', '.join(bad)} ({reason}); nothing is certified"
    if within_tolerance(gap, scale, tol):
        return Status.OPTIMAL, "converged: optimality certified by the Frank-Wolfe gap"
    return (
        Status.NOT_CONVERGED,
        f"not converged: gap {gap:.3g} above tol x scale = {tol * scale:.3g} after {iterations} iterations",
    )


def _concavity_violation(utility: Utility) -> str | None:
    """Where a utility declared concave has U'' > 0 on a grid of (0, 1] (a custom one, say), or None.

    Only asked after a failure, to say why: Newton's method on a non-concave S
    meets an indefinite matrix and its Cholesky factorisation gives NaN.
    """
    record = utility.family_record
    if record is not None and utility.function is record.function:  # a built-in: its shape is known
        return None
    with float64():
        x = jnp.linspace(1e-3, 1.0, 1000, dtype=jnp.float64)
        params = utility.parameter_array

        def second(t: jax.Array) -> jax.Array:
            return jax.grad(jax.grad(lambda s: utility.function(s, params)))(t)

        curvature = np.asarray(jax.vmap(second)(x))
    positive = np.flatnonzero(curvature > 0)
    if not positive.size:
        return None
    return f"U'' > 0 at x = {float(x[positive[0]]):.3g}: U is not concave as declared"
