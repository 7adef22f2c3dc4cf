"""Training on ranking losses as practitioners train them (issue "Ranking losses as practitioners train them").

Claims, each with its oracle:

* the compiled objective is F of docs/losses.md: it equals ``loss_solver.loss_value`` (float64,
  independent code) on random rewards, for pairwise, Plackett-Luce, margins, LiPO weights and
  both regularisers;
* a plain utility given as a loss trains exactly as ``--utility`` does (bit for bit);
* free losses train raw logits, bounded ones sigmoid rewards;
* a loss with a maximiser (``open-assistant``, ``ipo:1``): the trained per-prompt rewards,
  range-normalised, end within 0.05 of ``solve_loss``'s optimum, range-normalised;
* ``bradley-terry`` has none: the mean reward range grows while the normalised shape's distance to
  the predicted direction (equal gaps) shrinks;
* the loss is part of the run's identity (config.json, resume guard), and bad specs are one line,
  exit 2.

Small synthetic data (P = 40, n = 4); budget under 60 s on 2 busy cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import error_line as _error_line

from collapse_theory.cli import main
from collapse_theory.solver.loss_solver import loss_value, solve_loss
from collapse_theory.training import (
    TrainingConfig,
    TrainingError,
    acceptance,
    diagnose,
    make_synthetic_dataset,
    parse_prompt_aware,
    prompt_loss,
    range_normalised,
    train,
)
from collapse_theory.training.divergence import divergence_curves, plot_divergence
from collapse_theory.training.objectives import loss_objective

SPECS = [
    "bradley-terry",
    "open-assistant",
    "trl-center:0.01",
    "ipo:1",
    "ipo:1+bounded",
    "listmle",
    "plackett-luce:2+l2:0.1",
    "log-sigmoid:1+free+lipo",
    "log-sigmoid:1+free+rank-margin:0.1+lipo",
    "log+free+margin:0.05",
    "log-sigmoid:4+l2:0.1",
    "log",
]


@pytest.fixture(scope="module")
def dataset():
    return make_synthetic_dataset(prompts=40, n=4, seed=0)


@pytest.mark.parametrize("spec", SPECS)
def test_objective_is_the_loss_solvers_f(spec: str) -> None:
    """Oracle: loss_solver.loss_value (float64, the solver's own objective code)."""
    generator = np.random.default_rng(3)
    for n in (2, 5):
        # decreasing rewards with gaps above margins + eps, where U_ext = U
        rewards = np.cumsum(generator.uniform(0.15, 0.6, n))[::-1]
        got = float(loss_objective(jnp.asarray(rewards, dtype=jnp.float32), spec))
        want = loss_value(spec, rewards)
        assert got == pytest.approx(want, rel=1e-5, abs=1e-5), (spec, n)


def test_min_linear_objective() -> None:
    """Oracle: the definition, sum_{i<j} min(r_i - r_j, T) (loss_value solves it as a linear program instead)."""
    rewards = np.array([1.0, 0.8, 0.1])
    want = min(0.2, 0.3) + min(0.9, 0.3) + min(0.7, 0.3)
    assert float(loss_objective(jnp.asarray(rewards), "min-linear:0.3")) == pytest.approx(want, rel=1e-6)


def test_prompt_loss_is_minus_f_and_keeps_the_utility_formula() -> None:
    rewards = jnp.array([0.9, 0.5, 0.1])
    assert float(prompt_loss(rewards, "linear")) == pytest.approx(-1.6)
    assert float(prompt_loss(jnp.array([0.5, 0.0]), "ipo:0.5")) == pytest.approx(0.25)  # (0.5 - 1/(2 * 0.5))^2


def test_a_plain_utility_as_loss_trains_bit_for_bit_as_the_utility(dataset) -> None:
    by_utility = train(dataset, TrainingConfig(utility="log", steps=20), progress=False)
    by_loss = train(dataset, TrainingConfig(loss="log", steps=20), progress=False)
    assert np.array_equal(by_utility.losses, by_loss.losses)
    assert np.array_equal(by_utility.logits, by_loss.logits)
    assert not by_loss.free.any()


def test_free_losses_train_raw_logits_and_bounded_ones_sigmoid(dataset) -> None:
    config = TrainingConfig(prompt_aware=parse_prompt_aware("closed=log,open=open-assistant"), steps=40)
    result = train(dataset, config, progress=False)
    is_open = dataset.kinds == dataset.kind_names.index("open")
    assert np.array_equal(result.free, is_open)
    assert np.array_equal(result.rewards[is_open], result.logits[is_open])
    closed = result.rewards[~is_open]
    assert np.all((closed > 0) & (closed < 1))
    assert np.abs(result.rewards[is_open]).max() > 1.0  # free rewards leave [0, 1]
    report = diagnose(dataset, result.rewards, result.losses_by_kind)
    assert report.train.curve("open").normalised and not report.train.curve("closed").normalised


@pytest.mark.parametrize("spec", ["open-assistant", "ipo:1"])
def test_a_loss_with_a_maximiser_is_reached(dataset, spec: str) -> None:
    """Oracle: solve_loss's certified optimum (range-normalised); acceptance 0.05 as for utilities."""
    result = train(dataset, TrainingConfig(loss=spec, steps=300, log_every=50), progress=False)
    report = diagnose(dataset, result.rewards, result.losses_by_kind)
    optimum = solve_loss(spec, dataset.n).rewards
    for curve in report.train.curves:
        assert curve.normalised and not curve.unbounded
        np.testing.assert_allclose(curve.optimum, range_normalised(optimum[None, :])[0], atol=1e-9)
    check = acceptance(report)
    assert check.passed, check.message
    assert check.max_distance_to_optimum < 0.05
    assert result.train_pair_accuracy == 1.0


def test_bradley_terry_rewards_diverge_towards_the_direction(dataset) -> None:
    """No maximiser: the range grows, the normalised shape nears the predicted direction (equal gaps)."""
    config = TrainingConfig(loss="bradley-terry", steps=400, log_every=40, learning_rate=1e-3)
    result = train(dataset, config, progress=False)
    steps, ranges, distances = divergence_curves(result.metrics)
    assert steps.tolist() == list(range(40, 401, 40))
    assert np.all(np.diff(ranges) > 0)  # grows at every logged step
    assert ranges[-1] > 5 * ranges[0]
    assert distances[-1] < 0.6 * distances[0]
    assert distances[-1] < distances[len(distances) // 2] < distances[0]
    report = diagnose(dataset, result.rewards, result.losses_by_kind)
    curve = report.train.curves[0]
    assert curve.unbounded and curve.normalised
    np.testing.assert_allclose(curve.optimum, [1.0, 2 / 3, 1 / 3, 0.0], atol=1e-9)  # equal gaps
    assert "direction" in acceptance(report).message
    figure = plot_divergence(result.metrics, title="bradley-terry")
    assert len(figure.axes) == 2
    assert np.allclose(figure.axes[0].lines[0].get_ydata(), ranges)


def test_plot_divergence_refuses_bounded_runs() -> None:
    with pytest.raises(ValueError, match="free rewards"):
        plot_divergence([{"step": 20, "loss": 1.0}])


def test_the_loss_is_part_of_the_run(dataset, tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = TrainingConfig(loss="ipo:1", steps=40, checkpoint_every=20, log_every=20)
    train(dataset, config, out, progress=False, stop_at=20)
    saved = json.loads((out / "config.json").read_text())
    assert saved["loss"] == "ipo:1" and saved["utility"] is None
    assert set(saved["utilities"].values()) == {"ipo:1"}
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"reward_range", "shape_distance"} <= set(metrics[-1])
    with pytest.raises(TrainingError, match=r"different configuration \(loss: checkpoint 'ipo:1', now 'ipo:2'\)"):
        train(dataset, TrainingConfig(loss="ipo:2", steps=40, checkpoint_every=20, log_every=20), out, resume=True)
    resumed = train(dataset, config, out, progress=False, resume=True)
    assert resumed.step == 40


def test_config_takes_one_of_utility_loss_prompt_aware() -> None:
    with pytest.raises(TrainingError, match="exactly one of"):
        TrainingConfig(utility="log", loss="bradley-terry")
    assert TrainingConfig(loss="open-assistant").spec == "log-sigmoid:1+free+l2:0.001"
    assert TrainingConfig(loss="open-assistant").as_dict()["loss"] == "log-sigmoid:1+free+l2:0.001"


# --- the command line -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--loss", "log+ipo:1"], "has two objective terms ('log' and 'ipo:1')"),
        (["--loss", "free+l2:0.1"], "has no objective term"),
        (["--loss", "log+cubic"], "unknown term 'cubic'"),
        (["--loss", "log-sigmoid:1+free+l2:-1"], "l2 needs a finite number >= 0, got '-1'"),
        (["--loss", "ipo:nan"], "ipo needs a finite number > 0, but 'nan' is out of range: not a finite number"),
        (
            ["--loss", "log-sigmoid:1+margin:inf"],
            "margin needs a finite number >= 0, but 'inf' is out of range: not a finite number",
        ),
        (["--prompt-aware", "closed=log,open=log+ipo:1"], "has two objective terms"),
        (["--loss", "log", "--utility", "log"], "not allowed with argument"),
        ([], "one of the arguments --utility --loss --utility-file --prompt-aware is required"),
    ],
)
def test_train_rejects_bad_loss_specs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as caught:
        main(["train", *arguments, "--out", str(out)])
    assert caught.value.code == 2
    assert message in _error_line(capsys.readouterr().err)
    assert not out.exists()


