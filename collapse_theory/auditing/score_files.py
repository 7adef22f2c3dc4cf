"""Readers of reward-model score files: one record per prompt, streamed, within fixed bounds.

Four inputs, told apart by their content (or forced with ``input_format``):

* ``rewardbench``: a RewardBench 2 score file as ``scripts/run_v2.py`` writes it, one
  JSON object (``datasets.Dataset.to_dict()``) whose list-valued columns have one entry
  per prompt (``id``, ``subset``, ``scores`` = one list of floats per prompt,
  ``num_correct`` = how many of the first scores belong to correct completions, plus
  ``text`` and ``results``) and scalar fields ``model``, ``model_type``,
  ``chat_template``; or the same content as a JSON list of row objects. Groups are the
  subsets; the order is partial (each correct completion is better than each
  incorrect one, nothing is known within either set).
* ``jsonl``: one prompt per line, ``{"prompt_id": ..., "scores": [...], "group": ...}``,
  scores best first, or with ``"ranks"`` (1 = best) when they are not; no group means
  the group ``"all"``.
* ``csv``: long form with header ``prompt_id,score[,rank][,group]``, one completion per
  row, the rows of a prompt together (best first when there is no rank column).
* ``run``: a run directory of ``collapse-theory train``, whose ``heldout_rewards.jsonl``
  is read as ``jsonl`` (the prompt kinds are the groups).

JSONL and CSV are read line by line; the RewardBench object is one JSON document,
parsed once and walked column by column without building row objects. Every problem
is an :class:`AuditInputError` naming the file, the line or row, and what is wrong.

**Bounds.** What the reader accepts is bounded before it is parsed, so no file makes it
read without end, recurse without end, or hand on a value the shapes cannot use:

* only regular files (and run directories holding one) are read: a FIFO, a device
  such as ``/dev/zero`` or a socket is refused without reading from it;
* a line holds at most :data:`MAX_LINE_BYTES` bytes (16 MiB, the line end not
  counted): about half a million scores on one JSONL line; a CSV field at most
  131,072 characters (the ``csv`` module's limit);
* JSON is nested at most :data:`MAX_NESTING` levels deep, counted on the raw bytes
  before the parser (which recurses) sees them; a score file needs three;
* a RewardBench document, parsed whole, must fit in the available memory
  (:data:`~collapse_theory.auditing.byte_checks.PARSE_FACTOR` times its size);
* text is UTF-8 (a byte-order mark is allowed); UTF-16 and binary files are refused
  by name, and an invalid byte is reported with its line and column;
* a score is a JSON number (not a string, not ``true``) whose float is finite: the
  records carry Python floats, so an integer of 401 digits is refused here rather
  than overflowing downstream;
* a group (``group``, ``subset``) is a string or a number, and one file writes every
  group in one of the two types: ``5`` and ``"5"`` would be one group once printed,
  so a file mixing the types is refused rather than merging them;
* a JSONL ``prompt_id`` (optional) is a string or an integer and names one prompt: a
  repeated id is refused, as are CSV headers that name a column twice.

Example:
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "scores.jsonl"
    >>> _ = path.write_text(json.dumps({"prompt_id": 1, "scores": [0.9, 0.2, 0.1], "group": "math"}) + "\\n")
    >>> source = open_score_file(path)
    >>> source.format, [(r.group, r.scores) for r in source.records()]
    ('jsonl', [('math', [0.9, 0.2, 0.1])])
"""

from __future__ import annotations

import codecs
import csv
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from collapse_theory.auditing.byte_checks import (
    CHUNK_BYTES,
    MAX_NESTING,
    AuditInputError,
    check_nesting,
    check_text,
    decode,
    load_json,
    more_content,
    nesting_depth,
    open_bytes,
    skip_line,
)

