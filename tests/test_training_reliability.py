"""Reliability of ``train`` and ``make-data``: locks, damaged files, seeds, divergence, sizes, overwrite.

Each test is named after the failure it guards against (issue "Reliability"); each failed
on the trainer before the run directory got its lock, checks and guards. Small runs
(P = 40, n = 4, at most 120 steps) in-process through ``collapse_theory.cli.main``, so one
compilation serves most of them. Budget: under 60 seconds on 2 busy cores.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import error_line as _error_line
from helpers import run_cli as _run

from collapse_theory.cli import main
from collapse_theory.training import (
    Dataset,
    RunDirectoryBusyError,
    TrainingConfig,
    TrainingDivergedError,
    make_synthetic_dataset,
    train,
)
from collapse_theory.training import trainer as trainer_module

STEPS = "120"


def _strict_json(text: str) -> object:
    def refuse(constant: str) -> None:
        raise AssertionError(f"non-finite number {constant} in JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "small.npz"
    assert main(["make-data", "--out", str(path), "--prompts", "40", "--n", "4", "--seed", "7", "--held-out", "0.2"]) == 0
    return path


def _train_arguments(data_file: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--utility", "log", "--data", str(data_file), "--steps", STEPS, "--out", str(out), "--quiet", *extra]


@pytest.fixture(scope="module")
def finished_run(data_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "log"
    assert main(_train_arguments(data_file, out)) == 0
    return out


def _copy_run(source: Path, target: Path) -> Path:
    target.mkdir()
    for path in source.rglob("*"):
        if path.is_file():
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            (target / path.relative_to(source)).write_bytes(path.read_bytes())
    return target


# --- one process per run directory ------------------------------------------------------------


def test_second_train_on_a_locked_run_directory_exits_2(
    tmp_path: Path, data_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    holder = os.open(out / "train.lock", os.O_RDWR | os.O_CREAT)  # another "process" training there
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        code, _, err = _run(capsys, *_train_arguments(data_file, out))
    finally:
        os.close(holder)
    assert code == 2
    assert "another process is training in this run directory" in _error_line(err)
    assert sorted(path.name for path in out.iterdir()) == ["train.lock"]  # nothing of the refused run


CONCURRENT = textwrap.dedent(
    """
    import sys
    from collapse_theory.cli import main
    sys.exit(main(["train", "--utility", "log", "--data", sys.argv[1], "--steps", "40", "--hidden", "8",
                   "--out", sys.argv[2], "--quiet"]))
    """
)


def test_two_concurrent_trains_on_one_out_do_not_both_succeed(tmp_path: Path, data_file: Path) -> None:
    # Two real processes started together: one trains, the other is refused (busy, or finding the
    # finished run), never both exit 0 with the second overwriting the first.
    out = tmp_path / "run"
    command = [sys.executable, "-c", CONCURRENT, str(data_file), str(out)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(process.wait(timeout=240), process.stderr.read() if process.stderr else "") for process in processes]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "another process is training" in refused or "already holds a training run" in refused, refused


def test_the_lock_is_released_after_a_run(finished_run: Path) -> None:
    descriptor = os.open(finished_run / "train.lock", os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)  # would raise BlockingIOError if still held
    finally:
        os.close(descriptor)


def test_library_train_refuses_a_locked_run_directory(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    holder = os.open(out / "train.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with pytest.raises(RunDirectoryBusyError):
            train(make_synthetic_dataset(prompts=8, n=2), TrainingConfig(utility="log", steps=2), out, progress=False)
    finally:
        os.close(holder)


# --- damaged files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncated checkpoint", "checkpoint.npz: damaged or unreadable checkpoint"),
        ("checkpoint of garbage", "checkpoint.npz: damaged or unreadable checkpoint"),
        ("damaged metrics line", "metrics.jsonl: line 2 is damaged"),
        ("damaged config", "config.json: damaged configuration"),
        ("damaged snapshot", "step_000040.npz: damaged or unreadable snapshot"),
    ],
)
def test_damaged_run_files_on_resume_name_the_file_and_exit_2(
    tmp_path: Path, data_file: Path, finished_run: Path, capsys: pytest.CaptureFixture[str], damage: str, message: str
) -> None:
    run = _copy_run(finished_run, tmp_path / "run")
    (run / "diagnostics.json").unlink()  # not finished for resume's purposes: it has work to do
    if damage == "truncated checkpoint":
        content = (run / "checkpoint.npz").read_bytes()
        (run / "checkpoint.npz").write_bytes(content[: len(content) // 2])
    elif damage == "checkpoint of garbage":
        (run / "checkpoint.npz").write_bytes(b"PK\x03\x04 not really a zip")
    elif damage == "damaged metrics line":
        lines = (run / "metrics.jsonl").read_text().splitlines()
        lines[1] = lines[1][: len(lines[1]) // 2]
        (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    elif damage == "damaged config":
        (run / "config.json").write_text('{"utility": "lo')
    else:
        (run / "snapshots" / "step_000040.npz").write_bytes(b"\x00" * 100)
    checkpoint = (run / "checkpoint.npz").read_bytes()
    code, _, err = _run(capsys, *_train_arguments(data_file, run, "--resume"))
    assert code == 2
    line = _error_line(err)
    assert message in line and str(run) in line, line
    assert (run / "checkpoint.npz").read_bytes() == checkpoint  # left as it was for the user to inspect


# --- seeds ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["train", "make-data"])
@pytest.mark.parametrize("seed", ["9223372036854775808", "4294967296", "-1", "x"])
def test_seed_out_of_range_is_refused_at_parse_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, seed: str
) -> None:
    out = tmp_path / ("run" if command == "train" else "data.npz")
    arguments = [command, "--out", str(out), "--seed", seed] + (["--utility", "log"] if command == "train" else [])
    with pytest.raises(SystemExit) as caught:
        main(arguments)
    assert caught.value.code == 2
    assert "seed must be an integer in [0, 4294967295]" in _error_line(capsys.readouterr().err)
    assert not out.exists()


def test_largest_seed_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "data.npz"
    code, _, _ = _run(capsys, "make-data", "--out", str(out), "--prompts", "4", "--n", "2", "--seed", "4294967295")
    assert code == 0 and out.exists()


# --- non-finite training --------------------------------------------------------------------------


def _scaled(dataset: Dataset, scale: float, dtype: type) -> dict[str, np.ndarray]:
    return {
        "prompt_embeddings": dataset.prompt_embeddings.astype(dtype) * scale,
        "completion_embeddings": dataset.completion_embeddings.astype(dtype) * scale,
        "rankings": dataset.rankings,
        "kinds": dataset.kinds,
        "kind_names": np.asarray(dataset.kind_names),
        "held_out": dataset.held_out,
    }


def test_huge_float64_embeddings_are_refused_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # float64 x 1e200 is finite but overflows float32 training: every loss was NaN, exit 0.
    path = tmp_path / "huge.npz"
    np.savez(path, **_scaled(make_synthetic_dataset(prompts=40, n=4, seed=7), 1e200, np.float64))
    out = tmp_path / "run"
    code, _, err = _run(capsys, "train", "--utility", "log", "--data", str(path), "--steps", "20", "--out", str(out))
    assert code == 2
    assert "beyond the float32 range" in _error_line(err) and "standardise the embeddings" in err
    assert not out.exists()


def test_nonfinite_loss_stops_training_with_an_error_and_no_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # float32 x 1e30 fits float32 but the first forward pass overflows: the loss is NaN at step 0.
    path = tmp_path / "large.npz"
    np.savez(path, **_scaled(make_synthetic_dataset(prompts=40, n=4, seed=7), 1e30, np.float32))
    out = tmp_path / "run"
    code, _, err = _run(capsys, "train", "--utility", "log", "--data", str(path), "--steps", "20", "--out", str(out), "--quiet")
    assert code == 2
    line = _error_line(err)
    assert "training diverged: the training loss became non-finite at step" in line
    assert "standardise the embeddings" in line.lower() and "--learning-rate" in line
    assert not out.exists()  # nothing written as if it were a result, no partial run left


def test_nonfinite_loss_keeps_the_last_good_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault injection: the chunk after step 100 returns NaN losses (as a diverging run would).
    real_chunk = trainer_module.train_chunk

    def diverging(params, optimizer_state, batch, *, length, **options):  # type: ignore[no-untyped-def]
        new_params, new_state, values = real_chunk(params, optimizer_state, batch, length=length, **options)
        if int(np.asarray(optimizer_state[0].count)) >= 100:
            values = values * np.nan
        return new_params, new_state, values

    monkeypatch.setattr(trainer_module, "train_chunk", diverging)
    data = make_synthetic_dataset(prompts=40, n=4, seed=7)
    out = tmp_path / "run"
    with pytest.raises(TrainingDivergedError, match=r"non-finite at step 100; the last good checkpoint \(step 100\)"):
        train(data, TrainingConfig(utility="log", steps=STEPS_INT, hidden=(8,)), out, progress=False)
    with np.load(out / "checkpoint.npz", allow_pickle=False) as archive:
        assert int(archive["step"]) == 100 and np.all(np.isfinite(archive["losses"]))
    metrics = [_strict_json(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in metrics] == [20, 40, 60, 80, 100]  # type: ignore[index]
    assert not (out / "heldout_rewards.jsonl").exists()


STEPS_INT = int(STEPS)


# --- sizes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sizes", "name"),
    [
        (["--prompts", "10000000000"], "prompts"),
        (["--prompts", "2", "--n", "1000000000"], "n"),
        (["--n", "2", "--dim", "1000000000"], "dim"),
    ],
)
def test_make_data_sizes_beyond_memory_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sizes: list[str], name: str
) -> None:
    monkeypatch.setenv("COLLAPSE_THEORY_MEMORY_LIMIT", str(2 * 10**9))
    out = tmp_path / "data.npz"
    code, _, err = _run(capsys, "make-data", "--out", str(out), *sizes)
    assert code == 2
    line = _error_line(err)
    assert f"the largest {name} that fits is" in line and "2 GB available" in line, line
    assert not out.exists() and not list(tmp_path.iterdir())


def test_make_data_largest_fitting_size_is_right(monkeypatch: pytest.MonkeyPatch) -> None:
    from collapse_theory._core.checks import MemoryLimitError
    from collapse_theory.training.data import synthetic_dataset_memory

    monkeypatch.setenv("COLLAPSE_THEORY_MEMORY_LIMIT", str(10**8))
    with pytest.raises(MemoryLimitError, match=r"the largest prompts that fits is (\d+)") as caught:
        make_synthetic_dataset(prompts=10**6)
    largest = int(str(caught.value).rsplit(" ", 1)[1])
    assert synthetic_dataset_memory(largest, 8, 16) <= 10**8 < synthetic_dataset_memory(largest + 1, 8, 16)
    make_synthetic_dataset(prompts=largest // 100)  # well inside: allowed


@pytest.mark.parametrize(
    ("flag", "value", "name"), [("--hidden", "64,1000000000", "hidden width"), ("--steps", "10000000000000", "steps")]
)
def test_train_sizes_beyond_memory_are_refused(
    tmp_path: Path,
    data_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flag: str,
    value: str,
    name: str,
) -> None:
    monkeypatch.setenv("COLLAPSE_THEORY_MEMORY_LIMIT", str(10**9))
    out = tmp_path / "run"
    code, _, err = _run(capsys, "train", "--utility", "log", "--data", str(data_file), flag, value, "--out", str(out))
    assert code == 2
    assert f"the largest {name} that fits is" in _error_line(err)
    assert not out.exists()


# --- overwrite and resume ---------------------------------------------------------------------------


def test_make_data_refuses_to_overwrite_an_existing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "data.npz"
    out.write_bytes(b"precious")
    code, _, err = _run(capsys, "make-data", "--out", str(out), "--prompts", "4", "--n", "2")
    assert code == 2
    assert "already exists; remove it or choose another file" in _error_line(err)
    assert out.read_bytes() == b"precious"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data.npz"]


def test_a_refused_resume_leaves_no_directory(tmp_path: Path, data_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "absent"
    code, _, err = _run(capsys, *_train_arguments(data_file, out, "--resume"))
    assert code == 2
    assert "no checkpoint.npz to resume from" in _error_line(err)
    assert not out.exists()
