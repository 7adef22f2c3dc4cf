"""A person's summary of a utility: its shape, its limit law, a Beta fit, a small-n optimum, a plot.

:func:`explore` gathers what one wants to know about a utility nobody has solved: is it
concave (so the solver's answers are certified) and singular at 0 (so rewards never tie
and the limit has no atoms), its n -> infinity law (closed form from
:func:`collapse_theory.laws.limits.limit`, else :func:`collapse_theory.laws.numerical_laws.numerical_limit`),
the atoms of that law, the Beta(a, b) law closest to it in Kolmogorov-Smirnov distance,
and the certified optimum at a small n. :func:`exploration_figure` draws it.
:func:`load_utility` imports a user's Python file by path (``path.py:function``) to
explore a custom utility, without evaluating any string.

Example:
    >>> summary = explore("exp:2", n=6)
    >>> [(atom.location, round(atom.mass, 4)) for atom in summary.atoms]
    [(0.0, 0.25), (1.0, 0.25)]
    >>> summary.closed_form, summary.concave, summary.singular
    (True, True, False)
"""

from __future__ import annotations

import importlib.util
import math
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
import scipy.stats
from matplotlib.figure import Figure

from collapse_theory._core.precision import float64
from collapse_theory._core.results import as_dict
from collapse_theory.errors import InputError
from collapse_theory.laws.distances import law_distance, law_wasserstein
from collapse_theory.laws.law import Atom, Law, as_law, beta_law
from collapse_theory.laws.limits import limit
from collapse_theory.laws.numerical_laws import NumericalLimit, is_hypersingular, is_singular_at_zero, numerical_limit
from collapse_theory.problems.problem import Problem, parse_problem
from collapse_theory.problems.utilities import Utility, custom, parse_utility
from collapse_theory.solver.utility_solver import Solution, check_n, solve

if TYPE_CHECKING:  # the loss summary builds on this module: only its type is named here
    from collapse_theory.exploration.loss_exploration import LossExploration

__all__ = [
    "SHOWN_ATOM_MASS",
    "BetaFit",
    "Exploration",
    "exploration_figure",
    "explore",
    "explore_utility",
    "fit_beta",
    "load_utility",
    "shape_on_grid",
    "shown_atoms",
]

#: Atoms lighter than this are neither drawn nor labelled in the figure and the law's description
#: (a mesh computation finds point masses down to 1e-6); the JSON field ``atoms`` keeps every one.
SHOWN_ATOM_MASS = 1e-3

#: Points of (0, 1] where a custom utility's concavity and monotonicity are checked.
CHECK_POINTS = np.unique(np.concatenate([np.geomspace(1e-8, 1.0, 400), np.linspace(1e-3, 1.0, 400)]))


@dataclass(frozen=True)
class BetaFit:
    """The Beta(a, b) law closest to a limit law.

    Attributes:
        a, b: the Beta parameters.
        kolmogorov_smirnov: KS distance of the fit to the law.
        wasserstein: Wasserstein-1 distance of the fit to the law.
        criterion: what was minimised: ``"kolmogorov-smirnov"``, or ``"wasserstein"`` for
            laws with atoms (no Beta has atoms, so KS is at least the heaviest atom's mass
            for every a, b and cannot choose between them).
    """

    a: float
    b: float
    kolmogorov_smirnov: float
    wasserstein: float
    criterion: str