__all__ = [
    "DEFAULT_GROUP",
    "INPUT_FORMATS",
    "MAX_LINE_BYTES",
    "MAX_NESTING",
    "RUN_REWARDS_FILE",
    "AuditInputError",
    "ScoreFile",
    "ScoreRecord",
    "is_finite_number",
    "nesting_depth",
    "open_score_file",
]

#: The file a trainer run directory holds the held-out prompts' rewards in.
RUN_REWARDS_FILE = "heldout_rewards.jsonl"
#: The group of prompts that name none.
DEFAULT_GROUP = "all"
INPUT_FORMATS = ("auto", "rewardbench", "jsonl", "csv", "run")
#: The longest line (JSONL, CSV) the reader takes, in bytes, its line end not counted.
MAX_LINE_BYTES = 1 << 24
_SNIFF_BYTES = 1 << 16
_BLANK = codecs.BOM_UTF8 + b" \t\r\n"
_SHOWN = 40  # characters of a bad value shown in a message


class ScoreRecord(NamedTuple):
    """One prompt as read from a file.

    Attributes:
        location: the line (JSONL, CSV) or row (RewardBench) the prompt comes from, 1-based.
        group: the prompt's group (subset, kind).
        scores: the completions' scores, in the file's order, as finite Python floats.
        ranks: 1-based ranks of the scores (1 = best), or None when the scores are best first
            or only ``num_correct`` is known.
        num_correct: RewardBench's partial order: the first ``num_correct`` scores belong to
            correct completions; None for a total order.
    """

    location: int
    group: str
    scores: list[Any]
    ranks: list[Any] | None
    num_correct: int | None


def _shown(value: Any) -> str:
    """A value for a message, on one line and cut to a readable length: a string quoted
    (escapes shown), anything else as JSON spells it (``true``, ``null``, ``[1, 2]``)."""
    try:
        text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):  # pragma: no cover - values come from JSON or CSV
        text = repr(value)
    except RecursionError:  # pragma: no cover - nesting is bounded before parsing
        text = type(value).__name__
    if len(text) > _SHOWN:
        digits = f" ({len(text)} digits)" if isinstance(value, int) else ""
        text = text[: _SHOWN - 3] + "..." + digits
    return text


def _fits_float(value: int | float) -> bool:
    """Whether ``float(value)`` is a float (an integer may round beyond the largest one)."""
    try:
        float(value)
    except OverflowError:
        return False
    return True


