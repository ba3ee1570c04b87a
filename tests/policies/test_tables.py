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


# ---------------------------------------------------------------- what a spreadsheet holds

def raw_workbook(rows: list[str], hidden_first: bool = False) -> bytes:
    """An XLSX whose sheet's rows are the given raw XML (cells as Excel or a generator
    writes them: numbers, formulas with or without their saved result, far columns); with
    ``hidden_first`` a hidden sheet of old data comes first and the given sheet is active."""
    book = openpyxl.Workbook()
    if hidden_first:
        old = book.active
        old.title = "旧数据"
        old.append(["a", "b"])
        old.append(["old", "old"])
        old.sheet_state = "hidden"
        book.active = book.index(book.create_sheet("导出"))
    book.active.append(["placeholder"])
    out = io.BytesIO()
    book.save(out)
    source = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    sheet = "xl/worksheets/sheet2.xml" if hidden_first else "xl/worksheets/sheet1.xml"
    target = io.BytesIO()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == sheet:
                text = data.decode()
                text = text[:text.index("<sheetData>")] + "<sheetData>" + "".join(
                    f'<row r="{n}">{row}</row>' for n, row in enumerate(rows, 1) if row
                ) + "</sheetData>" + text[text.index("</sheetData>") + len("</sheetData>"):]
                data = text.replace('<dimension ref="A1"/>', '<dimension ref="A1:XFD9999"/>'
                                    ).encode()
            archive.writestr(item, data)
    return target.getvalue()