@dataclass(frozen=True)
class Exploration:
    """Everything :func:`explore` found about a utility.

    Attributes:
        utility: the spec (or custom name).
        concave: U is concave on (0, 1] (checked on a grid; the solver certifies only
            utilities declared concave, see ``solution.certified``).
        increasing: U is non-decreasing on (0, 1] (checked on a grid).
        singular: U(0+) = -inf or U'(0+) = +inf (evaluated): rewards never tie, no atoms.
        hypersingular: U ~ -x^(-G) with G >= 1: the limit is uniform (Hardin and Saff).
        closed_form: the limit law is a closed form of :func:`collapse_theory.laws.limits.limit`.
        law: a description of the limit law.
        limit: the law itself (a :class:`~collapse_theory.laws.law.Law`, closed form or numerical).
        atoms: its point masses.
        mean: E X under the limit law.
        variance: Var X under the limit law.
        error_estimate: the numerical limit's error estimate (0 for a closed form).
        beta_fit: the closest Beta(a, b) law.
        solution: the certified optimum at n.
    """

    utility: str
    concave: bool
    increasing: bool
    singular: bool
    hypersingular: bool
    closed_form: bool
    law: str
    limit: Law = field(metadata={"json": False})
    atoms: tuple[Atom, ...]
    mean: float
    variance: float
    error_estimate: float
    beta_fit: BetaFit
    solution: Solution = field(metadata={"json": False})

    @property
    def converged(self) -> bool:
        """The optimum at n is an answer (certified, or exact for a convex U); else nothing at n is claimed."""
        return self.solution.converged

    @property
    def law_certified(self) -> bool:
        """The limit law is a closed form, or a numerical law whose mesh problem is certified (concave U)."""
        return self.closed_form or bool(getattr(self.limit, "certified", False))

    def as_dict(self) -> dict[str, Any]:
        """The JSON contract of ``collapse-theory explore --format json``.

        ``limit`` is the law in the structure every command shares
        (:meth:`collapse_theory.laws.law.Law.as_dict`); ``converged`` says whether the optimum at n
        is an answer, ``law_certified`` whether the law is.
        """
        return {
            **as_dict(self),
            "limit": self.limit.as_dict(),
            "solution": self.solution.as_dict(),
            "converged": self.converged,
            "law_certified": self.law_certified,
        }


def shown_atoms(atoms: tuple[Atom, ...], threshold: float = SHOWN_ATOM_MASS) -> tuple[tuple[Atom, ...], tuple[Atom, ...]]:
    """(atoms of mass >= threshold, the lighter ones), each by location.

    Example:
        >>> heavy, light = shown_atoms((Atom(0.0, 0.06), Atom(0.1, 2e-6), Atom(1.0, 0.06)))
        >>> [a.location for a in heavy], [a.location for a in light]
        ([0.0, 1.0], [0.1])
    """
    return tuple(a for a in atoms if a.mass >= threshold), tuple(a for a in atoms if a.mass < threshold)


