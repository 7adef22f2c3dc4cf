"""The audit library: a collapsed reward model is told from a prompt-aware one.

Fixtures are the solver's optima plus noise, each prompt then scaled and shifted at
random (what a reward model's per-prompt offset and scale do): the audit must see
through the affine map to the shape. Oracles: the solver's optima, the trainer's
collapse score, and pair counts done by hand.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from collapse_theory.auditing import (
    RUN_REWARDS_FILE,
    AuditInputError,
    audit,
    collapse_score,
    open_score_file,
    permutation_test,
    prompt_shape,
    read_shapes,
)
from collapse_theory.solver.utility_solver import solve

CLOSED, OPEN = "linear", "neg-power:1"


@pytest.fixture(scope="module")
def optima() -> dict[tuple[str, int], np.ndarray]:
    return {(spec, n): solve(spec, n).rewards for spec in (CLOSED, OPEN) for n in (4, 5, 6)}


def noisy_prompts(
    optima: dict[tuple[str, int], np.ndarray],
    kinds: dict[str, str],
    prompts_per_kind: int,
    seed: int,
    sizes: tuple[int, ...] = (6,),
    noise: float = 0.02,
    scales: tuple[float, float] = (0.2, 10.0),
) -> list[dict[str, object]]:
    """Rows {prompt_id, scores (best first), group}: optimum + noise, then a random affine map."""
    rng = np.random.default_rng(seed)
    rows = []
    for kind, spec in kinds.items():
        for number in range(prompts_per_kind):
            n = sizes[number % len(sizes)]
            rewards = optima[(spec, n)] + rng.normal(0.0, noise, n)
            scores = rewards * rng.uniform(*scales) + rng.normal(0.0, 5.0)
            rows.append({"prompt_id": f"{kind}-{number}", "scores": scores.tolist(), "group": kind})
    return rows


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


# --- shapes ---------------------------------------------------------------------------


def test_a_shape_ignores_the_prompts_offset_and_scale() -> None:
    scores = np.array([0.3, 2.0, -1.0, 0.7])
    assert np.allclose(prompt_shape(scores), prompt_shape(7.0 * scores - 3.0))


def test_with_n_equal_to_the_grid_the_shape_is_the_sorted_rescaled_scores() -> None:
    scores = np.array([0.2, 1.0, 0.0, 0.5, 0.9])
    assert np.allclose(prompt_shape(scores, grid=5), [1.0, 0.9, 0.5, 0.2, 0.0])


# --- the collapse score is the trainer's ------------------------------------------------


def test_collapse_score_is_the_trainers_definition() -> None:
    # oracle: the trainer's diagnostics on the same rewards
    from collapse_theory.training.data import make_synthetic_dataset
    from collapse_theory.training.diagnostics import diagnose

    data = make_synthetic_dataset(prompts=30, n=4, held_out=0.0, seed=3)
    rewards = np.random.default_rng(0).uniform(size=data.rankings.shape)
    report = diagnose(data, rewards, dict.fromkeys(data.kind_names, "linear"), optima={"linear": [1.0, 1.0, 0.0, 0.0]})
    means = {curve.kind: curve.mean for curve in report.train.curves}
    assert collapse_score(means) == report.train.collapse_score


# --- the claims: one utility collapses, prompt-aware does not ---------------------------


def test_one_utility_for_every_group_is_collapsed(tmp_path: Path, optima: dict[tuple[str, int], np.ndarray]) -> None:
    rows = noisy_prompts(optima, {"closed": OPEN, "open": OPEN, "code": OPEN}, 400, seed=1, scales=(1.0, 3.0))
    report = audit(write_jsonl(tmp_path / "single.jsonl", rows), resamples=999)
    assert report.collapsed is True, report.reason
    assert report.collapse_score is not None and report.collapse_score < 0.05
    assert [g.prompts for g in report.groups] == [400, 400, 400]
    shape, scale = report.test.axis("shape"), report.test.axis("scale")
    assert shape is not None and shape.high is not None and report.resolution.shape is not None
    assert scale is not None and scale.high is not None and report.resolution.scale is not None
    assert shape.high < report.resolution.shape and scale.high < report.resolution.scale
    assert all(g.accuracy is not None and g.accuracy > 0.99 for g in report.groups)


def test_prompt_aware_groups_are_not_collapsed(tmp_path: Path, optima: dict[tuple[str, int], np.ndarray]) -> None:
    rows = noisy_prompts(optima, {"closed": CLOSED, "open": OPEN}, 100, seed=2)
    report = audit(write_jsonl(tmp_path / "aware.jsonl", rows), resamples=300)
    assert report.collapsed is False, report.reason
    assert report.test.p_value is not None and report.test.p_value < 0.01
    assert report.collapse_score is not None and report.collapse_score > 0.2


def test_distance_to_the_training_utility_is_small_for_its_own_groups(
    tmp_path: Path, optima: dict[tuple[str, int], np.ndarray]
) -> None:
    rows = noisy_prompts(optima, {"closed": CLOSED, "open": OPEN}, 60, seed=3, sizes=(4, 6), noise=0.005)
    report = audit(write_jsonl(tmp_path / "aware.jsonl", rows), resamples=50, loss=OPEN)
    assert report.loss is not None
    distances = {p.name: p.distance for p in report.loss.groups}
    assert distances["open"] < 0.03 < 0.2 < distances["closed"]


# --- formats ------------------------------------------------------------------------------


def rewardbench_document() -> dict[str, object]:
    """A RewardBench 2 score file with exactly run_v2.py's fields."""
    scores = [[2.0, 1.0, 0.5, -1.0], [0.1, 0.3, 0.2, 0.0], [1.0, 0.9, 1.5, 0.2], [3.0, 1.0, 2.0, 0.0], [5.0]]
    return {
        "chat_template": None,
        "id": [11, 12, 13, 14, 15],
        "model": "tiny/reward-model",
        "model_type": "Seq. Classifier",
        "num_correct": [1, 1, 2, 1, 1],
        "results": [1, 0, 0, 1, 1],
        "scores": scores,
        "subset": ["Math", "Math", "Ties", "Focus", "Focus"],
        "text": [["a", "b", "c", "d"], ["a", "b", "c", "d"], ["a", "b", "c", "d"], ["a", "b", "c", "d"], ["a"]],
    }


