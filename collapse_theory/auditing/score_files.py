"""Readers of reward-model score files: one record per prompt, streamed.

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

Example:
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "scores.jsonl"
    >>> _ = path.write_text(json.dumps({"prompt_id": 1, "scores": [0.9, 0.2, 0.1], "group": "math"}) + "\\n")
    >>> source = open_score_file(path)
    >>> source.format, [(r.group, r.scores) for r in source.records()]
    ('jsonl', [('math', [0.9, 0.2, 0.1])])
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "DEFAULT_GROUP",
    "INPUT_FORMATS",
    "RUN_REWARDS_FILE",
    "AuditInputError",
    "ScoreFile",
    "ScoreRecord",
    "is_finite_number",
    "open_score_file",
]

#: The file a trainer run directory holds the held-out prompts' rewards in.
RUN_REWARDS_FILE = "heldout_rewards.jsonl"
#: The group of prompts that name none.
DEFAULT_GROUP = "all"
INPUT_FORMATS = ("auto", "rewardbench", "jsonl", "csv", "run")
_SNIFF_BYTES = 1 << 16


class AuditInputError(ValueError):
    """A score file that cannot be audited: one line naming the file, the place and the problem."""


class ScoreRecord(NamedTuple):
    """One prompt as read from a file.

    Attributes:
        location: the line (JSONL, CSV) or row (RewardBench) the prompt comes from, 1-based.
        group: the prompt's group (subset, kind).
        scores: the completions' scores, in the file's order.
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


class ScoreFile:
    """A score file opened for reading: its format, its records, and how to name a place in it."""

    def __init__(self, path: Path, input_format: str, unit: str) -> None:
        self.path = path
        self.format = input_format
        self.unit = unit
        self.metadata: dict[str, Any] = {}

    def records(self) -> Iterator[ScoreRecord]:
        """The prompts, one record each, in file order."""
        raise NotImplementedError

    def describe(self, location: int) -> str:
        """``"line 12"`` or ``"row 12 (id 'x')"``."""
        return f"{self.unit} {location}"

    def error(self, location: int | None, problem: str) -> AuditInputError:
        """An error naming this file and (when known) the place."""
        where = "" if location is None else f" {self.describe(location)}:"
        return AuditInputError(f"{self.path}:{where} {problem}")


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _JsonLines(ScoreFile):
    def records(self) -> Iterator[ScoreRecord]:
        loads = json.loads
        seen = False
        with open(self.path, encoding="utf-8-sig") as stream:
            for number, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                seen = True
                try:
                    row = loads(line)
                except json.JSONDecodeError as error:
                    raise self.error(number, f"not valid JSON ({error.msg}, column {error.colno})") from None
                if not isinstance(row, dict):
                    raise self.error(number, f"expected a JSON object with 'scores', got {type(row).__name__}")
                scores = row.get("scores")
                if not isinstance(scores, list):
                    raise self.error(number, "'scores' must be a list of numbers")
                group = row.get("group", DEFAULT_GROUP)
                if group is None or isinstance(group, (list, dict)):
                    raise self.error(number, f"'group' must be a string, got {group!r}")
                ranks = row.get("ranks")
                if ranks is not None and not isinstance(ranks, list):
                    raise self.error(number, "'ranks' must be a list of integers")
                yield ScoreRecord(number, group if isinstance(group, str) else str(group), scores, ranks, None)
        if not seen:
            raise self.error(None, "empty file: no prompts")