def _derivatives(utility: Utility, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with float64():
        params = utility.parameter_array

        def value(t: jax.Array) -> jax.Array:
            return utility.function(t, params)

        first = jax.vmap(jax.grad(value))
        second = jax.vmap(jax.grad(jax.grad(value)))
        points = jnp.asarray(x, dtype=jnp.float64)
        return np.asarray(first(points)), np.asarray(second(points))


def shape_on_grid(utility: Utility | str) -> tuple[bool, bool]:
    """(concave, non-decreasing) of U on (0, 1], checked at ``CHECK_POINTS`` with JAX derivatives.

    A grid check, not a proof: it tells a user whether the Frank-Wolfe certificate
    (concave U) and Polya's criterion for the limit (concave, non-decreasing U) apply.

    Example:
        >>> shape_on_grid("log"), shape_on_grid("square")
        ((True, True), (False, True))
    """
    utility = parse_utility(utility)
    first, second = _derivatives(utility, CHECK_POINTS)
    if not (np.all(np.isfinite(first)) and np.all(np.isfinite(second))):
        raise InputError(f"utility {utility.spec}: U' or U'' is not finite on (0, 1]")
    scale = np.maximum(np.abs(second), 1.0)
    return bool(np.all(second <= 1e-9 * scale)), bool(np.all(first >= -1e-12 * np.maximum(np.abs(first), 1.0)))


def load_utility(reference: str) -> Utility:
    """Import ``function`` from the Python file in ``"path/to/file.py:function"`` as a Utility.

    The file is imported by path with :mod:`importlib` (its top-level code runs, as with
    any import; nothing is evaluated from strings). ``function`` may be a
    :class:`~collapse_theory.problems.utilities.Utility` (used as it is) or a JAX-traceable
    elementwise callable U(x) for x > 0, wrapped with
    :func:`~collapse_theory.problems.utilities.custom` and declared concave only if
    :func:`shape_on_grid` finds it concave.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a malformed reference, a file that fails to import, a missing or
            non-callable attribute, or a U that is not finite on (0, 1].

    Example:
        >>> import tempfile, os
        >>> folder = tempfile.mkdtemp()
        >>> path = os.path.join(folder, "mine.py")
        >>> _ = open(path, "w").write("import jax.numpy as jnp\\ndef root(x):\\n    return jnp.sqrt(x)\\n")
        >>> u = load_utility(path + ":root")
        >>> u.spec, u.concave
        ('root', True)
    """
    path_text, separator, name = reference.rpartition(":")
    if not separator or not path_text or not name:
        raise InputError(f"--utility-file expects path.py:function, got {reference!r}")
    if not name.isidentifier():
        raise InputError(f"{name!r} is not a Python function name (expected path.py:function)")
    path = Path(path_text)
    if not path.is_file():
        raise FileNotFoundError(f"utility file not found: {path}")
    module_name = f"_collapse_theory_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SystemExit as stop:  # sys.exit() at import would end the command silently, with its code
        raise InputError(f"importing {path} failed: it called sys.exit({stop.code!r}); a utility file defines U") from None
    except Exception as error:  # the user's code: report any failure as one line
        raise InputError(f"importing {path} failed: {_one_line(error)}") from None
    finally:
        sys.modules.pop(module_name, None)
    if not hasattr(module, name):
        raise InputError(f"{path} has no function {name!r}")
    candidate = getattr(module, name)
    if isinstance(candidate, Utility):
        return candidate
    if not callable(candidate):
        raise InputError(f"{path}:{name} is not callable")
    trial = custom(candidate, name)
    try:
        values = np.asarray(trial(jnp.asarray(CHECK_POINTS)))
    except (Exception, SystemExit) as error:
        raise InputError(f"{path}:{name} failed on an array of x in (0, 1]: {_one_line(error)}") from None
    # the solver differentiates U twice: an integer, complex or object result has no real
    # derivative (JAX's grad raises TypeError deep inside the solve)
    if not np.issubdtype(values.dtype, np.floating):
        raise InputError(f"{path}:{name} returns {values.dtype} values; U must return real floating-point numbers")
    if values.shape != CHECK_POINTS.shape or not np.all(np.isfinite(values)):
        raise InputError(f"{path}:{name} must be elementwise and finite on (0, 1]")
    try:
        concave, _ = shape_on_grid(trial)
        singular = is_singular_at_zero(trial)
    except ValueError:
        raise
    except (Exception, SystemExit) as error:  # U works on arrays but not under jax.grad (numpy inside, say)
        raise InputError(f"{path}:{name} cannot be differentiated with JAX: {_one_line(error)}") from None
    return custom(candidate, name, concave=concave, singular=singular)


def _one_line(error: BaseException) -> str:
    """``'TypeError: message'``, the first line of the message only (JAX appends advice below it)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def fit_beta(law: Any) -> BetaFit:
    """The Beta(a, b) closest to ``law``: in KS distance, or in Wasserstein-1 if the law has atoms.

    A Beta or Uniform(0, 1) law is its own fit. A law symmetric about 1/2 (every limit
    law of a concave utility) is fitted with a = b by bounded Brent on log a; any other by
    Nelder-Mead on (log a, log b) from the method-of-moments fit. The search evaluates the
    distance on a grid of 2,600 points; the reported KS uses the full grid of
    :func:`~collapse_theory.laws.distances.law_distance`. a and b stay in [1e-3, 1e3].

    Example:
        >>> fit = fit_beta(scipy.stats.beta(0.5, 0.5))
        >>> fit.a, fit.b, fit.kolmogorov_smirnov
        (0.5, 0.5, 0.0)
    """
    law = as_law(law)
    if law.kind == "beta":
        return BetaFit(a=law.parameters["a"], b=law.parameters["b"], kolmogorov_smirnov=0.0, wasserstein=0.0, criterion="exact")
    if law.kind == "uniform":
        return BetaFit(a=1.0, b=1.0, kolmogorov_smirnov=0.0, wasserstein=0.0, criterion="exact")
    mean = float(law.mean)
    variance = float(law.variance)
    common = mean * (1.0 - mean) / variance - 1.0 if variance > 0.0 else 1.0
    start = np.log(np.clip([mean * common, (1.0 - mean) * common], 1e-3, 1e3))
    bound = math.log(1e3)
    criterion = "wasserstein" if law.atoms else "kolmogorov-smirnov"

    def mismatch(log_ab: np.ndarray) -> float:
        a, b = np.exp(np.clip(log_ab, -bound, bound))
        candidate = beta_law(a, b)
        if criterion == "wasserstein":
            return law_wasserstein(law, candidate, _FIT_GRID)
        return law_distance(law, candidate, grid=_FIT_GRID, dense=False)

    if abs(mean - 0.5) <= 1e-9:
        result = scipy.optimize.minimize_scalar(
            lambda log_a: mismatch(np.array([log_a, log_a])), bounds=(-bound, bound), method="bounded", options={"xatol": 1e-7}
        )
        best = np.array([result.x, result.x])
    else:
        result = scipy.optimize.minimize(
            mismatch, start, method="Nelder-Mead", options={"xatol": 1e-5, "fatol": 1e-8, "maxiter": 300}
        )
        best = result.x
    if mismatch(start) < mismatch(best):
        best = start
    a, b = np.exp(np.clip(best, -bound, bound))
    fitted = beta_law(a, b)
    dense = np.unique(np.concatenate([_FIT_GRID, np.linspace(0.0, 1.0, 20001)]))
    return BetaFit(
        a=float(a),
        b=float(b),
        kolmogorov_smirnov=law_distance(law, fitted),
        wasserstein=law_wasserstein(law, fitted, dense),
        criterion=criterion,
    )


_FIT_GRID = np.unique(
    np.concatenate([np.geomspace(1e-12, 0.5, 800), 1.0 - np.geomspace(1e-12, 0.5, 800), np.linspace(0.0, 1.0, 1001)])
)


def explore(problem: Problem | str, n: int = 8, *, cells: int | None = None) -> Exploration | LossExploration:
    """Summarise a utility or a ranking loss: shape, limit law (closed form or numerical), atoms, Beta fit, optimum at n.

    A utility (a spec, a :class:`~collapse_theory.problems.utilities.Utility`, or a custom
    one from :func:`load_utility`) gives an :class:`Exploration` (:func:`explore_utility`).
    A ranking loss (a :class:`~collapse_theory.problems.losses.Loss` or a spec that is not a
    utility's, such as ``"trl-center:0.01"``) gives a
    :class:`~collapse_theory.exploration.loss_exploration.LossExploration`
    (:func:`~collapse_theory.exploration.loss_exploration.explore_loss`): its answer, its
    law where one exists, and its optimum or limiting direction.

    Args:
        problem: the utility or loss.
        n: the number of completions of the finite-n optimum (small: it is shown in full).
        cells: mesh cells of the numerical law where one is computed (default: its default).

    Example:
        >>> summary = explore("log", n=4)
        >>> summary.law, round(summary.beta_fit.a, 3)
        ('Beta(0.5, 0.5) (arcsine)', 0.5)
        >>> explore("trl-center:0.01", n=4).solution.status.value
        'optimal'
    """
    parsed = parse_problem(problem)
    if isinstance(parsed, Utility):
        return explore_utility(parsed, n, cells=cells)
    # loss_exploration builds on this module (its summary, fits and figure), so it is imported here
    from collapse_theory.exploration.loss_exploration import explore_loss

    return explore_loss(parsed, n, cells=cells)


def explore_utility(utility: Utility | str, n: int = 8, *, cells: int | None = None) -> Exploration:
    """Summarise a utility: shape, limit law (closed form or numerical), atoms, Beta fit, optimum at n.

    Args:
        utility: a spec, a :class:`~collapse_theory.problems.utilities.Utility`, or a custom one
            from :func:`load_utility`.
        n: the number of completions of the finite-n optimum (small: it is shown in full).
        cells: mesh cells for :func:`~collapse_theory.laws.numerical_laws.numerical_limit`
            (default: its default).

    Example:
        >>> summary = explore_utility("log", n=4)
        >>> summary.law, round(summary.beta_fit.a, 3)
        ('Beta(0.5, 0.5) (arcsine)', 0.5)
    """
    utility = parse_utility(utility)
    n = check_n(n)
    concave, increasing = shape_on_grid(utility)
    singular = is_singular_at_zero(utility)
    hypersingular = is_hypersingular(utility)
    closed = limit(utility)  # None for custom utilities, whatever their name
    law: Law
    if closed is not None:
        law = closed
        description = closed.describe()
        mean, variance, error = closed.mean, closed.variance, 0.0
    else:
        numerical = numerical_limit(utility) if cells is None else numerical_limit(utility, cells=cells)
        law = numerical
        description = _describe_numerical(numerical)
        mean, variance, error = numerical.mean, numerical.variance, numerical.error_estimate
    return Exploration(
        utility=utility.spec,
        concave=concave,
        increasing=increasing,
        singular=singular,
        hypersingular=hypersingular,
        closed_form=closed is not None,
        law=description,
        limit=law,
        atoms=law.atoms,
        mean=mean,
        variance=variance,
        error_estimate=error,
        beta_fit=fit_beta(law),
        solution=solve(utility, n),
    )


def _describe_numerical(law: NumericalLimit) -> str:
    if law.method == "hypersingular":
        return "Uniform(0, 1) (hypersingular: Hardin and Saff)"
    parts = [f"continuous mass {law.continuous_mass:.4g}"]
    heavy, light = shown_atoms(law.atoms)
    if heavy:
        parts.append("atoms " + ", ".join(f"{a.mass:.4g} at {a.location:g}" for a in heavy))
    if light:
        parts.append(f"{len(light)} lighter atoms (each below {SHOWN_ATOM_MASS:g}, total {sum(a.mass for a in light):.2g})")
    return "; ".join(parts)


# Long: one matplotlib figure drawn top to bottom (two panels, their legends and captions); split into
# pieces it would only pass the axes around.
def exploration_figure(exploration: Exploration) -> Figure:
    """Two panels: the optimal rewards at n against the limit's quantiles, and the limit law.

    Left: the certified optimum r_1 >= ... >= r_n (dots) and the quantiles of the limit law
    at the plotting positions 1 - (i - 1/2)/n (line), the picture of the paper's figures.
    Right: a histogram of the optimal rewards, the limit law's continuous density and the
    best Beta fit (dashed), the y axis scaled by the continuous density (a Beta fit that
    blows up at an end is clipped, not allowed to flatten the rest). Atoms are not
    densities: they are stems on their own axis (right, "atom mass"), labelled with
    their mass; atoms lighter than :data:`SHOWN_ATOM_MASS` are neither drawn nor labelled
    (the legend says how many). An optimum at n that did not converge is drawn as crosses
    labelled "NOT CONVERGED", and the titles say so.

    Example:
        >>> figure = exploration_figure(explore("log", n=6))
        >>> len(figure.axes)
        2
    """
    figure = Figure(figsize=(11, 4.6), layout="constrained")
    left, right = figure.subplots(1, 2)
    rewards = exploration.solution.rewards
    assert rewards is not None  # a utility's solution always has rewards
    n = rewards.size
    index = np.arange(1, n + 1)
    law = exploration.limit
    converged = exploration.solution.converged
    if converged:
        left.plot(index, rewards, "o", label=f"optimal rewards, n = {n}")
    else:
        label = f"{exploration.solution.status.value.replace('_', ' ').upper()} at n = {n} (gap {exploration.solution.gap:.2g})"
        left.plot(index, rewards, "x", color="C3", label=label)
    positions = 1.0 - (index - 0.5) / n
    left.plot(index, np.asarray(law.ppf(positions), dtype=float), "-", alpha=0.7, label="limit quantiles")
    left.set_xlabel("response index, best first")
    left.set_ylabel("reward")
    left.set_ylim(-0.05, 1.05)
    left.legend(loc="upper right", fontsize=8)
    left.set_title(
        f"U = {exploration.utility}: optimum and limit quantiles"
        if converged
        else f"U = {exploration.utility}: NO optimum at n = {n} (the solve did not converge)",
        fontsize=10,
    )

    x = np.linspace(1e-4, 1.0 - 1e-4, 801)
    if converged:
        right.hist(rewards, bins=max(4, min(20, n)), range=(0.0, 1.0), density=True, alpha=0.3, label=f"rewards, n = {n}")
    density = _density(law, x)
    # the scale: the continuous density away from the ends (where Beta densities may blow up)
    inner = (x > 0.05) & (x < 0.95)
    scale = 1.0 if density is None else float(np.nanmax(density[inner]))
    cap = 1.6 * max(scale, 1.0)  # curves above it leave the axis (clipped by matplotlib)
    if density is not None:
        right.plot(x, density, "-", color="C1", label="limit density (continuous part)")
    fit = exploration.beta_fit
    if exploration.law_certified:
        right.plot(
            x,
            beta_law(fit.a, fit.b).pdf(x),
            "--",
            color="C2",
            label=f"Beta({fit.a:.3g}, {fit.b:.3g}): KS {fit.kolmogorov_smirnov:.2g}, W1 {fit.wasserstein:.2g}",
        )
    right.set_ylim(0.0, cap * 1.05)
    right.set_xlim(-0.04, 1.04)
    right.set_xlabel("reward")
    right.set_ylabel("density")
    drawn, lighter = shown_atoms(exploration.atoms)
    if drawn:
        masses = right.twinx()
        largest = max(atom.mass for atom in drawn)
        for atom in drawn:
            masses.vlines(atom.location, 0.0, atom.mass, colors="C3", linewidth=2)
            masses.plot([atom.location], [atom.mass], "o", color="C3")
            # at an end the label points inward; an interior atom's label sits centred above its stem
            inward = 1 if atom.location <= 0.05 else -1 if atom.location >= 0.95 else 0
            masses.annotate(
                f"atom {atom.mass:.3g}",
                (atom.location, atom.mass),
                xytext=(6 * inward, 4),
                textcoords="offset points",
                ha={1: "left", -1: "right", 0: "center"}[inward],
                va="bottom",
                fontsize=8,
                color="C3",
            )
        masses.set_ylim(0.0, 1.3 * largest)
        masses.set_ylabel("atom mass", color="C3")
        omitted = f"; {len(lighter)} below {SHOWN_ATOM_MASS:g} not drawn" if lighter else ""
        masses.plot([], [], "o-", color="C3", label=f"atoms of mass >= {SHOWN_ATOM_MASS:g} (stems, right axis){omitted}")
        handles, labels = right.get_legend_handles_labels()
        extra_handles, extra_labels = masses.get_legend_handles_labels()
        right.legend(handles + extra_handles, labels + extra_labels, loc="upper center", fontsize=8)
    else:
        right.legend(loc="upper center", fontsize=8)
    verdict = "" if exploration.law_certified else "NOT CERTIFIED "
    right.set_title("\n".join(textwrap.wrap(f"{verdict}limit law: {exploration.law}", 60)), fontsize=9)
    return figure


def _density(law: Law, x: np.ndarray) -> np.ndarray | None:
    if law.continuous_mass <= 0.0:
        return None
    return np.asarray(law.pdf(x), dtype=float)
