"""The audit's score reader is bounded (issue "Reliability, third round", the reader's items).

One test per claim: only regular files are read; a line has a length limit and JSON a
nesting limit, both checked before the parser; scores reach the shapes as finite Python
floats; a long first line does not fool the format detection; encodings are named with
the file; a file cannot merge groups, repeat a prompt or a CSV column; CSV output is
spreadsheet-safe; ``--out``, ``--grid`` and ``--resamples`` are checked before any work.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import error_line
from helpers import run_cli as _run
from hypothesis import given
from hypothesis import strategies as st

import collapse_theory.auditing.byte_checks as byte_checks
import collapse_theory.auditing.score_files as score_files
import collapse_theory.commands.audit as audit_command
from collapse_theory.auditing import AuditInputError, audit, open_score_file, read_shapes
from collapse_theory.auditing.bounds import MAX_GRID, audit_memory, check_grid
from collapse_theory.auditing.comparison import MAX_RESAMPLES
from collapse_theory.auditing.score_files import MAX_LINE_BYTES, MAX_NESTING, nesting_depth
from collapse_theory.cli import build_parser, main


@pytest.fixture
def guard() -> Iterator[None]:
    """Fail (instead of hanging the suite) when a read blocks for 20 s."""

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError("the reader blocked")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _refused(path: Path, expected: str, input_format: str = "auto") -> str:
    """The reader's one-line error for ``path``: it names the file and says ``expected``."""
    with pytest.raises(AuditInputError) as raised:
        source = open_score_file(path, input_format)
        for _ in source.records():
            pass
    message = str(raised.value)
    assert "\n" not in message and message.startswith(str(path)) and expected in message, message
    return message


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


# --- regular files only (C5, H4) -----------------------------------------------------------------


def test_a_device_is_refused_without_reading_it(guard: None) -> None:
    _refused(Path("/dev/zero"), "a character device", "jsonl")
    _refused(Path("/dev/zero"), "a character device")


def test_a_fifo_without_a_writer_is_refused_not_waited_on(tmp_path: Path, guard: None) -> None:
    fifo = tmp_path / "scores.jsonl"
    os.mkfifo(fifo)
    _refused(fifo, "a FIFO")
    _refused(fifo, "a FIFO", "csv")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    _refused(tmp_path / "nothing.jsonl", "no such file")


# --- line-length and nesting limits (C2) --------------------------------------------------------


def _depth_of(value: Any) -> int:
    """Oracle: the nesting depth of a parsed JSON value, by recursion over the value."""
    if isinstance(value, list):
        return 1 + max((_depth_of(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth_of(item) for item in value.values()), default=0)
    return 0


_strings = st.text(alphabet=st.sampled_from('ab"\\[]{}\n\u00e9'), max_size=6)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _strings,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_strings, children, max_size=3),
    max_leaves=30,
)


@given(_json_values, st.sampled_from([None, 0, 2]))
def test_nesting_depth_on_the_bytes_is_the_depth_of_the_parsed_value(value: Any, indent: int | None) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=False).encode("utf-8")
    assert nesting_depth(text) == _depth_of(value)


def test_nesting_depth_carries_strings_and_escapes_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    value = [{"k\\": ['"[[[', [['\\\\"]]']]]}, [[[[]]]]]
    text = json.dumps(value).encode()
    for chunk in (1, 2, 3, 5, 7):  # every cut: inside strings, between backslashes, between brackets
        monkeypatch.setattr(byte_checks, "CHUNK_BYTES", chunk)
        assert nesting_depth(text) == _depth_of(value) == 5


