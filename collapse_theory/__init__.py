"""collapse_theory: the numerical theory of reward collapse.

Reward models trained on rankings maximise, per prompt,
:math:`S(r) = \\sum_{i<j} U(r_i - r_j)` over :math:`1 \\ge r_1 \\ge \\dots \\ge r_n \\ge 0`,
a problem with no prompt in it: every prompt ends with the same rewards (reward
collapse; Song, Cai, Lee, Su, arXiv 2305.17608). This package solves that problem
with certificates, gives its n -> infinity laws, and trains a small reward model
to watch collapse happen and the prompt-aware fix undo it.

Example:
    >>> import collapse_theory as ct
    >>> solution = ct.solve("log", 8)
    >>> [round(float(r), 3) for r in solution.rewards]
    [1.0, 0.936, 0.796, 0.605, 0.395, 0.204, 0.064, 0.0]
    >>> ct.limit("log").describe()
    'Beta(0.5, 0.5) (arcsine)'
"""

import importlib
import warnings

from collapse_theory._core.compilation_cache import enable_compilation_cache
from collapse_theory._core.version import __version__
from collapse_theory.errors import CollapseTheoryError
from collapse_theory.laws.distances import Distances, distance, law_distance
from collapse_theory.laws.law import Atom, Law
from collapse_theory.laws.limits import describe_limit, gauss_lobatto_rewards, limit
from collapse_theory.problems.families import FAMILIES, Family
from collapse_theory.problems.losses import Loss, LossSpecError, parse_loss
from collapse_theory.problems.problem import parse_problem
from collapse_theory.problems.utilities import Utility, UtilitySpecError, custom, parse_utility
from collapse_theory.solver.dispatch import solve
from collapse_theory.solver.solution import Solution
from collapse_theory.solver.status import Status
from collapse_theory.solver.utility_solver import (
    SolverInputError,
    certificate_gap,
    objective_value,
    solve_batch,
    solve_family,
    solve_many,
)

# Heavier parts load on first use, so `import collapse_theory` stays quick. No module of the
# package shares a name with a function exported here, so importing a module never replaces
# one of these names by a module object.
_LAZY = {
    "NumericalLimit": "collapse_theory.laws.numerical_laws",
    "convergence": "collapse_theory.laws.convergence_studies",
    "numerical_limit": "collapse_theory.laws.numerical_laws",
    "explore": "collapse_theory.exploration.utility_exploration",
    "Exploration": "collapse_theory.exploration.utility_exploration",
    "design_for_limit": "collapse_theory.design.utility_design",
    "design_for_rewards": "collapse_theory.design.utility_design",
    "reproduce": "collapse_theory.reproduction.runner",
    "audit": "collapse_theory.auditing",
}


#: The former loss-only twins, kept for one release (they answer as before; ``solve`` and ``limit``
#: now take utilities and ranking losses alike).
_DEPRECATED = {
    "solve_loss": ("collapse_theory.solver.loss_solver", "solve"),
    "loss_limit": ("collapse_theory.laws.loss_laws", "limit"),
}


def __getattr__(name: str) -> object:
    if name in _DEPRECATED:
        module, replacement = _DEPRECATED[name]
        warnings.warn(
            f"collapse_theory.{name} is deprecated and goes in the next release: use collapse_theory.{replacement}, "
            "which takes utilities and ranking losses alike",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(module), name)
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'collapse_theory' has no attribute {name!r}")


def __dir__() -> list[str]:
    """Every public name, the lazily imported ones included (PEP 562)."""
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "FAMILIES",
    "Atom",
    "CollapseTheoryError",
    "Distances",
    "Exploration",
    "Family",
    "Law",
    "Loss",
    "LossSpecError",
    "NumericalLimit",
    "Solution",
    "SolverInputError",
    "Status",
    "Utility",
    "UtilitySpecError",
    "__version__",
    "audit",
    "certificate_gap",
    "convergence",
    "custom",
    "describe_limit",
    "design_for_limit",
    "design_for_rewards",
    "distance",
    "enable_compilation_cache",
    "explore",
    "gauss_lobatto_rewards",
    "law_distance",
    "limit",
    "numerical_limit",
    "objective_value",
    "parse_loss",
    "parse_problem",
    "parse_utility",
    "reproduce",
    "solve",
    "solve_batch",
    "solve_family",
    "solve_many",
]
