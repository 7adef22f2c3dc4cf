"""A score file's bytes, checked before they are parsed: regular files only, UTF-8 text, bounded JSON.

The readers of :mod:`collapse_theory.auditing.score_files` go through these checks, so that no
file makes them block, read without end, recurse without end or run out of memory:

* :func:`open_bytes` opens regular files only (a FIFO, a device or a socket is refused
  without reading from it);
* :func:`check_text` refuses UTF-16/32 and binary files by name, :func:`decode` reads UTF-8
  (a byte-order mark allowed);
* :func:`nesting_depth` counts the nesting of JSON arrays and objects on the raw bytes,
  before the parser (which recurses) sees them: at most :data:`MAX_NESTING` levels;
* :func:`load_json` parses a whole document only when :data:`PARSE_FACTOR` times its size
  fits in the available memory.

Every refusal is an :class:`AuditInputError` naming the file.

Example:
    >>> nesting_depth(b'[[1], {"a": "[[["}]'), check_nesting(b"[" * 65 + b"]" * 65)
    (2, 65)
"""

from __future__ import annotations

import codecs
import json
import os
import stat
from pathlib import Path
from typing import IO, Any

import numpy as np

from collapse_theory._core.checks import available_memory, format_bytes
from collapse_theory.errors import DataFileError

__all__ = [
    "CHUNK_BYTES",
    "MAX_NESTING",
    "PARSE_FACTOR",
    "AuditInputError",
    "check_nesting",
    "check_text",
    "decode",
    "load_json",
    "more_content",
    "nesting_depth",
    "open_bytes",
    "parse_document",
    "skip_line",
]

#: The deepest nesting of JSON arrays and objects the reader takes.
MAX_NESTING = 64
#: The bytes read at a time.
CHUNK_BYTES = 1 << 20
#: Memory a parsed JSON document takes, as a multiple of its size in bytes (the text,
#: its decoded string, and Python's floats, lists and strings built from it).
PARSE_FACTOR = 6


class AuditInputError(DataFileError):
    """A score file that cannot be audited: one line naming the file, the place and the problem."""