class ScoreFile:
    """A score file opened for reading: its format, its records, and how to name a place in it."""

    def __init__(self, path: Path, input_format: str, unit: str) -> None:
        self.path = path
        self.format = input_format
        self.unit = unit
        self.metadata: dict[str, Any] = {}
        self._group_type: tuple[str, int, str] | None = None  # (type, location, first group)

    def records(self) -> Iterator[ScoreRecord]:
        """The prompts, one record each, in file order."""
        raise NotImplementedError

    def most_prompts(self) -> int:
        """An upper bound on the number of records, found without parsing them (for memory checks)."""
        raise NotImplementedError

    def describe(self, location: int) -> str:
        """``"line 12"`` or ``"row 12 (id 'x')"``."""
        return f"{self.unit} {location}"

    def error(self, location: int | None, problem: str) -> AuditInputError:
        """An error naming this file and (when known) the place."""
        where = "" if location is None else f" {self.describe(location)}:"
        return AuditInputError(f"{self.path}:{where} {problem}")

    def _read_scores(self, location: int, values: Any, key: str = "scores") -> list[float]:
        """The scores as finite Python floats: JSON numbers only, refused one by one otherwise."""
        if not isinstance(values, list):
            raise self.error(location, f"{key!r} must be a list of numbers")
        kinds = set(map(type, values))
        if kinds <= {float}:
            floats = values
        else:
            for value in values:
                if type(value) not in (int, float):  # bool, str, None, list, dict
                    raise self.error(location, f"scores must be numbers, got {_shown(value)}")
            try:
                floats = [float(value) for value in values]
            except OverflowError:
                huge = next(value for value in values if not _fits_float(value))
                raise self.error(location, f"score {_shown(huge)} is beyond the range of a float") from None
        if not all(map(math.isfinite, floats)):
            bad = next(value for value in floats if not math.isfinite(value))
            raise self.error(location, f"non-finite score {bad}")
        return floats

    def _read_group(self, location: int, value: Any, key: str) -> str:
        """A group's name: a string, or a number written as text; one type per file."""
        if isinstance(value, str):
            kind = "string"
        elif type(value) is int or (type(value) is float and math.isfinite(value)):
            kind = "number"
        else:
            raise self.error(location, f"{key!r} must be a string or a number, got {_shown(value)}")
        name = value if isinstance(value, str) else str(value)
        if self._group_type is None:
            self._group_type = (kind, location, name)
        elif self._group_type[0] != kind:
            first_kind, first_location, first_name = self._group_type
            raise self.error(
                location,
                f"{key} {_shown(value)} is a {kind}, but {self.describe(first_location)} has the {first_kind} "
                f"{_shown(first_name) if first_kind == 'string' else first_name}; "
                f"write every {key} as a string (or every one as a number) so that no two merge",
            )
        return name

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        """The lines as bytes (ends dropped), numbered from 1, each at most :data:`MAX_LINE_BYTES` long.

        Read in chunks and split in C; only the unfinished last line of a chunk is carried
        over, and it is refused as soon as it outgrows the limit.
        """
        limit = MAX_LINE_BYTES
        number = 0
        carried = b""
        with open_bytes(self.path) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                lines = (carried + chunk).split(b"\n") if carried else chunk.split(b"\n")
                carried = lines.pop()
                for line in lines:
                    number += 1
                    if len(line) > limit and len(line.rstrip(b"\r")) > limit:
                        raise self.error(number, f"line longer than {limit} bytes (the reader's limit)")
                    yield number, line
                if len(carried) > limit + 1:
                    raise self.error(number + 1, f"line longer than {limit} bytes (the reader's limit)")
        if carried:
            if len(carried.rstrip(b"\r")) > limit:
                raise self.error(number + 1, f"line longer than {limit} bytes (the reader's limit)")
            yield number + 1, carried

    def _text(self, number: int, raw: bytes) -> str:
        try:
            return decode(raw) if number == 1 else raw.decode("utf-8")
        except UnicodeDecodeError as error:
            offset = error.start + (len(codecs.BOM_UTF8) if number == 1 and raw.startswith(codecs.BOM_UTF8) else 0)
            raise self.error(number, f"not UTF-8 text (byte 0x{raw[offset]:02x} at column {offset + 1})") from None

    def _count_lines(self) -> int:
        lines, last = 0, b"\n"
        with open_bytes(self.path) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
        return lines + (last != b"\n")


class _JsonLines(ScoreFile):
    def most_prompts(self) -> int:
        return self._count_lines()

    def records(self) -> Iterator[ScoreRecord]:
        loads = json.JSONDecoder().decode
        seen = False
        prompt_ids: dict[Any, int] = {}
        for number, raw in self._lines():
            if not raw.strip():
                continue
            seen = True
            if raw.count(b"[") + raw.count(b"{") > MAX_NESTING:  # else the depth is at most that
                depth = nesting_depth(raw)
                if depth > MAX_NESTING:
                    raise self.error(number, f"JSON nested {depth} levels deep; the reader takes at most {MAX_NESTING}")
            line = self._text(number, raw)
            try:
                row = loads(line)
            except json.JSONDecodeError as error:
                raise self.error(number, f"not valid JSON ({error.msg}, column {error.colno})") from None
            except ValueError as error:  # an integer of more than 4300 digits
                raise self.error(number, f"not valid JSON ({str(error).split(':')[0]})") from None
            if not isinstance(row, dict):
                raise self.error(number, f"expected a JSON object with 'scores', got {type(row).__name__}")
            scores = self._read_scores(number, row.get("scores"))
            group = self._read_group(number, row["group"], "group") if "group" in row else DEFAULT_GROUP
            ranks = row.get("ranks")
            if ranks is not None and not isinstance(ranks, list):
                raise self.error(number, "'ranks' must be a list of integers")
            if "prompt_id" in row:
                prompt = row["prompt_id"]
                if not isinstance(prompt, str) and type(prompt) is not int:
                    raise self.error(number, f"'prompt_id' must be a string or an integer, got {_shown(prompt)}")
                first = prompt_ids.setdefault(prompt, number)
                if first != number:
                    raise self.error(number, f"prompt_id {_shown(prompt)} repeats line {first}; each prompt is one line")
            yield ScoreRecord(number, group, scores, ranks, None)
        if not seen:
            raise self.error(None, "empty file: no prompts")


