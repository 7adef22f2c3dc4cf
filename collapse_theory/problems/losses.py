"""Ranking losses as practitioners train them: one :class:`Loss` object from a spec string.

For one prompt with n ranked completions (1 = best) and rewards r, a loss is maximised as

.. math::

    F(r) = \\sum_{i<j} w_{ij}\\, U(r_i - r_j - m_{ij}) - R(r)
    \\qquad \\text{(pairwise)}

    F(r) = \\sum_{i=1}^{n-1} \\Big[ B r_i - \\log \\sum_{j \\ge i} e^{B r_j} \\Big] - R(r)
    \\qquad \\text{(Plackett-Luce / ListMLE)}

over :math:`r_1 \\ge \\dots \\ge r_n`, with rewards bounded in [0, 1] (the paper, Song, Cai,
Lee, Su, arXiv 2305.17608) or free in :math:`\\mathbb{R}^n`.

A spec joins terms with ``+`` and has exactly one *objective* term:

====================  ==============================================================
term                  meaning
====================  ==============================================================
a utility spec        U as in :func:`~collapse_theory.problems.utilities.parse_utility`
                      (``log-sigmoid:1`` is Bradley-Terry)
``ipo:BETA``          U(x) = -(x - 1/(2 BETA))^2, IPO with TRL's ``beta`` (Azar et al. 2023's tau):
                      target margin 1/(2 BETA); free unless ``bounded``
``ipo-margin:TAU``    the same loss given by its target margin TAU = 1/(2 BETA)
``plackett-luce:B``   the Plackett-Luce log-likelihood with inverse temperature B
``min-linear:T``      U(x) = min(x, T), a concave kink (solved as a linear program)
``free``              rewards in R^n (default: bounded in [0, 1], except for IPO)
``bounded``           rewards in [0, 1] (the default; needed only for IPO)
``l2:BETA``           R = BETA/2 sum_{i<j} (r_i^2 + r_j^2) = BETA (n-1)/2 sum_k r_k^2
``center:C``          R = C sum_{i<j} (r_i + r_j)^2 = C [(n-2) sum r^2 + (sum r)^2]
``margin:M``          m_ij = M
``rank-margin:M``     m_ij = M (j - i)
``lipo``              w_ij = abs(2^(n-i) - 2^(n-j)) abs(1/log2(1+i) - 1/log2(1+j)) (LiPO-lambda)
====================  ==============================================================

Presets (they may be combined with further terms, e.g. ``open-assistant+rank-margin:0.1``):
``bradley-terry`` = ``trl`` = ``openrlhf`` = ``log-sigmoid:1+free`` (TRL's ``RewardTrainer``,
OpenRLHF's ``PairWiseLoss`` and ``LogExpLoss``); ``open-assistant`` = ``oasst`` =
``log-sigmoid:1+free+l2:0.001``; ``trl-center:C`` = ``log-sigmoid:1+free+center:C``;
``listmle`` = ``plackett-luce:1+free``. Each framework option's spec:
:data:`collapse_theory.problems.frameworks.FRAMEWORK_CONVENTIONS` (``collapse-theory losses``).

IPO in TRL (``DPOTrainer``/``DPOConfig(loss_type="ipo", beta=BETA)``) minimises
(h - 1/(2 BETA))^2 where h is a difference of the policy's log-ratios,
log pi(y_w)/pi_ref(y_w) - log pi(y_l)/pi_ref(y_l). The reward-model analogue computed here puts
the reward difference r_i - r_j in place of h, over every pair of the ranking.

A plain utility spec (``"log"``) is the paper's problem, exactly as today.

Example:
    >>> loss = parse_loss("open-assistant")
    >>> loss.spec, loss.free, loss.l2
    ('log-sigmoid:1+free+l2:0.001', True, 0.001)
    >>> parse_loss("log").is_plain_utility
    True
    >>> parse_loss("ipo:0.1").parameter              # TRL's default beta: target margin 1/(2 beta) = 5
    5.0
    >>> parse_loss("ipo-margin:5").parameter, parse_loss("ipo-margin:5").spec
    (5.0, 'ipo-margin:5')
    >>> parse_loss("log+ipo:1")
    Traceback (most recent call last):
    ...
    collapse_theory.problems.losses.LossSpecError: loss 'log+ipo:1' has two objective terms ('log' and 'ipo:1'); a loss has exactly one
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from collapse_theory._core.spec_numbers import SpecNumberError, format_number, read_number
from collapse_theory.errors import SpecError
from collapse_theory.problems.families import FAMILIES
from collapse_theory.problems.utilities import Utility, UtilitySpecError, parse_utility

__all__ = [
    "OBJECTIVE_KINDS",
    "PRESETS",
    "TERM_FORMS",
    "Loss",
    "LossSpecError",
    "lipo_weights",
    "margin_matrix",
    "parse_loss",
]


class LossSpecError(SpecError):
    """A loss spec that cannot be read: unknown term, two or no objective terms, a bad parameter."""


#: The objective kinds: a utility U of differences, IPO's square, Plackett-Luce, U(x) = min(x, T).
OBJECTIVE_KINDS = ("utility", "ipo", "plackett-luce", "min-linear")

#: Preset names and the terms they stand for (``trl-center`` takes its C). ``trl``,
#: ``openrlhf`` and ``oasst`` are the frameworks' own names for the same losses.
PRESETS: dict[str, str] = {
    "bradley-terry": "log-sigmoid:1+free",
    "trl": "log-sigmoid:1+free",
    "openrlhf": "log-sigmoid:1+free",
    "open-assistant": "log-sigmoid:1+free+l2:0.001",
    "oasst": "log-sigmoid:1+free+l2:0.001",
    "trl-center:C": "log-sigmoid:1+free+center:C",
    "listmle": "plackett-luce:1+free",
}

#: Every term a loss spec may have, as its error messages list them.
TERM_FORMS = (
    "a utility spec (log, power:G, log-sigmoid:B, ...), ipo:BETA, ipo-margin:TAU, plackett-luce:B, min-linear:T, "
    "free, bounded, l2:BETA, center:C, margin:M, rank-margin:M, lipo, or a preset "
    "(bradley-terry, trl, openrlhf, open-assistant, oasst, trl-center:C, listmle)"
)


@dataclass(frozen=True)
class Loss:
    """A ranking loss: one objective term, bounded or free rewards, a regulariser, margins, weights.

    Attributes:
        objective: one of :data:`OBJECTIVE_KINDS`.
        utility: the utility U when ``objective == "utility"``, else None.
        parameter: IPO's target margin TAU = 1/(2 BETA), B of ``plackett-luce``, T of ``min-linear``
            (None for a utility).
        free: rewards in R^n (True) or in [0, 1] (False).
        l2: BETA of ``l2:BETA`` (0 when absent).
        center: C of ``center:C`` (0 when absent).
        margin: M of ``margin:M`` (0 when absent).
        rank_margin: M of ``rank-margin:M`` (0 when absent).
        lipo: the LiPO-lambda pair weights are on.
        ipo_beta: IPO's BETA as typed (``ipo:BETA``; TRL's ``beta``, Azar et al.'s tau, with
            ``parameter`` = 1/(2 BETA)); None when IPO was given by its target margin
            (``ipo-margin:TAU``) and for the other objectives.
    """

    objective: str
    utility: Utility | None = None
    parameter: float | None = None
    free: bool = False
    l2: float = 0.0
    center: float = 0.0
    margin: float = 0.0
    rank_margin: float = 0.0
    lipo: bool = False
    ipo_beta: float | None = None

    def __post_init__(self) -> None:
        # margins and weights act on pairs; Plackett-Luce has none, so no back end could apply them
        if self.objective == "plackett-luce" and (self.margin or self.rank_margin or self.lipo):
            terms = [name for name, on in (("margin", self.margin), ("rank-margin", self.rank_margin), ("lipo", self.lipo)) if on]
            raise LossSpecError(
                f"loss {'+'.join(self.terms)!r}: {' and '.join(terms)} {'acts' if len(terms) == 1 else 'act'} on pairs r_i - r_j (a shift or a weight); "
                "Plackett-Luce has no pairs to apply them to (use a pairwise objective such as log-sigmoid:B)"
            )

    @property
    def objective_spec(self) -> str:
        """The objective term alone, e.g. ``'log-sigmoid:1'`` or ``'ipo:0.1'``."""
        if self.utility is not None:
            return self.utility.spec
        assert self.parameter is not None
        if self.objective == "ipo" and self.ipo_beta is not None:
            return f"ipo:{format_number(self.ipo_beta)}"
        name = "ipo-margin" if self.objective == "ipo" else self.objective
        return f"{name}:{format_number(self.parameter)}"

    @property
    def spec(self) -> str:
        """The canonical spec: objective, then free/bounded, l2, center, margin, rank-margin, lipo.

        It parses back to exactly this loss: every parameter is written with the shortest
        digits that read back as the same float64, never rounded.

        Example:
            >>> parse_loss("log-sigmoid:1+free+l2:0.00123456789").spec
            'log-sigmoid:1+free+l2:0.00123456789'
            >>> parse_loss("log-sigmoid:1+free+l2:1e300").l2
            1e+300
        """
        return "+".join(self.terms)

    @property
    def terms(self) -> tuple[str, ...]:
        """The canonical terms of :attr:`spec`, the objective term first.

        Example:
            >>> parse_loss("open-assistant+rank-margin:0.1").terms
            ('log-sigmoid:1', 'free', 'l2:0.001', 'rank-margin:0.1')
        """
        terms = [self.objective_spec]
        if self.objective == "ipo":
            if not self.free:
                terms.append("bounded")
        elif self.free:
            terms.append("free")
        for name, value in (("l2", self.l2), ("center", self.center), ("margin", self.margin), ("rank-margin", self.rank_margin)):
            if value:
                terms.append(f"{name}:{format_number(value)}")
        if self.lipo:
            terms.append("lipo")
        return tuple(terms)

    @property
    def is_plain_utility(self) -> bool:
        """The paper's problem, exactly: a utility alone on bounded rewards (solved by ``solver.solve``)."""
        return (
            self.objective == "utility"
            and not self.free
            and not (self.l2 or self.center or self.margin or self.rank_margin or self.lipo)
        )

    @property
    def has_regulariser(self) -> bool:
        """An ``l2`` or ``center`` term is present."""
        return bool(self.l2 or self.center)

    @property
    def has_margins(self) -> bool:
        """A ``margin`` or ``rank-margin`` term is present."""
        return bool(self.margin or self.rank_margin)

    @property
    def singular(self) -> bool:
        """U(0+) = -inf or U'(0+) = inf: r_i - r_j - m_ij > 0 is required for every pair."""
        return self.utility is not None and self.utility.singular

    def regulariser_strength(self, n: int) -> float:
        """rho with :math:`R(r) = \\rho \\lVert r - \\bar r \\rVert^2` + (a function of the mean alone).

        ``l2:BETA`` gives BETA (n-1)/2, ``center:C`` gives C (n-2) (from
        sum_{i<j} (r_i + r_j)^2 = (n-2) sum r^2 + (sum r)^2); both vanish at mean 0.
        """
        return self.l2 * (n - 1) / 2.0 + self.center * (n - 2)

    def __str__(self) -> str:
        return self.spec


