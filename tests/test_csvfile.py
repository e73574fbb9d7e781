"""``attnbench.io.csvfile``: nothing lost, nothing glued.

The property tests drive the writer itself from arbitrary prior file contents (torn rows, missing final newline,
CRLF, BOM, empty, binary junk) through interleaved appends from two appenders, kills mid-write and ENOSPC at any
byte, and check after every sequence that each row reported as written is in the file exactly once, the file parses
with its header, and every byte the file held is still in it or in ``.torn``/``.unsaved``. One test runs the writer
on a real 64 KiB tmpfs when the test may mount one (root).
"""

from __future__ import annotations

import csv
import errno
import io
import os
import pickle
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from attnbench.errors import CsvWriteError, FileWriteError, ResultsFileError, opt
from attnbench.io import csvfile, durable
from attnbench.io.csvfile import (
    CsvAppender,
    append_rows,
    atomic_path,
    atomic_write,
    check_path,
    check_target,
    open_appender,
    parse_cell,
    read_rows,
    read_table,
    save_unsaved,
)

COLS = ("id", "name", "value")
HEADER = b"id,name,value\n"
BOM = b"\xef\xbb\xbf"
# Property tests run where fsync is cheap; the example tests below use pytest's tmp_path on the real disk.
FAST_DIR = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def refused(fn: Any, *args: Any, kind: type[Exception] = ResultsFileError, **kwargs: Any) -> str:
    """The message of the one-line error ``fn`` must raise."""
    with pytest.raises(kind) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message
    return message


class Budget:
    """Stands in for ``os.write``: lets ``left`` more bytes through (a short write when it runs out), then ENOSPC."""

    def __init__(self, left: int) -> None:
        self.left = left

    def __call__(self, fd: int, data: Any) -> int:
        if self.left <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = os.write(fd, bytes(data[: self.left]))
        self.left -= n
        return n