_CSV_COLUMNS = ("prompt_id", "score", "rank", "group")


class _Csv(ScoreFile):
    def most_prompts(self) -> int:
        return self._count_lines()

    def _decoded(self) -> Iterator[str]:
        for number, raw in self._lines():
            yield self._text(number, raw) + "\n"  # the end back: a quoted field may span lines

    def records(self) -> Iterator[ScoreRecord]:
        reader = csv.reader(self._decoded())
        try:
            yield from self._rows(reader)
        except csv.Error as error:
            raise self.error(reader.line_num, f"not valid CSV ({error})") from None

    def _rows(self, reader: Any) -> Iterator[ScoreRecord]:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
        if header is None:
            raise self.error(None, "empty file: no prompts")
        names = [cell.strip() for cell in header]
        header_line = reader.line_num
        for needed in ("prompt_id", "score"):
            if needed not in names:
                raise self.error(
                    header_line, f"CSV header must name prompt_id and score (optional rank, group), got {_shown(','.join(names))}"
                )
        unknown = [name for name in names if name not in _CSV_COLUMNS]
        if unknown:
            raise self.error(header_line, f"unknown CSV column {_shown(unknown[0])}; expected prompt_id,score[,rank][,group]")
        repeated = [name for name in _CSV_COLUMNS if names.count(name) > 1]
        if repeated:
            raise self.error(header_line, f"the CSV header names {repeated[0]!r} {names.count(repeated[0])} times")
        columns = {name: index for index, name in enumerate(names)}
        id_column, score_column = columns["prompt_id"], columns["score"]
        rank_column, group_column = columns.get("rank"), columns.get("group")
        width = len(names)
        finished: set[str] = set()
        current: str | None = None
        start = 0
        group = DEFAULT_GROUP
        scores: list[float] = []
        ranks: list[int] | None = None
        seen = False
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != width:
                raise self.error(number, f"expected {width} fields ({','.join(names)}), got {len(row)}")
            prompt = row[id_column].strip()
            if prompt != current:
                if current is not None:
                    yield ScoreRecord(start, group, scores, ranks, None)
                    finished.add(current)
                if prompt in finished:
                    raise self.error(number, f"rows of prompt {_shown(prompt)} are not together; sort the file by prompt_id")
                current, start, seen = prompt, number, True
                group = row[group_column].strip() if group_column is not None else DEFAULT_GROUP
                scores, ranks = [], ([] if rank_column is not None else None)
            elif group_column is not None and row[group_column].strip() != group:
                raise self.error(
                    number, f"prompt {_shown(prompt)} has rows in groups {_shown(group)} and {_shown(row[group_column].strip())}"
                )
            try:
                score = float(row[score_column])
            except ValueError:
                raise self.error(number, f"score must be a number, got {_shown(row[score_column])}") from None
            if not math.isfinite(score):
                raise self.error(number, f"non-finite score {_shown(row[score_column].strip())}")
            scores.append(score)
            if ranks is not None and rank_column is not None:
                try:
                    ranks.append(int(row[rank_column]))
                except ValueError:
                    raise self.error(number, f"rank must be an integer, got {_shown(row[rank_column])}") from None
        if current is not None:
            yield ScoreRecord(start, group, scores, ranks, None)
        if not seen:
            raise self.error(None, "empty file: a header but no rows")


