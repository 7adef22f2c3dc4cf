"""`collapse-theory reproduce --quick`: every file, every verdict, determinism, interruptions (issue 5)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from collapse_theory import figures
from collapse_theory.cli import main
from collapse_theory.reproduction.runner import FIGURES, reproduce
from collapse_theory.training.embedder import embedder_available

CLAIM_IDS = [
    "gauss-lobatto",
    "convergence-power-0.5",
    "convergence-log",
    "convergence-neg-power-0.5",
    "convergence-neg-power-2",
    "convergence-linear",
    "numerical-limit-cross-check",
    "certified-solves",
    "smoothed-neg-power",
    "training-collapse-linear",
    "training-collapse-log",
    "training-collapse-log-sigmoid-4",
    "training-collapse-neg-power-1",
    "training-prompt-aware",
    "hermite",
    "ipo-equal-gaps",
    "bradley-terry-direction",
    "trained-vs-solved-open-assistant",
]
#: The real-text claim and figure, when the optional extra 'text' is installed (else skipped, said in the report).
TEXT_CLAIM_IDS = ["real-text-prompt-aware"] if embedder_available() else []
TEXT_FIGURES = ["real_text"] if embedder_available() else []
CLAIM_IDS += TEXT_CLAIM_IDS


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("quick")
    assert main(["reproduce", "--quick", "--out", str(out)]) == 0  # exit 0 only when every claim passes
    return out


def test_quick_run_writes_every_figure_and_the_report(quick_run: Path) -> None:
    for name in [*FIGURES, *TEXT_FIGURES]:
        for suffix in (".png", ".svg"):
            path = quick_run / f"{name}{suffix}"
            assert path.stat().st_size > 5_000, path
    assert (quick_run / "report.md").read_text().startswith("# Reproduction report")
    assert not list(quick_run.glob(".*.tmp")) and not list(quick_run.glob("*.tmp"))


def test_every_claim_of_the_quick_report_passes(quick_run: Path) -> None:
    report = json.loads((quick_run / "report.json").read_text())
    claims = report["claims"]
    # Gauss-Lobatto, 5 convergence, cross-check, certified solves, smoothed -1/x, 4 collapse, prompt-aware,
    # then the ranking losses: Hermite zeros, IPO's gaps, Bradley-Terry's direction, Open-Assistant trained
    assert [c["id"] for c in claims] == CLAIM_IDS
    assert [c["verdict"] for c in claims] == ["PASS"] * len(claims)
    assert report["passed"] is True
    markdown = (quick_run / "report.md").read_text()
    assert markdown.count("**PASS**") == len(claims) and "**FAIL**" not in markdown
    assert report["environment"]["versions"]["jax"]


def _deterministic_markdown(path: Path) -> str:
    """report.md without its last section, ``This run`` (date and run time: the only varying part)."""
    text = path.read_text()
    assert text.count("\n## This run\n") == 1
    return text[: text.index("\n## This run\n")]


def _deterministic_json(path: Path) -> dict[str, Any]:
    """report.json without its ``run`` object (date and run time)."""
    report = json.loads(path.read_text())
    assert set(report.pop("run")) == {"date", "seconds", "steps", "steps_from_cache"}
    return report


def test_rerun_from_the_cache_gives_an_identical_report(quick_run: Path, tmp_path: Path) -> None:
    shutil.copytree(quick_run / ".cache", tmp_path / ".cache")
    reproduce(tmp_path, quick=True, stream=None)
    assert _deterministic_json(tmp_path / "report.json") == _deterministic_json(quick_run / "report.json")
    assert _deterministic_markdown(tmp_path / "report.md") == _deterministic_markdown(quick_run / "report.md")
    rerun = json.loads((tmp_path / "report.json").read_text())["run"]
    assert rerun["steps_from_cache"] == rerun["steps"]


def test_an_interrupted_run_leaves_no_half_written_file_and_a_rerun_finishes(
    quick_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(quick_run / ".cache", tmp_path / ".cache")

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(figures, "family_map", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reproduce(tmp_path, quick=True, stream=None)
    assert not (tmp_path / "report.md").exists() and not (tmp_path / "report.json").exists()
    assert not (tmp_path / "family_map.png").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    result = reproduce(tmp_path, quick=True, stream=None)
    assert result.passed
    assert _deterministic_json(tmp_path / "report.json") == _deterministic_json(quick_run / "report.json")


def test_without_the_text_extra_the_real_text_claim_is_skipped_and_said(
    quick_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collapse_theory.training import embedder

    shutil.copytree(quick_run / ".cache", tmp_path / ".cache")
    monkeypatch.setattr(embedder, "embedder_available", lambda: False)
    result = reproduce(tmp_path, quick=True, stream=None)
    assert result.passed
    assert [claim.id for claim in result.claims] == [c for c in CLAIM_IDS if c not in TEXT_CLAIM_IDS]
    report = json.loads((tmp_path / "report.json").read_text())
    assert len(report["skipped"]) == 1 and "optional extra 'text'" in report["skipped"][0]
    assert "Skipped: the real-text claim needs the optional extra 'text'" in (tmp_path / "report.md").read_text()
    assert not (tmp_path / "real_text.png").exists()
    assert [figure["name"] for figure in report["figures"]] == list(FIGURES)


def _table_rows(markdown: str) -> list[list[str]]:
    rows = [line for line in markdown.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_the_report_reads_as_prose_with_ids_settings_versions_and_captions(quick_run: Path) -> None:
    markdown = (quick_run / "report.md").read_text()
    report = json.loads((quick_run / "report.json").read_text())
    rows = _table_rows(markdown)
    assert [row[0] for row in rows] == [f"`{claim_id}`" for claim_id in CLAIM_IDS]
    for (_, _, measured, _, verdict), claim in zip(rows, report["claims"], strict=True):
        assert measured == claim["summary"] and verdict == "**PASS**"
        assert "{" not in measured and "}" not in measured and "..." not in measured  # prose, not cut-off JSON
        assert not re.search(r"\d{6,}", measured)  # three significant figures, not 16 digits
    gauss = rows[0][2]
    assert re.match(r"max abs error \d(\.\d+)?e-\d+ at n = \d+; 3 of 3 solves certified", gauss), gauss
    # the full values stay in report.json
    assert report["claims"][0]["measured"]["max_abs_error_by_n"].keys() == {"8", "64", "200"}
    # settings, versions, the project's version, the date
    settings = report["settings"]
    assert settings["prompts"] == 400 and settings["steps"] == 600 and settings["snapshot_steps"] == [20, 60]
    assert "- training: 400 synthetic prompts" in markdown and "- convergence: n = 8, 16, 32, 64" in markdown
    project = report["environment"]["project"]
    assert project["package"] and project["code"].startswith(project["package"] + "+")
    assert f"code {project['code']}" in markdown and "- jax: " in markdown and "- numpy: " in markdown
    assert re.search(r"^- date: \d{4}-\d\d-\d\dT", markdown, re.MULTILINE)
    assert re.search(r"^- run time: [\d.]+ s", markdown, re.MULTILINE)
    # a caption under every figure
    lines = markdown.splitlines()
    for name in [*FIGURES, *TEXT_FIGURES]:
        at = lines.index(f"![{name}]({name}.png)")
        assert lines[at + 2].startswith(f"*{name}.* ") and len(lines[at + 2]) > 80
    assert [figure["name"] for figure in report["figures"]] == [*FIGURES, *TEXT_FIGURES]


def test_the_smoothed_utility_has_atoms_at_the_ends_unlike_neg_power_1(quick_run: Path) -> None:
    """Oracle: the numerical limit law of -1/(x + 0.1), against the uniform law of neg-power:1 (Hardin and Saff)."""
    report = json.loads((quick_run / "report.json").read_text())
    (claim,) = [c for c in report["claims"] if c["id"] == "smoothed-neg-power"]
    measured = claim["measured"]
    masses = [mass for _, mass in measured["atoms"]]
    assert [location for location, _ in measured["atoms"]] == [0.0, 1.0]
    assert all(0.05 <= mass <= 0.15 for mass in masses)
    assert measured["kolmogorov_smirnov_to_uniform"] > 0.05
    assert measured["ties_at_zero"] >= 2 and measured["ties_at_one"] >= 2


def _claim(out: Path, claim_id: str) -> dict[str, Any]:
    report = json.loads((out / "report.json").read_text())
    (claim,) = [c for c in report["claims"] if c["id"] == claim_id]
    return claim


def test_log_with_l2_gives_the_hermite_zeros_and_the_semicircle(quick_run: Path) -> None:
    """Oracle: scipy.special.roots_hermite (Stieltjes); the KS distance to the semicircle shrinks with n."""
    measured = _claim(quick_run, "hermite")["measured"]
    assert measured["max_abs_error_by_n"].keys() == {"8", "32", "128"}
    for n, error in measured["max_abs_error_by_n"].items():
        assert error <= measured["certificate_bound_by_n"][n] + 1e-12 and error <= 1e-6, n
    assert all(measured["certified_by_n"].values())
    ks = measured["kolmogorov_smirnov"]
    assert np.all(np.diff(ks) < 0) and measured["fitted_slope"] < -0.5


def test_ipo_has_equal_gaps_and_the_uniform_law_at_distance_one_over_2n(quick_run: Path) -> None:
    """Oracle: equal gaps 2 TAU / n (docs/losses.md, "Limit laws"); the midpoint grid is at KS 1/(2n) from the uniform law."""
    measured = _claim(quick_run, "ipo-equal-gaps")["measured"]
    for n, value in measured["by_n"].items():
        assert value["status"] == "shift_invariant" and value["gap_deviation"] <= 1e-12 and abs(value["mean"]) <= 1e-12, n
    for n, ks in zip(measured["ns"], measured["kolmogorov_smirnov"], strict=True):
        assert ks == pytest.approx(1 / (2 * n), abs=1e-12)


def test_bradley_terry_diverges_along_equal_gaps(quick_run: Path) -> None:
    """Oracle: no maximiser, direction equal gaps (docs/losses.md); the trained range grows, the shape distance falls."""
    measured = _claim(quick_run, "bradley-terry-direction")["measured"]
    assert measured["status"] == "unbounded"
    np.testing.assert_allclose(measured["direction"], np.linspace(1.0, 0.0, 8), atol=1e-12)
    assert np.all(np.diff(measured["reward_range"]) > 0)
    assert measured["shape_distance"][-1] < measured["shape_distance"][0]


def test_open_assistant_trains_to_the_solvers_optimum(quick_run: Path) -> None:
    measured = _claim(quick_run, "trained-vs-solved-open-assistant")["measured"]
    assert measured["solver_status"] == "optimal" and measured["solver_range"] == pytest.approx(17.14, abs=0.01)
    assert measured["train"]["max_distance_to_optimum"] < 0.05 and measured["held_out"]["max_distance_to_optimum"] < 0.05


def test_the_ranking_loss_figure_draws_every_framework_loss(quick_run: Path) -> None:
    from collapse_theory.reproduction.figure_records import drawings
    from collapse_theory.reproduction.loss_steps import FRAMEWORK_LOSSES

    results = _cached(quick_run)
    figure = drawings(results)["ranking_losses"]()
    (shapes,) = [axis for axis in figure.axes if axis.get_xlabel() == figures.RESPONSE_INDEX_LABEL]
    styles = {line.get_label().split(" ")[0]: line.get_linestyle() for line in shapes.get_lines()}
    assert set(styles) == {spec for spec, _ in FRAMEWORK_LOSSES}
    unbounded = {item["spec"] for item in results["ranking_losses"] if item["status"] == "unbounded"}
    assert unbounded == {"bradley-terry", "listmle", "log-sigmoid:1+free+lipo"}
    assert {spec for spec, style in styles.items() if style == "--"} == unbounded
    titles = {axis.get_title().split(" ")[0] for axis in figure.axes if axis.get_ylabel() == "limit density"}
    assert titles == {"trl-center:0.01", "open-assistant", "log-sigmoid:1", "ipo:1", "log+free+l2:0.5"}


def test_the_command_prints_each_claim_with_its_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import collapse_theory.reproduction.runner as library

    claim = library.Claim(id="hermite", claim="log + L2: Hermite zeros", summary="", measured={}, tolerance="", passed=True)
    monkeypatch.setattr(library, "reproduce", lambda out, **kwargs: library.Reproduction(Path(out), (claim,), ()))
    assert main(["reproduce", "--quick", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == ["PASS  hermite: log + L2: Hermite zeros"]


def _cached(out: Path) -> dict[str, Any]:
    """Every step's cached result, by step name."""
    results = {}
    for path in (out / ".cache").glob("*-*.json"):
        entry = json.loads(path.read_text())
        results[entry["step"]] = entry["value"]
    return results