def text(ref: str, value: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'


HEAD = text("A1", "a") + text("B1", "b")
AB = {"a": "a", "b": "b"}


def test_a_long_number_typed_into_a_number_cell_is_refused_by_its_cell():
    # Excel saves the 19-digit account typed as 6228480000000000888 as this float
    data = raw_workbook([HEAD, text("A2", "x") + '<c r="B2"><v>6.228480000000001E+18</v></c>'])
    with pytest.raises(InvalidInput) as refused:
        read_table(data, "accounts.xlsx", AB, [("a",)])
    assert (refused.value.code, refused.value.values) == ("number_too_long", {"cell": "B2"})
    fine = raw_workbook([HEAD, '<c r="A2"><v>12</v></c><c r="B2"><v>7500.5</v></c>',
                         '<c r="A3"><v>7500</v></c>'])
    rows = read_table(fine, "fine.xlsx", AB, [("a",)]).frame
    assert rows.to_dict("records") == [{"a": "12", "b": "7500.5"}, {"a": "7500", "b": ""}]


def test_a_heading_written_twice_is_refused_in_either_format():
    with pytest.raises(InvalidInput) as refused:
        read_table(b"a,b,b\n1,,6228\n", "twice.csv", AB, [("a",)])
    assert refused.value.code == "same_column"
    data = raw_workbook([HEAD + text("C1", "b"), text("A2", "1") + text("C2", "6228")])
    with pytest.raises(InvalidInput) as refused:
        read_table(data, "twice.xlsx", AB, [("a",)])
    assert refused.value.code == "same_column"


def test_a_formula_is_read_by_its_saved_result_and_refused_without_one():
    saved = raw_workbook([HEAD, text("A2", "1") + '<c r="B2"><f>100*2</f><v>200</v></c>'])
    assert read_table(saved, "f.xlsx", AB, [("a",)]).frame.loc[2, "b"] == "200"
    unsaved = raw_workbook([HEAD, text("A2", "1"), text("A3", "2") + '<c r="B3"><f>B2</f></c>'])
    with pytest.raises(InvalidInput) as refused:
        read_table(unsaved, "f.xlsx", AB, [("a",)])
    assert (refused.value.code, refused.value.values) == ("formula_without_value",
                                                          {"cell": "B3"})


def test_the_sheet_read_is_the_one_a_person_sees_and_rows_keep_their_numbers():
    data = raw_workbook([HEAD, text("A2", "new"), "", text("A4", "newer")], hidden_first=True)
    frame = read_table(data, "two-sheets.xlsx", AB, [("a",)]).frame
    assert frame["a"].to_dict() == {2: "new", 4: "newer"}  # row 3 is blank
    csv = read_table(b"a,b\nnew,\n\nnewer,\n", "blank.csv", AB, [("a",)]).frame
    assert csv["a"].to_dict() == {2: "new", 4: "newer"}


def test_a_cell_far_to_the_right_of_every_heading_costs_nothing():
    rows = [HEAD] + [text(f"A{n}", str(n)) + text(f"XFD{n}", "x") for n in range(2, 2002)]
    data = raw_workbook(rows)
    started = time.process_time()
    frame = read_table(data, "sparse.xlsx", AB, [("a",)]).frame
    assert time.process_time() - started < 5  # 16,384 cells a row took 40 ms a row
    assert len(frame) == 2000 and list(frame.columns) == ["a", "b"]


def test_a_department_file_with_a_heading_no_column_means_is_refused():
    from policies.event_files import read_events

    header = "事件编号,事件类型,事件日期,证件号码,医疗总费用,基本医疗保险支付,备注\n"
    row = "E1,因病,2026-05-01,411081199001011234,30000,22500,住院\n"
    with pytest.raises(InvalidInput) as refused:
        read_events((header + row).encode(), "bills.csv")
    assert refused.value.code == "unknown_columns"
    assert refused.value.values == {"columns": "基本医疗保险支付"}
    events, _ = read_events((header.replace("基本医疗保险支付", "基本医保支付") + row).encode(),
                            "bills.csv")
    assert events[0]["amounts"] == {"total_cost": "30000", "basic_insurance_paid": "22500"}
    unheaded = "事件编号,事件类型,事件日期,证件号码,医疗总费用,\n" + row.rsplit(",", 2)[0] + ",7\n"
    with pytest.raises(InvalidInput) as refused:
        read_events(unheaded.encode(), "bills.csv")
    assert (refused.value.code, refused.value.values) == ("unheaded_columns", {"columns": "6"})


def test_an_empty_text_a_formula_saved_is_read_as_empty():
    # =IF(A3="","",A3) dragged below the data: Excel saves its empty result as text
    data = raw_workbook([HEAD, text("A2", "x") + '<c r="B2" t="str"><f>IF(A2="","",A2)</f>'
                         '<v>x</v></c>', text("A3", "y") + '<c r="B3" t="str"><f>IF(1,"",1)</f>'
                         '<v></v></c>'])
    frame = read_table(data, "f.xlsx", AB, [("a",)]).frame
    assert frame.to_dict("records") == [{"a": "x", "b": "x"}, {"a": "y", "b": ""}]


def test_headings_below_blank_rows_are_found_and_rows_keep_their_numbers():
    data = raw_workbook(["", "", HEAD.replace("A1", "A3").replace("B1", "B3"),
                         text("A4", "x") + text("B4", "1")])
    assert read_table(data, "low.xlsx", AB, [("a",)]).frame.to_dict("index") == {
        4: {"a": "x", "b": "1"}}
    csv = read_table(b"\n\na,b\nx,1\n", "low.csv", AB, [("a",)]).frame
    assert csv.to_dict("index") == {4: {"a": "x", "b": "1"}}
    with pytest.raises(InvalidInput) as refused:
        read_table(raw_workbook(["", ""]), "blank.xlsx", AB, [("a",)])
    assert refused.value.code == "missing_columns"


def test_the_first_visible_sheet_is_read_whichever_was_open_when_saved():
    book = openpyxl.Workbook()
    book.active.title = "11月"
    book.active.append(["a", "b"])
    book.active.append(["data", "1"])
    help_sheet = book.create_sheet("填表说明")
    help_sheet.append(["请按模板填写"])
    book.active = book.index(help_sheet)
    out = io.BytesIO()
    book.save(out)
    frame = read_table(out.getvalue(), "months.xlsx", AB, [("a",)]).frame
    assert frame.to_dict("records") == [{"a": "data", "b": "1"}]


def test_a_cell_showing_an_error_is_refused_by_its_cell():
    data = raw_workbook([HEAD, text("A2", "x") + '<c r="B2" t="e"><f>VLOOKUP(A2,Z:Z,2,0)</f>'
                         '<v>#N/A</v></c>'])
    with pytest.raises(InvalidInput) as refused:
        read_table(data, "lookup.xlsx", AB, [("a",)])
    assert (refused.value.code, refused.value.values) == ("cell_error",
                                                          {"cell": "B2", "error": "#N/A"})


def test_a_trailing_comma_or_an_unheaded_column_shifts_nothing():
    frame = read_table(b"a,b\n1,2,\n", "trailing.csv", AB, [("a",)]).frame
    assert frame.to_dict("records") == [{"a": "1", "b": "2"}]
    numbered = read_table(b",a,b\n1,x,2\n", "numbered.csv", AB, [("a",)]).frame
    assert numbered.to_dict("records") == [{"a": "x", "b": "2"}]  # a registry file's 序号
    with pytest.raises(InvalidInput) as refused:  # a value past the headings is not lost
        read_table(b"a,b\n1,2,7500\n", "past.csv", AB, [("a",)], refuse_unknown=True)
    assert (refused.value.code, refused.value.values) == ("unheaded_columns", {"columns": "3"})


def test_blank_lines_are_not_rows_so_no_row_is_cut_off_unseen(monkeypatch):
    """A hostile tester's CSV with three blank lines under its headings lost its last three
    rows without a word: the limit counted the blank lines as rows."""
    monkeypatch.setenv("FANGPIN_IMPORT_MAX_ROWS", "5")
    rows = "".join(f"{n},x\n" for n in range(1, 6))
    frame = read_table(("a,b\n\n\n\n" + rows).encode(), "gaps.csv", AB, [("a",)]).frame
    assert list(frame["a"]) == ["1", "2", "3", "4", "5"]
    with pytest.raises(InvalidInput) as refused:
        read_table(("a,b\n\n\n\n" + rows + "6,x\n").encode(), "gaps.csv", AB, [("a",)])
    assert refused.value.code == "too_many_rows"


def test_a_workbook_value_after_the_last_heading_is_not_lost_either():
    """The CSV refused a value under no heading, the workbook dropped it: an insurer's
    45,000 typed in the column after the last heading was paid as if nobody had paid."""
    rows = [HEAD, text("A2", "1") + text("B2", "2") + text("D2", "45000")]
    with pytest.raises(InvalidInput) as refused:
        read_table(raw_workbook(rows), "past.xlsx", AB, [("a",)], refuse_unknown=True)
    assert (refused.value.code, refused.value.values) == ("unheaded_columns", {"columns": "4"})
    frame = read_table(raw_workbook(rows), "past.xlsx", AB, [("a",)]).frame
    assert frame.to_dict("records") == [{"a": "1", "b": "2"}]


def test_a_department_file_saved_from_excel_keeps_its_days():
    """A hostile tester's illness files were refused: 发生日期 2026/11/25, 入院日期 2026/11/1
    and real date cells. Days are read as every import reads them, and passed on in the
    intake's form; a day that is none is its row's error, naming the column."""
    from datetime import datetime

    from policies.event_files import read_events

    header = "事件编号,事件类型,发生日期,证件号码,医疗总费用,入院日期,出院日期\n"
    rows = ("E1,因病,2026/11/25,411081199001011234,30000,2026/11/1,20261120\n"
            "E2,因病,2026/13/1,411081199001011234,30000,,\n")
    events, errors = read_events((header + rows).encode(), "bills.csv")
    assert [(e["event_date"], e["details"]) for e in events] == [
        ("2026-11-25", {"admission_date": "2026-11-01", "discharge_date": "2026-11-20"})]
    assert [(e["source_event_id"], e["field"]) for e in errors] == [("E2", "event_date")]
    assert errors[0]["reason"].startswith("row 3: event_date = '2026/13/1': is not a date")

    book = openpyxl.Workbook()
    book.active.append(header.strip().split(","))
    book.active.append(["E3", "因病", datetime(2026, 11, 25), "411081199001011234", 30000,
                        datetime(2026, 11, 1), datetime(2026, 11, 20)])
    out = io.BytesIO()
    book.save(out)
    events, errors = read_events(out.getvalue(), "bills.xlsx")
    assert errors == [] and [(e["event_date"], e["details"]) for e in events] == [
        ("2026-11-25", {"admission_date": "2026-11-01", "discharge_date": "2026-11-20"})]


def test_a_file_of_headings_only_is_refused_not_imported_as_nothing():
    """A hostile tester's header-only income file answered 200 written, with an audit entry
    for an import of nothing."""
    for data, name in ((b"a,b\n\n", "empty.csv"), (raw_workbook([HEAD]), "empty.xlsx")):
        with pytest.raises(InvalidInput) as refused:
            read_table(data, name, AB, [("a",)])
        assert (refused.value.code, refused.value.field) == ("no_rows", "file")