_REWARDBENCH_REQUIRED = ("subset", "scores", "num_correct")


class _RewardBench(ScoreFile):
    """The RewardBench 2 object (columns) or the same content as a list of rows."""

    def __init__(self, path: Path, input_format: str, document: Any) -> None:
        super().__init__(path, input_format, "row")
        self._document = document
        self._ids: Any = None
        if isinstance(document, dict):
            self.metadata = {key: document[key] for key in ("model", "model_type", "chat_template") if key in document}
            for key in _REWARDBENCH_REQUIRED:
                if not isinstance(document.get(key), list):
                    raise self.error(None, f"RewardBench 2 score file needs a list-valued column {key!r}")
            lengths = {key: len(value) for key, value in document.items() if isinstance(value, list)}
            if len(set(lengths.values())) > 1:
                shortest, longest = min(lengths, key=lengths.__getitem__), max(lengths, key=lengths.__getitem__)
                raise self.error(
                    None,
                    f"columns have different lengths: {_shown(shortest)} has {lengths[shortest]}, "
                    f"{_shown(longest)} has {lengths[longest]}",
                )
            if lengths["scores"] == 0:
                raise self.error(None, "empty file: no prompts")
            self._ids = document.get("id")
        elif isinstance(document, list):
            if not document:
                raise self.error(None, "empty file: no prompts")
        else:
            raise self.error(None, f"expected a RewardBench 2 JSON object or list of rows, got {type(document).__name__}")

    def most_prompts(self) -> int:
        return len(self._document["scores"]) if isinstance(self._document, dict) else len(self._document)

    def describe(self, location: int) -> str:
        identifier = None
        if isinstance(self._document, dict) and isinstance(self._ids, list):
            identifier = self._ids[location - 1]
        elif isinstance(self._document, list) and isinstance(self._document[location - 1], dict):
            identifier = self._document[location - 1].get("id")
        return f"row {location}" + ("" if identifier is None else f" (id {_shown(identifier)})")

    def _record(self, number: int, subset: Any, scores: Any, correct: Any) -> ScoreRecord:
        floats = self._read_scores(number, scores)
        if type(correct) is not int or correct < 0:
            raise self.error(number, f"'num_correct' must be a non-negative integer, got {_shown(correct)}")
        if correct > len(floats):
            raise self.error(number, f"num_correct = {correct} is larger than the number of scores ({len(floats)})")
        return ScoreRecord(number, self._read_group(number, subset, "subset"), floats, None, correct)

    def records(self) -> Iterator[ScoreRecord]:
        document = self._document
        if isinstance(document, dict):
            subsets, all_scores, corrects = (document[key] for key in _REWARDBENCH_REQUIRED)
            for index in range(len(all_scores)):
                yield self._record(index + 1, subsets[index], all_scores[index], corrects[index])
            return
        for index, row in enumerate(document):
            if not isinstance(row, dict):
                raise self.error(index + 1, f"expected a row object, got {type(row).__name__}")
            missing = [key for key in _REWARDBENCH_REQUIRED if key not in row]
            if missing:
                raise self.error(index + 1, f"row has no {missing[0]!r}")
            yield self._record(index + 1, row["subset"], row["scores"], row["num_correct"])