def test_the_snapshots_show_collapse_happening(quick_run: Path) -> None:
    """An early snapshot far from collapse, a late one collapsed, and the collapse score against step drawn."""
    from collapse_theory.reproduction.figure_records import drawings

    results = _cached(quick_run)
    run = results["training"]["log-sigmoid:4"]
    scores = {int(step): split["collapse_score"] for step, split in run["snapshots"].items()}
    assert sorted(scores) == [20, 60, 600]
    assert scores[min(scores)] > 0.1 and scores[max(scores)] < 0.05
    history = run["collapse_history"]
    assert history["steps"][0] == 20 and history["steps"][-1] == 600
    assert history["train"][0] == pytest.approx(scores[20])
    figure = drawings(results)["training_snapshots"]()
    (score_panel,) = [axis for axis in figure.axes if axis.get_yscale() == "log"]
    drawn = {line.get_label() for line in score_panel.get_lines()}
    assert {"log-sigmoid:4", "prompt-aware"} <= drawn
    titles = [axis.get_title() for axis in figure.axes]
    assert any("step 20" in title for title in titles) and any("step 600" in title for title in titles)


def test_the_convergence_figure_ticks_are_the_n_values(quick_run: Path) -> None:
    from collapse_theory.reproduction.figure_records import drawings

    figure = drawings(_cached(quick_run))["convergence"]()
    for axis in figure.axes:
        assert list(axis.get_xticks()) == [8, 16, 32, 64]


