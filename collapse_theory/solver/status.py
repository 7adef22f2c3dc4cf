"""How far a solver's answer is trusted: one value, with a message for each outcome.

In the spirit of optimistix's ``RESULTS`` and scipy's ``OptimizeResult.status``: a
:class:`~collapse_theory.solver.solution.Solution` carries one :class:`Status` instead of
independent flags, so contradictory combinations (certified but not converged, NaN
rewards certified) cannot be built. ``converged`` and ``certified`` are read from it. The
same statuses serve the paper's utilities and the ranking losses (a plain utility is the
loss with one term), with one spelling in JSON and in text: the member's ``value``.

===================  =========  =========  =============================================================
member               converged  certified  meaning
===================  =========  =========  =============================================================
``OPTIMAL``          yes        yes        the certificate (Frank-Wolfe gap, cone bound, linear program)
                                           is within the tolerance
``EXACT_VERTEX``     yes        no         U convex; the best step vector is exact
``SHIFT_INVARIANT``  yes        yes        free rewards, a maximiser unique up to a common shift
                                           (the mean-zero one is reported), certified
``NON_UNIQUE``       yes        yes        a face of maximisers; one certified maximiser is reported
``UNBOUNDED``        yes        no         no maximiser: the limiting direction is reported instead
``NOT_CONVERGED``    no         no         the certificate is above the tolerance (or the step limit)
``NOT_CERTIFIED``    no         no         U not concave; best vertex or local answer
``FAILED``           no         no         non-finite values (overflow, NaN): no answer
===================  =========  =========  =============================================================

Example:
    >>> Status.OPTIMAL.converged, Status.OPTIMAL.certified
    (True, True)
    >>> Status.NOT_CONVERGED.value
    'not_converged'
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
    SHIFT_INVARIANT = "shift_invariant"
    NON_UNIQUE = "non_unique"
    UNBOUNDED = "unbounded"
    NOT_CONVERGED = "not_converged"
    NOT_CERTIFIED = "not_certified"
    FAILED = "failed"

    @property
    def message(self) -> str:
        """A human-readable sentence for this outcome (a solution's own message adds detail)."""
        return _MESSAGES[self]

    @property
    def converged(self) -> bool:
        """The status is an answer: certified, exact by convexity, or a proof that no maximiser exists."""
        return self in _CONVERGED

    @property
    def certified(self) -> bool:
        """A certificate bounds the distance to the optimum within the tolerance (finite values)."""
        return self in _CERTIFIED

    @property
    def has_rewards(self) -> bool:
        """The answer comes with rewards (every status but ``UNBOUNDED``, which has a direction instead)."""
        return self is not Status.UNBOUNDED


_CERTIFIED = frozenset({Status.OPTIMAL, Status.SHIFT_INVARIANT, Status.NON_UNIQUE})
_CONVERGED = _CERTIFIED | {Status.EXACT_VERTEX, Status.UNBOUNDED}

_MESSAGES = {
    Status.OPTIMAL: "optimal: the certificate bounds the distance to the optimum within the tolerance",
    Status.EXACT_VERTEX: "exact: U is convex, so the maximum is at the best of the n+1 step vectors",
    Status.SHIFT_INVARIANT: "maximiser unique up to a common shift; the mean-zero one is reported",
    Status.NON_UNIQUE: "a face of maximisers; one is reported",
    Status.UNBOUNDED: "no maximiser: the loss improves without limit; the limiting direction is reported",
    Status.NOT_CONVERGED: "not converged: the certificate is above the tolerance",
    Status.NOT_CERTIFIED: "not certified: U is not concave, so the Frank-Wolfe gap bounds nothing",
    Status.FAILED: "failed: non-finite values (overflow or NaN); nothing is certified",
}
