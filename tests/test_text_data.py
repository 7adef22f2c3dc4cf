"""The paper's experiment on real text, offline (issue 25): the embedder, the rankings, make-data --text.

Tests that need the optional extra ``text`` (WordLlama) skip without it; the test of the
one-line error without the extra runs everywhere. Budget: about a minute on 2 busy cores
(importing the packages whose docstrings are the texts, and embedding them, dominate).
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import numpy as np
import pytest
from helpers import error_line as _error_line
from helpers import run_cli as _run

from collapse_theory.training import load_dataset
from collapse_theory.training.data import completion_lengths
from collapse_theory.training.embedder import embedder_available, load_embedder
from collapse_theory.training.text_data import (
    CLOSED_TEMPLATES,
    MIN_WORDS,
    OPEN_TEMPLATES,
    collect_sources,
    text_companion_paths,
)

needs_extra = pytest.mark.skipif(not embedder_available(), reason="the optional extra 'text' (wordllama) is not installed")

SMALL = ["--prompts", "24", "--dim", "16", "--quiet"]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not embedder_available():
        pytest.skip("the optional extra 'text' (wordllama) is not installed")
    from collapse_theory.cli import main

    path = tmp_path_factory.mktemp("text") / "text.npz"
    assert main(["make-data", "--text", "--out", str(path), "--seed", "3", *SMALL]) == 0
    return path


def _records(path: Path) -> list[dict[str, object]]:
    texts, _ = text_companion_paths(path)
    return [json.loads(line) for line in texts.read_text().splitlines()]


# --- the embedder, offline ----------------------------------------------------------------


@needs_extra
def test_the_embedder_loads_and_embeds_without_any_network_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Oracle: WordLlama's own inference class (its padded, masked mean pooling) on the same package files."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    load_embedder.cache_clear()
    embedder = load_embedder()
    texts = ["Solve a linear matrix equation, or system of linear scalar equations.", "x", "The for statement iterates."]
    ours = embedder.embed(texts)

    import wordllama
    from safetensors import safe_open
    from wordllama.inference import WordLlamaInference
    from wordllama.tokenizers import tokenizer_from_file

    folder = Path(wordllama.__file__).parent
    with safe_open(str(folder / "weights" / "l2_supercat_256.safetensors"), framework="np") as weights:
        table = weights.get_tensor("embedding.weight")
    theirs = WordLlamaInference(table, tokenizer_from_file("l2_supercat_tokenizer_config.json")).embed(texts, norm=False)
    assert ours.shape == (3, 256) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)  # float32 means of float16 rows: rounding only
    assert np.linalg.norm(ours[0] - ours[2]) > 0.1  # different texts, different vectors


def test_without_the_extra_make_data_text_names_it_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec

    def hidden(name: str, *args: object, **kwargs: object) -> object:
        return None if name == "wordllama" else real(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", hidden)
    load_embedder.cache_clear()
    out = tmp_path / "text.npz"
    try:
        code, _, err = _run(capsys, "make-data", "--text", "--out", str(out))
    finally:
        load_embedder.cache_clear()
    assert code == 2
    line = _error_line(err)
    assert "optional extra 'text'" in line and "pip install -e '.[text]'" in line, line
    assert "Traceback" not in err and not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--noise", "0.1"], "--noise applies to the synthetic dataset only"),
        (["--n", "4"], "--text has n = 8"),
        (["--dim", "512"], "at most 256"),
    ],
)
def test_make_data_text_rejects_what_does_not_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    out = tmp_path / "text.npz"
    code, _, err = _run(capsys, "make-data", "--text", "--out", str(out), *arguments)
    assert code == 2 and message in _error_line(err)
    assert not list(tmp_path.iterdir())


# --- the texts and the rankings -----------------------------------------------------------


def test_every_reference_answer_is_long_enough_and_distinct() -> None:
    corpus = collect_sources()
    assert len(corpus) >= 2000
    assert all(len(source.text.split()) >= MIN_WORDS for source in corpus)
    openings = [" ".join(source.text.split()[:MIN_WORDS]) for source in corpus]
    assert len(set(openings)) == len(openings)
    assert any(source.origin == "pydoc_data.topics" for source in corpus)
    assert collect_sources() == corpus  # the same installation, the same texts in the same order


@needs_extra
def test_truncations_are_ranked_as_in_the_paper(text_file: Path) -> None:
    """Oracle: the paper's lengths, and rank = position by decreasing length, recomputed from the texts."""
    dataset = load_dataset(text_file)
    records = _records(text_file)
    assert dataset.n == 8 and dataset.prompts == len(records) == 24 and dataset.dim == 2 * 16
    expected = {"open": list(range(10, 81, 10)), "closed": [16, 22, 28, 34, 56, 62, 68, 74]}
    assert {kind: sorted(int(w) for w in completion_lengths(kind, 8)) for kind in expected} == expected
    for record in records:
        kind = str(record["kind"])
        completions = [str(c) for c in record["completions"]]  # type: ignore[attr-defined]
        words = [len(c.split()) for c in completions]
        assert words == record["words"] and sorted(words) == expected[kind]
        longest = max(completions, key=len)
        assert all(longest.startswith(c) for c in completions)  # each a truncation of the same answer
        by_length = sorted(range(8), key=lambda j: -words[j])
        ranks = [by_length.index(j) for j in range(8)]
        assert ranks == record["rank"] == dataset.rankings[record["index"]].tolist()  # type: ignore[index]
        assert dataset.kind_names[int(dataset.kinds[record["index"]])] == kind  # type: ignore[index]
        assert bool(dataset.held_out[record["index"]]) == record["held_out"]  # type: ignore[index]