def test_a_bad_seed_is_one_line_and_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "--seed", "-3", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "seed" in error[0]
    assert not (tmp_path / "out").exists()


# --- the cache (issue "Reliability"): damaged entries, code version, --force ---------------------


def _steps(out: Path, stream: object = None) -> object:
    from collapse_theory.reproduction.cache import Steps
    from collapse_theory.reproduction.runner import Settings

    return Steps(out, Settings.make(True, 0), stream)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # truncated by a crash or a full disk
        lambda text: "\x00\x01 not json",
        lambda text: '{"valid": "json", "but": "not an entry"}',
        lambda text: "[1, 2, 3]",
    ],
)
def test_a_damaged_cache_entry_is_discarded_and_recomputed_with_a_warning(tmp_path: Path, damage: object) -> None:
    import io

    calls = []

    def compute() -> dict[str, object]:
        calls.append(1)
        return {"answer": [1.0, 2.0]}

    steps = _steps(tmp_path)
    assert steps.run("step", 1, 1, compute) == {"answer": [1.0, 2.0]}  # type: ignore[attr-defined]
    (entry,) = (tmp_path / ".cache").glob("step-*.json")
    entry.write_text(damage(entry.read_text()))  # type: ignore[operator]
    stream = io.StringIO()
    assert _steps(tmp_path, stream).run("step", 1, 1, compute) == {"answer": [1.0, 2.0]}  # type: ignore[attr-defined]
    assert len(calls) == 2
    warning = [line for line in stream.getvalue().splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and str(entry) in warning[0] and "recomputing step" in warning[0]
    assert json.loads(entry.read_text())["value"] == {"answer": [1.0, 2.0]}  # rewritten whole
    assert _steps(tmp_path).run("step", 1, 1, compute) == {"answer": [1.0, 2.0]}  # type: ignore[attr-defined]
    assert len(calls) == 2  # and read back from then on


def test_a_damaged_cache_entry_warns_even_when_the_run_is_silent(tmp_path: Path) -> None:
    steps = _steps(tmp_path)
    steps.run("step", 1, 1, lambda: 1)  # type: ignore[attr-defined]
    (entry,) = (tmp_path / ".cache").glob("step-*.json")
    entry.write_text("{")
    with pytest.warns(RuntimeWarning, match="damaged cache entry"):
        assert _steps(tmp_path).run("step", 1, 1, lambda: 1) == 1  # type: ignore[attr-defined]


def test_the_cache_key_includes_the_code_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import collapse_theory
    import collapse_theory.reproduction.settings as library

    settings = library.Settings.make(True, 0)
    version = library.code_version()
    assert version.startswith(collapse_theory.__version__ + "+")
    before = settings.key()
    monkeypatch.setattr(library, "code_version", lambda: version + "-edited")  # an edited library
    assert settings.key() != before


def test_the_code_version_hashes_the_library_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import collapse_theory.reproduction.settings as library

    package = tmp_path / "package"
    package.mkdir()
    (package / "reproduce.py").write_text("x = 1\n")
    monkeypatch.setattr(library, "PACKAGE_ROOT", package)
    library.code_version.cache_clear()
    try:
        first = library.code_version()
        (package / "solver.py").write_text("y = 2\n")
        library.code_version.cache_clear()
        assert library.code_version() != first
    finally:
        monkeypatch.undo()
        library.code_version.cache_clear()


def test_reproduce_force_ignores_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import collapse_theory.reproduction.runner as library

    steps = _steps(tmp_path)
    steps.run("step", 1, 1, lambda: 1)  # type: ignore[attr-defined]
    assert list((tmp_path / ".cache").glob("step-*.json"))
    seen = []

    def fake_reproduce(out: Path, **kwargs: object) -> library.Reproduction:
        seen.append(sorted(p.name for p in (Path(out) / ".cache").glob("*.json")))
        return library.Reproduction(Path(out), (), ())

    monkeypatch.setattr(library, "reproduce", fake_reproduce)
    assert main(["reproduce", "--quick", "--out", str(tmp_path)]) == 0
    assert seen[-1] != []  # without --force the cache is used
    assert main(["reproduce", "--quick", "--force", "--out", str(tmp_path)]) == 0
    assert seen[-1] == []  # with --force every step is recomputed


def test_the_library_refuses_a_seed_beyond_2_32_before_any_work(tmp_path: Path) -> None:
    """Before: reproduce(seed=2**70) raised OverflowError after 21 s and 6 cache files."""
    from collapse_theory.reproduction.runner import reproduce

    with pytest.raises(ValueError, match="seed must be an integer in"):
        reproduce(tmp_path / "out", quick=True, seed=2**70, stream=None)
    assert not (tmp_path / "out").exists()