def csv_ids(text: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == list(COLS)
    return [r[0] for r in rows[1:]]


# --------------------------------------------------------------------------------------------------------------------
# check_target / check_path: refused before any measuring, one line each


def test_refuses_folders_missing_parents_and_parents_that_are_files(tmp_path: Path) -> None:
    assert "is a folder" in refused(check_target, tmp_path, COLS)
    assert "is a folder" in refused(check_target, f"{tmp_path}/new/", COLS)
    assert "does not exist" in refused(check_target, tmp_path / "nope" / "r.csv", COLS)
    (tmp_path / "file").write_text("x")
    assert "is not a folder" in refused(check_target, tmp_path / "file" / "r.csv", COLS)
    assert refused(check_target, tmp_path, COLS).startswith("`csv` ")  # the default label: the field
    check_target(tmp_path / "new.csv", COLS)  # a new file in an existing folder is fine
    assert not (tmp_path / "new.csv").exists()


@pytest.mark.parametrize("target", ["file", "dangling", "folder"])
def test_refuses_symbolic_links_and_leaves_them_alone(tmp_path: Path, target: str) -> None:
    real = tmp_path / "real.csv"
    if target == "file":
        real.write_bytes(HEADER)
    elif target == "folder":
        real.mkdir()
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    message = refused(check_target, link, COLS)
    assert "symbolic link" in message and "give the file it points to" in message
    assert "symbolic link" in refused(open_appender, link, COLS)
    assert "symbolic link" in refused(atomic_write, link, b"x")
    assert link.is_symlink() and os.readlink(link) == str(real)
    if target == "file":
        assert real.read_bytes() == HEADER


def test_refuses_unwritable_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root passes every permission check, so the answers of os.access are what is tested here.
    (tmp_path / "ro").mkdir()
    existing = tmp_path / "existing.csv"
    existing.write_bytes(HEADER)
    real_access = os.access
    denied = {str(tmp_path / "ro"), str(existing)}
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) in denied else real_access(p, mode))
    assert "folder" in refused(check_target, tmp_path / "ro" / "r.csv", COLS)
    assert "not writable" in refused(check_target, existing, COLS)
    assert "not writable" in refused(atomic_write, existing, b"x")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_refuses_a_read_only_folder_for_real(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        assert "not writable" in refused(check_target, folder / "r.csv", COLS)
    finally:
        folder.chmod(0o700)


def test_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    assert "not a regular file" in refused(check_target, fifo, COLS)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a readable CSV"),
        ("id,name,value\n1,caf\xe9,2\n3,x,4\n".encode("latin-1"), ":2: this line is not UTF-8 text"),
        (b"id,name,value\n1,\x00\x00,2\n3,x,4\n", ":2: this line holds NUL bytes"),
        (b'id,name,value\n1,"a"b,2\n3,x,4\n', ":2: this line is not valid CSV"),
        (b"\xff\xfe\x00i\x00d", "not a readable CSV"),
    ],
)
def test_refuses_files_that_are_not_csv_text_and_changes_nothing(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(content)
    assert words in refused(check_target, path, COLS)
    assert words in refused(open_appender, path, COLS)
    assert words in refused(read_table, path)
    assert path.read_bytes() == content and not (tmp_path / "r.csv.torn").exists()


def test_refuses_another_header_and_names_the_difference(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(b"id,label,value\n1,a,2\n")
    message = refused(check_target, path, COLS)
    assert "column 2 is 'label', this command writes 'name'" in message and "same header" in message
    path.write_bytes(b"id,name\n")
    assert "it has 2 columns, this command writes 3" in refused(check_target, path, COLS)
    check_target(path)  # without columns any header will do


@pytest.mark.parametrize("prefix", [b"", BOM])
@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_a_bom_or_crlf_do_not_make_the_header_differ(tmp_path: Path, prefix: bytes, eol: bytes) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(prefix + b"id,name,value" + eol + b"1,a,2" + eol)
    check_target(path, COLS)
    assert read_rows(path, COLS) == ([{"id": "1", "name": "a", "value": "2"}], 0)


def test_refuses_a_torn_file_whose_torn_line_has_nowhere_to_go(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(HEADER + b"1,a")
    (tmp_path / "r.csv.torn").mkdir()
    assert "r.csv.torn" in refused(check_target, path, COLS)
    assert "r.csv.torn" in refused(open_appender, path, COLS)
    assert path.read_bytes() == HEADER + b"1,a"
    path.write_bytes(HEADER + b"1,a,2\n")
    check_target(path, COLS)  # nothing torn: the .torn folder does not matter


# --------------------------------------------------------------------------------------------------------------------
# The appender


def test_a_new_file_appears_with_the_first_row_header_first_and_with_a_new_files_mode(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    old = os.umask(0o027)
    try:
        with CsvAppender(path, COLS) as out:
            assert not path.exists()  # opening alone creates nothing: a run that measures nothing leaves no file
            out.append({"id": 1, "name": "a", "value": 0.5, "ignored": "x"})
            out.append([2, None, 3])
            assert out.written == 2
    finally:
        os.umask(old)
    assert path.read_bytes() == HEADER + b"1,a,0.5\n2,,3\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.parametrize("content", [b"", BOM])
def test_an_empty_file_gets_the_header_first(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(content)
    assert append_rows(path, COLS, [[1, "a", 2]]) == 1
    assert path.read_bytes() == content + HEADER + b"1,a,2\n"


@pytest.mark.parametrize(
    ("content", "repaired"),
    [
        (HEADER + b"1,a,2", HEADER + b"1,a,2\n"),
        (b"id,name,value\r\n1,a,2", b"id,name,value\r\n1,a,2\r\n"),
        (b"id,name,value\r\n1,a,2\r", b"id,name,value\r\n1,a,2\r\n"),  # torn between \r and \n: only \n is added
        (HEADER + b'1,"multi\nline",2', HEADER + b'1,"multi\nline",2\n'),
        (b"id,name,value", HEADER),  # a header without its newline
    ],
)
def test_a_complete_last_row_without_its_newline_gets_one_and_one_notice(
    tmp_path: Path, content: bytes, repaired: bytes
) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(content)
    notices: list[str] = []
    append_rows(path, COLS, [[9, "z", 9]], notice=notices.append)
    eol = b"\r\n" if b"\r" in content else b"\n"
    assert path.read_bytes() == repaired + b"9,z,9" + eol
    assert len(notices) == 1 and "lacked a final newline" in notices[0] and "\n" not in notices[0]
    assert not (tmp_path / "r.csv.torn").exists()


@pytest.mark.parametrize(
    "torn",
    [b"1,a", b'1,"unterminated', b'1,"unterminated\nacross lines', b"1,a,2,extra", b"\x00\x00\x00\x00", b"1,\xe6\x97"],
)
def test_a_torn_last_row_is_moved_aside_never_deleted(tmp_path: Path, torn: bytes) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(HEADER + b"0,ok,1\n" + torn)
    notices: list[str] = []
    append_rows(path, COLS, [[1, "b", 2]], notice=notices.append)
    assert path.read_bytes() == HEADER + b"0,ok,1\n1,b,2\n"
    assert (tmp_path / "r.csv.torn").read_bytes() == torn + b"\n"
    assert (
        len(notices) == 1
        and re.search(r"moved its torn last row \(lines? 3", notices[0])
        and "r.csv.torn" in notices[0]
    )
    # A second repair appends to the .torn file; the first piece stays.
    with path.open("ab") as f:
        f.write(b"2,c")
    append_rows(path, COLS, [[3, "d", 4]], notice=notices.append)
    assert (tmp_path / "r.csv.torn").read_bytes() == torn + b"\n2,c\n"
    assert path.read_bytes() == HEADER + b"0,ok,1\n1,b,2\n3,d,4\n"


@pytest.mark.parametrize("prefix", [b"", BOM])
def test_a_torn_header_is_moved_aside_and_written_again(tmp_path: Path, prefix: bytes) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(prefix + b"id,na")
    append_rows(path, COLS, [[1, "a", 2]], notice=lambda _: None)
    assert path.read_bytes() == prefix + HEADER + b"1,a,2\n"
    assert (tmp_path / "r.csv.torn").read_bytes() == b"id,na\n"


def test_crlf_files_get_crlf_rows_and_keep_their_bom(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(BOM + b"id,name,value\r\n1,a,2\r\n")
    append_rows(path, COLS, [[2, "two\nlines", 3]])
    assert path.read_bytes() == BOM + b'id,name,value\r\n1,a,2\r\n2,"two\nlines",3\r\n'


def test_values_that_cannot_be_written_are_refused_before_any_write(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    with CsvAppender(path, COLS) as out:
        with pytest.raises(ValueError, match="NUL"):
            out.append([1, "a\x00b", 2])
        with pytest.raises(ValueError, match="2 values for 3 columns"):
            out.append([1, 2])
    assert not path.exists()
    with pytest.raises(ValueError):
        CsvAppender(path, ("a", "a"))
    with pytest.raises(RuntimeError):
        CsvAppender(path, COLS).append([1, 2, 3])


def test_enospc_at_every_byte_leaves_only_complete_rows_and_keeps_the_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for existing in (b"", HEADER + b"0,old,1\n"):
        line = b"" if existing else HEADER
        line += b'1,"x,y",2.5\n'
        for budget in range(len(line)):
            path = tmp_path / f"r{budget}.csv"
            if existing:
                path.write_bytes(existing)
            with CsvAppender(path, COLS) as out:
                monkeypatch.setattr(durable, "_write", Budget(budget))
                with pytest.raises(CsvWriteError) as info:
                    out.extend([{"id": 1, "name": "x,y", "value": 2.5}, {"id": 2, "name": "z", "value": 3}])
                monkeypatch.undo()
            assert path.read_bytes() == existing  # the cut-off bytes are gone again; nothing is glued later
            err = info.value
            assert err.exit_code == 1 and "\n" not in str(err) and "2 row(s) not written" in str(err)
            assert [r["id"] for r in err.rows] == [1, 2] and err.columns == COLS
            unsaved = save_unsaved(err)
            assert unsaved.path == tmp_path / f"r{budget}.csv.unsaved" and unsaved.saved == 2 and unsaved.text == ""
            assert read_rows(unsaved.path, COLS).rows[1] == {"id": "2", "name": "z", "value": "3"}
            assert "saved to" in unsaved.note
            append_rows(path, COLS, [[3, "w", 4]])  # the next run appends cleanly
            assert path.read_bytes() == (existing or HEADER) + b"3,w,4\n"


def test_when_the_unsaved_file_fails_too_the_rows_come_back_as_csv_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.csv"
    out = open_appender(path, COLS)
    out.append([0, "kept", 1])
    monkeypatch.setattr(durable, "_write", Budget(0))
    with pytest.raises(CsvWriteError) as info:
        out.extend([[1, 'a "quote"', 2], [2, "new\nline", None]])
    out.close()
    unsaved = save_unsaved(info.value)
    assert unsaved.path is None and unsaved.saved == 0 and unsaved.left == 2
    assert csv_ids(unsaved.text) == ["1", "2"] and "new\nline" in unsaved.text
    assert "printed on stdout" in unsaved.note and "\n" not in unsaved.note
    # Partly saved: the .unsaved file takes what fits, the rest is text.
    line = len(HEADER) + len(b'1,"a ""quote""",2\n')
    monkeypatch.setattr(durable, "_write", Budget(line + 3))
    partly = save_unsaved(info.value)
    assert partly.saved == 1 and partly.left == 1 and csv_ids(partly.text) == ["2"]
    assert read_rows(tmp_path / "r.csv.unsaved", COLS).rows == [{"id": "1", "name": 'a "quote"', "value": "2"}]


def test_an_interrupt_or_fsync_failure_mid_row_leaves_no_torn_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.csv"
    append_rows(path, COLS, [[0, "a", 1]])
    before = path.read_bytes()

    def interrupted(fd: int, data: Any) -> int:
        os.write(fd, bytes(data[:3]))
        raise KeyboardInterrupt

    with CsvAppender(path, COLS) as out:
        monkeypatch.setattr(durable, "_write", interrupted)
        with pytest.raises(KeyboardInterrupt):
            out.append([1, "b", 2])
        assert path.read_bytes() == before
        monkeypatch.setattr(durable, "_write", os.write)

        def failing_fsync(fd: int) -> None:
            raise OSError(errno.EIO, os.strerror(errno.EIO))

        monkeypatch.setattr(durable, "_fsync", failing_fsync)
        with pytest.raises(CsvWriteError, match="Input/output error"):
            out.append([1, "b", 2])
        monkeypatch.setattr(durable, "_fsync", os.fsync)
        assert path.read_bytes() == before
        out.append([1, "b", 2])
    assert path.read_bytes() == before + b"1,b,2\n"


def test_two_appenders_on_one_file_never_glue_and_see_each_others_torn_rows(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    notices: list[str] = []
    with CsvAppender(path, COLS, notice=notices.append) as a, CsvAppender(path, COLS, notice=notices.append) as b:
        a.append([1, "a", 1])
        b.append([2, "b", 2])  # b opened before the file existed: it must not write a second header
        with path.open("ab") as f:
            f.write(b"3,torn")  # a third writer died mid-row
        a.append([4, "a", 4])
        b.append([5, "b", 5])
    assert path.read_bytes() == HEADER + b"1,a,1\n2,b,2\n4,a,4\n5,b,5\n"
    assert (tmp_path / "r.csv.torn").read_bytes() == b"3,torn\n" and len(notices) == 1


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda p: p.rename(p.with_name("moved.csv")), "it was removed or replaced while this command ran"),
        (lambda p: p.unlink(), "it was removed or replaced while this command ran"),
        (lambda p: (p.unlink(), p.mkdir()), "it was removed or replaced while this command ran"),
        (lambda p: p.write_bytes(b"\x00garbage\n"), "it is not a readable CSV (its first line holds NUL bytes)"),
        (lambda p: p.write_bytes(b"other,columns\n"), "it has other columns than this command writes"),
    ],
    ids=["renamed", "removed", "folder", "garbage", "other-header"],
)
def test_a_file_changed_during_the_run_takes_no_more_rows(tmp_path: Path, change: Any, says: str) -> None:
    """Rows are never written on into whatever now stands at the path: they travel with the error (to .unsaved)."""
    path = tmp_path / "r.csv"
    with CsvAppender(path, COLS) as out:
        out.append([1, "a", 1])
        change(path)
        with pytest.raises(CsvWriteError) as info:
            out.extend([[2, "b", 2], [3, "c", 3]])
        with pytest.raises(CsvWriteError):  # and none later either
            out.append([4, "d", 4])
    err = info.value
    assert says in str(err) and "2 row(s) not written" in str(err) and err.exit_code == 1
    assert [r["id"] for r in err.rows] == [2, 3]
    if (tmp_path / "moved.csv").exists():
        assert (tmp_path / "moved.csv").read_bytes() == HEADER + b"1,a,1\n"  # the rows written before stay there
    assert not path.is_file() or b"2,b,2" not in path.read_bytes()


def test_the_error_keeps_its_rows_through_pickling() -> None:
    err = CsvWriteError("one line", "r.csv", COLS, [{"id": 1}])
    again = pickle.loads(pickle.dumps(err))
    assert (str(again), again.path, again.columns, again.rows, again.exit_code) == (
        "one line",
        "r.csv",
        COLS,
        [{"id": 1}],
        1,
    )


def test_a_failed_extend_carries_every_later_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.csv"
    with CsvAppender(path, COLS) as out:
        out.append([0, "a", 0])
        monkeypatch.setattr(durable, "_write", Budget(len(b"1,a,1\n")))
        with pytest.raises(CsvWriteError) as info:
            out.extend(iter([[1, "a", 1], [2, "b", 2], {"id": 3}]))
    assert out.written == 2
    assert info.value.rows == [{"id": 2, "name": "b", "value": 2}, {"id": 3, "name": None, "value": None}]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.integers(),
            st.floats(allow_nan=False),
            st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12),
        ),
        min_size=3,
        max_size=3,
    )
)
def test_any_value_comes_back_as_written(values: list[Any]) -> None:
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as d:
        path = Path(d) / "r.csv"
        append_rows(path, COLS, [values, values])
        expected = {c: "" if v is None else str(v) for c, v in zip(COLS, values)}
        assert read_rows(path, COLS) == ([expected, expected], 0)


# --------------------------------------------------------------------------------------------------------------------
# Readers


def test_read_table_numbers_lines_counts_bad_rows_and_tolerates_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    assert read_table(path) == ([], [], []) and read_rows(path) == ([], 0)
    path.write_bytes(BOM + b'id,name,value\r\n1,"two\r\nlines",2\r\n\r\n3,short\r\n4,d,4\r\n5,e,5,extra\r\n6,f,6')
    table = read_table(path, COLS)
    assert table.header == list(COLS)
    assert [(line, r["id"]) for line, r in table.rows] == [(2, "1"), (6, "4"), (8, "6")]
    assert table.rows[0][1]["name"] == "two\r\nlines"
    assert table.bad == [(5, 2), (7, 4)]
    assert read_rows(path).bad == 2
    path.write_bytes(HEADER + b"1,a,1\n2,b")  # a torn last row is not done
    assert read_rows(path) == ([{"id": "1", "name": "a", "value": "1"}], 1)
    assert read_table(path).bad == [(3, 2)]


def test_read_table_refuses_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(HEADER + b"1,a,1\n2,\xff,2\n3,c,3\n")
    assert f"{path}:3: this line is not UTF-8 text" in refused(read_table, path, option="")
    path.write_bytes(b"id,id,value\n1,2,3\n")
    assert f"{path}:1: the header names column 'id' twice" in refused(read_table, path)
    path.write_bytes(b"a,b\n")
    assert "other columns" in refused(read_rows, path, COLS)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("3", int, 3),
        ("3.0", int, 3),
        ("-2", int, -2),
        ("0.25", float, 0.25),
        ("1e3", float, 1000.0),
        ("", int, None),
        ("", float, None),
        ("", bool, None),
        ("", str, ""),
        (" x ", str, " x "),
        ("True", bool, True),
        ("0", bool, False),
        ("yes", bool, True),
        ("NO", bool, False),
    ],
)
def test_parse_cell_reads_typed_values(text: str, kind: type, value: Any) -> None:
    assert parse_cell(text, kind) == value and type(parse_cell(text, kind)) is type(value)


