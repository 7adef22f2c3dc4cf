"""``collapse-theory audit`` on the command line: outputs, report files, and bad input.

Runs in-process through ``collapse_theory.cli.main``. Every bad input must give exit
code 2, one line on stderr, and no files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli as _run

from collapse_theory.cli import main
from collapse_theory.solver.utility_solver import solve


@pytest.fixture(scope="module")
def prompt_aware_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """closed = linear, open = neg-power:1 at n = 4: optimum + noise, random affine map per prompt."""
    rng = np.random.default_rng(0)
    optima = {"closed": solve("linear", 4).rewards, "open": solve("neg-power:1", 4).rewards}
    path = tmp_path_factory.mktemp("scores") / "aware.jsonl"
    with open(path, "w") as stream:
        for number in range(160):
            kind = ("closed", "open")[number % 2]
            scores = (optima[kind] + rng.normal(0.0, 0.01, 4)) * rng.uniform(0.5, 4.0) + rng.normal()
            stream.write(json.dumps({"prompt_id": number, "scores": scores.tolist(), "group": kind}) + "\n")
    return path


def test_json_output_has_the_documented_fields(prompt_aware_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "audit", str(prompt_aware_file), "--format", "json", "--permutations", "200", "--seed", "3")
    assert code == 0, err
    report = json.loads(out)
    for key in ("prompts", "skipped", "groups", "collapse_score", "test", "collapsed", "reason", "resolution", "alpha"):
        assert key in report
    for key in ("axes", "strata", "excluded", "confidence", "min_prompts", "only_scale"):
        assert key in report
    assert set(report["test"]) >= {"statistic", "p_value", "critical_value", "resamples", "seed"}
    assert set(report["groups"][0]) >= {"name", "prompts", "mean_shape", "spread", "band_low", "band_high", "accuracy"}
    assert set(report["groups"][0]) >= {"signal", "best_of_n_accuracy", "completions"}
    assert {axis["axis"] for axis in report["axes"]} == {"shape", "scale"}
    assert all(set(axis) >= {"effect", "low", "high", "resolution"} for axis in report["axes"])
    assert report["collapsed"] is False and report["test"]["p_value"] < 0.01
    assert report["test"]["resamples"] == 200 and report["prompts"] == 160


def test_table_and_report_files_with_loss_and_suggestion(
    prompt_aware_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "audit"
    code, out, err = _run(
        capsys,
        "audit",
        str(prompt_aware_file),
        "--resamples",
        "200",
        "--loss",
        "linear",
        "--describe",
        "--suggest",
        "open=beta:0.5",
        "--out",
        str(out_dir),
    )
    assert code == 0, err
    assert "collapsed: " in out and "against the optimum of linear" in out and "box-cox member" in out
    assert "train each group towards its target law" in out
    assert sorted(p.name for p in out_dir.iterdir()) == ["report.json", "report.md", "shapes.png"]
    report = json.loads((out_dir / "report.json").read_text())
    distances = {group["name"]: group["distance"] for group in report["loss"]["groups"]}
    assert distances["closed"] < 0.05 < distances["open"]
    described = {group["name"]: group["utility"] for group in report["describe"]["groups"]}
    assert described["open"].startswith("neg-power")
    # the arcsine law Beta(1/2, 1/2) is the limit of log (closed form)
    assert {group["name"]: group["utility"] for group in report["suggest"]["groups"]} == {"open": "log"}
    assert (out_dir / "shapes.png").read_bytes().startswith(b"\x89PNG")


def _bad_inputs(tmp_path: Path) -> list[Path]:
    files = {
        "nan.jsonl": '{"scores": [1.0, NaN]}\n',
        "empty.csv": "",
        "unknown.dat": "not a score file\n",
        "lengths.json": json.dumps({"scores": [[1.0, 2.0]], "subset": ["a", "b"], "num_correct": [1]}),
        "correct.json": json.dumps({"scores": [[1.0, 2.0]], "subset": ["a"], "num_correct": [3]}),
        "ranks.jsonl": '{"scores": [1.0, 2.0], "ranks": [2, 3]}\n',
        "broken.jsonl": '{"scores": [1.0, 2.0]}\n{"scores": [1.0,\n',
    }
    paths = []
    for name, content in files.items():
        path = tmp_path / name
        path.write_text(content)
        paths.append(path)
    return paths


def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path in _bad_inputs(tmp_path):
        out_dir = tmp_path / f"out-{path.stem}"
        code, out, err = _run(capsys, "audit", str(path), "--out", str(out_dir), "--permutations", "10")
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and out == "" and len(lines) == 1, (path.name, err)
        assert lines[0].startswith("collapse-theory: error: ") and str(path) in lines[0]
        assert not out_dir.exists()


def test_bad_arguments_exit_2(prompt_aware_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for arguments in (["--threshold", "0"], ["--alpha", "1"], ["--permutations", "0"], ["--seed", "-1"], ["--grid", "1"]):
        with pytest.raises(SystemExit) as raised:
            main(["audit", str(prompt_aware_file), *arguments])
        assert raised.value.code == 2, arguments
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_missing_run_directory_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "audit", str(tmp_path))
    assert code == 2 and "heldout_rewards.jsonl" in err and len(err.strip().splitlines()) == 1
