"""Reading department files: CSV (UTF-8 or GBK/GB18030, as Windows offices save them) and
XLSX, every cell as text, with Chinese or English headers mapped to field names."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import zipfile
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
from openpyxl.utils import get_column_letter

from policies.errors import InvalidInput
from policies.limits import ImportLimits
from policies.messages import N_
from policies.rules import LINE_PROBLEMS, PERIOD_PROBLEMS
from policies.types import TEXT_PROBLEMS

_SPACES = re.compile(r"[\s\u3000]+")


# Why a file's value is refused, by code: a row error carries the code and its values, the
# English reason is made from them here and the workspace's pages read them in the user's
# language (claims/web/locale/zh.po).
ROW_PROBLEMS = {
    "required": N_("is required"),
    "not_a_date": N_("is not a date (write 2026-06-30)"),
    "after_today": N_("is after today (%(today)s)"),
    "too_long": N_("is longer than %(limit)s characters"),
    "household_number_shape": N_("may hold only letters, digits and hyphens"),
    "phone_shape": N_("must be 5 to 20 digits (a +, hyphens and spaces may be among them)"),
    "bank_account_shape": N_("must be 8 to 32 digits"),
    "not_one_of": N_("is not one of %(accepted)s"),
    "yes_or_no": N_("must be 是 or 否"),
    "whole_number": N_("must be a whole number from %(low)s to %(high)s"),
    "grade": N_("must be 1-4 (一级 to 四级) or empty"),
    "amount": N_("must be an amount in yuan written with the digits 0-9 and at most two "
                 "decimals, e.g. 12345.50"),
    "not_positive": N_("must be more than 0"),
    "no_amounts": N_("and every other amount of the row are empty: a year's record gives its "
                     "incomes (0 where there was none), or is left out"),
    # the registry's households and people
    "id_shape": N_("must be 18 characters: 17 digits and a digit or X"),
    "id_province": N_("region code names no province"),
    "id_birth": N_("birth date is not a real date in range"),
    "id_check": N_("check character does not match"),
    "unknown_village_code": N_("is not a registered village code"),
    "ambiguous_village": N_("names several villages; add the 乡镇 or 村代码 column"),
    "unknown_village": N_("is not a registered village"),
    "repeated_person": N_("appears on an earlier row of this file"),
    "no_head": N_("the household has no member whose relation is 户主"),
    "second_head": N_("the household has another 户主 on an earlier row"),
    "head_name": N_("differs from the name of the member whose relation is 户主"),
    "differs_from_first_row": N_("differs from this household's first row"),
    # neither names who or where: a file is no way round the audited search by ID number
    # (a hostile tester looked up ID numbers' households and heads' full names by importing)
    "registered_elsewhere": N_("is registered in another household (find it by searching "
                               "the ID number); move the member from there first"),
    "head_not_in_file": N_("household %(household)s already has a 户主 who is not in this "
                           "file"),
    # income reports, annual records and lines
    "unknown_household": N_("no household you may report for has this number"),
    "unknown_household_to_import": N_("no household you may import for has this number "
                                      "(import the households first)"),
    "no_active_member": N_("the household has no active member to divide its income by (a "
                           "member who has died or left is not counted)"),
    "same_period": N_("the same household and period as row %(row)s"),
    "report_differs": N_("the ledger already has this household's report for "
                         "%(start)s..%(end)s (income record %(record)s) with other figures; "
                         "correct that record instead"),
    "year_not_ended": N_("the year %(year)s has not ended: import a year's record after it "
                         "ends"),
    "before_the_year": N_("is before the year it reports began"),
    "same_year": N_("the same household and year as row %(row)s"),
    "record_differs": N_("the ledger already has this household's record of %(year)s (income "
                         "record %(record)s) with other figures or size; correct that record "
                         "instead"),
    "unknown_region": N_("is not a registered region code"),
    "same_region_year": N_("the same region and year as row %(row)s"),
    "line_set_as_multiple": N_("the line of %(region)s for %(year)s is already set as a "
                               "multiple of the national standard (monitoring line "
                               "%(line)s); change that line instead"),
    "line_set_at": N_("the line of %(region)s for %(year)s is already set at %(amount)s "
                      "(monitoring line %(line)s); change that line instead"),
    # past shocks
    "before_day": N_("is before %(day)s"),
    "before_shock": N_("is before the day the shock happened"),
    "grade_not_disability": N_("is only given for a disability (因残)"),
    "same_shock": N_("the same household, kind, day and 事件编号 as row %(row)s; give each "
                     "shock its own 事件编号"),
    "unknown_member": N_("is not a registered member"),
    "member_elsewhere": N_("is a member of another household"),
    "shock_from_event": N_("the ledger has this household's %(kind)s of that day from trigger "
                           "event %(event)s: a shock is not recorded twice"),
    "shock_differs": N_("the ledger already has this shock (shock %(shock)s) with other "
                        "figures"),
    **TEXT_PROBLEMS,
    **PERIOD_PROBLEMS,
    **LINE_PROBLEMS,
}


@dataclass
class RowError:
    """One bad value: the file's row number (the header is row 1), field and value, the code
    of what is wrong (ROW_PROBLEMS, or a kind of mistake of pydantic's, which gives its own
    ``reason``) with the values its words need, and the reason in English."""

    row: int
    field: str
    value: str
    code: str
    values: dict[str, str] = dataclasses.field(default_factory=dict)  # `field` is a column
    reason: str = ""

    def __post_init__(self) -> None:
        if not self.reason:
            self.reason = ROW_PROBLEMS[self.code] % self.values


@dataclass
class FileReport:
    """What an import found and did: rows read, whether anything was written, the file's
    encoding and ignored columns, and every bad value."""

    rows: int = 0
    written: bool = False
    encoding: str = ""
    ignored_columns: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Table:
    frame: pd.DataFrame  # canonical field names, every cell a stripped string
    encoding: str
    ignored_columns: list[str] = field(default_factory=list)


def normalise_header(text: str) -> str:
    """A heading as the aliases are looked up: no spaces, lower case, full-width brackets and
    colon as ASCII (转移性收入：养老金, as an input method types it, refused a whole file), and
    帐 as 账 (银行帐号 is as common a spelling as 银行账号; it was ignored, the accounts lost)."""
    text = _SPACES.sub("", str(text)).lower()
    return text.replace("（", "(").replace("）", ")").replace("：", ":").replace("帐", "账")


# A number a person typed into a file (the one rule of every import's amounts and whole
# numbers; the JSON APIs take plain ASCII decimal text only, policies.types.decimal_text).
# A Chinese input method types full-width forms (１２，３４５．６０): those, and only those, are
# read as their ASCII characters, as NFKC reads them; NFKC's other digits (² ① ...) and
# other scripts' digits (٧٥٠٠) are not what the reader of the file sees as a number, and are
# refused. A thousands comma is taken in whole groups of three (12,345.60, never 1,2345), no
# sign, no exponent, no more decimals than the field keeps but zeros.
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_TYPED = re.compile(r"((?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+))(?:\.([0-9]+))?", re.ASCII)


def typed_number(text: str, places: int = 2, digits: int = 12) -> Decimal | None:
    """The exact number a cell holds as a person types it — digits 0-9 or their full-width
    forms, a thousands comma in groups of three, at most ``places`` decimals (yuan: 2, a
    whole number: 0; zeros past them are dropped, as a sheet formatted with four places writes
    1234.5000) and ``digits`` before the point — or None if it is not one (an empty cell
    included: each import says what an empty cell means)."""
    plain = text.translate(_FULL_WIDTH).strip() if not text.isascii() else text.strip()
    match = _TYPED.fullmatch(plain)
    if match is None:
        return None
    whole, decimals = match.group(1).replace(",", ""), match.group(2) or ""
    if len(whole) > digits or decimals[places:].strip("0"):
        return None
    return Decimal(f"{whole}.{decimals[:places]}" if decimals[:places] else whole)


def typed_numbers(texts: pd.Series, places: int = 2, digits: int = 12) -> pd.Series:
    """typed_number of each cell of a column (a Decimal, or None): each distinct text is
    read once."""
    read = {text: typed_number(text, places, digits) for text in set(texts)}
    values = texts.map(read).astype(object)
    return values.where(values.notna(), None)


# Headings a county's sheet carries beside the data and that no import reads.
NOTE_HEADINGS = frozenset(map(normalise_header, (
    "序号", "备注", "说明", "no", "no.", "note", "notes", "remark", "remarks")))
# Excel keeps 15 significant digits of a number: an ID or account typed into a number cell
# is already another number when saved (6228480000000000888 → 6228480000000001024).
EXACT_DIGITS = 10**15


def decode_csv(data: bytes) -> tuple[str, str]:
    """Decode CSV bytes as UTF-8 (with or without BOM), else as GB18030 (a superset of GBK)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), ("utf-8" if encoding == "utf-8-sig" else encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("the file is neither UTF-8 nor GBK/GB18030 text; save it as CSV UTF-8",
                       field="file", code="not_text")


def read_table(
    data: bytes, filename: str, aliases: dict[str, str], required: list[tuple[str, ...]],
    *, refuse_unknown: bool = False,
) -> Table:
    """Parse a CSV or XLSX file into a frame with canonical column names.

    ``aliases`` maps normalised header spellings to field names; ``required`` lists groups of
    fields of which at least one must be present (e.g. a village code, or township and village
    names). ``refuse_unknown``: a heading no alias knows (but a note's, NOTE_HEADINGS) is
    refused, where a misspelt heading would lose money (a bill's 基本医保支付 read as none).
    """
    limits = ImportLimits()
    if len(data) > limits.max_bytes:
        raise InvalidInput(f"the file is {len(data):,} bytes, over the limit of "
                           f"{limits.max_bytes:,} (FANGPIN_IMPORT_MAX_BYTES)", field="file",
                           value=filename, code="file_too_big",
                           values={"size": len(data), "limit": limits.max_bytes})
    suffix = Path(filename).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        unzipped = _unzipped_size(data, filename)
        if unzipped > limits.max_unzipped_bytes:
            raise InvalidInput(f"{filename} unpacks to {unzipped:,} bytes, over the limit of "
                               f"{limits.max_unzipped_bytes:,} (FANGPIN_IMPORT_MAX_UNZIPPED_"
                               "BYTES); split it or save it as CSV", field="file",
                               value=filename, code="file_too_big",
                               values={"size": unzipped, "limit": limits.max_unzipped_bytes})
        headings, frame = _read_xlsx(data, filename, limits.max_rows + 1)
        encoding = "xlsx"
    elif suffix in (".csv", ".txt", ""):
        text, encoding = decode_csv(data)
        # the headings as written: pandas renames a repeated one (银行账号.1) and names a
        # blank one (Unnamed: 3)
        headings, frame = _read_csv(text, filename, limits.max_rows + 1)
    else:
        raise InvalidInput(f"{filename}: only .csv and .xlsx files are accepted",
                           field="file", value=suffix, code="file_type")
    if len(frame) > limits.max_rows:
        raise InvalidInput(f"{filename} has more than {limits.max_rows:,} rows, the limit "
                           "(FANGPIN_IMPORT_MAX_ROWS); split it into smaller files",
                           field="file", value=filename, code="too_many_rows",
                           values={"filename": filename, "limit": limits.max_rows})

    renamed: dict = {}
    ignored: list[str] = []
    unknown: list[str] = []
    unheaded: list[str] = []
    for position, column in enumerate(frame.columns):
        heading = headings[position] if position < len(headings) else ""
        name = aliases.get(normalise_header(heading))
        if name is None:
            if not normalise_header(heading):
                if refuse_unknown and (frame[column].astype(str).str.strip() != "").any():
                    unheaded.append(str(position + 1))  # values under no heading
                continue
            ignored.append(heading)
            if refuse_unknown and normalise_header(heading) not in NOTE_HEADINGS:
                unknown.append(heading)
        elif name in renamed.values():
            raise InvalidInput(f"two columns both mean {name}: remove one", field=heading,
                               code="same_column", values={"column": heading})
        else:
            renamed[column] = name
    if unknown:
        raise InvalidInput(
            f"column(s) this file does not take: {', '.join(unknown)}; rename each to a "
            "heading it takes, or remove it", field="header", value=", ".join(unknown),
            code="unknown_columns", values={"columns": "、".join(unknown)})
    if unheaded:
        raise InvalidInput(
            f"column(s) {', '.join(unheaded)} hold values under no heading; give each a "
            "heading the file takes, or remove it", field="header", value=", ".join(unheaded),
            code="unheaded_columns", values={"columns": "、".join(unheaded)})
    frame = frame[list(renamed)].rename(columns=renamed)
    missing = [group for group in required if not any(f in frame for f in group)]
    if missing:
        # the columns as a Chinese export heads them, where the file's spellings have one
        chinese = {name: spelling for spelling, name in reversed(aliases.items())
                   if not spelling.isascii()}
        raise InvalidInput(
            f"missing column(s): {', '.join(' or '.join(group) for group in missing)}",
            # the headings the file has (the columns' positions had been given)
            field="header", value=", ".join(str(h) for h in headings if normalise_header(h)),
            code="missing_columns",
            values={"columns": ", ".join(" or ".join(group) for group in missing),
                    "headings": "、".join("或".join(chinese.get(f, f) for f in group)
                                         for group in missing)})
    if frame.empty:  # headings only: nothing to import is no import (one was audited as one)
        raise InvalidInput(f"{filename} has headings but no rows", field="file",
                           value=filename, code="no_rows", values={"filename": filename})
    frame = frame.apply(lambda col: col.astype(str).str.strip())
    return Table(frame=frame, encoding=encoding, ignored_columns=ignored)


# What a spreadsheet takes as the start of a formula (or of a DDE call) when a cell is opened.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def formula_like(value: object) -> bool:
    """Text a spreadsheet would run as a formula: it begins with =, +, -, @, tab or CR and is
    not a plain number (a negative amount stays a number)."""
    return (isinstance(value, str) and value.startswith(FORMULA_STARTS)
            and not _NUMBER.match(value))


def csv_bytes(header: list[str], rows: list[list]) -> bytes:
    """A CSV file (UTF-8 with BOM, which Excel needs to read Chinese) in which formula-like
    text is neutralised with a leading apostrophe, as OWASP advises: CSV has no cell types."""
    text = io.StringIO()
    writer = csv.writer(text)
    for row in [header, *rows]:
        writer.writerow(["'" + v if formula_like(v) else v for v in row])
    return text.getvalue().encode("utf-8-sig")


def _read_csv(text: str, filename: str, max_rows: int) -> tuple[list[str], pd.DataFrame]:
    """The headings (the first line that is not blank) and up to ``max_rows`` records below
    that are not blank, indexed by their numbers in the file. A record longer than the
    headings carries its extra cells under blank headings, where the caller sees them."""
    body = text.lstrip("\r\n")
    top = text[:len(text) - len(body)].count("\n") + 1  # the headings' record
    try:
        reader = csv.reader(io.StringIO(body))
        headings = next(reader, [])
        found: list[list[str]] = []
        numbers: list[int] = []
        # blank lines are not rows: counted, they cut a file's last rows off unseen
        for number, cells in enumerate(reader, top + 1):
            if any(cell.strip() for cell in cells):
                found.append(cells)
                numbers.append(number)
                if len(found) >= max_rows:
                    break
    except csv.Error as exc:
        raise InvalidInput(f"{filename} is not a readable CSV file: {exc}", field="file",
                           code="unreadable", values={"filename": filename}) from None
    width = max([len(headings), *map(len, found)])
    headings = headings + [""] * (width - len(headings))
    rows = [cells + [""] * (width - len(cells)) for cells in found]
    return headings, pd.DataFrame(rows, columns=range(width), index=numbers, dtype=str)


# Columns read after a sheet's last heading, where values under no heading are found.
UNHEADED = 16


def _read_xlsx(data: bytes, filename: str, max_rows: int) -> tuple[list[str], pd.DataFrame]:
    """The first visible sheet's headings (its first row that is not blank) and its rows
    below, every cell as text, indexed by the sheet's own row numbers (blank rows left out).
    The UNHEADED columns after the last heading are read too, under blank headings where the
    caller sees them (an amount typed under none was lost unseen; the CSV reader keeps every
    cell); cells further right are not read: a row padded to column XFD would cost seconds
    a row. A number too long to be exact, an error and a formula without a saved result are
    refused, naming the cell."""
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        sheet = _sheet(book)
        sheet.reset_dimensions()  # the declared size may be wrong, or huge
        headings: list[str] = []
        top = 0
        for number, cells in enumerate(sheet.iter_rows(), 1):
            if any(_cell_text(cell).strip() for cell in cells):
                headings, top = [_cell_text(cell) for cell in cells], number
                break
        while headings and not headings[-1].strip():
            headings.pop()
        width = len(headings)
        if width == 0:
            book.close()
            return [], pd.DataFrame()
        found: list[list[str]] = []
        numbers: list[int] = []
        formulas: list[tuple[int, int, int, int]] = []
        for number, cells in enumerate(sheet.iter_rows(min_row=top + 1,
                                                       max_col=width + UNHEADED), top + 1):
            texts: list[str] = []
            for column, cell in enumerate(cells, 1):
                if cell.data_type == "f":
                    formulas.append((number, column, len(found), len(texts)))
                    texts.append("")
                else:
                    texts.append(_cell_text(cell))
            if any(texts) or len(formulas) and formulas[-1][0] == number:
                found.append(texts)
                numbers.append(number)
                if len(found) >= max_rows:
                    break
        book.close()
        if formulas:
            _saved_results(data, formulas, found)
    except InvalidInput:
        raise
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise InvalidInput(f"{filename} is not a readable XLSX workbook: {exc}",
                           field="file", code="unreadable",
                           values={"filename": filename}) from None
    # as wide as the rightmost cell that holds something, each row padded to it
    used = max((len(row) - next((i for i, t in enumerate(reversed(row)) if t.strip()),
                                len(row)) for row in found), default=0)
    width = max(width, used)
    headings = headings + [""] * (width - len(headings))
    found = [(row + [""] * width)[:width] for row in found]
    return headings, pd.DataFrame(found, columns=range(width), index=numbers, dtype=str)


def _saved_results(data: bytes, formulas: list[tuple], found: list) -> None:
    """Put each formula cell's saved result in its place. One saved without a result (a
    generated workbook, or one set to calculate by hand) would read as empty: refused. An
    empty text is a result (=IF(A2="","",…)): Excel marks it as text."""
    places = {(row, column): (at, position) for row, column, at, position in formulas}
    first, last = min(row for row, *_ in formulas), max(row for row, *_ in formulas)
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheet = _sheet(book)
        sheet.reset_dimensions()
        width = max(column for _, column, *_ in formulas)
        for number, cells in enumerate(sheet.iter_rows(min_row=first, max_row=last,
                                                       max_col=width), first):
            for column, cell in enumerate(cells, 1):
                spot = places.get((number, column))
                if spot is None:
                    continue
                if cell.value is None and cell.data_type != "str":
                    place = f"{get_column_letter(column)}{number}"
                    raise InvalidInput(
                        f"cell {place} holds a formula saved without its result; open the "
                        "file in Excel or WPS and save it again, or paste the values",
                        field="file", value=place, code="formula_without_value",
                        values={"cell": place})
                found[spot[0]][spot[1]] = _cell_text(cell)
    finally:
        book.close()


def _sheet(book):
    """The first sheet that is not hidden: a hidden sheet of old data is never read, and
    the sheet a clerk last looked at (the active one, perhaps the instructions) does not
    decide which is."""
    sheet = next((s for s in book.worksheets if s.sheet_state == "visible"), None)
    if sheet is None:
        raise ValueError("no visible worksheet")
    return sheet


def _cell_text(cell) -> str:
    """A cell as text, as the file's reader sees it (a whole number without ".0")."""
    value = cell.value
    if value is None:
        return ""
    if cell.data_type == "e":  # #N/A, #DIV/0! …: what the cell should hold is unknown
        place = f"{get_column_letter(cell.column)}{cell.row}"
        raise InvalidInput(f"cell {place} shows the error {value}; correct it or clear the "
                           "cell", field="file", value=place, code="cell_error",
                           values={"cell": place, "error": str(value)})
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if abs(value) >= EXACT_DIGITS:
        place = f"{get_column_letter(cell.column)}{cell.row}"
        raise InvalidInput(
            f"cell {place} is a number of {len(str(int(value)))} digits, more than a "
            "spreadsheet keeps exactly (15): an ID or account number typed as a number has "
            "already changed; format the column as text and type it again", field="file",
            value=place, code="number_too_long", values={"cell": place})
    return str(int(value)) if float(value).is_integer() else str(value)


def _unzipped_size(data: bytes, filename: str) -> int:
    """What an XLSX workbook (a zip archive) unpacks to, from its directory alone."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(entry.file_size for entry in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        raise InvalidInput(f"{filename} is not a readable XLSX workbook (not a zip archive)",
                           field="file", value=filename, code="unreadable",
                           values={"filename": filename}) from None


def xlsx_bytes(header: list[str], rows: list[list], title: str = "Sheet1") -> bytes:
    """A one-sheet XLSX workbook; Decimal amounts become numbers shown with two places, and
    formula-like text is stored as text (quote-prefixed, so editing it keeps it text)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title[:31]
    for row in [header, *rows]:
        sheet.append([float(v) if isinstance(v, Decimal) else v for v in row])
        for cell, value in zip(sheet[sheet.max_row], row, strict=True):
            if isinstance(value, Decimal):
                cell.number_format = "0.00"
            elif formula_like(value):
                cell.value, cell.data_type, cell.quotePrefix = value, "s", True
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