def _sniff_object(path: Path) -> tuple[str, Any]:
    """A file that starts with ``{``: JSONL, or one RewardBench object (on one line or many).

    The first line is read whole (up to the line limit), so a long first JSONL line is
    not mistaken for the start of one document. Returns the format and, when the file
    is one line that was parsed as the whole document, that document.
    """
    with open_bytes(path) as stream:
        first = stream.readline(MAX_LINE_BYTES + 2)
        while first and not first.removeprefix(codecs.BOM_UTF8).strip():  # leading blank lines
            first = stream.readline(MAX_LINE_BYTES + 2)
        first = first.removeprefix(codecs.BOM_UTF8)
        too_long = len(first.rstrip(b"\r\n")) > MAX_LINE_BYTES
        if too_long:
            skip_line(stream)
        more = more_content(stream)
    if too_long:  # longer than any JSONL line: one document, unless lines follow
        return ("jsonl", None) if more else ("rewardbench", None)
    if check_nesting(first) is not None:
        return "jsonl", None  # the line reader names the line and its depth
    try:
        row = json.loads(decode(first))
    except ValueError:  # not valid alone (an indented object spans many lines), or not UTF-8
        return ("rewardbench", None) if first.strip().startswith(b"{") and more else ("jsonl", None)
    scores = row.get("scores") if isinstance(row, dict) else None
    if isinstance(scores, list) and scores and isinstance(scores[0], list):
        return "rewardbench", (None if more else row)  # the columns object on one line
    return "jsonl", None


def _sniff(path: Path, head: bytes) -> tuple[str, Any]:
    """``rewardbench``, ``jsonl`` or ``csv`` from the first bytes of the file (and a parsed document, if any)."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text:
        raise AuditInputError(f"{path}: empty file: no prompts")
    if text[0] == "[":
        return "rewardbench", None
    if text[0] == "{":
        return _sniff_object(path)
    header = [cell.strip() for cell in text.split("\n", 1)[0].split(",")]
    if "prompt_id" in header and "score" in header:
        return "csv", None
    raise AuditInputError(
        f"{path}: line 1: unknown format; expected a RewardBench 2 JSON file, JSONL with 'scores', "
        "or CSV with header prompt_id,score[,rank][,group]"
    )


def open_score_file(path: str | os.PathLike[str], input_format: str = "auto") -> ScoreFile:
    """Open a score file (or a trainer run directory) for streaming.

    Args:
        path: the file, or a run directory of ``collapse-theory train``.
        input_format: one of ``auto`` (detect from the content), ``rewardbench``,
            ``jsonl``, ``csv``, ``run``.

    Raises:
        AuditInputError: a missing file, one that is not a regular file, not UTF-8 text,
            an unknown format, an empty file, a malformed RewardBench document; problems
            inside records surface while iterating.
        OSError: the file cannot be read.
    """
    if input_format not in INPUT_FORMATS:
        raise AuditInputError(f"unknown input format {input_format!r}; choose from {', '.join(INPUT_FORMATS)}")
    target = Path(path)
    if not str(path).strip():
        raise AuditInputError("the score file's path is empty")
    if input_format == "run" or (input_format == "auto" and target.is_dir()):
        rewards = target / RUN_REWARDS_FILE
        if not rewards.is_file():
            raise AuditInputError(f"{target}: no {RUN_REWARDS_FILE} here (expected a run directory of collapse-theory train)")
        target, input_format = rewards, "run"
    elif target.is_dir():
        raise AuditInputError(f"{target}: a directory, but --input-format {input_format} reads a file")
    elif not target.exists():
        raise AuditInputError(f"{target}: no such file")
    with open_bytes(target) as stream:
        head = stream.read(_SNIFF_BYTES)
        check_text(target, head)
        while head and not head.lstrip(_BLANK):  # leading blanks: sniff what follows them
            head = stream.read(_SNIFF_BYTES).lstrip(_BLANK)
    if input_format == "run":
        return _JsonLines(target, "run", "line")
    chosen, document = _sniff(target, head) if input_format == "auto" else (input_format, None)
    if chosen == "jsonl":
        return _JsonLines(target, "jsonl", "line")
    if chosen == "csv":
        return _Csv(target, "csv", "line")
    return _RewardBench(target, "rewardbench", load_json(target) if document is None else document)


def is_finite_number(value: Any) -> bool:
    """A JSON number (not a bool) that is finite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