@pytest.mark.parametrize(
    ("text", "kind", "positive", "want"),
    [
        ("2.5", int, False, "a whole number"),
        ("nan", float, False, "a finite number"),
        ("inf", int, False, "whole"),
        ("abc", float, False, "a finite number"),
        ("0", float, True, "a positive number"),
        ("maybe", bool, False, "true"),
    ],
)
def test_parse_cell_refuses_what_is_not_that_kind(text: str, kind: type, positive: bool, want: str) -> None:
    with pytest.raises(ValueError, match=want):
        parse_cell(text, kind, positive=positive)


# --------------------------------------------------------------------------------------------------------------------
# Whole files


def test_atomic_write_gives_the_new_file_mode_never_the_old_one_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "baseline.csv"
    path.write_bytes(b"old")
    path.chmod(0o600)
    old = os.umask(0o027)
    try:
        atomic_write(path, "new ✓\n")
    finally:
        os.umask(old)
    assert path.read_bytes() == "new ✓\n".encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.csv"]
    atomic_write(tmp_path / "fresh.bin", b"\x00\x01")
    assert stat.S_IMODE((tmp_path / "fresh.bin").stat().st_mode) == 0o666 & ~old


def test_atomic_write_fails_at_any_byte_without_touching_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "plot.png"
    path.write_bytes(b"old picture")
    data = b"new picture, longer"
    for budget in range(len(data)):
        monkeypatch.setattr(durable, "_write", Budget(budget))
        message = refused(atomic_write, path, data, kind=FileWriteError)
        assert "the old file is unchanged" in message
        assert path.read_bytes() == b"old picture"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]