@needs_extra
def test_the_kind_can_be_told_from_the_prompt(text_file: Path) -> None:
    records = _records(text_file)
    for record in records:
        templates = OPEN_TEMPLATES if record["kind"] == "open" else CLOSED_TEMPLATES
        patterns = [re.escape(t).replace(re.escape("{name}"), ".+") for t in templates]
        assert any(re.fullmatch(p, str(record["prompt"])) for p in patterns), record["prompt"]
    assert {record["kind"] for record in records} == {"open", "closed"}


@needs_extra
def test_the_embeddings_are_the_embedders_vectors_of_the_texts(text_file: Path) -> None:
    """Oracle: the embedder's mean (WordLlama's own, tested above) and the sum of the tokens' table rows / 100, first 16 coordinates."""
    dataset = load_dataset(text_file)
    records = _records(text_file)[:3]
    embedder = load_embedder()

    def pooled(texts: list[str]) -> np.ndarray:
        sums = np.stack(
            [embedder.table[np.asarray(ids, dtype=np.int64)].astype(np.float64).sum(axis=0) for ids in embedder.encode(texts)]
        )
        return np.concatenate([embedder.embed(texts)[:, :16], sums[:, :16] / 100.0], axis=1)

    for record in records:
        p = int(record["index"])  # type: ignore[call-overload]
        # float32 storage: relative rounding 6e-8, and the mean's float32 rounding carried into the sum half
        np.testing.assert_allclose(dataset.prompt_embeddings[p], pooled([str(record["prompt"])])[0], rtol=1e-6, atol=1e-7)
        completions = [str(c) for c in record["completions"]]  # type: ignore[attr-defined]
        np.testing.assert_allclose(dataset.completion_embeddings[p], pooled(completions), rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(dataset.completion_embeddings[p][:, :16], embedder.embed(completions)[:, :16])
    meta = json.loads(text_companion_paths(text_file)[1].read_text())
    assert meta["versions"]["numpy"] == np.__version__ and meta["seed"] == 3 and meta["prompts"] == 24


@needs_extra
def test_make_data_text_is_deterministic(text_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    again = tmp_path / "again.npz"
    code, out, _ = _run(capsys, "make-data", "--text", "--out", str(again), "--seed", "3", *SMALL)
    assert code == 0 and "24 prompts" in out
    first, second = load_dataset(text_file), load_dataset(again)
    for name in ("prompt_embeddings", "completion_embeddings", "rankings", "kinds", "held_out"):
        assert np.array_equal(getattr(first, name), getattr(second, name)), name
    for mine, theirs in zip(text_companion_paths(text_file), text_companion_paths(again), strict=True):
        assert mine.read_bytes() == theirs.read_bytes()
    other = tmp_path / "other.npz"
    assert _run(capsys, "make-data", "--text", "--out", str(other), "--seed", "4", *SMALL)[0] == 0
    assert not np.array_equal(load_dataset(other).rankings, first.rankings)
    code, _, err = _run(capsys, "make-data", "--text", "--out", str(again), "--seed", "3", *SMALL)
    assert code == 2 and "already exists" in _error_line(err)


# --- end to end ---------------------------------------------------------------------------


@needs_extra
@pytest.mark.slow
def test_real_text_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """make-data --text, then train with one utility and prompt-aware: each writes its verdict."""
    data = tmp_path / "text.npz"
    assert _run(capsys, "make-data", "--text", "--out", str(data), "--prompts", "200", "--dim", "64", "--quiet")[0] == 0
    for mode in (["--utility", "log-sigmoid:4"], ["--prompt-aware", "closed=linear,open=neg-power:1"]):
        out = tmp_path / mode[0].strip("-")
        code, printed, _ = _run(capsys, "train", "--data", str(data), *mode, "--steps", "200", "--out", str(out), "--quiet")
        assert code == 0
        assert re.search(r"^verdict: ", printed, re.MULTILINE), printed
        diagnostics = json.loads((out / "diagnostics.json").read_text())
        assert diagnostics["verdict"]["train"]["max_distance_to_optimum"] >= 0
        assert {curve["kind"] for curve in diagnostics["train"]["curves"]} == {"open", "closed"}