def margin_matrix(loss: Loss, n: int) -> np.ndarray:
    """m_ij for i < j (upper triangle; 0 elsewhere): M + M_rank (j - i)."""
    index = np.arange(n)
    distance = index[None, :] - index[:, None]
    return np.where(distance > 0, loss.margin + loss.rank_margin * distance, 0.0)


#: The largest n whose LiPO gains 2^(n-i) are finite in float64.
LIPO_MAX_N = 1024


def lipo_weights(n: int) -> np.ndarray:
    """LiPO-lambda weights w_ij = abs(2^(n-i) - 2^(n-j)) abs(1/log2(1+i) - 1/log2(1+j)) (upper triangle).

    Liu et al. 2024 (LiPO), with the gain 2^label - 1 of the label n - i of rank i.

    Example:
        >>> np.round(lipo_weights(3), 4).tolist()
        [[0.0, 0.7381, 1.5], [0.0, 0.0, 0.1309], [0.0, 0.0, 0.0]]
    """
    if n > LIPO_MAX_N:
        raise LossSpecError(f"lipo: the gains 2^(n-i) overflow float64 for n > {LIPO_MAX_N} (got n = {n})")
    rank = np.arange(1, n + 1, dtype=np.float64)
    gain = np.exp2(n - rank)
    discount = 1.0 / np.log2(1.0 + rank)
    weights = np.abs(gain[:, None] - gain[None, :]) * np.abs(discount[:, None] - discount[None, :])
    return np.triu(weights, 1)


