"""How far a solver's answer is trusted: one value, with a message for each outcome.

In the spirit of optimistix's ``RESULTS`` and scipy's ``OptimizeResult.status``: a
:class:`~collapse_theory.solver.utility_solver.Solution` carries one :class:`Status` instead of
independent flags, so contradictory combinations (certified but not converged,
NaN rewards certified) cannot be built. ``converged`` and ``certified`` are read
from it.

=================  =========  =========  ===============================================
member             converged  certified  meaning
=================  =========  =========  ===============================================
``OPTIMAL``        yes        yes        U concave; the Frank-Wolfe gap is within tolerance
``EXACT_VERTEX``   yes        no         U convex; the best step vector is exact
``NOT_CONVERGED``  no         no         U concave; gap above tolerance (or step limit)
``NOT_CERTIFIED``  no         no         U not concave; best vertex or local answer
``FAILED``         no         no         non-finite values (overflow, NaN)
=================  =========  =========  ===============================================

Example:
    >>> Status.OPTIMAL.converged, Status.OPTIMAL.certified
    (True, True)
    >>> Status.FAILED.value
    'failed'
    >>> Status.FAILED.message
    'failed: non-finite values (overflow or NaN); nothing is certified'
"""

from __future__ import annotations

import enum

__all__ = ["Status"]


class Status(enum.Enum):
    """The outcome of one solve; ``value`` is its lowercase JSON name, ``message`` says what it means."""

    OPTIMAL = "optimal"
    EXACT_VERTEX = "exact_vertex"
    NOT_CONVERGED = "not_converged"
    NOT_CERTIFIED = "not_certified"
    FAILED = "failed"

    @property
    def message(self) -> str:
        """A human-readable sentence for this outcome (a solution's own message adds detail)."""
        return _MESSAGES[self]

    @property
    def converged(self) -> bool:
        """The answer is optimal to the tolerance: certified by the gap, or exact by convexity."""
        return self in (Status.OPTIMAL, Status.EXACT_VERTEX)

    @property
    def certified(self) -> bool:
        """The Frank-Wolfe gap certifies optimality to the tolerance (concave U, finite values)."""
        return self is Status.OPTIMAL


_MESSAGES = {
    Status.OPTIMAL: "optimal: U is concave and the Frank-Wolfe gap is within the tolerance",
    Status.EXACT_VERTEX: "exact: U is convex, so the maximum is at the best of the n+1 step vectors",
    Status.NOT_CONVERGED: "not converged: the Frank-Wolfe gap is above the tolerance",
    Status.NOT_CERTIFIED: "not certified: U is not concave, so the Frank-Wolfe gap bounds nothing",
    Status.FAILED: "failed: non-finite values (overflow or NaN); nothing is certified",
}
