"""Closed-form n -> infinity laws of the optimal rewards, and the Gauss-Lobatto oracle.

As n grows, the empirical distribution of the optimal rewards of
:math:`\\max \\sum_{i<j} U(r_i - r_j)` converges to the law of X maximising
:math:`E\\, U(|X - X'|)` over laws on [0, 1] (X, X' independent); Song, Cai, Lee, Su,
"Reward Collapse in Aligning Large Language Models", arXiv 2305.17608 (its
limit theorem for the optimal rewards and the closed forms it derives). The closed forms, with their references, are the ``law`` of each family
record in :mod:`collapse_theory.problems.families`; :func:`limit` reads them from there, as one
:class:`~collapse_theory.laws.law.Law` type.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.special

from collapse_theory.laws.law import Law, as_law
from collapse_theory.problems.problem import Problem, parse_problem
from collapse_theory.problems.utilities import Utility
from collapse_theory.solver.utility_solver import check_n

__all__ = ["Distribution", "describe_limit", "gauss_lobatto_rewards", "limit", "limit_parameters"]

#: Kept for older annotations: every limit is now a :class:`~collapse_theory.laws.law.Law`.
Distribution = Law


def limit(problem: Problem | str) -> Law | None:
    """The n -> infinity law of the optimal rewards of a utility or a ranking loss.

    A ranking loss (any spec that is not a utility's, or a
    :class:`~collapse_theory.problems.losses.Loss`) is answered by
    :func:`~collapse_theory.laws.loss_laws.loss_limit`: its closed form (bounded
    Plackett-Luce, IPO, the semicircle of ``log+free+l2``) or its numerical law with a
    field, and :class:`~collapse_theory.laws.loss_laws.NoLimitError` saying why where no
    law exists. A utility's closed form follows; None where none is known.

    Read from the utility's family record (:mod:`collapse_theory.problems.families`), never from
    its name: a custom utility has no closed form, whatever it is called.

    * ``log`` -> Beta(1/2, 1/2) (the arcsine law; Fekete points / Gauss-Lobatto),
    * ``power:G`` -> Beta((1-G)/2, (1-G)/2) (Bjorck 1956),
    * ``neg-power:G`` -> Beta((1+G)/2, (1+G)/2) for G < 1 (Riesz equilibrium
      measure), Uniform(0, 1) for G >= 1 (Hardin and Saff 2004),
    * ``box-cox:G`` -> the law of the member of the same optimum above,
    * ``exp:B`` -> atoms 1/(B+2) at 0 and 1, uniform density B/(B+2) between,
    * ``linear``, ``square`` -> two points, mass 1/2 at 0 and 1,
    * anything else (``log-sigmoid:B``, custom) -> None; see
      :func:`collapse_theory.laws.numerical_laws.numerical_limit`.

    Reference: Song, Cai, Lee, Su, arXiv 2305.17608 (the limit theorem and its closed forms).

    Example:
        >>> limit("log").parameters
        {'a': 0.5, 'b': 0.5}
        >>> limit("neg-power:2").kind
        'uniform'
        >>> limit("exp:1").atoms[0].mass
        0.3333333333333333
        >>> limit("log-sigmoid:4") is None
        True
        >>> limit("plackett-luce:1").describe()
        'atoms 0.4621 at 1 and 0.2689 at 0, uniform mass 0.2689 between'
    """
    parsed = parse_problem(problem)
    if not isinstance(parsed, Utility):
        # the loss laws (scipy.stats, the energy quadratures) load on the first loss: `import collapse_theory` stays quick
        from collapse_theory.laws.loss_laws import loss_limit

        return loss_limit(parsed)
    record = parsed.family_record
    return None if record is None else record.limit_law(parsed.parameters)


def describe_limit(law: Any) -> str:
    """A one-line human description of a limit law, e.g. ``"Beta(0.25, 0.25)"``."""
    if law is None:
        return "no closed form known"
    return as_law(law).describe()


def limit_parameters(law: Any) -> dict[str, Any]:
    """The law's name and parameters as a JSON-ready dict (the ``limit`` command's ``law`` fields)."""
    if law is None:
        return {"law": None}
    law = as_law(law)
    if law.kind == "beta":
        return {"law": "beta", "a": law.parameters["a"], "b": law.parameters["b"]}
    if law.kind == "uniform":
        return {"law": "uniform", "low": 0.0, "high": 1.0}
    if law.kind == "two-point":
        return {"law": "two-point", "atoms": [0.0, 1.0], "masses": [0.5, 0.5]}
    return {
        "law": law.kind,
        "atoms": [atom.location for atom in law.atoms],
        "masses": [atom.mass for atom in law.atoms],
        "continuous_mass": law.continuous_mass,
    }


def gauss_lobatto_rewards(n: int) -> np.ndarray:
    """The n Gauss-Lobatto-Legendre nodes mapped to [0, 1], descending.

    They are the optimal rewards for U = log at every n: the stationarity
    conditions of :math:`\\sum_{i<j} \\log(r_i - r_j)` with r_1 = 1, r_n = 0 are those
    of the Fekete points of [-1, 1], which are the zeros of
    :math:`(1 - x^2) P'_{n-1}(x)` (Stieltjes 1885; Fejer 1932). The interior nodes
    are the zeros of the Jacobi polynomial :math:`P^{(1,1)}_{n-2}`, computed by
    :func:`scipy.special.roots_jacobi` (Golub-Welsch with Newton polishing),
    independently of the solver.

    Example:
        >>> np.round(gauss_lobatto_rewards(4), 6).tolist()
        [1.0, 0.723607, 0.276393, 0.0]
    """
    n = check_n(n)
    interior = scipy.special.roots_jacobi(n - 2, 1.0, 1.0)[0] if n > 2 else np.empty(0)
    nodes = np.concatenate([[-1.0], np.sort(interior), [1.0]])
    return ((nodes[::-1] + 1.0) / 2.0).astype(np.float64)
