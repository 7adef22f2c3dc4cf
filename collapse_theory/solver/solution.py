"""The answer of one (problem, n): rewards or a limiting direction, a certificate, and one status.

One :class:`Solution` serves every problem: the paper's utility and a ranking loss (a plain
utility is the loss with one term). It carries one :class:`~collapse_theory.solver.status.Status`
from which ``converged`` and ``certified`` follow, so contradictory combinations (certified but
not converged, NaN rewards certified) cannot be built: the invariant is checked when the
solution is made. The status of a concave solve is decided here, from the values alone
(:func:`concave_status`): non-finite values fail, and a Frank-Wolfe gap within ``tol`` times
the scale of the gradient's prefix sums certifies.

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
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from collapse_theory._core.precision import float64
from collapse_theory._core.results import as_dict
from collapse_theory.problems.utilities import Utility
from collapse_theory.solver.status import Status

__all__ = ["DEFAULT_TOLERANCE", "Solution", "concave_status", "status_message", "within_tolerance"]

#: Relative certificate tolerance of every back end: certified when gap <= tol * scale, the scale being
#: positively homogeneous of degree 1 in the objective (so the test is invariant to scaling it).
DEFAULT_TOLERANCE = 1e-10

#: The JSON fields of a plain utility's solution (``solve --utility``), in order.
_UTILITY_FIELDS = ("utility", "n", "rewards", "objective", "gap", "converged", "certified", "iterations", "seconds", "message")
#: The JSON fields of a ranking loss's solution (``solve --loss``), in order.
_LOSS_FIELDS = (
    "loss", "utility", "n", "status", "rewards", "direction", "objective", "gap", "scale",
    "certified", "converged", "iterations", "seconds", "message", "details",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Solution:
    """The answer for one (problem, n) and how far it is trusted.

    Built by keyword. ``converged`` and ``certified`` are read from ``status``, so they
    cannot contradict each other or the values: a converged answer other than
    ``UNBOUNDED`` has finite rewards and objective, a certified one a finite gap, and an
    ``UNBOUNDED`` one a direction and no rewards.

    Attributes:
        utility: the utility's spec (for a loss: its objective term's spec).
        n: number of ranked completions.
        rewards: float64 array of shape (n,), descending (r_1 is the best-ranked); None when
            no maximiser exists (``UNBOUNDED``).
        objective: the maximised value at ``rewards`` (None when unbounded).
        gap: the certificate: an upper bound on the optimum minus ``objective`` where the
            problem is concave (None when unbounded).
        status: the outcome (:class:`~collapse_theory.solver.status.Status`).
        iterations: Newton steps (or linear-program iterations).
        seconds: wall-clock time of the solve (including compilation on first use).
        message: a human-readable account of the status.
        loss: the ranking loss's canonical spec; None for a plain utility solved as the
            paper's problem.
        direction: the limiting shape when unbounded (best first, range [0, 1]), else None.
        scale: the certificate's scale (certified means gap <= tol * scale), where reported.
        details: back-end facts worth keeping (for example a face's spread).
    """

    utility: str
    n: int
    rewards: np.ndarray | None
    objective: float | None
    gap: float | None
    status: Status
    iterations: int
    seconds: float
    message: str
    loss: str | None = None
    direction: np.ndarray | None = None
    scale: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.status, Status):
            raise TypeError(f"status must be a Status, got {self.status!r}")
        if not self.status.has_rewards:
            if self.rewards is not None or self.direction is None:
                raise ValueError("an unbounded solution has a limiting direction and no rewards")
            return
        if self.rewards is None:
            if self.status is Status.FAILED:
                return
            raise ValueError(f"a {self.status.value} solution needs rewards")
        if not self.status.converged:
            return
        finite = self.objective is not None and math.isfinite(self.objective) and bool(np.all(np.isfinite(self.rewards)))
        gap_finite = self.gap is not None and math.isfinite(self.gap)
        if not (finite and (gap_finite or not self.status.certified)):
            raise ValueError(f"a {self.status.value} solution needs finite rewards, objective and gap")

    @property
    def converged(self) -> bool:
        """The status is an answer (:attr:`Status.converged <collapse_theory.solver.status.Status.converged>`)."""
        return self.status.converged

    @property
    def certified(self) -> bool:
        """A certificate bounds the distance to the optimum within the tolerance."""
        return self.status.certified

    @property
    def problem(self) -> str:
        """The problem's spec: the loss's, or the utility's for the paper's problem."""
        return self.loss if self.loss is not None else self.utility

    def as_dict(self) -> dict[str, Any]:
        """Strict JSON (NaN and infinities are null): ``solve --utility``'s fields, or ``solve --loss``'s for a loss."""
        fields = as_dict(self)
        fields["converged"], fields["certified"] = self.converged, self.certified
        if self.loss is None:
            data = {key: fields.get(key) for key in _UTILITY_FIELDS}
            data["status"] = fields["status"]
            return data
        return {key: fields.get(key) for key in _LOSS_FIELDS}


#: The short account of each status in a loss's message (its cause follows in brackets).
_MESSAGES = {
    Status.OPTIMAL: "certified maximiser",
    Status.EXACT_VERTEX: Status.EXACT_VERTEX.message,
    Status.SHIFT_INVARIANT: Status.SHIFT_INVARIANT.message,
    Status.UNBOUNDED: Status.UNBOUNDED.message,
    Status.NON_UNIQUE: Status.NON_UNIQUE.message,
    Status.NOT_CONVERGED: "the certificate did not reach the tolerance",
    Status.NOT_CERTIFIED: Status.NOT_CERTIFIED.message,
    Status.FAILED: "no answer was found",
}


def status_message(status: Status, why: str) -> str:
    """A loss solution's message: the status's short account, then why."""
    return f"{_MESSAGES[status]} ({why})"


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