def test_deep_nesting_is_refused_before_the_parser_recurses(tmp_path: Path) -> None:
    deep = "[" * 10**5 + "]" * 10**5
    line = tmp_path / "deep.jsonl"
    line.write_text('{"scores": [1.0, 0.0]}\n{"scores": [1.0, 0.0], "extra": ' + deep + "}\n")
    _refused(line, f"line 2: JSON nested {10**5 + 1} levels deep; the reader takes at most {MAX_NESTING}")
    document = tmp_path / "deep.json"
    document.write_text(deep)
    _refused(document, f"JSON nested {10**5} levels deep")
    unclosed = tmp_path / "unclosed.jsonl"
    unclosed.write_text('{"scores": ' + "[" * 10**5 + "\n")
    _refused(unclosed, "nested 100001 levels deep")
    at_limit = tmp_path / "limit.jsonl"
    _jsonl(at_limit, [{"scores": [1.0, 0.0], "extra": json.loads("[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1))}])
    assert [record.scores for record in open_score_file(at_limit).records()] == [[1.0, 0.0]]


def test_a_line_longer_than_the_limit_is_refused_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    with open(path, "wb") as stream:
        stream.write(b'{"scores": [1.0, 0.0]}\n')
        stream.write(b'{"scores": [1.0, 0.0], "text": "' + b"x" * MAX_LINE_BYTES + b'"}\n')
    _refused(path, f"line 2: line longer than {MAX_LINE_BYTES} bytes")
    csv_path = tmp_path / "long.csv"
    with open(csv_path, "wb") as stream:
        stream.write(b"prompt_id,score\np,1\n" + b"p" * (MAX_LINE_BYTES + 1) + b",0\n")
    _refused(csv_path, "line 3: line longer than")


def test_a_line_of_exactly_the_limit_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(score_files, "MAX_LINE_BYTES", 64)
    line = b'{"scores": [1.0, 0.0], "text": "'
    line += b"x" * (64 - len(line) - 2) + b'"}'
    assert len(line) == 64
    path = tmp_path / "exact.jsonl"
    path.write_bytes(line + b"\r\n" + line + b"x\n")
    with pytest.raises(AuditInputError, match="line 2: line longer than 64 bytes"):
        list(open_score_file(path).records())


# --- scores are finite floats (C1, P2) ---------------------------------------------------------


@pytest.mark.parametrize("scores", ["[%s]", "[%s, 1, 0]"])
def test_an_integer_beyond_the_float_range_is_refused(tmp_path: Path, scores: str) -> None:
    path = tmp_path / "huge.jsonl"
    path.write_text('{"scores": ' + scores % ("1" * 401) + "}\n")
    _refused(path, "line 1: score 1111")
    _refused(path, "(401 digits) is beyond the range of a float")
    # the boundary is float()'s: the largest float reads, the first integer that rounds past it does not
    largest = 2**1024 - 2**971
    path.write_text(f'{{"scores": [{largest}, 0]}}\n')
    assert next(open_score_file(path).records()).scores == [float(largest), 0.0] == [1.7976931348623157e308, 0.0]
    path.write_text(f'{{"scores": [0, -{largest + 2**970}]}}\n')
    _refused(path, "line 1: score -1797693")


def test_an_integer_of_more_than_4300_digits_is_invalid_json_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "digits.jsonl"
    path.write_text('{"scores": [' + "9" * 5000 + ", 0]}\n")
    _refused(path, "line 1: not valid JSON (Exceeds the limit (4300 digits)")


@pytest.mark.parametrize(("value", "shown"), [('"1"', "'1'"), ("true", "true"), ("null", "null"), ("[1]", "[1]"), ("{}", "{}")])
def test_a_score_that_is_not_a_json_number_is_refused(tmp_path: Path, value: str, shown: str) -> None:
    for scores in (f"[{value}, 0]", f"[{value}]"):
        path = tmp_path / "bad.jsonl"
        path.write_text('{"scores": ' + scores + "}\n")
        _refused(path, f"line 1: scores must be numbers, got {shown}", "jsonl")
    rewardbench = tmp_path / "bad.json"
    rewardbench.write_text('{"scores": [[' + value + ', 0]], "subset": ["a"], "num_correct": [1]}')
    _refused(rewardbench, f"row 1: scores must be numbers, got {shown}")


def test_records_carry_python_floats_whatever_the_json_number(tmp_path: Path) -> None:
    path = tmp_path / "ints.jsonl"
    path.write_text('{"scores": [3, 2.5, -1, 0]}\n{"scores": [1e-320, 0]}\n')
    records = list(open_score_file(path).records())
    assert [record.scores for record in records] == [[3.0, 2.5, -1.0, 0.0], [1e-320, 0.0]]
    assert all(type(score) is float for record in records for score in record.scores)
    rewardbench = tmp_path / "ints.json"
    rewardbench.write_text('[{"scores": [2, 1], "subset": "a", "num_correct": 1}]')
    (record,) = open_score_file(rewardbench).records()
    assert record.scores == [2.0, 1.0] and all(type(score) is float for score in record.scores)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_scores_are_refused(tmp_path: Path, token: str) -> None:
    path = tmp_path / "inf.jsonl"
    path.write_text(f'{{"scores": [1.0, {token}]}}\n')
    _refused(path, "line 1: non-finite score")


# --- format detection (P1) ----------------------------------------------------------------------


def test_a_jsonl_first_line_longer_than_the_sniffed_bytes_is_still_jsonl(tmp_path: Path) -> None:
    rows = [{"scores": [3.0, 1.0, 0.0], "group": "a", "text": "x" * 70_000}, {"scores": [1.0, 0.0], "group": "b"}]
    source = open_score_file(_jsonl(tmp_path / "long.jsonl", rows))
    assert source.format == "jsonl" and [r.group for r in source.records()] == ["a", "b"]


def test_one_line_and_indented_rewardbench_objects_are_still_rewardbench(tmp_path: Path) -> None:
    document = {
        "id": [1, 2],
        "subset": ["a", "b"],
        "scores": [[1.0, 0.0], [0.5, 0.2]],
        "num_correct": [1, 1],
        "text": ["x" * 70_000] * 2,
    }
    for indent in (None, 1):
        path = tmp_path / f"rb{indent}.json"
        path.write_text(json.dumps(document, indent=indent))
        source = open_score_file(path)
        assert source.format == "rewardbench" and [r.scores for r in source.records()] == [[1.0, 0.0], [0.5, 0.2]]
    one_prompt = _jsonl(tmp_path / "one.jsonl", [{"scores": [1.0, 0.0]}])
    assert open_score_file(one_prompt).format == "jsonl"


def test_leading_blank_lines_do_not_change_the_format(tmp_path: Path) -> None:
    document = {"subset": ["a"], "scores": [[1.0, 0.0]], "num_correct": [1]}
    blanks = "\n" * 3 + " " * 70_000 + "\n"
    indented = tmp_path / "indented.json"
    indented.write_text(blanks + json.dumps(document, indent=1))
    lines = tmp_path / "lines.jsonl"
    lines.write_text(blanks + json.dumps({"scores": [1.0, 0.0]}) + "\n")
    table = tmp_path / "table.csv"
    table.write_text(blanks + "prompt_id,score\np,1\np,0\n")
    for path, expected in ((indented, "rewardbench"), (lines, "jsonl"), (table, "csv")):
        source = open_score_file(path)
        assert source.format == expected and [r.scores for r in source.records()] == [[1.0, 0.0]]
    blank = tmp_path / "blank.jsonl"
    blank.write_text(" " * 70_000 + "\n\n")
    _refused(blank, "empty file")


def test_a_rewardbench_document_larger_than_memory_allows_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.json"
    # indented: a document on one line is read as a line, within the line limit
    path.write_text(json.dumps({"subset": ["a"] * 100, "scores": [[1.0, 0.0]] * 100, "num_correct": [1] * 100}, indent=1))
    monkeypatch.setenv("COLLAPSE_THEORY_MEMORY_LIMIT", str(path.stat().st_size * 2))
    _refused(path, "to parse, more than the")


def test_a_first_line_beyond_the_line_limit_is_named_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(score_files, "MAX_LINE_BYTES", 1000)
    rows = [{"scores": [1.0, 0.0], "text": "x" * 2000}, {"scores": [1.0, 0.0]}]
    _refused(_jsonl(tmp_path / "long.jsonl", rows), "line 1: line longer than 1000 bytes")


# --- encodings (P9) -----------------------------------------------------------------------------

_TEXT = '{"scores": [1.0, 0.0], "group": "caf\u00e9"}\n'


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("latin-1", "line 1: not UTF-8 text (byte 0xe9 at column 37)"),
        ("utf-16", "UTF-16 text (byte-order mark)"),
        ("utf-16-le", "UTF-16 text (every other byte 0)"),
        ("utf-16-be", "UTF-16 text (every other byte 0)"),
        ("utf-32", "UTF-32 text"),
    ],
)
def test_a_file_not_in_utf8_is_named_with_its_encoding(tmp_path: Path, encoding: str, expected: str) -> None:
    path = tmp_path / "scores.jsonl"
    path.write_bytes(_TEXT.encode(encoding))
    for input_format in ("auto", "jsonl"):
        _refused(path, expected, input_format)


def test_invalid_utf8_is_placed_by_line_and_column_in_every_format(tmp_path: Path) -> None:
    csv_path = tmp_path / "scores.csv"
    csv_path.write_bytes("prompt_id,score,group\np,1,a\np,0,caf\u00e9\n".encode("latin-1"))
    _refused(csv_path, "line 3: not UTF-8 text (byte 0xe9 at column 8)")
    document = tmp_path / "scores.json"
    document.write_bytes('{"scores": [[1, 0]],\n "subset": ["caf\u00e9"], "num_correct": [1]}'.encode("latin-1"))
    _refused(document, "line 2: not UTF-8 text (byte 0xe9 at column 17)")
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + _TEXT.encode("utf-8"))
    assert [r.group for r in open_score_file(bom).records()] == ["caf\u00e9"]


def test_binary_data_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(bytes(range(256)) * 4)
    for input_format in ("auto", "jsonl", "csv", "rewardbench"):
        _refused(path, "binary data (NUL bytes)", input_format)


# --- groups, prompt ids and columns (P12) -------------------------------------------------------


def test_a_quoted_csv_field_may_span_lines_and_later_lines_keep_their_numbers(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_bytes(b'prompt_id,score,group\r\np,1,"x\ny"\r\np,0,"x\ny"\nq,1,b\nq,oops,b\n')
    _refused(path, "line 7: score must be a number, got 'oops'")  # the quoted ends count
    path.write_bytes(b'prompt_id,score,group\np,1,"x\ny"\np,0,"x\ny"')
    assert [(r.group, r.scores) for r in open_score_file(path).records()] == [("x\ny", [1.0, 0.0])]


def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("prompt_id,score,score\np,1,2\np,0,1\n")
    _refused(path, "line 1: the CSV header names 'score' 2 times")


def test_a_repeated_prompt_id_is_refused(tmp_path: Path) -> None:
    rows = [
        {"prompt_id": 7, "scores": [1.0, 0.0]},
        {"prompt_id": "7", "scores": [1.0, 0.0]},
        {"prompt_id": 7, "scores": [2.0, 0.0]},
    ]
    _refused(_jsonl(tmp_path / "twice.jsonl", rows), "line 3: prompt_id 7 repeats line 1")
    _refused(
        _jsonl(tmp_path / "bad.jsonl", [{"prompt_id": [1], "scores": [1.0, 0.0]}]), "'prompt_id' must be a string or an integer"
    )


def test_groups_of_two_types_are_refused_not_merged(tmp_path: Path) -> None:
    rows = [{"scores": [1.0, 0.0], "group": 5}, {"scores": [1.0, 0.5, 0.0], "group": "5"}]
    _refused(_jsonl(tmp_path / "mixed.jsonl", rows), "line 2: group '5' is a string, but line 1 has the number 5")
    document = tmp_path / "mixed.json"
    document.write_text(json.dumps({"subset": ["a", 5], "scores": [[1.0, 0.0]] * 2, "num_correct": [1, 1]}))
    _refused(document, "row 2: subset 5 is a number, but row 1 has the string 'a'")
    for bad in (True, None, [1], 1e400):
        _refused(_jsonl(tmp_path / "bad.jsonl", [{"scores": [1.0, 0.0], "group": bad}]), "'group' must be a string or a number")
    numbers = _jsonl(tmp_path / "numbers.jsonl", [{"scores": [1.0, 0.0], "group": g} for g in (5, 6, 5)])
    assert [r.group for r in open_score_file(numbers).records()] == ["5", "6", "5"]
    unnamed = _jsonl(tmp_path / "unnamed.jsonl", [{"scores": [1.0, 0.0]}, {"scores": [1.0, 0.0], "group": 5}])
    assert [r.group for r in open_score_file(unnamed).records()] == ["all", "5"]


def test_group_names_are_spreadsheet_safe_and_quoted_in_csv_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = ["=cmd()", "a|b", "x\ny", "+1", "-2", "@sum", "plain", 'say "hi", then']
    rows = [{"scores": [1.0, 0.1 * k, 0.0], "group": name} for name in names for k in range(1, 4)]
    code, out, err = _run(capsys, "audit", str(_jsonl(tmp_path / "names.jsonl", rows)), "--format", "csv", "--resamples", "99")
    assert code == 0, err
    table = list(csv.reader(io.StringIO(out)))
    expected = ["'=cmd()", "a|b", "x\ny", "'+1", "'-2", "'@sum", "plain", 'say "hi", then']
    assert [row[0] for row in table[1:]] == expected and all(len(row) == len(table[0]) for row in table)
    assert audit_command.spreadsheet_safe("\tx") == "'\tx" and audit_command.spreadsheet_safe("x=1") == "x=1"


# --- the command's checks before any work (D1, P3, H3, C3) --------------------------------------


@pytest.fixture
def ok_file(tmp_path: Path) -> Path:
    rows = [{"scores": [3.0, 2.0, 0.0] if k % 2 else [1.0, 0.9, 0.0], "group": "ab"[k % 2]} for k in range(20)]
    return _jsonl(tmp_path / "ok.jsonl", rows)


@pytest.fixture
def no_audit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit itself fails the test if reached: these checks come first."""

    def reached(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the audit ran before the arguments were checked")

    monkeypatch.setattr(audit_command, "audit", reached)


def test_an_empty_out_is_refused_and_nothing_is_written(
    ok_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_audit: None
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "report.md").write_text("the user's own notes\n")
    monkeypatch.chdir(work)
    for out in ("", "  "):
        code, _, err = _run(capsys, "audit", str(ok_file), "--out", out)
        assert code == 2 and "--out: the path is empty" in error_line(err)
    assert (
        sorted(p.name for p in work.iterdir()) == ["report.md"] and (work / "report.md").read_text() == "the user's own notes\n"
    )


def test_an_out_that_is_a_file_is_refused_before_the_audit(
    ok_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_audit: None
) -> None:
    code, _, err = _run(capsys, "audit", str(ok_file), "--out", str(ok_file))
    assert code == 2 and "is a file, not a folder" in error_line(err)
    code, _, err = _run(capsys, "audit", str(ok_file), "--out", str(ok_file / "below"))
    assert code == 2 and "is a file, not a folder" in error_line(err)


def test_resamples_and_grid_are_bounded_in_the_cli_and_the_library(ok_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for option, value in (
        ("--permutations", "99999999999999999999"),
        ("--resamples", str(MAX_RESAMPLES + 1)),
        ("--grid", "100000000"),
        ("--grid", str(MAX_GRID + 1)),
    ):
        with pytest.raises(SystemExit) as raised:
            main(["audit", str(ok_file), option, value])
        assert raised.value.code == 2 and "must be an integer in [" in error_line(capsys.readouterr().err)
    parsed = build_parser("audit").parse_args(["audit", "x", "--resamples", str(MAX_RESAMPLES), "--grid", str(MAX_GRID)])
    assert (parsed.resamples, parsed.grid) == (MAX_RESAMPLES, MAX_GRID)
    assert check_grid(MAX_GRID) == MAX_GRID
    for bad in (1, MAX_GRID + 1, "8", True):
        with pytest.raises(ValueError, match="grid must be an integer in"):
            check_grid(bad)
    with pytest.raises(ValueError, match="resamples must be an integer in"):
        audit(ok_file, resamples=MAX_RESAMPLES + 1)


def test_the_memory_estimate_bounds_the_shapes_and_refuses_before_the_audit(
    ok_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shapes = read_shapes(open_score_file(ok_file), grid=64)
    counts = (shapes.groups, shapes.completions, shapes.correct_pairs, shapes.known_pairs, shapes.tied_pairs, shapes.best_of_n)
    held = shapes.shapes.nbytes + sum(array.nbytes for array in counts)
    assert open_score_file(ok_file).most_prompts() == 20 == shapes.prompts
    assert held <= audit_memory(20, 64)
    assert audit_memory(20, 64) == 20 * (3 * 8 * 64 + 80)
    monkeypatch.setenv("COLLAPSE_THEORY_MEMORY_LIMIT", str(int(audit_memory(20, 1000))))

    def reached(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the file was read before the memory check")

    # the library's audit checks memory right after opening the file, before reading a record
    monkeypatch.setattr("collapse_theory.auditing.report.read_shapes", reached)
    code, _, err = _run(capsys, "audit", str(ok_file), "--grid", "1001")
    line = error_line(err)
    assert code == 2 and str(ok_file) in line and "at most 20 prompts" in line and "the largest grid that fits is 1000" in line


def test_a_fitting_audit_still_runs(ok_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    code, stdout, err = _run(capsys, "audit", str(ok_file), "--resamples", "99", "--format", "json", "--out", str(out))
    assert code == 0 and err == "" and json.loads(stdout)["prompts"] == 20
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.md", "shapes.png"]
    assert audit(ok_file, resamples=99).prompts == 20