def test_atomic_path_serves_writers_that_want_a_name(tmp_path: Path) -> None:
    path = tmp_path / "plot.png"
    with atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".png" and tmp.exists()  # savefig picks the format by suffix
        tmp.write_bytes(b"png")
        assert not path.exists()
    assert path.read_bytes() == b"png" and sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]
    with pytest.raises(ValueError, match="writer broke"), atomic_path(path) as tmp:
        tmp.write_bytes(b"half")
        raise ValueError("writer broke")
    with pytest.raises(FileWriteError, match="No space left"), atomic_path(path) as tmp:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert path.read_bytes() == b"png" and sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]


def test_atomic_write_refuses_bad_targets_up_front(tmp_path: Path) -> None:
    assert "is a folder" in refused(atomic_write, tmp_path, b"x", option=opt("out"))
    assert "does not exist" in refused(atomic_write, tmp_path / "no" / "f", b"x")
    with pytest.raises(ResultsFileError) as info:
        check_path(tmp_path / "no" / "f", option=opt("out"))
    assert info.value.exit_code == 2 and str(info.value).startswith("folder ")


# --------------------------------------------------------------------------------------------------------------------
# The property: any prior content, any interleaving of appends, kills and full disks


NAME = st.text(st.sampled_from(list('ab,"\n\r é日')), max_size=6)