def test_rewardbench_score_file_parses_with_its_partial_order(tmp_path: Path) -> None:
    path = tmp_path / "rb2.json"
    path.write_text(json.dumps(rewardbench_document(), indent=4, sort_keys=True))
    report = audit(path, resamples=20)
    assert (report.input_format, report.model, report.prompts, report.skipped) == ("rewardbench", "tiny/reward-model", 4, 1)
    groups = {g.name: g for g in report.groups}
    assert list(groups) == ["Math", "Ties", "Focus"]
    # by hand: Math row 1 wins 3 of 3 pairs, row 2 wins 1 of 3 (0.1 > 0.0); Ties: correct {1.0, 0.9}
    # against {1.5, 0.2}: 2 of 4; Focus: 3 of 3
    assert groups["Math"].accuracy == pytest.approx(4 / 6)
    assert groups["Ties"].accuracy == pytest.approx(2 / 4)
    assert groups["Focus"].accuracy == 1.0
    rows_path = tmp_path / "rows.json"
    document = rewardbench_document()
    keys = [key for key, value in document.items() if isinstance(value, list)]
    rows = [{key: document[key][i] for key in keys} for i in range(5)]  # type: ignore[index]
    rows_path.write_text(json.dumps(rows))
    again = audit(rows_path, resamples=20)
    assert [g.accuracy for g in again.groups] == [g.accuracy for g in report.groups]
    assert np.allclose([g.mean_shape for g in again.groups], [g.mean_shape for g in report.groups])