_SPLIT = re.compile(r"\+(?=\s*[A-Za-z])")


def parse_loss(spec: str | Loss | Utility) -> Loss:
    """Parse a loss spec such as ``"log-sigmoid:1+free+l2:0.001"`` into a :class:`Loss`.

    A :class:`Loss` passes through; a :class:`~collapse_theory.problems.utilities.Utility` becomes its
    plain loss. Anything unreadable raises :class:`LossSpecError` with one line naming it.

    Example:
        >>> parse_loss("trl-center:0.01").spec
        'log-sigmoid:1+free+center:0.01'
        >>> parse_loss("listmle").objective
        'plackett-luce'
        >>> parse_loss("log-sigmoid:1+l2:-1")
        Traceback (most recent call last):
        ...
        collapse_theory.problems.losses.LossSpecError: loss 'log-sigmoid:1+l2:-1': l2 needs a finite number >= 0, got '-1'
    """
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, Utility):
        return Loss(objective="utility", utility=spec)
    if not isinstance(spec, str):
        raise LossSpecError(f"loss spec must be a string, got {type(spec).__name__}")
    return _parse(spec)


def _expand(text: str, spec: str) -> list[str]:
    name, sep, argument = text.partition(":")
    name = name.strip().lower()
    if name == "trl-center":
        if not sep:
            raise LossSpecError(f"loss {spec!r}: trl-center needs its coefficient, e.g. trl-center:0.01")
        # split as a spec is, so an exponent's sign (trl-center:1e+2) stays in its number
        return _SPLIT.split(PRESETS["trl-center:C"].replace(":C", ":" + argument.strip()))
    if name in PRESETS and not sep:
        return PRESETS[name].split("+")
    return [text]