def encode_prior(values: list[str], eol: bytes) -> bytes:
    """A row as another tool might have written it (every field quoted), independent of the writer under test."""
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(values)
    return buf.getvalue()[:-1].encode() + eol


@st.composite
def prior_contents(draw: st.DrawFn) -> bytes | None:
    kind = draw(st.sampled_from(["missing", "empty", "binary", "header prefix", "rows", "rows", "rows", "rows"]))
    if kind == "missing":
        return None
    if kind == "empty":
        return draw(st.sampled_from([b"", BOM]))
    if kind == "binary":
        return draw(st.binary(min_size=1, max_size=40))
    bom = draw(st.sampled_from([b"", BOM]))
    if kind == "header prefix":
        return bom + HEADER[: draw(st.integers(1, len(HEADER) - 2))]
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    header = draw(st.sampled_from([list(COLS)] * 5 + [["id", "name"], ["id", "label", "value"]]))
    out = bom + encode_prior(header, eol)
    for i in range(draw(st.integers(0, 3))):
        width = draw(st.sampled_from([3, 3, 3, 2, 4]))
        out += encode_prior([f"p{i}"] + [draw(NAME) for _ in range(width - 1)], eol)
    tail = draw(st.sampled_from(["none", "no newline", "cut", "junk", "nul"]))
    if tail == "no newline":
        out += encode_prior(["pt", draw(NAME), "1"], b"")
    elif tail == "cut":
        line = encode_prior(["pc", draw(NAME), "2"], eol)
        out += line[: draw(st.integers(1, len(line) - 1))]
    elif tail == "junk":
        out += draw(st.binary(min_size=1, max_size=12).filter(lambda b: b"\n" not in b))
    elif tail == "nul":
        out += b"\x00" * draw(st.integers(1, 20))
    return out


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 1), st.integers(1, 3)),
        st.tuples(st.just("kill"), st.integers(0, 1), st.integers(0, 60)),
        st.tuples(st.just("enospc"), st.integers(0, 1), st.integers(0, 60), st.booleans()),
        st.tuples(st.just("close"), st.integers(0, 1), st.just(0)),
    ),
    max_size=8,
)