def test_train_with_a_utility_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data.npz"
    assert main(["make-data", "--out", str(data), "--prompts", "40", "--n", "4", "--seed", "1"]) == 0
    module = tmp_path / "mine.py"
    module.write_text("import jax.numpy as jnp\n\ndef root(x):\n    return jnp.sqrt(x)\n")
    out = tmp_path / "run"
    code = main(["train", "--utility-file", f"{module}:root", "--data", str(data), "--steps", "40", "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "one utility for every prompt: root" in captured.out
    saved = json.loads((out / "config.json").read_text())
    assert saved["utility"] == "root" and saved["utility_file"].startswith("mine.py:root sha256:")
    diagnostics = json.loads((out / "diagnostics.json").read_text())
    assert diagnostics["train"]["curves"][0]["utility"] == "root"
    # an edited file is another run: resuming is refused
    module.write_text("import jax.numpy as jnp\n\ndef root(x):\n    return jnp.sqrt(x) + x\n")
    code = main(
        [
            "train",
            "--utility-file",
            f"{module}:root",
            "--data",
            str(data),
            "--steps",
            "40",
            "--out",
            str(out),
            "--resume",
            "--quiet",
        ]
    )
    assert code == 2
    assert "utility_file" in _error_line(capsys.readouterr().err)


def test_train_utility_file_help_says_the_code_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "code runs" in " ".join(capsys.readouterr().out.split())


def test_train_utility_file_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--utility-file", str(tmp_path / "absent.py") + ":f", "--out", str(tmp_path / "run")])
    assert code == 2
    assert "utility file not found" in _error_line(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_train_cli_with_bradley_terry_reports_the_divergence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data.npz"
    assert main(["make-data", "--out", str(data), "--prompts", "40", "--n", "4", "--seed", "2"]) == 0
    out = tmp_path / "run"
    arguments = ["train", "--loss", "bradley-terry", "--data", str(data), "--steps", "60", "--learning-rate", "0.001"]
    code = main([*arguments, "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "one loss for every prompt: log-sigmoid:1+free" in printed
    assert "compared with its direction" in printed and "mean reward range" in printed
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(entry["reward_range"] > 0 for entry in metrics)
    curve = json.loads((out / "diagnostics.json").read_text())["train"]["curves"][0]
    assert curve["unbounded"] and curve["normalised"]