def _parameter(spec: str, name: str, argument: str, *, positive: bool) -> float:
    """The float64 of a term's parameter, read exactly (:func:`~collapse_theory._core.spec_numbers.read_number`)."""
    bound = "> 0" if positive else ">= 0"
    try:
        number = read_number(argument)
    except SpecNumberError as error:
        raise LossSpecError(f"loss {spec!r}: {name} needs a finite number {bound}, but {error}") from None
    # the exact value decides (a nonzero float64 is normal, so its sign is the exact one's)
    if number.exact < 0 or (positive and number.exact == 0):
        raise LossSpecError(f"loss {spec!r}: {name} needs a finite number {bound}, got {number.text!r}")
    return number.value


@lru_cache(maxsize=256)
def _parse(spec: str) -> Loss:
    terms: list[str] = []
    for raw in _SPLIT.split(spec.strip()):
        if not raw.strip():
            raise LossSpecError(f"loss {spec!r} has an empty term; terms are {TERM_FORMS}")
        terms.extend(_expand(raw.strip(), spec))
    objective: tuple[str, Utility | None, float | None, str] | None = None
    fields: dict[str, float] = {}
    place: str | None = None
    lipo = False
    ipo_beta: float | None = None
    for term in terms:
        name, sep, argument = term.partition(":")
        name = name.strip().lower()
        if name in ("free", "bounded") and not sep:
            if place is not None and place != name:
                raise LossSpecError(f"loss {spec!r} says both free and bounded")
            place = name
            continue
        if name == "lipo" and not sep:
            lipo = True
            continue
        if name in ("l2", "center", "margin", "rank-margin"):
            if not sep:
                raise LossSpecError(f"loss {spec!r}: {name} needs a parameter, e.g. {name}:0.01")
            if name in fields:
                raise LossSpecError(f"loss {spec!r} has the term {name} twice")
            fields[name] = _parameter(spec, name, argument, positive=False)
            continue
        if name in ("ipo", "ipo-margin", "plackett-luce", "min-linear"):
            if not sep:
                letter = {"ipo": "BETA", "ipo-margin": "TAU", "plackett-luce": "B", "min-linear": "T"}[name]
                raise LossSpecError(f"loss {spec!r}: {name} needs a parameter, {name}:{letter}")
            value = _parameter(spec, name, argument, positive=True)
            if name == "ipo":  # TRL's beta, carried as typed: the target margin is 1/(2 BETA) (finite: BETA is normal)
                ipo_beta, value = value, 1.0 / (2.0 * value)
            candidate: tuple[str, Utility | None, float | None, str] = (
                "ipo" if name == "ipo-margin" else name,
                None,
                value,
                term,
            )
        else:
            try:
                utility = parse_utility(term)
            except UtilitySpecError as error:
                if name in FAMILIES:  # a known utility with a bad parameter: say what is wrong with it
                    raise LossSpecError(f"loss {spec!r}: {error.reason}") from None
                raise LossSpecError(f"loss {spec!r}: unknown term {term!r}; terms are {TERM_FORMS}") from None
            candidate = ("utility", utility, None, term)
        if objective is not None:
            raise LossSpecError(f"loss {spec!r} has two objective terms ({objective[3]!r} and {term!r}); a loss has exactly one")
        objective = candidate
    if objective is None:
        raise LossSpecError(
            f"loss {spec!r} has no objective term; add one utility, ipo:BETA, ipo-margin:TAU, plackett-luce:B or min-linear:T"
        )
    kind, objective_utility, parameter, _ = objective
    free = place == "free" or (place is None and kind == "ipo")
    return Loss(
        objective=kind,
        utility=objective_utility,
        parameter=parameter,
        free=free,
        l2=fields.get("l2", 0.0),
        center=fields.get("center", 0.0),
        margin=fields.get("margin", 0.0),
        rank_margin=fields.get("rank-margin", 0.0),
        lipo=lipo,
        ipo_beta=ipo_beta,
    )