class Killed(BaseException):
    """The process died: nothing after this point runs (no cleanup writes, no truncation, no fsync)."""


class World:
    """Drives two appenders on one file and keeps the book of what was reported where."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.path = folder / "r.csv"
        self.mp = monkeypatch
        self.appenders: list[CsvAppender | None] = [None, None]
        self.next_id = 0
        self.reported: dict[str, dict[str, str]] = {}
        self.killed: list[str] = []
        self.fragments: list[bytes] = []
        self.unwritten: list[str] = []
        self.texts: list[str] = []
        self.notices: list[str] = []

    def rows(self, n: int, name: str = "r") -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            self.next_id += 1
            out.append({"id": str(self.next_id), "name": f'{name}{self.next_id},"\n', "value": self.next_id / 4})
        return out

    def appender(self, i: int) -> CsvAppender:
        if self.appenders[i] is None:
            self.appenders[i] = open_appender(self.path, COLS, notice=self.notices.append)
        return self.appenders[i]  # type: ignore[return-value]

    def report(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            self.reported[r["id"]] = {"id": r["id"], "name": r["name"], "value": str(r["value"])}

    def run(self, op: str, i: int, n: int, freed: bool = False) -> None:
        if op == "close":
            if self.appenders[i] is not None:
                self.appenders[i].close()  # type: ignore[union-attr]
                self.appenders[i] = None
            return
        out = self.appender(i)
        if op == "append":
            rows = self.rows(n)
            out.extend(rows)
            self.report(rows)
        elif op == "kill":
            self.kill(out, i, n)
        elif op == "enospc":
            self.enospc(out, n, freed)

    def kill(self, out: CsvAppender, i: int, cut: int) -> None:
        """Die after ``cut`` bytes of the next write (a repair write or the row), like a SIGKILL or a power cut."""
        left = [cut]

        def dying_write(fd: int, data: Any) -> int:
            k = min(left[0], len(data))
            if k:
                os.write(fd, bytes(data[:k]))
                self.fragments.append(bytes(data[:k]))
            left[0] -= k
            if k < len(data):
                raise Killed
            return k

        def dead(*_: Any) -> None:
            raise Killed

        row = self.rows(1, "k")[0]
        with self.mp.context() as m:
            m.setattr(durable, "_write", dying_write)
            m.setattr(durable, "_fsync", lambda fd: None)  # fsync is irrelevant to a death mid-write
            m.setattr(os, "ftruncate", dead)
            try:
                out.append(row)
            except Killed:
                event("killed mid-write")
                self.killed.append(row["id"])
            else:
                self.report([row])  # the write went through before the "death"
        if out._fd is not None:  # a dead process holds nothing: the appender is abandoned, no close() logic runs
            os.close(out._fd)
            out._fd = None
        self.appenders[i] = None

    def enospc(self, out: CsvAppender, budget: int, freed: bool) -> None:
        """The disk fills after ``budget`` bytes; when ``freed``, space comes back before the rows are saved."""
        rows = self.rows(2, "e")
        before = out.written
        with self.mp.context() as m:
            m.setattr(durable, "_write", Budget(budget))
            try:
                out.extend(rows)
            except CsvWriteError as err:
                event("ENOSPC")
                done = out.written - before
                assert [r["id"] for r in err.rows] == [r["id"] for r in rows[done:]]
                self.report(rows[:done])
                self.unwritten += [r["id"] for r in err.rows]
                if freed:
                    m.setattr(durable, "_write", os.write)
                unsaved = save_unsaved(err, notice=self.notices.append)
                event("unsaved rows saved to the file" if unsaved.saved else "no unsaved row could be saved")
                if unsaved.text:
                    event("unsaved rows returned as text")
                    self.texts.append(unsaved.text)
                assert unsaved.saved + unsaved.left == len(err.rows)
            else:
                self.report(rows)

    def check(self, prior: bytes | None) -> None:
        for i in (0, 1):
            self.run("close", i, 0)
        if self.path.exists() or self.reported:
            with open_appender(self.path, COLS, notice=self.notices.append):
                pass  # the next run repairs whatever the last death left
        final = self.path.read_bytes() if self.path.exists() else b""
        table = read_table(self.path, COLS)
        if final.removeprefix(BOM):
            assert table.header == list(COLS)
            assert final.endswith(b"\n"), final
        ids = [r["id"] for _, r in table.rows]
        for key, row in self.reported.items():
            assert ids.count(key) == 1, (key, final)
            assert next(r for _, r in table.rows if r["id"] == key) == row
        for key in self.killed:
            assert ids.count(key) <= 1
        for key in self.unwritten:
            assert key not in ids
        unsaved_path = self.path.with_name("r.csv.unsaved")
        elsewhere = read_rows(unsaved_path, COLS).rows if unsaved_path.exists() else []
        elsewhere_ids = [r["id"] for r in elsewhere] + [k for t in self.texts for k in csv_ids(t)]
        for key in self.unwritten:
            assert key in elsewhere_ids
        torn = self.path.with_name("r.csv.torn")
        torn_bytes = torn.read_bytes() if torn.exists() else b""
        if prior is not None:
            assert len(table.bad) <= len(read_table_bytes(prior).bad)
            kept = len(os.path.commonprefix([prior, final]))
            assert prior[kept:] in torn_bytes, (prior, final, torn_bytes)
        for fragment in self.fragments:  # a killed write may be kept in part (a header) and moved aside in part
            assert any(fragment[:k] in final and fragment[k:] in torn_bytes for k in range(len(fragment) + 1))
        assert all("\n" not in note for note in self.notices)
        for note in self.notices:
            event("repair: torn row moved aside" if "torn" in note else "repair: newline added")


def read_table_bytes(data: bytes) -> csvfile.Table:
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as d:
        path = Path(d) / "p.csv"
        path.write_bytes(data)
        return read_table(path, COLS)


def play(prior: bytes | None, ops: list[tuple[Any, ...]], folder: Path, mp: pytest.MonkeyPatch) -> None:
    world = World(folder, mp)
    if prior is not None:
        world.path.write_bytes(prior)
    try:
        check_target(world.path, COLS)
    except ResultsFileError as exc:
        # Refused before anything was measured: the appender refuses the same way and nothing was touched.
        assert "\n" not in str(exc)
        event("prior content refused")
        with pytest.raises(ResultsFileError, match="^" + re.escape(str(exc)) + "$"):
            open_appender(world.path, COLS)
        assert world.path.read_bytes() == prior and sorted(os.listdir(folder)) == ["r.csv"]
        return
    for op in ops:
        world.run(*op)
    world.check(prior)


@settings(
    max_examples=120,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(prior=prior_contents(), ops=OPS)
def test_nothing_lost_nothing_glued(prior: bytes | None, ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as d, pytest.MonkeyPatch.context() as mp:
        play(prior, ops, Path(d), mp)


@settings(max_examples=15, deadline=None, report_multiple_bugs=False)
@given(prior=prior_contents(), cut=st.integers(0, 40), rows=st.integers(0, 2))
def test_a_real_process_death_mid_write_is_repaired_by_the_next_run(prior: bytes | None, cut: int, rows: int) -> None:
    """The same property with a real death: a forked child writes ``cut`` bytes of its next write and ``_exit``s."""
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as d:
        path = Path(d) / "r.csv"
        if prior is not None:
            path.write_bytes(prior)
        try:
            check_target(path, COLS)
        except ResultsFileError:
            assume(False)
        done = [{"id": str(i), "name": f"n{i}", "value": "0.5"} for i in range(rows)]
        append_rows(path, COLS, done, notice=lambda _: None)
        pid = os.fork()
        if pid == 0:  # the child: dies inside the write, no Python cleanup, no atexit
            try:

                def dying(fd: int, data: Any) -> int:
                    os.write(fd, bytes(data[:cut]))
                    os._exit(0)

                durable._write = dying
                append_rows(path, COLS, [{"id": "dead", "name": "x,y\nz", "value": 1}], notice=lambda _: None)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        append_rows(path, COLS, [{"id": "after", "name": "a", "value": 2}], notice=lambda _: None)
        table = read_table(path, COLS)
        ids = [r["id"] for _, r in table.rows]
        assert ids.count("after") == 1 and ids.count("dead") <= 1
        assert all(ids.count(r["id"]) == 1 for r in done)
        assert path.read_bytes().endswith((b",2\n", b",2\r\n"))


# --------------------------------------------------------------------------------------------------------------------
# A real small filesystem


@pytest.fixture(scope="module")
def small_fs() -> Iterator[Path]:
    """A 64 KiB tmpfs, where the kernel's own ENOSPC (and its short writes) can be met; skipped unless mountable."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    folder = Path(tempfile.mkdtemp(prefix="attnbench-smallfs-"))
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)
        folder.rmdir()


