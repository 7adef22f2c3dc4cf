"""Fuzzing ``collapse-theory audit`` over score files against its contract.

For any file content, the command either

* exits 0 with a verdict (strict JSON with ``collapsed``, true, false or null for
  inconclusive, and its ``reason`` for ``--format json``, the
  ``collapsed:`` line of the table, or the CSV header), nothing on stderr, and the three
  report files in ``--out``;
* or exits 2 with exactly one line on stderr that names the file, nothing on stdout,
  no ``--out`` folder and no file anywhere in the working folder.

Contents: JSONL, CSV and RewardBench 2 documents (columns and rows) with hostile values
(strings, booleans, null, lists where numbers belong, integers of hundreds of digits,
NaN and infinities, groups of mixed types and with newlines or formula starts, repeated
ids and columns, ranks that are not permutations), deep nesting, random binary data, and
each of these re-encoded (latin-1, UTF-16, UTF-32) or truncated or spliced with random
bytes. Scores a float can hold stay within +-1e300, where the spread of a prompt is a
finite float (wider spreads are the shapes' concern, not the reader's). Hypothesis is
derandomized (the same examples on every run) and does not shrink, so the time is
bounded: the default run (120 files) takes about 15 s of CPU time; a ten times larger
run is marked slow.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import traceback
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from collapse_theory import cli

# --- contents ------------------------------------------------------------------------------------

_numbers = st.one_of(
    st.floats(-1e300, 1e300, allow_nan=False),
    st.integers(-(10**6), 10**6),
    st.sampled_from([0.0, 1.0, -1.0, 5e-324, 1e300, -1e300]),
)
_beyond = 2**1024 - 2**970  # the first integer float() cannot represent
_hostile_numbers = st.one_of(
    st.integers(_beyond, 10**420),
    st.integers(-(10**420), -_beyond),
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),
)
_junk = st.one_of(st.text(max_size=4), st.booleans(), st.none(), st.lists(st.integers(0, 3), max_size=2), st.just({}))
_scores = st.lists(
    st.one_of(_numbers, _numbers, _numbers, _numbers, _numbers, _numbers, _hostile_numbers, _junk), max_size=6
) | st.lists(_numbers, min_size=2, max_size=6)
_groups = st.sampled_from(["a", "b", "closed", 5, "5", 6, 1.5, "=cmd()", "x\ny", "a|b", "@sum", "", None, True, [1]])
_ids = st.one_of(st.integers(0, 5), st.sampled_from(["p", "q", "0"]), _junk)
_ranks = st.lists(st.integers(-1, 6), max_size=6) | _junk


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


_clean_scores = st.lists(_numbers, min_size=2, max_size=6)
_clean_groups = st.sampled_from(["a", "b", "closed", "=cmd()", "x\ny", "a|b", "@sum", "-1", "5", ""])


@st.composite
def _jsonl(draw: Any) -> bytes:
    """Clean rows (unique ids, string groups, permutation ranks) with at most a few hostile ones."""
    rows: list[dict[str, Any]] = []
    for number in range(draw(st.integers(0, 8))):
        row: dict[str, Any] = {"scores": draw(_clean_scores), "group": draw(_clean_groups)}
        if draw(st.booleans()):
            row["prompt_id"] = number
        if draw(st.integers(0, 3)) == 0:
            row["ranks"] = draw(st.permutations(range(1, len(row["scores"]) + 1)))
        rows.append(row)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):  # hostile edits
        row = {"scores": draw(_scores | _junk), "group": draw(_groups), "prompt_id": draw(_ids), "ranks": draw(_ranks)}
        for key in [key for key in row if draw(st.booleans())]:
            del row[key]
        rows.insert(draw(st.integers(0, len(rows))), row)
    lines = [_dumps(row) for row in rows]
    if draw(st.integers(0, 4)) == 0:
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["", "[1, 2]", "{", "null", "  "])))
    return ("\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))).encode("utf-8")


@st.composite
def _csv(draw: Any) -> bytes:
    """Clean long-form rows (prompts together, one group each) or a hostile header and cells."""
    if draw(st.booleans()):
        header = ["prompt_id", "score", *draw(st.sampled_from([[], ["group"], ["rank", "group"]]))]
        lines = [",".join(header)]
        for prompt in range(draw(st.integers(0, 6))):
            scores = draw(_clean_scores)
            group = draw(st.sampled_from(["a", "b", "=cmd()", '"x\ny"', "a|b"]))
            for rank, score in enumerate(scores, 1):
                cells = {"prompt_id": f"p{prompt}", "score": repr(score), "rank": str(rank), "group": group}
                lines.append(",".join(cells[name] for name in header))
    else:
        header = draw(st.lists(st.sampled_from(["prompt_id", "score", "rank", "group", "other"]), min_size=1, max_size=5))
        if draw(st.booleans()):
            header = ["prompt_id", "score", *header[2:]]
        cells = st.one_of(_numbers.map(repr), st.sampled_from(["p", "q", "1", "2", "nan", "inf", "x\ny", "=cmd()", '"', ""]))
        rows = draw(st.lists(st.lists(cells, min_size=len(header) - 1, max_size=len(header) + 1), max_size=10))
        lines = [",".join(header)] + [",".join(row) for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


@st.composite
def _rewardbench(draw: Any) -> bytes:
    """Columns or rows, clean (string subsets, num_correct in range) or hostile."""
    prompts = draw(st.integers(0, 5))
    clean = draw(st.booleans())
    scores = st.lists(_clean_scores if clean else _scores | _junk, min_size=prompts, max_size=prompts)
    subsets = st.lists(_clean_groups if clean else _groups, min_size=prompts, max_size=prompts)
    correct = st.integers(0, 2) if clean else st.one_of(st.integers(-1, 4), _junk, st.just(10**400))
    if draw(st.booleans()):
        document: Any = {
            "id": draw(st.lists(_ids, min_size=prompts, max_size=prompts)),
            "subset": draw(subsets),
            "scores": draw(scores),
            "num_correct": draw(st.lists(correct, min_size=prompts, max_size=prompts)),
            "model": draw(st.sampled_from(["m", None, 5])),
        }
        if not clean and draw(st.booleans()):
            del document[draw(st.sampled_from(["subset", "scores", "num_correct"]))]
    else:
        row = st.fixed_dictionaries(
            {
                "scores": _clean_scores if clean else _scores,
                "subset": _clean_groups if clean else _groups,
                "num_correct": correct,
            },
            optional={"id": _ids},
        )
        document = draw(st.lists(row if clean else row | _junk, max_size=5))
    return _dumps(document).encode("utf-8")


@st.composite
def _nested(draw: Any) -> bytes:
    depth = draw(st.sampled_from([3, 63, 64, 65, 1000, 10**5]))
    closed = draw(st.booleans())
    inner = "[" * depth + ("]" * depth if closed else "")
    return draw(st.sampled_from([inner, '{"scores": [1, 0], "x": ' + inner + "}\n", '{"scores": ' + inner + "}\n"])).encode()


_contents = st.one_of(
    _jsonl(), _jsonl(), _jsonl(), _csv(), _csv(), _rewardbench(), _rewardbench(), _nested(), st.binary(max_size=300)
)


@st.composite
def _files(draw: Any) -> bytes:
    data: bytes = draw(_contents)
    change = draw(st.sampled_from(["none"] * 6 + ["encode", "truncate", "splice", "bom"]))
    if change == "encode":
        text = data.decode("utf-8", errors="replace")
        data = text.encode(draw(st.sampled_from(["latin-1", "utf-16", "utf-16-le", "utf-32"])), errors="replace")
    elif change == "truncate" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif change == "splice":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    elif change == "bom":
        data = b"\xef\xbb\xbf" + data
    return data


# --- the contract --------------------------------------------------------------------------------


def _strict_json(text: str) -> Any:
    def refuse(token: str) -> None:
        raise ValueError(f"non-strict JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def _check_contract(folder: Path, data: bytes, input_format: str, output: str, grid: int) -> None:
    work = folder / "work"
    work.mkdir()
    path = work / "scores.dat"
    path.write_bytes(data)
    out_dir = work / "report"
    argv = ["audit", str(path), "--input-format", input_format, "--format", output, "--grid", str(grid)]
    argv += ["--resamples", "99", "--out", str(out_dir)]
    stdout, stderr = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    os.chdir(work)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code: int | None = cli.main(argv)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 2
    except Exception:  # a traceback for the user: the contract is broken
        pytest.fail(f"{data[:200]!r} with {argv[2:]}: crashed\n{traceback.format_exc()}")
    finally:
        os.chdir(previous)
    out, err = stdout.getvalue(), stderr.getvalue()
    left = sorted(p.name for p in work.iterdir())
    where = f"{data[:300]!r} with {argv[2:]}: exit {code}, stderr {err[-300:]!r}, stdout {out[:200]!r}, files {left}"
    if code == 0:
        assert err == "", where
        if output == "json":
            report = _strict_json(out)
            assert report["collapsed"] in (True, False, None) and report["reason"], where  # None: inconclusive
        elif output == "table":
            assert "collapsed: " in out, where
        else:
            assert out.startswith("group,prompts,"), where
        assert left == ["report", "scores.dat"], where
        assert sorted(p.name for p in out_dir.iterdir()) == ["report.json", "report.md", "shapes.png"], where
        _strict_json((out_dir / "report.json").read_text())
    else:
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and out == "" and len(lines) == 1, where
        assert lines[0].startswith("collapse-theory: error: ") and str(path) in lines[0], where
        assert left == ["scores.dat"], where


_arguments = (
    st.sampled_from(["auto", "auto", "auto", "jsonl", "csv", "rewardbench"]),
    st.sampled_from(["table", "json", "csv"]),
    st.sampled_from([2, 8, 13]),
)


def _fuzz(examples: int) -> settings:
    return settings(
        derandomize=True, deadline=None, database=None, phases=[Phase.explicit, Phase.generate], max_examples=examples
    )


@_fuzz(120)
@given(_files(), *_arguments)
def test_audit_exits_0_with_a_verdict_or_2_with_one_line_naming_the_file(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, input_format: str, output: str, grid: int
) -> None:
    _check_contract(tmp_path_factory.mktemp("fuzz"), data, input_format, output, grid)


@pytest.mark.slow
@_fuzz(1500)
@given(_files(), *_arguments)
def test_audit_contract_on_many_more_files(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, input_format: str, output: str, grid: int
) -> None:
    _check_contract(tmp_path_factory.mktemp("fuzz"), data, input_format, output, grid)
