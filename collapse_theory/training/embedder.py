"""A pretrained text embedder that ships its weights in its wheel: WordLlama, loaded offline.

WordLlama (MIT licence, https://github.com/dleemiller/WordLlama) is the token-embedding
table of a large language model (Llama 2 70B's 32,000 tokens), distilled by its authors
into 256 dimensions and trained so that the *mean* of a text's token vectors is a good
sentence embedding. Its wheel carries the table (``weights/l2_supercat_256.safetensors``,
16 MB of float16) and the tokenizer (``tokenizers/l2_supercat_tokenizer_config.json``). Its
own loader may try to fetch configuration from the network; this module reads both files
from the installed package and nothing else, so embedding never opens a connection.

The embedding of a text t with tokens :math:`w_1, \\dots, w_k` (no special tokens) is the
mean of their rows of the table E:

.. math::

    e(t) = \\frac{1}{k} \\sum_{i=1}^{k} E_{w_i} \\in \\mathbb{R}^{256},

exactly WordLlama's own ``embed(texts, norm=False)``, computed here in float64 and stored
as float32. It is frozen: the reward model trains on these vectors, never on the table.

The mean keeps only the tokens' *frequencies*: a text and the same text twice have the same
mean, so the length of a text is lost. The reward model's input (:meth:`Embedder.pool`) is the
mean and the sum of the token vectors side by side, the sum in units of
:data:`SUM_TOKENS` tokens,

.. math::

    p(t) = \\Big[\\, \\frac{1}{k} \\sum_{i=1}^{k} E_{w_i},\\ \\frac{1}{K} \\sum_{i=1}^{k} E_{w_i} \\,\\Big], \\qquad K = 100,

the sum being the table applied to the bag of tokens (their counts), which is what a bag of
tokens knows of a text. Both are standard poolings of token vectors; the sum's unit only puts
the two halves on one scale for texts of up to about 100 tokens (80 words).

Requires the optional extra ``text`` (``pip install -e '.[text]'``); without it,
:func:`load_embedder` raises :class:`EmbedderUnavailable`, a one-line ``ValueError`` that
names the extra.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from collapse_theory.errors import CollapseTheoryError

__all__ = [
    "EMBEDDER_PACKAGE",
    "SUM_TOKENS",
    "TEXT_EXTRA",
    "Embedder",
    "EmbedderUnavailable",
    "embedder_available",
    "load_embedder",
]

#: The package that ships the weights, and the optional extra of this project that installs it.
EMBEDDER_PACKAGE = "wordllama"
TEXT_EXTRA = "text"

#: The unit of the sum pooling, in tokens (about the longest completions' 80 words).
SUM_TOKENS = 100

#: The files inside the installed package: the token-embedding table and the tokenizer.
_WEIGHTS = ("weights", "l2_supercat_256.safetensors")
_TOKENIZER = ("tokenizers", "l2_supercat_tokenizer_config.json")
_TABLE_KEY = "embedding.weight"

_MISSING = (
    "the real-text dataset needs the optional extra '" + TEXT_EXTRA + "' (the WordLlama embedder): "
    "pip install -e '.[" + TEXT_EXTRA + "]'"
)


class EmbedderUnavailable(CollapseTheoryError):
    """The optional extra ``text`` (WordLlama and its tokenizer) is not installed (one line)."""


@dataclass(frozen=True, eq=False)
class Embedder:
    """WordLlama's frozen token table and tokenizer: texts to mean- (and sum-) pooled vectors.

    Attributes:
        table: float32 [vocabulary, dim], the token-embedding table.
        encode: the tokenizer: a list of texts to a list of token-id lists (no special tokens).
        name: what was loaded (package, version and weights file).
    """

    table: np.ndarray
    encode: Callable[[list[str]], list[list[int]]]
    name: str

    @property
    def dim(self) -> int:
        """The embedding dimension (256)."""
        return int(self.table.shape[1])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The mean of each text's token vectors, float32 [len(texts), dim] (a text without tokens: zeros)."""
        means, _ = self._means(texts)
        return means.astype(np.float32)

    def pool(self, texts: Sequence[str], dim: int | None = None) -> np.ndarray:
        """The mean and the sum (in units of ``SUM_TOKENS`` tokens) side by side, float32 [len(texts), 2 * dim].

        Each half keeps the first ``dim`` coordinates (None: all); a text without tokens gives zeros.
        """
        means, counts = self._means(texts)
        kept = means[:, : self.dim if dim is None else int(dim)]
        return np.concatenate([kept, kept * (counts / SUM_TOKENS)[:, None]], axis=1).astype(np.float32)

    def _means(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Float64 means of each text's token vectors and the texts' token counts."""
        ids = self.encode([str(t) for t in texts])
        out = np.zeros((len(ids), self.dim), dtype=np.float64)
        for row, tokens in enumerate(ids):
            if tokens:
                rows = np.clip(np.asarray(tokens, dtype=np.int64), 0, self.table.shape[0] - 1)
                out[row] = self.table[rows].astype(np.float64).mean(axis=0)
        return out, np.array([len(tokens) for tokens in ids], dtype=np.float64)


def embedder_available() -> bool:
    """Whether the extra ``text`` is installed (WordLlama's files, ``tokenizers`` and ``safetensors``)."""
    try:
        _package_folder()
    except EmbedderUnavailable:
        return False
    return all(importlib.util.find_spec(name) is not None for name in ("tokenizers", "safetensors"))


def _package_folder() -> Path:
    """The installed package's folder, found without importing it (its import sets up logging and network code)."""
    spec = importlib.util.find_spec(EMBEDDER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderUnavailable(_MISSING)
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder.joinpath(*_WEIGHTS).is_file() and folder.joinpath(*_TOKENIZER).is_file()):
        raise EmbedderUnavailable(_MISSING + f" (the installed {EMBEDDER_PACKAGE} lacks its weights or tokenizer files)")
    return folder


@functools.cache
def load_embedder() -> Embedder:
    """Load WordLlama's table and tokenizer from the installed package's files, without any network access.

    Raises:
        EmbedderUnavailable: the extra ``text`` is not installed.

    Example:
        >>> embedder_available() or True  # the extra may be absent; then load_embedder raises
        True
    """
    folder = _package_folder()
    try:  # the optional extra 'text': imported only when the embedder is loaded
        from safetensors.numpy import load_file  # optional extra 'text'
        from tokenizers import Tokenizer  # optional extra 'text'
    except ImportError:
        raise EmbedderUnavailable(_MISSING) from None
    table = load_file(str(folder.joinpath(*_WEIGHTS)))[_TABLE_KEY].astype(np.float32)
    tokenizer: Any = Tokenizer.from_file(str(folder.joinpath(*_TOKENIZER)))
    tokenizer.no_padding()
    tokenizer.no_truncation()

    def encode(texts: list[str]) -> list[list[int]]:
        return [list(encoding.ids) for encoding in tokenizer.encode_batch(texts, add_special_tokens=False)]

    version = metadata.version(EMBEDDER_PACKAGE)
    return Embedder(table=table, encode=encode, name=f"{EMBEDDER_PACKAGE} {version}, {_WEIGHTS[1]}")
