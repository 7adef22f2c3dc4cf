"""The dataset format, its validation, and the synthetic generator (issue 4, item 1).

Budget: under 10 seconds (no training, no solver).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from collapse_theory.training.data import (
    DATASET_KEYS,
    SYNTHETIC_KINDS,
    Dataset,
    DatasetError,
    completion_lengths,
    load_dataset,
    make_synthetic_dataset,
    save_dataset,
)

# The paper's truncation lengths for n = 8 (Song, Cai, Lee, Su, arXiv 2305.17608, Section 5).
PAPER_OPEN_LENGTHS = [80, 70, 60, 50, 40, 30, 20, 10]
PAPER_CLOSED_LENGTHS = [74, 68, 62, 56, 34, 28, 22, 16]


def _arrays(dataset: Dataset) -> dict[str, np.ndarray]:
    return {
        "prompt_embeddings": dataset.prompt_embeddings,
        "completion_embeddings": dataset.completion_embeddings,
        "rankings": dataset.rankings,
        "kinds": dataset.kinds,
        "kind_names": np.asarray(dataset.kind_names),
        "held_out": dataset.held_out,
    }


@pytest.fixture(scope="module")
def small() -> Dataset:
    return make_synthetic_dataset(prompts=20, n=8, dim=8, seed=5, held_out=0.25)


def _write(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


# --- the generator -------------------------------------------------------------------


def test_lengths_are_the_papers_for_n_8() -> None:
    assert completion_lengths("open", 8).tolist() == PAPER_OPEN_LENGTHS
    assert completion_lengths("closed", 8).tolist() == PAPER_CLOSED_LENGTHS


def test_lengths_generalise_to_other_n() -> None:
    # oracle: open is evenly spread (constant gaps); closed is two clusters with the big gap in the middle
    open_lengths = completion_lengths("open", 5)
    assert np.allclose(np.diff(open_lengths), -17.5)
    closed = completion_lengths("closed", 5)
    assert closed.tolist() == [74.0, 65.0, 56.0, 34.0, 16.0]
    with pytest.raises(DatasetError, match="unknown synthetic kind"):
        completion_lengths("essay", 8)


def test_generator_shapes_and_format(small: Dataset) -> None:
    assert small.prompt_embeddings.shape == (20, 8)
    assert small.completion_embeddings.shape == (20, 8, 8)
    assert small.prompt_embeddings.dtype == np.float32
    assert small.kind_names == SYNTHETIC_KINDS
    assert small.rankings.dtype == np.int64
    assert (np.sort(small.rankings, axis=1) == np.arange(8)).all()  # each row a permutation
    assert int(small.held_out.sum()) == 5  # 25% of 20


def test_generator_balances_kinds_and_is_seeded() -> None:
    a = make_synthetic_dataset(prompts=31, n=4, dim=8, seed=11)
    b = make_synthetic_dataset(prompts=31, n=4, dim=8, seed=11)
    c = make_synthetic_dataset(prompts=31, n=4, dim=8, seed=12)
    assert abs(int((a.kinds == 0).sum()) - int((a.kinds == 1).sum())) <= 1
    for key, value in _arrays(a).items():
        assert np.array_equal(value, _arrays(b)[key]), key
    assert not np.array_equal(a.completion_embeddings, c.completion_embeddings)


def test_storage_order_hides_the_rank() -> None:
    # Completions are stored in a random order, so position j does not give away the rank:
    # over many prompts, the best completion sits at every position.
    data = make_synthetic_dataset(prompts=200, n=8, dim=8, seed=0)
    positions_of_best = np.argmin(data.rankings, axis=1)
    assert set(positions_of_best.tolist()) == set(range(8))


def test_embeddings_encode_quality_linearly() -> None:
    # Learnability oracle without training: the quality coordinate (L - 45)/35 is a fixed
    # linear function of the noiseless embedding, so least squares on the completion
    # embeddings recovers the rank order of every prompt (noise 0.02 << gap 6/35).
    data = make_synthetic_dataset(prompts=100, n=8, dim=16, seed=2)
    lengths = np.stack([completion_lengths(name, 8) for name in SYNTHETIC_KINDS])[data.kinds]
    stored = np.take_along_axis(lengths, data.rankings, axis=1)  # rank r -> lengths[:, r]
    x = data.completion_embeddings.reshape(-1, 16).astype(np.float64)
    y = ((stored - 45.0) / 35.0).reshape(-1)
    coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
    predicted = (x @ coefficients).reshape(100, 8)
    best_first = np.take_along_axis(predicted, np.argsort(data.rankings, axis=1), axis=1)
    assert (np.diff(best_first, axis=1) < 0).all()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"prompts": 1}, "prompts must be an integer >= 2"),
        ({"n": 1}, "n must be an integer >= 2"),
        ({"dim": 4}, "dim must be an integer >= 8"),
        ({"held_out": 1.0}, r"held-out fraction must be in \[0, 1\)"),
        ({"noise": float("nan")}, "noise must be a finite number"),
        ({"seed": -1}, r"seed must be an integer in \[0, 4294967295\]"),
        ({"seed": 2**63}, r"seed must be an integer in \[0, 4294967295\]"),
    ],
)
def test_generator_rejects_bad_arguments(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        make_synthetic_dataset(**arguments)  # type: ignore[arg-type]


# --- the file format -----------------------------------------------------------------


def test_save_load_round_trip(small: Dataset, tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    save_dataset(small, path)
    loaded = load_dataset(path)
    for key, value in _arrays(small).items():
        assert np.array_equal(_arrays(loaded)[key], value), key
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted(DATASET_KEYS)
        assert archive["kind_names"].dtype.kind == "U"  # fixed-width unicode, not objects


def test_save_leaves_no_temporary_file(small: Dataset, tmp_path: Path) -> None:
    target = tmp_path / "missing-folder-is-created" / "data.npz"
    save_dataset(small, target)
    assert target.exists()
    assert [p.name for p in target.parent.iterdir()] == ["data.npz"]  # no temporary left behind


def _corrupt(small: Dataset, **changes: np.ndarray) -> dict[str, np.ndarray]:
    arrays = _arrays(small)
    arrays.update(changes)
    return arrays


def _bad_cases(small: Dataset) -> list[tuple[str, dict[str, np.ndarray], str]]:
    nan_prompt = small.prompt_embeddings.copy()
    nan_prompt[3, 2] = np.nan
    inf_completion = small.completion_embeddings.copy()
    inf_completion[0, 1, 0] = np.inf
    repeated = small.rankings.copy()
    repeated[4] = 0
    unknown_kind = small.kinds.copy()
    unknown_kind[2] = 7
    missing = _arrays(small)
    del missing["rankings"]
    return [
        (
            "wrong prompt shape",
            _corrupt(small, prompt_embeddings=small.prompt_embeddings[:, None, :]),
            r"prompt_embeddings must have shape \[P, d\]",
        ),
        (
            "wrong completion shape",
            _corrupt(small, completion_embeddings=small.completion_embeddings[:-1]),
            "completion_embeddings must have shape",
        ),
        ("NaN", _corrupt(small, prompt_embeddings=nan_prompt), "prompt_embeddings contains NaN or infinity"),
        ("inf", _corrupt(small, completion_embeddings=inf_completion), "completion_embeddings contains NaN or infinity"),
        ("not a permutation", _corrupt(small, rankings=repeated), "rankings row 4 is not a permutation of 0..7"),
        ("float rankings", _corrupt(small, rankings=small.rankings.astype(float)), "rankings must be an integer array"),
        ("unknown kind", _corrupt(small, kinds=unknown_kind), r"kinds\[2\] = 7 is not a known kind"),
        ("duplicate kind names", _corrupt(small, kind_names=np.asarray(["open", "open"])), "kind_names must be unique"),
        ("held_out not bool", _corrupt(small, held_out=small.held_out.astype(int)), "held_out must be a bool array"),
        ("all held out", _corrupt(small, held_out=np.ones(20, dtype=bool)), "every prompt is held out"),
        ("missing key", missing, "missing the array"),
    ]


@pytest.mark.parametrize("case", range(11))
def test_load_rejects_malformed_files(small: Dataset, tmp_path: Path, case: int) -> None:
    name, arrays, message = _bad_cases(small)[case]
    path = _write(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetError, match=message) as caught:
        load_dataset(path)
    assert "\n" not in str(caught.value), name  # one line
    assert str(path) in str(caught.value)  # names the file


def test_load_refuses_pickled_objects(small: Dataset, tmp_path: Path) -> None:
    arrays = _arrays(small)
    arrays["kind_names"] = np.asarray(["open", "closed"], dtype=object)
    path = _write(tmp_path / "objects.npz", **arrays)
    with pytest.raises(DatasetError, match="holds Python objects"):
        load_dataset(path)


def test_load_rejects_files_that_are_not_npz(tmp_path: Path) -> None:
    text = tmp_path / "notes.npz"
    text.write_text("not a zip file\n")
    with pytest.raises(DatasetError, match=r"not a dataset \.npz file"):
        load_dataset(text)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(DatasetError, match=r"single \.npy array"):
        load_dataset(single)
    with pytest.raises(DatasetError, match="is a directory"):
        load_dataset(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path / "absent.npz")


def test_dataset_constructor_validates() -> None:
    with pytest.raises(DatasetError, match="kind names must be non-empty"):
        Dataset(
            prompt_embeddings=np.zeros((2, 3)),
            completion_embeddings=np.zeros((2, 2, 3)),
            rankings=np.array([[0, 1], [1, 0]]),
            kinds=np.array([0, 0]),
            kind_names=("a=b",),
            held_out=np.array([False, True]),
        )


def test_truncated_npz_is_reported(small: Dataset, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **_arrays(small))
    path = tmp_path / "truncated.npz"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(DatasetError):
        load_dataset(path)
