"""Reading a department's file stays within its limits: a workbook that unpacks to more than
the limit is refused before it is parsed, and reading stops at the row limit."""

from __future__ import annotations

import io
import time
import zipfile

import openpyxl
import pytest

from policies.benefits import MAX_DETAIL_TEXT, MAX_DETAILS, EventIn
from policies.errors import InvalidInput
from policies.tables import read_table

ALIASES = {"a": "a"}


def workbook(rows: int, cols: int = 6) -> bytes:
    """An XLSX of ``rows`` rows that compresses to almost nothing: the sheet is rewritten
    as raw XML, as a hostile file would be, not built cell by cell."""
    book = openpyxl.Workbook()
    book.active.append(["a", *[f"c{i}" for i in range(1, cols)]])
    out = io.BytesIO()
    book.save(out)
    source = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    row = '<c t="inlineStr"><is><t>12345678</t></is></c>' * cols
    header = "".join(f'<c t="inlineStr"><is><t>{n}</t></is></c>'
                     for n in ["a", *[f"c{i}" for i in range(1, cols)]])
    body = f"<row>{header}</row>" + f"<row>{row}</row>" * rows
    target = io.BytesIO()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                data = (text[:text.index("<sheetData>")] + f"<sheetData>{body}</sheetData>"
                        + text[text.index("</sheetData>") + len("</sheetData>"):]).encode()
            archive.writestr(item, data)
    return target.getvalue()


def test_a_small_workbook_that_unpacks_to_a_large_one_is_refused_before_parsing():
    data = workbook(300_000)  # about 85 MB of XML in a file of a few hundred KB
    assert len(data) < 1024 * 1024
    started = time.process_time()
    with pytest.raises(InvalidInput, match="FANGPIN_IMPORT_MAX_UNZIPPED_BYTES") as refused:
        read_table(data, "bomb.xlsx", ALIASES, [("a",)])
    assert time.process_time() - started < 2  # the zip's directory only, not 85 MB of XML
    assert refused.value.field == "file"


def test_reading_stops_at_the_row_limit(monkeypatch):
    monkeypatch.setenv("FANGPIN_IMPORT_MAX_ROWS", "1000")
    data = workbook(50_000)
    with pytest.raises(InvalidInput, match="more than 1,000 rows"):
        read_table(data, "long.xlsx", ALIASES, [("a",)])
    csv = ("a\n" + "1\n" * 1001).encode()
    with pytest.raises(InvalidInput, match="FANGPIN_IMPORT_MAX_ROWS"):
        read_table(csv, "long.csv", ALIASES, [("a",)])
    assert len(read_table(("a\n" + "1\n" * 1000).encode(), "ok.csv", ALIASES,
                          [("a",)]).frame) == 1000
    assert len(read_table(workbook(1000), "ok.xlsx", ALIASES, [("a",)]).frame) == 1000


def test_a_file_over_the_size_limit_is_refused_from_the_command_line_too(monkeypatch):
    monkeypatch.setenv("FANGPIN_IMPORT_MAX_BYTES", "10")
    with pytest.raises(InvalidInput, match="FANGPIN_IMPORT_MAX_BYTES"):
        read_table(b"a\n1\n2\n3\n4\n5\n", "big.csv", ALIASES, [("a",)])


def test_a_file_that_is_not_a_workbook_is_refused_with_its_name():
    with pytest.raises(InvalidInput, match="not a readable XLSX"):
        read_table(b"not a zip", "broken.xlsx", ALIASES, [("a",)])


@pytest.mark.parametrize(("details", "where"), [
    ({"note": "x" * (5 * 1024 * 1024)}, ("details", "note")),
    ({f"k{i}": "1" for i in range(20_000)}, ("details",)),
    ({"k" * 65: "1"}, ("details",)),
])
def test_event_details_have_limits(details, where):
    event = {"event_id": "E1", "type": "illness", "event_date": "2026-01-01"}
    with pytest.raises(ValueError) as refused:
        EventIn.model_validate({**event, "details": details})
    assert refused.value.errors()[0]["loc"][:len(where)] == where
    fitting = {f"k{i}": "x" * MAX_DETAIL_TEXT for i in range(MAX_DETAILS)}
    assert len(EventIn.model_validate({**event, "details": fitting}).details) == MAX_DETAILS
