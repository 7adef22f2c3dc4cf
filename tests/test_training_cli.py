"""``collapse-theory make-data`` and ``collapse-theory train`` (issue 4, item 6).

Runs in-process through ``collapse_theory.cli.main`` on a small dataset (P = 40, n = 4),
so one compilation serves every run. Budget: under 60 seconds on 2 busy cores.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import error_line as _error_line
from helpers import run_cli as _run

from collapse_theory.cli import main
from collapse_theory.training import load_dataset, make_synthetic_dataset, pair_accuracy

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Oracle: for U = log and n = 4 the optimum is the Gauss-Lobatto nodes on [0, 1]:
# 0, 1 and the roots of P_3'(2r - 1), i.e. r = (1 -+ 1/sqrt(5)) / 2.
LOG_OPTIMUM_N4 = [1.0, (1 + 1 / math.sqrt(5)) / 2, (1 - 1 / math.sqrt(5)) / 2, 0.0]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "small.npz"
    assert main(["make-data", "--out", str(path), "--prompts", "40", "--n", "4", "--seed", "7", "--held-out", "0.2"]) == 0
    return path


@pytest.fixture(scope="module")
def finished_run(data_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "log"
    assert main(["train", "--utility", "log", "--data", str(data_file), "--steps", "120", "--out", str(out), "--quiet"]) == 0
    return out


# --- make-data ----------------------------------------------------------------------------


def test_make_data_writes_the_documented_format(data_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = load_dataset(data_file)
    assert (dataset.prompts, dataset.n, dataset.dim, int(dataset.held_out.sum())) == (40, 4, 16, 8)
    expected = make_synthetic_dataset(prompts=40, n=4, seed=7, held_out=0.2)  # the CLI is the library
    assert np.array_equal(dataset.completion_embeddings, expected.completion_embeddings)
    assert np.array_equal(dataset.rankings, expected.rankings)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--prompts", "1"], "prompts must be an integer >= 2"),
        (["--n", "1"], "n must be an integer >= 2"),
        (["--dim", "four"], "dim must be an integer >= 8"),
        (["--held-out", "1.5"], r"held-out fraction must be a number in \[0, 1\)"),
        (["--noise", "nan"], "noise must be a number"),
    ],
)
def test_make_data_rejects_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    out = tmp_path / "bad.npz"
    with pytest.raises(SystemExit) as caught:
        main(["make-data", "--out", str(out), *arguments])
    assert caught.value.code == 2
    line = _error_line(capsys.readouterr().err)
    assert re.search(message, line), line
    assert not out.exists()


# --- train --------------------------------------------------------------------------------


def test_train_writes_the_run_directory(finished_run: Path) -> None:
    names = {path.name for path in finished_run.iterdir()}
    expected = {"config.json", "metrics.jsonl", "checkpoint.npz", "diagnostics.json", "rewards.png", "snapshots"}
    assert expected | {"heldout_rewards.jsonl", "train.lock"} == names
    assert not [name for name in names if name.startswith(".")]  # no temporary files left
    snapshots = sorted(path.name for path in (finished_run / "snapshots").iterdir())
    assert snapshots == [f"step_{step:06d}.npz" for step in range(20, 121, 20)]  # the default --snapshot-every 20
    assert (finished_run / "rewards.png").read_bytes()[:8] == PNG_SIGNATURE
    metrics = [json.loads(line) for line in (finished_run / "metrics.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in metrics] == [20, 40, 60, 80, 100, 120]
    assert {"loss", "pair_accuracy", "collapse_score", "held_out_pair_accuracy", "learning_rate"} <= set(metrics[-1])


def test_train_diagnostics_json_holds_the_solver_prediction(finished_run: Path) -> None:
    report = json.loads((finished_run / "diagnostics.json").read_text())
    assert report["n"] == 4 and report["mode"] == "single"
    assert report["utilities"] == {"open": "log", "closed": "log"}
    for split in ("train", "held_out"):
        curves = {curve["kind"]: curve for curve in report[split]["curves"]}
        assert set(curves) == {"open", "closed"}
        for curve in curves.values():
            assert np.allclose(curve["optimum"], LOG_OPTIMUM_N4, rtol=0, atol=1e-8)
            assert curve["distance_to_optimum"] == pytest.approx(
                max(abs(a - b) for a, b in zip(curve["mean"], LOG_OPTIMUM_N4, strict=True)), abs=1e-8
            )
        distance = max(abs(a - b) for a, b in zip(curves["open"]["mean"], curves["closed"]["mean"], strict=True))
        assert report[split]["collapse_score"] == pytest.approx(distance, abs=1e-12)


def test_train_resume_of_a_finished_run_says_so_and_changes_nothing(
    finished_run: Path, data_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {path.name: path.read_bytes() for path in finished_run.iterdir() if path.is_file()}
    code, out, _ = _run(
        capsys,
        "train",
        "--utility",
        "log",
        "--data",
        str(data_file),
        "--steps",
        "120",
        "--out",
        str(finished_run),
        "--resume",
        "--quiet",
    )
    assert code == 0
    assert (
        out.strip() == f"{finished_run}: this run already finished at step 120; nothing to resume (results in diagnostics.json)"
    )
    assert {path.name: path.read_bytes() for path in finished_run.iterdir() if path.is_file()} == before


def test_train_refuses_to_overwrite_a_run(finished_run: Path, data_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = (finished_run / "checkpoint.npz").read_bytes()
    code, _, err = _run(
        capsys, "train", "--utility", "log", "--data", str(data_file), "--steps", "120", "--out", str(finished_run), "--quiet"
    )
    assert code == 2
    assert "already holds a training run" in _error_line(err)
    assert (finished_run / "checkpoint.npz").read_bytes() == checkpoint


def test_train_resume_with_another_configuration_is_refused(
    finished_run: Path, data_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(
        capsys,
        "train",
        "--utility",
        "log",
        "--data",
        str(data_file),
        "--steps",
        "200",
        "--out",
        str(finished_run),
        "--resume",
        "--quiet",
    )
    assert code == 2
    assert "cannot resume with a different configuration (steps" in _error_line(err)


def test_train_prints_progress_and_warns_before_the_terminal_phase(
    data_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "short"
    code, stdout, err = _run(capsys, "train", "--utility", "log", "--data", str(data_file), "--steps", "3", "--out", str(out))
    assert code == 0
    assert "train: 100%" in err and "3/3" in err and "pair accuracy" in err  # the tqdm bar, on stderr
    assert "warning: not in the terminal phase after 3 steps" in err
    assert "terminal phase: no" in stdout
    assert json.loads((out / "diagnostics.json").read_text())["run"]["terminal_phase"] is False


def _bad_data(tmp_path: Path, data_file: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.npz"
    with np.load(data_file, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    if kind == "text":
        path.write_text("hello")
    elif kind == "pickled":
        arrays["kind_names"] = np.asarray(["open", "closed"], dtype=object)
        np.savez(path, **arrays)
    elif kind == "rankings":
        arrays["rankings"][0] = [0, 0, 1, 2]
        np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("text", "not a dataset .npz file"),
        ("pickled", "holds Python objects"),
        ("rankings", "rankings row 0 is not a permutation"),
    ],
)
def test_train_rejects_bad_data_and_writes_nothing(
    tmp_path: Path, data_file: Path, capsys: pytest.CaptureFixture[str], kind: str, message: str
) -> None:
    out = tmp_path / "run"
    code, _, err = _run(
        capsys, "train", "--utility", "log", "--data", str(_bad_data(tmp_path, data_file, kind)), "--out", str(out)
    )
    assert code == 2
    assert message in _error_line(err)
    assert not out.exists()


def test_train_rejects_unknown_prompt_kinds(tmp_path: Path, data_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code, _, err = _run(capsys, "train", "--prompt-aware", "closed=linear,essay=log", "--data", str(data_file), "--out", str(out))
    assert code == 2
    assert "prompt-aware kind 'essay' is not in the dataset (kinds: open, closed)" in _error_line(err)
    assert not out.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--utility", "cubic"], "unknown utility 'cubic'; valid forms:"),
        (["--utility", "log", "--prompt-aware", "open=log,closed=linear"], "not allowed with argument"),
        ([], "one of the arguments --utility --loss --utility-file --prompt-aware is required"),
        (["--prompt-aware", "open:log"], "KIND=SPEC,KIND=SPEC"),
        (["--utility", "log", "--steps", "0"], "steps must be an integer >= 1"),
        (["--utility", "log", "--hidden", "64,x"], "hidden widths must be comma-separated integers"),
    ],
)
def test_train_rejects_bad_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as caught:
        main(["train", *arguments, "--out", str(out)])
    assert caught.value.code == 2
    assert message in _error_line(capsys.readouterr().err)
    assert not out.exists()


def test_train_reports_a_missing_data_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(
        capsys, "train", "--utility", "log", "--data", str(tmp_path / "absent.npz"), "--out", str(tmp_path / "run")
    )
    assert code == 2
    assert "absent.npz" in _error_line(err)
    assert not (tmp_path / "run").exists()


# --- what a run reports -------------------------------------------------------------------------


def test_metrics_log_the_collapse_score_falling_over_training(finished_run: Path) -> None:
    metrics = [json.loads(line) for line in (finished_run / "metrics.jsonl").read_text().splitlines()]
    scores = [entry["collapse_score"] for entry in metrics]
    assert scores[0] > 10 * scores[-1]  # collapse happens during the run, not before the first snapshot
    report = json.loads((finished_run / "diagnostics.json").read_text())
    assert scores[-1] == pytest.approx(report["train"]["collapse_score"], abs=1e-12)  # the diagnostics' definition


def test_heldout_rewards_jsonl_lists_each_heldout_prompt_best_first(finished_run: Path, data_file: Path) -> None:
    dataset = load_dataset(data_file)

    def refuse(constant: str) -> None:
        raise AssertionError(f"non-finite {constant}")

    lines = [
        json.loads(line, parse_constant=refuse) for line in (finished_run / "heldout_rewards.jsonl").read_text().splitlines()
    ]
    assert [line["prompt_id"] for line in lines] == dataset.split(True).tolist()
    with np.load(finished_run / "snapshots" / "step_000120.npz", allow_pickle=False) as archive:
        rewards = archive["rewards"]
    for line in lines:
        prompt = line["prompt_id"]
        assert set(line) == {"prompt_id", "scores", "group"}
        assert line["group"] == dataset.kind_names[dataset.kinds[prompt]]
        by_rank = rewards[prompt][np.argsort(dataset.rankings[prompt])]  # oracle: the snapshot, ranked best first
        assert line["scores"] == by_rank.tolist()


def test_train_prints_a_verdict_and_records_it(data_file: Path, finished_run: Path) -> None:
    report = json.loads((finished_run / "diagnostics.json").read_text())
    assert report["verdict"]["outcome"] == "collapsed" and report["verdict"]["passed"] is True
    assert report["run"]["platform"] == "cpu" and report["run"]["steps"] == 120 and report["run"]["seconds"] > 0
    assert {"jax", "numpy", "collapse_theory"} <= set(report["run"]["versions"])
    # per-kind pair accuracy is the kind's own, not the split's repeated
    dataset = load_dataset(data_file)
    with np.load(finished_run / "snapshots" / "step_000120.npz", allow_pickle=False) as archive:
        rewards = archive["rewards"]
    train_rows = ~dataset.held_out
    for curve in report["train"]["curves"]:
        rows = train_rows & (dataset.kinds == dataset.kind_names.index(curve["kind"]))
        assert curve["pair_accuracy"] == pair_accuracy(rewards[rows], dataset.rankings[rows])


def test_train_verdict_line_and_snapshot_every(data_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code, stdout, _ = _run(
        capsys, "train", "--prompt-aware", "closed=linear,open=neg-power:1", "--data", str(data_file), "--steps", "40",
        "--snapshot-every", "15", "--out", str(out), "--quiet",
    )  # fmt: skip
    assert code == 0
    assert stdout.splitlines()[-1].startswith("verdict: prompt-aware fix")
    assert sorted(path.name for path in (out / "snapshots").iterdir()) == [
        "step_000015.npz",
        "step_000030.npz",
        "step_000040.npz",
    ]