@settings(
    max_examples=12,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(filler=st.integers(0, 56 * 1024), width=st.integers(100, 3000), prior=st.sampled_from([None, HEADER + b"p,q"]))
def test_a_full_small_filesystem_loses_nothing(small_fs: Path, filler: int, width: int, prior: bytes | None) -> None:
    for p in small_fs.iterdir():
        p.unlink()
    (small_fs / "filler").write_bytes(b"f" * filler)
    path = small_fs / "r.csv"
    if prior is not None:
        try:
            path.write_bytes(prior)
        except OSError:
            assume(False)
    reported, unwritten, text = [], [], ""
    try:
        with CsvAppender(path, COLS, notice=lambda _: None) as out:
            for i in range(1000):
                row = {"id": str(i), "name": "x" * width + ',"\n', "value": i}
                out.append(row)
                reported.append(row["id"])
    except CsvWriteError as err:
        unwritten = [r["id"] for r in err.rows]
        unsaved = save_unsaved(err, notice=lambda _: None)
        text = unsaved.text
    except FileWriteError:
        pass  # no room even to repair the file's end: nothing was measured into it
    assert len(reported) < 1000  # the disk did fill up
    table = read_table(path, COLS)
    ids = [r["id"] for _, r in table.rows]
    assert sorted(ids) == sorted(reported) and len(set(ids)) == len(ids)
    if path.exists() and path.stat().st_size:
        assert path.read_bytes().endswith(b"\n") or path.read_bytes() == prior
    elsewhere = read_rows(small_fs / "r.csv.unsaved", COLS).rows if (small_fs / "r.csv.unsaved").exists() else []
    for key in unwritten:
        assert key in [r["id"] for r in elsewhere] + (csv_ids(text) if text else [])
    # Space comes back: the same file takes rows again, cleanly, and an atomic replace works.
    (small_fs / "filler").unlink()
    append_rows(path, COLS, [{"id": "later", "name": "n", "value": 1}], notice=lambda _: None)
    assert [r["id"] for r in read_rows(path, COLS).rows] == ids + ["later"]
    old = path.read_bytes()
    with pytest.raises(FileWriteError):
        atomic_write(path, b"b" * (80 * 1024))  # more than the whole filesystem holds
    assert path.read_bytes() == old and [p.name for p in small_fs.iterdir() if p.name.startswith(".")] == []


def test_an_older_header_is_not_upgraded_over_a_broken_line(tmp_path: Path) -> None:
    """Rewriting with today's columns would drop a line with another field count: the file is left as it was."""
    from attnbench.errors import ResultsFileError
    from attnbench.io.csvfile import upgrade_header

    p = tmp_path / "old.csv"
    p.write_text("a,b\n1,2\n3\n", encoding="utf-8")
    before = p.read_bytes()
    with pytest.raises(ResultsFileError, match=r"old.csv:3: this line has 1 fields, the header 2"):
        upgrade_header(p, ["a", "b", "c"], ["c"], lambda r: {**r, "c": ""}, filled="c empty")
    assert p.read_bytes() == before
