"""The paper's experiment on real text, offline: prompts and answers every installation already has.

Song, Cai, Lee, Su (arXiv 2305.17608, Section 5) train a reward model on long human-written
answers, each truncated at 8 lengths, longer being better. This module builds the same
rankings from texts that are already on the machine, nothing downloaded:

* **Reference answers**: the docstrings of the installed scientific packages (public
  functions, classes and objects of :data:`SOURCE_MODULES`, the methods of
  :data:`SOURCE_CLASSES`) and Python's own documentation topics (``pydoc_data.topics``),
  each of at least 80 words, whitespace collapsed, duplicates (the same first 80 words)
  dropped. Sources are visited in sorted order; which texts exist depends on the installed
  versions, recorded in the dataset's metadata.
* **Prompts**: a question about the object (``numpy.linalg.solve``, ``scipy.stats.norm``,
  Python's ``for`` statement), worded by a template of its kind, so that the kind can be
  told from the prompt's text (and the reward model must learn it, as the paper's did):
  open-ended prompts ask for a thorough explanation (:data:`OPEN_TEMPLATES`), closed-ended
  prompts for a short answer (:data:`CLOSED_TEMPLATES`). Half of the prompts are of each
  kind, drawn by the seed, and the template of each prompt too.
* **Completions**: the first L words of the reference answer, for the lengths of
  :func:`~collapse_theory.training.data.completion_lengths` (n = 8): open-ended at 10, 20,
  ..., 80 words (quality spread evenly), closed-ended at 16, 22, 28, 34 and 56, 62, 68,
  74 words (bad or good). Longer is better: rank 0 is the longest. Completions are stored
  in a random order per prompt.

:func:`make_text_dataset` embeds every prompt and completion with the frozen WordLlama
embedder (:mod:`collapse_theory.training.embedder`): the mean and the sum of its token vectors
side by side (:meth:`~collapse_theory.training.embedder.Embedder.pool`, 2 * dim numbers), and returns a
:class:`~collapse_theory.training.data.Dataset` in the trainer's format, with the texts and
the metadata beside it (:class:`TextDataset`); :func:`save_text_dataset` writes
``FILE.npz``, ``FILE.texts.jsonl`` and ``FILE.meta.json``.

Example:
    >>> corpus = collect_sources()
    >>> len(corpus) >= 2000 and min(len(s.text.split()) for s in corpus) >= MIN_WORDS
    True
    >>> truncate("one two three four", 2)
    'one two'
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import platform
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from pydoc_data.topics import topics
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from collapse_theory._core.checks import check_seed
from collapse_theory._core.io import atomic_write_text
from collapse_theory.training.data import Dataset, DatasetError, completion_lengths, save_dataset
from collapse_theory.training.embedder import SUM_TOKENS, Embedder, load_embedder

__all__ = [
    "CLOSED_TEMPLATES",
    "MIN_WORDS",
    "OPEN_TEMPLATES",
    "SOURCE_CLASSES",
    "SOURCE_MODULES",
    "TEXT_KINDS",
    "TextDataset",
    "TextSource",
    "collect_sources",
    "make_text_dataset",
    "save_text_dataset",
    "text_companion_paths",
    "truncate",
]

#: The kinds, in index order (as the synthetic dataset's).
TEXT_KINDS = ("open", "closed")

#: Completions per prompt, and the fewest words of a reference answer (the longest truncation is 80).
COMPLETIONS = 8
MIN_WORDS = 80

#: Modules whose public objects' docstrings are reference answers (sorted by name when visited).
SOURCE_MODULES = (
    "jax",
    "jax.lax",
    "jax.nn",
    "jax.numpy",
    "jax.random",
    "jax.scipy.linalg",
    "jax.scipy.special",
    "jax.scipy.stats",
    "jax.tree_util",
    "matplotlib.colors",
    "numpy",
    "numpy.fft",
    "numpy.linalg",
    "numpy.ma",
    "numpy.polynomial",
    "numpy.random",
    "scipy.cluster.hierarchy",
    "scipy.fft",
    "scipy.integrate",
    "scipy.interpolate",
    "scipy.io",
    "scipy.linalg",
    "scipy.ndimage",
    "scipy.optimize",
    "scipy.signal",
    "scipy.sparse",
    "scipy.sparse.linalg",
    "scipy.spatial",
    "scipy.special",
    "scipy.stats",
)

#: Classes whose public methods' docstrings are reference answers too.
SOURCE_CLASSES = ("matplotlib.axes.Axes", "matplotlib.figure.Figure")

#: How an open-ended prompt asks (a thorough answer wanted; ``{name}`` is the object).
OPEN_TEMPLATES = (
    "Explain {name} in detail: what it is for, how it is used, and what to watch out for.",
    "Write a thorough description of {name}, covering its purpose, its parameters and its behaviour.",
    "Tell me everything you know about {name}, at length.",
)

#: How a closed-ended prompt asks (a short, definite answer wanted).
CLOSED_TEMPLATES = (
    "In one sentence, what is {name}?",
    "What does {name} do? Answer briefly.",
    "Give a short definition of {name}.",
)

#: Packages whose versions decide the texts (recorded in the metadata).
_VERSIONED = ("numpy", "scipy", "matplotlib", "jax", "jaxlib", "wordllama", "tokenizers")


@dataclass(frozen=True)
class TextSource:
    """One reference answer: the object it documents and its text (whitespace collapsed).

    Attributes:
        name: the object (``numpy.linalg.solve``) or the topic (``Python's 'for' statement``).
        origin: where the text came from (``docstring of numpy.linalg`` or ``pydoc_data.topics``).
        text: the reference answer, at least :data:`MIN_WORDS` words.
    """

    name: str
    origin: str
    text: str


def truncate(text: str, words: int) -> str:
    """The first ``words`` words of ``text`` (split on whitespace, joined by single spaces)."""
    return " ".join(text.split()[:words])


def _docstring(value: Any) -> str | None:
    """The object's own docstring: a routine's or a class's, or an instance's that differs from its type's."""
    try:
        doc = getattr(value, "__doc__", None)
    except Exception:  # some lazy objects raise on attribute access
        return None
    if not isinstance(doc, str):
        return None
    if inspect.isroutine(value) or inspect.isclass(value):
        return doc
    if inspect.ismodule(value) or doc == getattr(type(value), "__doc__", None):
        return None
    return doc


def _public(owner: Any) -> Iterator[tuple[str, Any]]:
    for attribute in sorted(dir(owner)):
        if attribute.startswith("_"):
            continue
        try:
            yield attribute, getattr(owner, attribute)
        except Exception:  # deprecated or lazily failing attributes are skipped, not fatal
            continue


def _candidates(progress: bool = False) -> Iterator[TextSource]:
    """Every candidate text, in a fixed order: modules, then classes' methods, then Python's topics."""
    modules = tqdm(sorted(SOURCE_MODULES), desc="reading docstrings", unit="module", disable=not progress, file=sys.stderr)
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for attribute, value in _public(module):
            if inspect.ismodule(value):
                continue
            doc = _docstring(value)
            if doc is not None:
                yield TextSource(f"{module_name}.{attribute}", f"docstring of {module_name}", " ".join(doc.split()))
    for class_path in sorted(SOURCE_CLASSES):
        module_name, _, class_name = class_path.rpartition(".")
        try:
            owner = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            continue
        for attribute, value in _public(owner):
            doc = _docstring(value) if inspect.isroutine(value) else None
            if doc is not None:
                yield TextSource(f"{class_path}.{attribute}", f"docstring of {class_path}", " ".join(doc.split()))
    for topic in sorted(topics):
        yield TextSource(f"Python's '{topic}' (the language reference)", "pydoc_data.topics", " ".join(topics[topic].split()))


def collect_sources(*, progress: bool = False) -> tuple[TextSource, ...]:
    """Every reference answer of at least :data:`MIN_WORDS` words, first occurrence of each opening kept.

    Two texts whose first 80 words agree (an alias, a re-exported function) would give the
    same completions twice: only the first, in the fixed visiting order, is kept.
    ``progress`` shows a progress bar over the modules on stderr.
    """
    seen: set[str] = set()
    kept: list[TextSource] = []
    with warnings.catch_warnings():  # reading deprecated attributes warns; the texts are what we want
        warnings.simplefilter("ignore")
        for source in _candidates(progress):
            words = source.text.split()
            if len(words) < MIN_WORDS:
                continue
            opening = " ".join(words[:MIN_WORDS])
            if opening in seen:
                continue
            seen.add(opening)
            kept.append(source)
    return tuple(kept)


@dataclass(frozen=True, eq=False)
class TextDataset:
    """A real-text dataset: the trainer's arrays, the texts behind them and the metadata.

    Attributes:
        dataset: the :class:`~collapse_theory.training.data.Dataset` (embeddings, rankings, kinds, held-out split).
        sources: the reference answer of each prompt.
        prompts: each prompt's text.
        completions: each prompt's completions' texts, in stored order (as ``dataset.completion_embeddings``).
        words: each completion's length in words, int [P, n], in stored order.
        metadata: seed, sizes, templates, lengths, embedder and package versions (JSON-ready).
    """

    dataset: Dataset
    sources: tuple[TextSource, ...]
    prompts: tuple[str, ...]
    completions: tuple[tuple[str, ...], ...]
    words: np.ndarray
    metadata: dict[str, Any]


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def make_text_dataset(
    prompts: int | None = None,
    seed: int = 0,
    held_out: float = 0.1,
    dim: int | None = None,
    *,
    progress: bool = False,
) -> TextDataset:
    """The seeded real-text dataset (n = 8), embedded by the frozen WordLlama embedder.

    Args:
        prompts: how many prompts (a seeded choice among the collected texts); None: all.
        seed: the seed of every random choice: which texts (when fewer than all), each
            prompt's kind and template, the stored order of completions, the held-out split.
        held_out: fraction of prompts held out, in [0, 1); at least one prompt trains.
        dim: keep the first ``dim`` coordinates of the 256 in each pooling (WordLlama is trained
            so that its leading 64, 128 and 256 coordinates each embed on their own); None: 256.
            The dataset's vectors have 2 * dim numbers (mean, then sum).
        progress: a progress bar on stderr.

    Raises:
        EmbedderUnavailable: the extra ``text`` is not installed (checked before any work).
        DatasetError: a bad size, seed or fraction.
    """
    embedder = load_embedder()
    try:
        seed = check_seed(seed)
    except ValueError as error:
        raise DatasetError(str(error)) from None
    if not (isinstance(held_out, (int, float)) and not isinstance(held_out, bool) and 0.0 <= float(held_out) < 1.0):
        raise DatasetError(f"held-out fraction must be in [0, 1), got {held_out!r}")
    dim = embedder.dim if dim is None else dim
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= embedder.dim:
        raise DatasetError(f"dim of the text embeddings must be an integer in [1, {embedder.dim}], got {dim!r}")
    if prompts is not None and (isinstance(prompts, bool) or not isinstance(prompts, int) or prompts < 2):
        raise DatasetError(f"prompts must be an integer >= 2, got {prompts!r}")
    corpus = collect_sources(progress=progress)
    if prompts is not None and prompts > len(corpus):
        raise DatasetError(
            f"only {len(corpus)} texts of {MIN_WORDS} words or more are installed here; asked for {prompts} prompts"
        )
    rng = np.random.default_rng(seed)
    chosen = np.arange(len(corpus)) if prompts is None else np.sort(rng.permutation(len(corpus))[:prompts])
    sources = tuple(corpus[int(i)] for i in chosen)
    count = len(sources)
    kinds = rng.permutation(np.arange(count) % len(TEXT_KINDS))
    templates = rng.integers(0, len(OPEN_TEMPLATES), size=count)
    order = np.argsort(rng.random((count, COMPLETIONS)), axis=1)  # stored position -> rank (0 = longest)
    held = np.zeros(count, dtype=bool)
    held[rng.permutation(count)[: min(round(held_out * count), count - 1)]] = True

    lengths = np.stack([completion_lengths(kind, COMPLETIONS) for kind in TEXT_KINDS]).astype(np.int64)[kinds]  # best first
    words = np.take_along_axis(lengths, order, axis=1)
    prompt_texts = tuple(
        (OPEN_TEMPLATES if kinds[p] == 0 else CLOSED_TEMPLATES)[int(templates[p])].format(name=sources[p].name)
        for p in range(count)
    )
    completions = tuple(tuple(truncate(sources[p].text, int(w)) for w in words[p]) for p in range(count))

    prompt_embeddings, completion_embeddings = _embed(embedder, prompt_texts, completions, dim, progress)
    dataset = Dataset(
        prompt_embeddings=prompt_embeddings,
        completion_embeddings=completion_embeddings,
        rankings=order.astype(np.int64),
        kinds=kinds.astype(np.int64),
        kind_names=TEXT_KINDS,
        held_out=held,
    )
    info = _metadata(embedder, sources, seed=seed, held=held, available=len(corpus), dim=dim)
    return TextDataset(
        dataset=dataset, sources=sources, prompts=prompt_texts, completions=completions, words=words, metadata=info
    )


def _embed(
    embedder: Embedder, prompt_texts: Sequence[str], completions: Sequence[Sequence[str]], dim: int, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The prompts' and the completions' pooled vectors (2 * dim float32 each), in batches of 128 prompts."""
    count = len(prompt_texts)
    prompt_embeddings = np.zeros((count, 2 * dim), dtype=np.float32)
    completion_embeddings = np.zeros((count, COMPLETIONS, 2 * dim), dtype=np.float32)
    batch = 128
    for start in tqdm(range(0, count, batch), desc="embedding", unit="batch", disable=not progress, file=sys.stderr):
        stop = min(start + batch, count)
        prompt_embeddings[start:stop] = embedder.pool(prompt_texts[start:stop], dim)
        flat = [text for row in completions[start:stop] for text in row]
        completion_embeddings[start:stop] = embedder.pool(flat, dim).reshape(stop - start, COMPLETIONS, 2 * dim)
    return prompt_embeddings, completion_embeddings


def _metadata(
    embedder: Embedder, sources: Sequence[TextSource], *, seed: int, held: np.ndarray, available: int, dim: int
) -> dict[str, Any]:
    """The dataset's description, saved beside it: sizes, kinds, lengths, templates, the embedding, the origins."""
    origins: dict[str, int] = {}
    for source in sources:
        origins[source.origin] = origins.get(source.origin, 0) + 1
    return {
        "format": "collapse_theory real-text dataset 2",
        "seed": seed,
        "prompts": len(sources),
        "held_out": int(held.sum()),
        "texts_available": available,
        "n": COMPLETIONS,
        "dim": dim,
        "kinds": list(TEXT_KINDS),
        "lengths": {kind: completion_lengths(kind, COMPLETIONS).astype(int).tolist() for kind in TEXT_KINDS},
        "templates": {"open": list(OPEN_TEMPLATES), "closed": list(CLOSED_TEMPLATES)},
        "embedder": embedder.name,
        "embedding": (
            f"mean and sum / {SUM_TOKENS} of the tokens' rows of the frozen table, side by side, "
            f"each its first {dim} of {embedder.dim} coordinates"
        ),
        "origins": dict(sorted(origins.items())),
        "versions": _versions(),
    }


def text_companion_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The texts and the metadata written beside ``FILE.npz``: ``FILE.texts.jsonl`` and ``FILE.meta.json``.

    Example:
        >>> [p.name for p in text_companion_paths("runs/text.npz")]
        ['text.texts.jsonl', 'text.meta.json']
    """
    path = Path(path)
    stem = path.name[: -len(".npz")] if path.name.endswith(".npz") else path.name
    return path.with_name(f"{stem}.texts.jsonl"), path.with_name(f"{stem}.meta.json")


def save_text_dataset(data: TextDataset, path: str | os.PathLike[str], *, overwrite: bool = True) -> list[Path]:
    """Write ``FILE.npz`` (the trainer's format), ``FILE.texts.jsonl`` (one prompt a line) and ``FILE.meta.json``.

    Each file is written atomically; with ``overwrite=False`` an existing one is refused
    before anything is written. A line of the texts file: the prompt's index, source,
    kind, split, prompt text and, in stored order, its completions, their lengths in words
    and their ranks (0 = best).
    """
    texts_path, meta_path = text_companion_paths(path)
    targets = [Path(path), texts_path, meta_path]
    if not overwrite:
        for target in targets:
            if os.path.lexists(target):
                raise FileExistsError(f"{os.fspath(target)}: already exists; remove it or choose another file")
    dataset = data.dataset
    lines = []
    for p in range(dataset.prompts):
        record = {
            "index": p,
            "source": data.sources[p].name,
            "origin": data.sources[p].origin,
            "kind": dataset.kind_names[int(dataset.kinds[p])],
            "held_out": bool(dataset.held_out[p]),
            "prompt": data.prompts[p],
            "completions": list(data.completions[p]),
            "words": [int(w) for w in data.words[p]],
            "rank": [int(r) for r in dataset.rankings[p]],
        }
        lines.append(json.dumps(record, ensure_ascii=False, allow_nan=False))
    atomic_write_text(texts_path, "\n".join(lines) + "\n")
    atomic_write_text(meta_path, json.dumps(data.metadata, indent=2, sort_keys=True, allow_nan=False) + "\n")
    save_dataset(dataset, path, overwrite=True)
    return targets
