"""The configuration of a training run: one frozen value that determines the run.

Two equal configurations on the same dataset and machine give the same run, bit for
bit (the trainer's chunk boundaries depend on absolute steps only), which is what lets
a run directory refuse to resume under another configuration.

Example:
    >>> config = TrainingConfig(utility="log-sigmoid:4.0", steps=200)
    >>> config.utility, config.mode, config.snapshot_every
    ('log-sigmoid:4', 'single', 20)
    >>> TrainingConfig(loss="open-assistant").loss
    'log-sigmoid:1+free+l2:0.001'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from collapse_theory._core.checks import check_seed
from collapse_theory._core.results import as_dict
from collapse_theory.errors import CollapseTheoryError
from collapse_theory.problems.losses import Loss, parse_loss
from collapse_theory.problems.utilities import DEFAULT_EXTENSION_EPS, Utility, parse_utility

__all__ = ["DEFAULT_TRAINING_HIDDEN", "TrainingConfig", "TrainingError", "parse_prompt_aware"]

#: Hidden widths of the default trainer's model (wide enough to interpolate the demo).
DEFAULT_TRAINING_HIDDEN = (64, 64)


class TrainingError(CollapseTheoryError):
    """A training configuration, run directory or checkpoint that cannot be used (one line)."""


def parse_prompt_aware(text: str) -> tuple[tuple[str, str], ...]:
    """Parse ``"closed=linear,open=neg-power:1"`` into ``(("closed", "linear"), ("open", "neg-power:1"))``.

    Each spec is a utility or a ranking loss (:func:`~collapse_theory.problems.losses.parse_loss`),
    validated and written canonically; a plain utility spec stays what it is.

    Example:
        >>> parse_prompt_aware("closed=linear, open=neg-power:1.0")
        (('closed', 'linear'), ('open', 'neg-power:1'))
        >>> parse_prompt_aware("closed=log,open=open-assistant")
        (('closed', 'log'), ('open', 'log-sigmoid:1+free+l2:0.001'))
    """
    pairs: list[tuple[str, str]] = []
    for item in text.split(","):
        kind, sep, spec = item.partition("=")
        kind = kind.strip()
        if not sep or not kind or not spec.strip():
            raise TrainingError(f"prompt-aware utilities must look like KIND=SPEC,KIND=SPEC, got {text!r}")
        if kind in dict(pairs):
            raise TrainingError(f"prompt-aware utilities name kind {kind!r} twice")
        pairs.append((kind, parse_loss(spec.strip()).spec))
    return tuple(pairs)


def _whole(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise TrainingError(f"{name.replace('_', ' ')} must be an integer >= 1, got {value!r}")
    return int(value)


@dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """Everything that determines a training run (two equal configs give equal runs).

    Attributes:
        utility: one utility for every prompt: a spec (e.g. ``"log"``) or a custom
            :class:`~collapse_theory.problems.utilities.Utility` (``--utility-file``), or None.
        loss: one ranking-loss spec for every prompt (e.g. ``"open-assistant"``,
            ``"ipo:0.5"``; :mod:`collapse_theory.problems.losses`), or None. A plain utility spec
            trains exactly as ``utility`` does.
        prompt_aware: ``((kind, spec), ...)``, a utility or loss per prompt kind, or empty.
            Exactly one of ``utility``, ``loss`` and ``prompt_aware`` is given.
        utility_file: where a custom utility came from (``"path.py:function"`` and the
            file's SHA-256), recorded in the run directory and checked on resume.
        steps: full-batch optimizer steps.
        learning_rate: Adam's initial learning rate, decayed along a cosine.
        final_learning_rate_fraction: the learning rate at the last step, as a fraction
            of the first (small, so the loss ends flat).
        hidden: hidden-layer widths of the reward model.
        seed: seed of the model's initial parameters, in [0, 2**32 - 1].
        extension_eps: threshold of the utilities' tangent extension.
        log_every: steps between metrics entries (and progress updates).
        snapshot_every: steps between snapshots of every prompt's rewards. The default,
            20, catches collapse as it happens: with ``log-sigmoid:4`` on the demo the
            collapse score is about 0.46 at step 20, 0.05 at step 60 and 0.002 at 200.
        checkpoint_every: steps between checkpoints.

    Example:
        >>> TrainingConfig(prompt_aware=(("closed", "linear"), ("open", "neg-power:1.0"))).prompt_aware
        (('closed', 'linear'), ('open', 'neg-power:1'))
    """

    utility: str | Utility | None = None
    loss: str | None = None
    prompt_aware: tuple[tuple[str, str], ...] = ()
    utility_file: str | None = None
    steps: int = 600
    learning_rate: float = 1e-2
    final_learning_rate_fraction: float = 0.01
    hidden: tuple[int, ...] = DEFAULT_TRAINING_HIDDEN
    seed: int = 0
    extension_eps: float = DEFAULT_EXTENSION_EPS
    log_every: int = 20
    snapshot_every: int = 20
    checkpoint_every: int = 100

    def __post_init__(self) -> None:
        given = [self.utility is not None, self.loss is not None, bool(self.prompt_aware)]
        if sum(given) != 1:
            raise TrainingError(
                "give exactly one of a utility or a loss for every prompt, or prompt-aware utilities (or losses) per kind"
            )
        if self.utility is not None:
            custom = isinstance(self.utility, Utility) and self.utility.family_record is None
            object.__setattr__(self, "utility", self.utility if custom else parse_utility(self.utility).spec)
        elif self.loss is not None:
            object.__setattr__(self, "loss", parse_loss(self.loss).spec)
        else:
            pairs = tuple((str(kind), parse_loss(spec).spec) for kind, spec in self.prompt_aware)
            if len({kind for kind, _ in pairs}) != len(pairs):
                raise TrainingError(f"prompt-aware utilities name a kind twice: {pairs}")
            object.__setattr__(self, "prompt_aware", pairs)
        for name in ("steps", "log_every", "snapshot_every", "checkpoint_every"):
            object.__setattr__(self, name, _whole(name, getattr(self, name)))
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise TrainingError(f"seed must be an integer, got {self.seed!r}")
        try:
            object.__setattr__(self, "seed", check_seed(int(self.seed)))
        except ValueError as error:
            raise TrainingError(str(error)) from None
        for name, upper in (("learning_rate", math.inf), ("final_learning_rate_fraction", 1.0), ("extension_eps", 1.0)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not (0.0 < float(value) <= upper) or not math.isfinite(value):
                raise TrainingError(f"{name.replace('_', ' ')} must be a finite number in (0, {upper:g}], got {value!r}")
            object.__setattr__(self, name, float(value))
        hidden = tuple(self.hidden)
        if not hidden or any(isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1 for w in hidden):
            raise TrainingError(f"hidden widths must be one or more integers >= 1, got {self.hidden!r}")
        object.__setattr__(self, "hidden", tuple(int(w) for w in hidden))

    @property
    def mode(self) -> str:
        """``"single"`` (one utility or loss) or ``"prompt-aware"``."""
        return "prompt-aware" if self.prompt_aware else "single"

    @property
    def spec(self) -> str | None:
        """The utility's or loss's spec of a single-mode run (None when prompt-aware)."""
        if isinstance(self.utility, Utility):
            return self.utility.spec
        return self.utility if self.utility is not None else self.loss

    def losses_for(self, kind_names: Sequence[str]) -> dict[str, Loss]:
        """The :class:`~collapse_theory.problems.losses.Loss` of each kind (a utility is its plain loss).

        Example:
            >>> TrainingConfig(loss="bradley-terry").losses_for(["open"])["open"].free
            True
        """
        if isinstance(self.utility, Utility):
            custom = parse_loss(self.utility)
            return {kind: custom for kind in kind_names}
        return {kind: parse_loss(spec) for kind, spec in self.utilities_for(kind_names).items()}

    def utilities_for(self, kind_names: Sequence[str]) -> dict[str, str]:
        """The utility or loss spec of each kind of a dataset; every kind needs one, no other kind may appear."""
        single = self.spec
        if single is not None:
            return {kind: single for kind in kind_names}
        assigned = dict(self.prompt_aware)
        unknown = [kind for kind in assigned if kind not in kind_names]
        if unknown:
            raise TrainingError(f"prompt-aware kind {unknown[0]!r} is not in the dataset (kinds: {', '.join(kind_names)})")
        missing = [kind for kind in kind_names if kind not in assigned]
        if missing:
            raise TrainingError(
                f"prompt-aware utilities give no utility for kind {missing[0]!r} (kinds: {', '.join(kind_names)})"
            )
        return {kind: assigned[kind] for kind in kind_names}

    def as_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready values (``config.json``, checkpoints).

        Example:
            >>> TrainingConfig(utility="log").as_dict()["hidden"]
            [64, 64]
        """
        values = as_dict(self, exclude=("utility",))
        return {"utility": self.spec if self.utility is not None else None, **values}
