"""Ranked-completion datasets: the ``.npz`` format, its validation, a synthetic generator.

A dataset holds P prompts, each with n completions ranked by quality, and a *kind*
per prompt (the paper's open-ended vs closed-ended prompts). Song, Cai, Lee, Su,
"Reward Collapse in Aligning Large Language Models" (arXiv 2305.17608, Section 5)
rank 8 truncations of a reference answer per prompt, longer being better:

* open-ended prompts: truncations of 10, 20, ..., 80 words (quality spread evenly);
* closed-ended prompts: 16, 22, 28, 34 and 56, 62, 68, 74 words (bad or good).

:func:`make_synthetic_dataset` builds the analogue on embeddings: a completion's
embedding encodes its prompt (the topic), its length (the quality) and noise, and a
prompt's embedding encodes its topic and its kind, so a small model can fit every
ranking (the interpolating regime) and must tell the kinds apart to treat them
differently.

The file format (one ``.npz``, read with ``allow_pickle=False``)::

    prompt_embeddings      float   [P, d]
    completion_embeddings  float   [P, n, d]
    rankings               int     [P, n]   each row a permutation of 0..n-1; 0 = best
    kinds                  int     [P]      index into kind_names
    kind_names             unicode [K]      fixed-width strings (dtype <U...), not objects
    held_out               bool    [P]      True for prompts kept out of training

Example:
    >>> dataset = make_synthetic_dataset(prompts=6, n=4, dim=8, seed=0, held_out=0.34)
    >>> dataset.prompts, dataset.n, dataset.dim, dataset.kind_names
    (6, 4, 8, ('open', 'closed'))
    >>> int(dataset.held_out.sum())
    2
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from collapse_theory._core.checks import check_memory, check_seed
from collapse_theory._core.io import atomic_write
from collapse_theory.errors import DataFileError

__all__ = [
    "DATASET_KEYS",
    "SYNTHETIC_KINDS",
    "Dataset",
    "DatasetError",
    "completion_lengths",
    "load_dataset",
    "make_synthetic_dataset",
    "save_dataset",
    "synthetic_dataset_memory",
]

#: The keys of the ``.npz`` format, in the order written.
DATASET_KEYS = ("prompt_embeddings", "completion_embeddings", "rankings", "kinds", "kind_names", "held_out")

#: The kinds written by :func:`make_synthetic_dataset`, in index order.
SYNTHETIC_KINDS = ("open", "closed")


class DatasetError(DataFileError):
    """A dataset file or array that does not follow the format (one-line message)."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """P prompts with n ranked completions each, validated on construction.

    Attributes:
        prompt_embeddings: float array [P, d].
        completion_embeddings: float array [P, n, d].
        rankings: int array [P, n]; ``rankings[p, j]`` is the rank of completion j of
            prompt p (0 = best); each row is a permutation of 0..n-1.
        kinds: int array [P], index of each prompt's kind in ``kind_names``.
        kind_names: the kinds' names (unique, non-empty, no ``=`` or ``,``).
        held_out: bool array [P]; True marks a held-out (evaluation) prompt.
    """

    prompt_embeddings: np.ndarray
    completion_embeddings: np.ndarray
    rankings: np.ndarray
    kinds: np.ndarray
    kind_names: tuple[str, ...]
    held_out: np.ndarray

    def __post_init__(self) -> None:
        checked = _validated(
            {
                "prompt_embeddings": self.prompt_embeddings,
                "completion_embeddings": self.completion_embeddings,
                "rankings": self.rankings,
                "kinds": self.kinds,
                "kind_names": np.asarray(self.kind_names, dtype=str) if len(self.kind_names) else np.zeros(0, "<U1"),
                "held_out": self.held_out,
            }
        )
        for name, value in checked.items():
            object.__setattr__(self, name, tuple(str(k) for k in value) if name == "kind_names" else value)

    @property
    def prompts(self) -> int:
        """P, the number of prompts (training and held-out)."""
        return int(self.rankings.shape[0])

    @property
    def n(self) -> int:
        """The number of ranked completions per prompt."""
        return int(self.rankings.shape[1])

    @property
    def dim(self) -> int:
        """d, the embedding dimension."""
        return int(self.prompt_embeddings.shape[1])

    def split(self, held_out: bool) -> np.ndarray:
        """Indices of the held-out prompts (``True``) or the training prompts (``False``)."""
        return np.flatnonzero(self.held_out == held_out)


def _validated(arrays: dict[str, Any]) -> dict[str, np.ndarray]:
    """Check every array of the format; return them with canonical dtypes."""
    missing = [key for key in DATASET_KEYS if key not in arrays]
    if missing:
        raise DatasetError(f"dataset is missing the array(s) {', '.join(missing)} (needs {', '.join(DATASET_KEYS)})")
    values = {key: np.asarray(arrays[key]) for key in DATASET_KEYS}
    for key in ("prompt_embeddings", "completion_embeddings"):
        if values[key].dtype.kind not in "fiu":
            raise DatasetError(f"{key} must be a float array, got dtype {values[key].dtype}")
    prompt, completion = values["prompt_embeddings"], values["completion_embeddings"]
    if prompt.ndim != 2:
        raise DatasetError(f"prompt_embeddings must have shape [P, d], got {prompt.shape}")
    if completion.ndim != 3:
        raise DatasetError(f"completion_embeddings must have shape [P, n, d], got {completion.shape}")
    p, d = prompt.shape
    if p < 1 or d < 1:
        raise DatasetError(f"prompt_embeddings must have at least one prompt and one dimension, got {prompt.shape}")
    if completion.shape[0] != p or completion.shape[2] != d:
        raise DatasetError(f"completion_embeddings must have shape [P={p}, n, d={d}], got {completion.shape}")
    n = completion.shape[1]
    if n < 2:
        raise DatasetError(f"each prompt needs at least 2 completions, got n = {n}")
    for key in ("prompt_embeddings", "completion_embeddings"):
        if not np.all(np.isfinite(values[key])):
            raise DatasetError(f"{key} contains NaN or infinity")
    rankings = values["rankings"]
    if rankings.dtype.kind not in "iu":
        raise DatasetError(f"rankings must be an integer array, got dtype {rankings.dtype}")
    if rankings.shape != (p, n):
        raise DatasetError(f"rankings must have shape [P={p}, n={n}], got {rankings.shape}")
    not_permutation = np.flatnonzero(np.any(np.sort(rankings, axis=1) != np.arange(n), axis=1))
    if not_permutation.size:
        row = int(not_permutation[0])
        raise DatasetError(f"rankings row {row} is not a permutation of 0..{n - 1}: {rankings[row].tolist()}")
    names = values["kind_names"]
    if names.dtype.kind != "U" or names.ndim != 1:
        raise DatasetError(f"kind_names must be a 1-d fixed-width unicode array, got dtype {names.dtype}, shape {names.shape}")
    name_list = [str(k) for k in names]
    if not name_list:
        raise DatasetError("kind_names must name at least one kind")
    bad_names = [k for k in name_list if not k or k != k.strip() or "=" in k or "," in k]
    if bad_names:
        raise DatasetError(f"kind names must be non-empty without '=', ',' or surrounding spaces, got {bad_names[0]!r}")
    if len(set(name_list)) != len(name_list):
        raise DatasetError(f"kind_names must be unique, got {name_list}")
    kinds = values["kinds"]
    if kinds.dtype.kind not in "iu" or kinds.shape != (p,):
        raise DatasetError(f"kinds must be an integer array of shape [P={p}], got dtype {kinds.dtype}, shape {kinds.shape}")
    unknown = np.flatnonzero((kinds < 0) | (kinds >= len(name_list)))
    if unknown.size:
        first = int(unknown[0])
        raise DatasetError(
            f"kinds[{first}] = {int(kinds[first])} is not a known kind (0..{len(name_list) - 1}: {', '.join(name_list)})"
        )
    held_out = values["held_out"]
    if held_out.dtype != np.bool_ or held_out.shape != (p,):
        raise DatasetError(f"held_out must be a bool array of shape [P={p}], got dtype {held_out.dtype}, shape {held_out.shape}")
    if held_out.all():
        raise DatasetError("every prompt is held out: no training prompts")
    return {
        "prompt_embeddings": np.array(prompt, dtype=np.float64 if prompt.dtype == np.float64 else np.float32),
        "completion_embeddings": np.array(completion, dtype=np.float64 if completion.dtype == np.float64 else np.float32),
        "rankings": np.array(rankings, dtype=np.int64),
        "kinds": np.array(kinds, dtype=np.int64),
        "kind_names": np.asarray(name_list, dtype=str),
        "held_out": np.array(held_out, dtype=bool),
    }


def save_dataset(dataset: Dataset, path: str | os.PathLike[str], *, overwrite: bool = True) -> None:
    """Write ``dataset`` to one ``.npz`` file (atomically: whole or not at all).

    With ``overwrite=False`` an existing file is refused (``FileExistsError``), as
    ``collapse-theory make-data`` does.

    Example:
        >>> import tempfile, pathlib
        >>> folder = tempfile.mkdtemp()
        >>> path = pathlib.Path(folder) / "demo.npz"
        >>> save_dataset(make_synthetic_dataset(prompts=4, n=3, dim=8), path)
        >>> load_dataset(path).n
        3
    """
    arrays = {
        "prompt_embeddings": dataset.prompt_embeddings,
        "completion_embeddings": dataset.completion_embeddings,
        "rankings": dataset.rankings,
        "kinds": dataset.kinds,
        "kind_names": np.asarray(dataset.kind_names, dtype=str),
        "held_out": dataset.held_out,
    }
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{os.fspath(path)}: already exists; remove it or choose another file")
    atomic_write(path, lambda stream: np.savez(stream, **arrays))  # type: ignore[arg-type]


def load_dataset(path: str | os.PathLike[str]) -> Dataset:
    """Read and validate a dataset ``.npz`` (never unpickles: ``allow_pickle=False``).

    Raises :class:`DatasetError` (a ``ValueError``) with one line for a file that is
    not an npz, holds object (pickled) arrays, or breaks the format; ``OSError`` when
    the file cannot be read.
    """
    try:
        with open(path, "rb") as stream:
            raw = stream.read()
    except IsADirectoryError:
        raise DatasetError(f"{os.fspath(path)}: is a directory, not a dataset .npz file") from None
    try:
        archive = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise DatasetError(f"{os.fspath(path)}: not a dataset .npz file ({_first_line(error)})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetError(f"{os.fspath(path)}: a single .npy array, not a dataset .npz file")
    arrays: dict[str, np.ndarray] = {}
    with archive:
        for key in archive.files:
            if key not in DATASET_KEYS:
                continue
            try:
                arrays[key] = archive[key]
            except ValueError:  # object arrays need pickle, which we refuse
                raise DatasetError(
                    f"{os.fspath(path)}: array {key!r} holds Python objects (pickled); use plain numeric/unicode arrays"
                ) from None
            except (OSError, zipfile.BadZipFile, EOFError) as error:
                raise DatasetError(f"{os.fspath(path)}: array {key!r} is unreadable ({_first_line(error)})") from None
    try:
        checked = _validated(arrays)
    except DatasetError as error:
        raise DatasetError(f"{os.fspath(path)}: {error}") from None
    return Dataset(
        prompt_embeddings=checked["prompt_embeddings"],
        completion_embeddings=checked["completion_embeddings"],
        rankings=checked["rankings"],
        kinds=checked["kinds"],
        kind_names=tuple(str(k) for k in checked["kind_names"]),
        held_out=checked["held_out"],
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def completion_lengths(kind: str, n: int) -> np.ndarray:
    """The truncation lengths (words) of the n completions of a synthetic prompt, best first.

    ``open``: evenly spread from 80 down to 10 words; ``closed``: a good cluster from 74
    down to 56 words and a bad one from 34 down to 16 (for n = 8 exactly the paper's
    lengths).

    Example:
        >>> completion_lengths("closed", 8).tolist()
        [74.0, 68.0, 62.0, 56.0, 34.0, 28.0, 22.0, 16.0]
    """
    if kind == "open":
        return np.linspace(80.0, 10.0, n)
    if kind == "closed":
        good = n - n // 2
        return np.concatenate([np.linspace(74.0, 56.0, good), np.linspace(34.0, 16.0, n // 2)])
    raise DatasetError(f"unknown synthetic kind {kind!r} (known: {', '.join(SYNTHETIC_KINDS)})")


#: Number of embedding coordinates that carry a completion's quality (length).
_QUALITY_FEATURES = 4


def synthetic_dataset_memory(prompts: int, n: int, dim: int) -> float:
    """Estimated peak bytes of :func:`make_synthetic_dataset` (and of writing its file).

    The generator holds the completions' latent features, their rotation, the noise,
    the sum and the float32 result at once (float64 [P, n, d] each: about 6 x 8 bytes per
    number, with the validation's copy), about a dozen float64 [P, n] arrays (lengths,
    their order, quality features), a few float64 [P, d] arrays and the d x d rotations
    with their QR factorisation.

    Example:
        >>> round(synthetic_dataset_memory(2000, 8, 16) / 1e6, 1)  # MB
        14.9
    """
    return float(48 * prompts * n * dim + 96 * prompts * n + 32 * prompts * dim + 48 * dim * dim)


def _check_synthetic_memory(prompts: int, n: int, dim: int) -> None:
    """Refuse sizes that cannot fit before allocating anything, naming the size most out of proportion."""
    defaults = {"prompts": 2000, "n": 8, "dim": 16}
    sizes = {"prompts": prompts, "n": n, "dim": dim}
    largest = max(sizes, key=lambda name: sizes[name] / defaults[name])

    def estimate(value: int) -> float:
        return synthetic_dataset_memory(**{**sizes, largest: value})

    what = f"the synthetic dataset (prompts = {prompts}, n = {n}, dim = {dim})"
    lower = {"prompts": 2, "n": 2, "dim": 8}[largest]
    check_memory(what, sizes[largest], estimate, size_name=largest, lower=lower)


def make_synthetic_dataset(
    prompts: int = 2000,
    n: int = 8,
    dim: int = 16,
    seed: int = 0,
    held_out: float = 0.1,
    noise: float = 0.02,
) -> Dataset:
    """A seeded synthetic dataset of open-ended and closed-ended prompts.

    Latent features are mixed by fixed random rotations into d-dimensional embeddings:

    * prompt: its kind (a +-1 coordinate) and its topic (Gaussian coordinates);
    * completion: its quality, the length L in words as
      :math:`(L-45)/35` and :math:`\\sin, \\cos(\\pi k (L-10)/70)` features, plus its
      prompt's topic (the completion answers that prompt);
    * independent Gaussian noise of standard deviation ``noise`` on every coordinate.

    Lengths follow :func:`completion_lengths` (longer is better: rank 0 is the longest);
    the completions of each prompt are stored in a random order. Kinds alternate (half
    of the prompts each) and a random ``held_out`` fraction is kept out of training.

    Args:
        prompts: P >= 2.
        n: completions per prompt, >= 2.
        dim: embedding dimension d >= 8.
        seed: the seed of every random choice (same seed, same bytes).
        held_out: fraction of prompts held out, in [0, 1); at least one prompt trains.
        noise: standard deviation of the embedding noise, >= 0.

    Example:
        >>> a = make_synthetic_dataset(prompts=10, n=8, seed=3)
        >>> b = make_synthetic_dataset(prompts=10, n=8, seed=3)
        >>> bool((a.completion_embeddings == b.completion_embeddings).all())
        True
    """
    prompts, n, dim = _whole("prompts", prompts, 2), _whole("n", n, 2), _whole("dim", dim, 8)
    try:
        seed = check_seed(seed)
    except ValueError as error:
        raise DatasetError(str(error)) from None
    if not (isinstance(held_out, (int, float)) and 0.0 <= float(held_out) < 1.0):
        raise DatasetError(f"held-out fraction must be in [0, 1), got {held_out!r}")
    if not (isinstance(noise, (int, float)) and np.isfinite(noise) and noise >= 0.0):
        raise DatasetError(f"noise must be a finite number >= 0, got {noise!r}")
    _check_synthetic_memory(prompts, n, dim)
    rng = np.random.default_rng(seed)
    kinds = rng.permutation(np.arange(prompts) % len(SYNTHETIC_KINDS))
    topic_size = dim - 1
    topics = rng.standard_normal((prompts, topic_size))

    prompt_latent = np.concatenate([np.where(kinds == 0, 1.0, -1.0)[:, None], topics], axis=1)

    lengths = np.stack([completion_lengths(name, n) for name in SYNTHETIC_KINDS])[kinds]  # [P, n], best first
    order = np.argsort(rng.random((prompts, n)), axis=1)  # storage position -> rank
    stored_lengths = np.take_along_axis(lengths, order, axis=1)
    phase = np.pi * (stored_lengths - 10.0) / 70.0
    quality = np.stack([(stored_lengths - 45.0) / 35.0, np.cos(phase), np.sin(phase), np.cos(2.0 * phase)], axis=-1)
    completion_latent = np.concatenate(
        [quality, np.broadcast_to(topics[:, None, : dim - _QUALITY_FEATURES], (prompts, n, dim - _QUALITY_FEATURES))], axis=-1
    )

    prompt_rotation = _rotation(rng, dim)
    completion_rotation = _rotation(rng, dim)
    prompt_embeddings = prompt_latent @ prompt_rotation + noise * rng.standard_normal((prompts, dim))
    completion_embeddings = completion_latent @ completion_rotation + noise * rng.standard_normal((prompts, n, dim))

    held = np.zeros(prompts, dtype=bool)
    count = min(round(held_out * prompts), prompts - 1)
    held[rng.permutation(prompts)[:count]] = True
    return Dataset(
        prompt_embeddings=prompt_embeddings.astype(np.float32),
        completion_embeddings=completion_embeddings.astype(np.float32),
        rankings=order.astype(np.int64),
        kinds=kinds.astype(np.int64),
        kind_names=SYNTHETIC_KINDS,
        held_out=held,
    )


def _rotation(rng: np.random.Generator, dim: int) -> np.ndarray:
    """A random orthogonal matrix (QR of a Gaussian matrix, signs fixed so it is uniform)."""
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


def _whole(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DatasetError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise DatasetError(f"{name} must be an integer >= {minimum}, got {int(value)}")
    return int(value)
