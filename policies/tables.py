"""Reading department files: CSV (UTF-8 or GBK/GB18030, as Windows offices save them) and
XLSX, every cell as text, with Chinese or English headers mapped to field names."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from policies.errors import InvalidInput


class ImportLimits(BaseSettings):
    """What one file (an upload, or an import from the command line) may hold, from the
    environment (FANGPIN_IMPORT_MAX_BYTES, …) like the service's settings. A spreadsheet is
    refused before it is parsed when its unpacked size is over the limit (a small XLSX can
    unpack to gigabytes), and parsing stops at the row limit, so no file costs more time or
    memory than these allow."""

    model_config = SettingsConfigDict(env_prefix="FANGPIN_IMPORT_", env_file=".env",
                                      extra="ignore")
    max_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    max_rows: int = Field(default=200_000, ge=1)
    max_unzipped_bytes: int = Field(default=64 * 1024 * 1024, ge=1)


_SPACES = re.compile(r"[\s\u3000]+")


@dataclass
class RowError:
    """One bad value: the file's row number (the header is row 1), field, value and reason."""

    row: int
    field: str
    value: str
    reason: str


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
    text = _SPACES.sub("", str(text)).lower()
    return text.replace("（", "(").replace("）", ")")


def decode_csv(data: bytes) -> tuple[str, str]:
    """Decode CSV bytes as UTF-8 (with or without BOM), else as GB18030 (a superset of GBK)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), ("utf-8" if encoding == "utf-8-sig" else encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("the file is neither UTF-8 nor GBK/GB18030 text; save it as CSV UTF-8",
                       field="file")


def read_table(
    data: bytes, filename: str, aliases: dict[str, str], required: list[tuple[str, ...]]
) -> Table:
    """Parse a CSV or XLSX file into a frame with canonical column names.

    ``aliases`` maps normalised header spellings to field names; ``required`` lists groups of
    fields of which at least one must be present (e.g. a village code, or township and village
    names).
    """
    limits = ImportLimits()
    if len(data) > limits.max_bytes:
        raise InvalidInput(f"the file is {len(data):,} bytes, over the limit of "
                           f"{limits.max_bytes:,} (FANGPIN_IMPORT_MAX_BYTES)", field="file",
                           value=filename)
    suffix = Path(filename).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        unzipped = _unzipped_size(data, filename)
        if unzipped > limits.max_unzipped_bytes:
            raise InvalidInput(f"{filename} unpacks to {unzipped:,} bytes, over the limit of "
                               f"{limits.max_unzipped_bytes:,} (FANGPIN_IMPORT_MAX_UNZIPPED_"
                               "BYTES); split it or save it as CSV", field="file",
                               value=filename)
        try:
            frame = pd.read_excel(io.BytesIO(data), dtype=str, keep_default_na=False,
                                  engine="openpyxl", nrows=limits.max_rows + 1)
        except Exception as exc:  # openpyxl raises many types for a broken workbook
            raise InvalidInput(f"{filename} is not a readable XLSX workbook: {exc}",
                               field="file") from None
        encoding = "xlsx"
    elif suffix in (".csv", ".txt", ""):
        text, encoding = decode_csv(data)
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                                nrows=limits.max_rows + 1)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InvalidInput(f"{filename} is not a readable CSV file: {exc}",
                               field="file") from None
    else:
        raise InvalidInput(f"{filename}: only .csv and .xlsx files are accepted",
                           field="file", value=suffix)
    if len(frame) > limits.max_rows:
        raise InvalidInput(f"{filename} has more than {limits.max_rows:,} rows, the limit "
                           "(FANGPIN_IMPORT_MAX_ROWS); split it into smaller files",
                           field="file", value=filename)

    renamed: dict[str, str] = {}
    ignored: list[str] = []
    for column in frame.columns:
        name = aliases.get(normalise_header(column))
        if name is None:
            ignored.append(str(column))
        elif name in renamed.values():
            raise InvalidInput(f"two columns both mean {name}: remove one", field=str(column))
        else:
            renamed[column] = name
    frame = frame[list(renamed)].rename(columns=renamed)
    missing = [" or ".join(group) for group in required if not any(f in frame for f in group)]
    if missing:
        raise InvalidInput(f"missing column(s): {', '.join(missing)}", field="header",
                           value=", ".join(map(str, renamed.keys())))
    frame = frame.apply(lambda col: col.astype(str).str.strip())
    frame.index = pd.RangeIndex(2, len(frame) + 2)  # file row numbers, header is row 1
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


def _unzipped_size(data: bytes, filename: str) -> int:
    """What an XLSX workbook (a zip archive) unpacks to, from its directory alone."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(entry.file_size for entry in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        raise InvalidInput(f"{filename} is not a readable XLSX workbook (not a zip archive)",
                           field="file", value=filename) from None


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
