"""Framework conventions: each trainer's reward-model option and the loss spec that computes it here.

Practitioners set options of TRL, OpenRLHF or Open-Assistant, not loss specs. Each
:class:`FrameworkConvention` maps one option to a spec of :func:`collapse_theory.problems.losses.parse_loss`;
:data:`FRAMEWORK_CONVENTIONS` is the table of ``docs/losses.md`` and of ``collapse-theory losses``.
The frameworks *minimise* a loss per (chosen, rejected) pair with reward difference
:math:`d = r_c - r_r`; the spec *maximises* the negative, summed over every pair of a ranking:

.. math::

    -\\log \\sigma(d - m) \\;\\leftrightarrow\\; U(x) = \\log \\sigma(x) \\text{ at } x = d - m
    \\qquad (h - \\tfrac{1}{2\\beta})^2 \\;\\leftrightarrow\\; U(x) = -(x - \\tfrac{1}{2\\beta})^2

IPO (TRL's ``loss_type="ipo"``, Azar et al. 2023) acts on h, the difference of the policy's
log-ratios :math:`\\log \\pi(y_w)/\\pi_{ref}(y_w) - \\log \\pi(y_l)/\\pi_{ref}(y_l)`; the
reward-model analogue computed here puts the reward difference :math:`r_i - r_j` in its place.

Example:
    >>> [c.spec for c in FRAMEWORK_CONVENTIONS if c.framework == "TRL"]
    ['trl', 'trl-center:C', 'trl+margin:M', 'ipo:BETA']
    >>> convention("ipo").example, convention("ipo").parsed().parameter  # TRL's default beta 0.1
    ('ipo:0.1', 5.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collapse_theory.problems.losses import Loss, parse_loss

__all__ = ["FRAMEWORK_CONVENTIONS", "FrameworkConvention", "convention"]


@dataclass(frozen=True)
class FrameworkConvention:
    """One framework option and its loss spec.

    Attributes:
        framework: the framework or paper (``"TRL"``, ``"OpenRLHF"``, ...).
        option: the option as its users write it.
        loss: the loss the framework minimises per pair (or per ranking), in its own words.
        spec: the spec here, with the framework's parameter as a capital letter.
        example: a spec with the framework's default (or usual) value, ready to run.
        note: what the mapping assumes, or what differs.
    """

    framework: str
    option: str
    loss: str
    spec: str
    example: str
    note: str

    def parsed(self) -> Loss:
        """The example's :class:`~collapse_theory.problems.losses.Loss`."""
        return parse_loss(self.example)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields, with the example's canonical spec."""
        return {
            "framework": self.framework,
            "option": self.option,
            "loss": self.loss,
            "spec": self.spec,
            "example": self.example,
            "canonical": self.parsed().spec,
            "note": self.note,
        }


#: Every framework option this package maps, in the order of docs/losses.md's table.
FRAMEWORK_CONVENTIONS: tuple[FrameworkConvention, ...] = (
    FrameworkConvention(
        "TRL",
        "RewardTrainer (default)",
        "-log sigmoid(r_c - r_r)",
        "trl",
        "trl",
        "= bradley-terry = log-sigmoid:1+free; no maximiser (status unbounded)",
    ),
    FrameworkConvention(
        "TRL",
        "RewardConfig(center_rewards_coefficient=C)",
        "-log sigmoid(r_c - r_r) + C (r_c + r_r)^2",
        "trl-center:C",
        "trl-center:0.01",
        "Eisenstein et al. 2023; a maximiser for n >= 3, none at n = 2 (it fixes only r_1 + r_2)",
    ),
    FrameworkConvention(
        "TRL",
        "RewardTrainer with a margin column",
        "-log sigmoid(r_c - r_r - m)",
        "trl+margin:M",
        "trl+margin:0.5",
        "one margin M for every pair; rank-margin:M for M times the rank distance",
    ),
    FrameworkConvention(
        "TRL",
        'DPOConfig(loss_type="ipo", beta=BETA)',
        "(h - 1/(2 BETA))^2, h a difference of policy log-ratios",
        "ipo:BETA",
        "ipo:0.1",
        "Azar et al. 2023's tau is BETA; target margin 1/(2 BETA) (ipo-margin:TAU gives it directly); "
        "here h is the reward difference r_i - r_j, free rewards",
    ),
    FrameworkConvention(
        "OpenRLHF",
        "PairWiseLoss (margin=M)",
        "-log sigmoid(r_c - r_r - M)",
        "openrlhf",
        "openrlhf",
        "= bradley-terry; add margin:M for a margin",
    ),
    FrameworkConvention(
        "OpenRLHF",
        "LogExpLoss",
        "log(1 + exp(r_r - r_c))",
        "openrlhf",
        "openrlhf",
        "the same function as -log sigmoid(r_c - r_r)",
    ),
    FrameworkConvention(
        "Open-Assistant",
        "RMLoss(beta=BETA)",
        "all K-choose-2 pairs: -log sigmoid(d) + BETA/2 (r_i^2 + r_j^2)",
        "log-sigmoid:1+free+l2:BETA",
        "oasst",
        "oasst = open-assistant = log-sigmoid:1+free+l2:0.001 (its default BETA)",
    ),
    FrameworkConvention(
        "InstructGPT",
        "all K-choose-2 pairs of a ranking",
        "mean over pairs of -log sigmoid(r_i - r_j)",
        "log-sigmoid:1+free",
        "log-sigmoid:1+free",
        "Ouyang et al. 2022; the paper's [0, 1] rewards (sigmoid head): log-sigmoid:1",
    ),
    FrameworkConvention(
        "ListMLE / PRO",
        "Plackett-Luce likelihood, temperature 1/B",
        "-sum_i [B r_i - log sum_{j>=i} exp(B r_j)]",
        "plackett-luce:B+free",
        "listmle",
        "Xia et al. 2008; Song et al. 2023; listmle = plackett-luce:1+free",
    ),
    FrameworkConvention(
        "LiPO",
        "LiPO-lambda",
        "sum_{i<j} w_ij [-log sigmoid(r_i - r_j)], lambda weights",
        "log-sigmoid:1+free+lipo",
        "log-sigmoid:1+free+lipo",
        "Liu et al. 2024; w_ij from the gains 2^(n-i) of rank labels",
    ),
    FrameworkConvention(
        "SLiC",
        "hinge (calibration loss, margin DELTA)",
        "max(0, DELTA - (r_c - r_r))",
        "min-linear:DELTA+free",
        "min-linear:1+free",
        "Zhao et al. 2023; -max(0, DELTA - x) = min(x, DELTA) - DELTA: a face of maximisers (non-unique)",
    ),
)


def convention(spec: str) -> FrameworkConvention:
    """The first convention whose spec is ``spec`` (as written in the table).

    Raises:
        KeyError: no convention has this spec.
    """
    for item in FRAMEWORK_CONVENTIONS:
        if item.spec == spec or item.spec.split(":")[0] == spec:
            return item
    raise KeyError(spec)