def test_csv_and_jsonl_with_ranks_read_the_same(tmp_path: Path) -> None:
    rows = [
        {"prompt_id": "p1", "scores": [0.1, 0.9, 0.5], "ranks": [3, 1, 2], "group": "a"},
        {"prompt_id": "p2", "scores": [0.2, 0.4, 0.8], "ranks": [1, 2, 3], "group": "b"},
    ]
    jsonl = write_jsonl(tmp_path / "ranked.jsonl", rows)
    with open(tmp_path / "ranked.csv", "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["prompt_id", "score", "rank", "group"])
        for row in rows:
            for score, rank in zip(row["scores"], row["ranks"], strict=True):  # type: ignore[call-overload]
                writer.writerow([row["prompt_id"], score, rank, row["group"]])
    first, second = read_shapes(open_score_file(jsonl)), read_shapes(open_score_file(tmp_path / "ranked.csv"))
    assert open_score_file(tmp_path / "ranked.csv").format == "csv"
    assert np.array_equal(first.shapes, second.shapes)
    # p1 ranked right (3 of 3 pairs), p2 ranked backwards (0 of 3)
    assert first.correct_pairs.tolist() == second.correct_pairs.tolist() == [3, 0]


def test_variable_n_ties_and_skipped_prompts(tmp_path: Path, optima: dict[tuple[str, int], np.ndarray]) -> None:
    rows = noisy_prompts(optima, {"closed": CLOSED, "open": OPEN}, 60, seed=4, sizes=(4, 5, 6))
    rows += [
        {"prompt_id": "one", "scores": [1.0], "group": "open"},
        {"prompt_id": "none", "scores": [], "group": "open"},
        {"prompt_id": "flat", "scores": [2.0, 2.0, 2.0], "group": "closed"},
        {"prompt_id": "tie", "scores": [1.0, 1.0, 0.0, 0.0], "group": "closed"},
    ]
    report = audit(write_jsonl(tmp_path / "mixed.jsonl", rows), resamples=100)
    assert (report.prompts, report.skipped) == (121, 3)
    assert report.skipped_reasons == {"fewer than two scores": 2, "all scores tied": 1}
    closed = next(g for g in report.groups if g.name == "closed")
    assert closed.completions == {4: 21, 5: 20, 6: 20}
    assert closed.accuracy is not None and closed.accuracy < 1.0  # tied pairs count as wrong
    assert report.collapsed is False


def test_a_trainer_run_directory_audits_its_heldout_rewards(tmp_path: Path, optima: dict[tuple[str, int], np.ndarray]) -> None:
    for name, kinds, expected in (
        ("single", {"closed": OPEN, "open": OPEN}, True),
        ("aware", {"closed": CLOSED, "open": OPEN}, False),
    ):
        run = tmp_path / name
        run.mkdir()
        rng = np.random.default_rng(5)
        rows = []
        for kind, spec in kinds.items():  # the trainer writes sigmoid rewards in (0, 1), best first
            for number in range(80):
                rewards = np.clip(optima[(spec, 4)] * 0.9 + 0.05 + rng.normal(0.0, 0.01, 4), 0.0, 1.0)
                rows.append({"prompt_id": f"{kind}{number}", "scores": rewards.tolist(), "group": kind})
        write_jsonl(run / RUN_REWARDS_FILE, rows)
        report = audit(run, resamples=200)
        assert report.input_format == "run"
        assert report.collapsed is expected, report.reason


def test_permutation_p_value_is_seeded_and_of_the_form_one_plus_count_over_one_plus_k() -> None:
    rng = np.random.default_rng(0)
    shapes, labels = rng.uniform(size=(120, 4)), np.repeat([0, 1, 2], 40)
    first, second = permutation_test(shapes, labels, 99, seed=7), permutation_test(shapes, labels, 99, seed=7)
    assert first == second
    assert first.p_value is not None and round(first.p_value * 100, 9) == round(first.p_value * 100)
    assert first.p_value > 0.01  # one distribution: not significant for this seed


# --- bad input: one line naming the file, the place and the problem ---------------------


BAD_INPUTS = {
    "nan.jsonl": ('{"scores": [1.0, 2.0]}\n{"scores": [1.0, NaN]}\n', "line 2: non-finite score"),
    "empty.jsonl": ("", "empty file"),
    "unknown.txt": ("hello world\n", "unknown format"),
    "text.jsonl": ('{"scores": [1.0, "x"]}\n', "line 1: scores must be numbers"),
    "ranks.jsonl": ('{"scores": [1.0, 2.0, 3.0], "ranks": [1, 1, 2]}\n', "line 1: ranks must be a permutation"),
    "lengths.json": (json.dumps({"scores": [[1.0, 2.0]], "subset": ["a", "b"], "num_correct": [1]}), "different lengths"),
    "correct.json": (
        json.dumps({"scores": [[1.0, 2.0]], "subset": ["a"], "num_correct": [3], "id": [9]}),
        "row 1 (id 9): num_correct = 3",
    ),
    "inf.csv": ("prompt_id,score\np,1.0\np,inf\n", "line 3: non-finite score"),
    "apart.csv": ("prompt_id,score\np,1.0\nq,2.0\nq,1.0\np,0.5\n", "line 5: rows of prompt 'p' are not together"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_naming_file_place_and_problem(tmp_path: Path, name: str) -> None:
    content, expected = BAD_INPUTS[name]
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(AuditInputError) as raised:
        audit(path, resamples=10)
    message = str(raised.value)
    assert "\n" not in message and message.startswith(str(path)) and expected in message, message


def test_a_failed_report_write_leaves_no_half_written_directory(
    tmp_path: Path, optima: dict[tuple[str, int], np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    import collapse_theory.auditing.report as report_module

    rows = noisy_prompts(optima, {"closed": CLOSED, "open": OPEN}, 10, seed=6)
    report = audit(write_jsonl(tmp_path / "small.jsonl", rows), resamples=10)
    real_write = report_module.atomic_write
    calls: list[Path] = []

    def failing_write(path: Path, write: object) -> None:
        calls.append(Path(path))
        if len(calls) == 2:
            raise OSError("disk full")
        real_write(path, write)  # type: ignore[arg-type]

    monkeypatch.setattr(report_module, "atomic_write", failing_write)
    with pytest.raises(OSError, match="disk full"):
        report_module.write_report(report, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_loss_may_be_a_ranking_loss_whose_prediction_is_its_limiting_direction(tmp_path: Path) -> None:
    """A model trained with free Bradley-Terry heads towards equal gaps (no maximiser): --loss bradley-terry predicts them."""
    rng = np.random.default_rng(3)
    equal_gaps = np.linspace(1.0, 0.0, 8)
    rows = [
        {"prompt_id": i, "scores": (rng.uniform(1, 20) * equal_gaps + rng.normal(0, 1)).tolist(), "group": "all"}
        for i in range(30)
    ]
    report = audit(write_jsonl(tmp_path / "bt.jsonl", rows), resamples=20, loss="bradley-terry")
    assert report.loss is not None and report.loss.prediction == "limiting direction"
    assert max(group.distance for group in report.loss.groups) < 1e-9
    gauss_lobatto = audit(write_jsonl(tmp_path / "bt2.jsonl", rows), resamples=20, loss="log")
    assert gauss_lobatto.loss is not None and gauss_lobatto.loss.prediction == "optimum"
    assert max(group.distance for group in gauss_lobatto.loss.groups) > 0.05