def open_bytes(path: Path) -> IO[bytes]:
    """``path`` opened for reading in binary, refused unless it is a regular file.

    The file is opened without blocking and checked on its descriptor, so a FIFO with no
    writer neither blocks the open nor slips in between a check and the open.
    """
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            kind = (
                "a FIFO"
                if stat.S_ISFIFO(mode)
                else "a character device"
                if stat.S_ISCHR(mode)
                else "a block device"
                if stat.S_ISBLK(mode)
                else "a socket"
                if stat.S_ISSOCK(mode)
                else "not a regular file"
            )
            raise AuditInputError(f"{path}: {kind}; the audit reads regular score files and run directories")
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def nesting_depth(data: bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` outside strings in JSON text, without parsing it.

    One pass over the bytes in chunks with numpy, carrying three numbers from chunk to
    chunk (inside a string or not, the backslashes just before, the depth). A quote is a
    string's end unless an odd number of backslashes precedes it. For valid JSON the
    result is the parser's recursion depth; for invalid JSON it bounds the depth the
    parser reaches before it stops at the first error (up to there the two read the
    same tokens). UTF-8 never hides these ASCII bytes inside a multi-byte character.

    Example:
        >>> nesting_depth(b'{"a": [[1], "[[["], "b": {}}')
        3
    """
    in_string, backslashes, depth, deepest = 0, 0, 0, 0
    for start in range(0, len(data), CHUNK_BYTES):
        chunk = np.frombuffer(data, dtype=np.uint8, count=min(CHUNK_BYTES, len(data) - start), offset=start)
        positions = np.arange(chunk.size, dtype=np.int64)
        is_backslash = chunk == 0x5C
        # last position at or before each that is not a backslash (the run before the chunk counts)
        last_other = np.maximum.accumulate(np.where(is_backslash, -1 - backslashes, positions))
        before = np.concatenate(([-1 - backslashes], last_other[:-1]))
        escaped = (positions - 1 - before) % 2 == 1
        quotes = (chunk == 0x22) & ~escaped
        quotes_before = np.cumsum(quotes, dtype=np.int64) - quotes
        outside = (in_string + quotes_before) % 2 == 0
        opening = (chunk == 0x5B) | (chunk == 0x7B)
        closing = (chunk == 0x5D) | (chunk == 0x7D)
        steps = (opening.astype(np.int64) - closing) * outside
        levels = depth + np.cumsum(steps)
        if levels.size:
            deepest = max(deepest, int(levels.max()))
            depth = int(levels[-1])
        in_string = (in_string + int(np.count_nonzero(quotes))) % 2
        backslashes = int(chunk.size - 1 - last_other[-1]) if chunk.size else backslashes
    return deepest


def check_nesting(data: bytes) -> int | None:
    """The depth when it exceeds :data:`MAX_NESTING`, else None (cheap when few brackets)."""
    if data.count(b"[") + data.count(b"{") <= MAX_NESTING:
        return None
    depth = nesting_depth(data)
    return depth if depth > MAX_NESTING else None


def decode(data: bytes) -> str:
    """UTF-8 text (``UnicodeDecodeError`` otherwise), a leading byte-order mark dropped."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    return data.decode("utf-8")


def check_text(path: Path, head: bytes) -> None:
    """Refuse UTF-16/32 and binary files by name, from their first bytes."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise AuditInputError(f"{path}: UTF-32 text (byte-order mark); score files are UTF-8: convert the file first")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise AuditInputError(f"{path}: UTF-16 text (byte-order mark); score files are UTF-8: convert the file first")
    if b"\x00" in head:
        sample = head[:256]
        if len(sample) >= 4 and (sample[1::2].count(0) == len(sample[1::2]) or sample[0::2].count(0) == len(sample[0::2])):
            raise AuditInputError(f"{path}: UTF-16 text (every other byte 0); score files are UTF-8: convert the file first")
        raise AuditInputError(f"{path}: binary data (NUL bytes), not a score file")


def parse_document(path: Path, data: bytes) -> Any:
    """One JSON document from its bytes: nesting, encoding and syntax checked, each error naming the file."""
    depth = check_nesting(data)
    if depth is not None:
        raise AuditInputError(f"{path}: JSON nested {depth} levels deep; the reader takes at most {MAX_NESTING}")
    try:
        text = decode(data)
    except UnicodeDecodeError as error:
        offset = error.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
        line = data.count(b"\n", 0, offset) + 1
        column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        raise AuditInputError(f"{path}: line {line}: not UTF-8 text (byte 0x{data[offset]:02x} at column {column})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise AuditInputError(f"{path}: line {error.lineno}: not valid JSON ({error.msg})") from None
    except ValueError as error:  # an integer of more than 4300 digits
        raise AuditInputError(f"{path}: not valid JSON ({str(error).split(':')[0]})") from None


def load_json(path: Path) -> Any:
    """The whole file as one JSON document, refused when parsing it would not fit in memory."""
    with open_bytes(path) as stream:
        size = os.fstat(stream.fileno()).st_size
        budget = available_memory()
        if PARSE_FACTOR * size > budget:
            raise AuditInputError(
                f"{path}: a JSON document of {format_bytes(size)} needs about {format_bytes(PARSE_FACTOR * size)} "
                f"to parse, more than the {format_bytes(budget)} available"
            )
        data = stream.read()
    return parse_document(path, data)


def skip_line(stream: IO[bytes]) -> None:
    """Read past the end of the current line without holding it."""
    while True:
        chunk = stream.readline(CHUNK_BYTES)
        if not chunk or chunk.endswith(b"\n"):
            return


def more_content(stream: IO[bytes]) -> bool:
    """Whether anything but whitespace follows in the stream."""
    while chunk := stream.read(CHUNK_BYTES):
        if chunk.strip():
            return True
    return False