class _Csv(ScoreFile):
    def records(self) -> Iterator[ScoreRecord]:
        with open(self.path, newline="", encoding="utf-8-sig") as stream:
            reader = csv.reader(stream)
            header = next(reader, None)
            while header is not None and not any(cell.strip() for cell in header):
                header = next(reader, None)
            if header is None:
                raise self.error(None, "empty file: no prompts")
            names = [cell.strip() for cell in header]
            columns = {name: index for index, name in enumerate(names)}
            for needed in ("prompt_id", "score"):
                if needed not in columns:
                    raise self.error(1, f"CSV header must name prompt_id and score (optional rank, group), got {','.join(names)}")
            unknown = [name for name in names if name not in ("prompt_id", "score", "rank", "group")]
            if unknown:
                raise self.error(1, f"unknown CSV column {unknown[0]!r}; expected prompt_id,score[,rank][,group]")
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
                        raise self.error(number, f"rows of prompt {prompt!r} are not together; sort the file by prompt_id")
                    current, start, seen = prompt, number, True
                    group = row[group_column].strip() if group_column is not None else DEFAULT_GROUP
                    scores, ranks = [], ([] if rank_column is not None else None)
                elif group_column is not None and row[group_column].strip() != group:
                    raise self.error(number, f"prompt {prompt!r} has rows in groups {group!r} and {row[group_column].strip()!r}")
                try:
                    score = float(row[score_column])
                except ValueError:
                    raise self.error(number, f"score must be a number, got {row[score_column]!r}") from None
                if not math.isfinite(score):
                    raise self.error(number, f"non-finite score {row[score_column].strip()}")
                scores.append(score)
                if ranks is not None and rank_column is not None:
                    try:
                        ranks.append(int(row[rank_column]))
                    except ValueError:
                        raise self.error(number, f"rank must be an integer, got {row[rank_column]!r}") from None
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
                    f"columns have different lengths: {shortest!r} has {lengths[shortest]}, {longest!r} has {lengths[longest]}",
                )
            if lengths["scores"] == 0:
                raise self.error(None, "empty file: no prompts")
            self._ids = document.get("id")
        elif isinstance(document, list):
            if not document:
                raise self.error(None, "empty file: no prompts")
        else:
            raise self.error(None, f"expected a RewardBench 2 JSON object or list of rows, got {type(document).__name__}")

    def describe(self, location: int) -> str:
        identifier = None
        if isinstance(self._document, dict) and isinstance(self._ids, list):
            identifier = self._ids[location - 1]
        elif isinstance(self._document, list) and isinstance(self._document[location - 1], dict):
            identifier = self._document[location - 1].get("id")
        return f"row {location}" + ("" if identifier is None else f" (id {identifier!r})")

    def _record(self, number: int, subset: Any, scores: Any, correct: Any) -> ScoreRecord:
        if not isinstance(scores, list):
            raise self.error(number, "'scores' must be a list of numbers")
        if not _is_integer(correct) or correct < 0:
            raise self.error(number, f"'num_correct' must be a non-negative integer, got {correct!r}")
        if correct > len(scores):
            raise self.error(number, f"num_correct = {correct} is larger than the number of scores ({len(scores)})")
        if subset is None or isinstance(subset, (list, dict)):
            raise self.error(number, f"'subset' must be a string, got {subset!r}")
        return ScoreRecord(number, subset if isinstance(subset, str) else str(subset), scores, None, correct)

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


def _load_json(path: Path) -> Any:
    with open(path, encoding="utf-8-sig") as stream:
        try:
            return json.load(stream)
        except json.JSONDecodeError as error:
            raise AuditInputError(f"{path}: line {error.lineno}: not valid JSON ({error.msg})") from None


def _sniff(path: Path) -> str:
    """``rewardbench``, ``jsonl`` or ``csv`` from the first bytes of the file."""
    with open(path, "rb") as stream:
        head = stream.read(_SNIFF_BYTES)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text:
        raise AuditInputError(f"{path}: empty file: no prompts")
    if text[0] == "[":
        return "rewardbench"
    if text[0] == "{":
        first = text.split("\n", 1)[0]
        try:
            row = json.loads(first)
        except json.JSONDecodeError:
            return "rewardbench"  # an indented object spans many lines
        scores = row.get("scores") if isinstance(row, dict) else None
        if isinstance(scores, list) and scores and isinstance(scores[0], list):
            return "rewardbench"  # the columns object on one line
        return "jsonl"
    header = [cell.strip() for cell in text.split("\n", 1)[0].split(",")]
    if "prompt_id" in header and "score" in header:
        return "csv"
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
        AuditInputError: an unknown format, an empty file, a malformed RewardBench
            document; problems inside records surface while iterating.
        OSError: the file cannot be read.
    """
    if input_format not in INPUT_FORMATS:
        raise AuditInputError(f"unknown input format {input_format!r}; choose from {', '.join(INPUT_FORMATS)}")
    target = Path(path)
    if input_format == "run" or (input_format == "auto" and target.is_dir()):
        rewards = target / RUN_REWARDS_FILE
        if not rewards.is_file():
            raise AuditInputError(f"{target}: no {RUN_REWARDS_FILE} here (expected a run directory of collapse-theory train)")
        return _JsonLines(rewards, "run", "line")
    if target.is_dir():
        raise AuditInputError(f"{target}: a directory, but --input-format {input_format} reads a file")
    chosen = _sniff(target) if input_format == "auto" else input_format
    if chosen == "jsonl":
        return _JsonLines(target, "jsonl", "line")
    if chosen == "csv":
        return _Csv(target, "csv", "line")
    return _RewardBench(target, "rewardbench", _load_json(target))


def is_finite_number(value: Any) -> bool:
    """A JSON number (not a bool) that is finite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
