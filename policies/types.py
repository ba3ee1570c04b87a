"""Column types that behave the same on SQLite and PostgreSQL, and the input types every
API model shares.

Money is Decimal yuan with two places in Python and integer fen in the database: every stored
amount and every SQL sum is exact on both engines; rounding happens once, half-up to the fen,
where an amount is computed. Timestamps are timezone-aware UTC on both.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

import sqlalchemy as sa
from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo
from pydantic_core import PydanticCustomError

from policies.errors import InvalidInput
from policies.messages import N_

FEN = Decimal("0.01")
# Python's Decimal() also reads full-width and Arabic-Indic digits, exponents and "NaN": an
# amount a clerk or a department sends is plain ASCII decimal text.
_DECIMAL_TEXT = re.compile(r"[+-]?[0-9]{1,20}(\.[0-9]{1,10})?", re.ASCII)


# Validation context for reading back what was stored under older rules (an event's payload
# evaluated again): the rules for new input below do not apply to it.
STORED = {"stored": True}


def _stored(info: ValidationInfo | None) -> bool:
    return bool(info is not None and info.context and info.context.get("stored"))


def decimal_text(value, info: ValidationInfo | None = None):
    """Amounts and ratios arrive as decimal text of the digits 0-9 (or a JSON integer): binary
    floats cannot hold them exactly, and other digits are not what a reader sees."""
    if _stored(info):
        return value
    if isinstance(value, float):
        raise ValueError(f'write {value} as a decimal string, e.g. "{value}", not a number')
    if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value.strip()):
        raise PydanticCustomError(
            "decimal_text", '{value} is not a decimal number: write it with the digits 0-9 '
            'and a decimal point, e.g. "1234.50"', {"value": repr(value)})
    return value


# Text a person reads back must be what it seems: no control characters (NUL, escapes), no
# direction overrides (U+202E makes "gpj.exe" look like "exe.jpg"), no unpaired surrogates,
# and something visible (a name of zero-width spaces is no name).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile(r"[\t\n\r]")
_DIRECTION = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")  # fillers drawn as nothing


def _visible(char: str) -> bool:
    return not (char.isspace() or char in _BLANK_LETTERS
                or unicodedata.category(char) in ("Cc", "Cf", "Mn", "Me", "Zs"))


# What can be wrong with such a text, by code: an import's row error carries the code, a
# model's error the English.
TEXT_PROBLEMS = {
    "control_character": N_("contains the control character U+%(char)s at position "
                            "%(position)s; remove it"),
    "direction_character": N_("contains the direction-override character U+%(char)s at "
                              "position %(position)s; remove it"),
    "surrogate": N_("contains the unpaired surrogate U+%(char)s at position %(position)s; "
                    "remove it"),
    "line_break": N_("is one line: it contains a tab or line break (U+%(char)s) at position "
                     "%(position)s"),
    "invisible": N_("has no visible characters"),
}


# Any character the checks below look for, in one pattern: most texts have none, and one
# search instead of four was a tenth of a batch's intake.
_SUSPECT = {lines: re.compile("|".join(p.pattern for p in (
    _CONTROL, _DIRECTION, _SURROGATE, *(() if lines else (_LINE_BREAKS,)))))
    for lines in (False, True)}


def text_fault(value: str, *, lines: bool = False) -> tuple[str, dict[str, str]] | None:
    """What is wrong with a text by the rule of Text (or MultilineText): a code of
    TEXT_PROBLEMS and its values, or None."""
    if _SUSPECT[lines].search(value):
        checks = [("control_character", _CONTROL), ("direction_character", _DIRECTION),
                  ("surrogate", _SURROGATE), *([] if lines else [("line_break", _LINE_BREAKS)])]
        for code, pattern in checks:
            found = pattern.search(value)
            if found:
                return code, {"char": f"{ord(found.group()):04X}",
                              "position": str(found.start() + 1)}
    if value and not _visible(value[0]) and not any(_visible(c) for c in value):
        return "invisible", {}
    return None


def _plain(value: str, lines: bool) -> str:
    fault = text_fault(value, lines=lines)
    if fault is not None:
        raise ValueError(TEXT_PROBLEMS[fault[0]] % fault[1])
    return value


def check_text(field: str, value: str, *, lines: bool = False) -> str:
    """The value, or InvalidInput naming the field when it breaks the rule of Text (for text
    that reaches a service without an API model, such as a page's form), with the code of
    TEXT_PROBLEMS and the values a page words it with."""
    fault = text_fault(value, lines=lines)
    if fault:
        code, values = fault
        raise InvalidInput(f"{field} {TEXT_PROBLEMS[code] % values}", field=field,
                           value=value, code=code, values=values)
    return value


# A day someone types: within what the registry's records can mean (a year 5 or 9999 is a
# typing slip, and date arithmetic on it fails).
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2100, 12, 31)


def _written_day(value: object) -> object:
    """A day as it is written, YYYY-MM-DD (or 20260630, as the imports take it). A bare
    number is refused: pydantic would read 1700006400 as seconds since 1970 (a day of 2023)
    and an Excel serial day (46346) as a moment with a time."""
    if isinstance(value, bool | int | float | Decimal):
        raise PydanticCustomError("date_parsing", "a day is written YYYY-MM-DD, not as a number")
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 8 and text.isascii() and text.isdigit():
            try:
                return date(int(text[:4]), int(text[4:6]), int(text[6:]))
            except ValueError:
                pass
        try:
            float(text)  # 1700006400, +1.7e9, 46346.0: pydantic reads each as a moment
        except ValueError:
            return value
        raise PydanticCustomError("date_parsing", "a day is written YYYY-MM-DD, not as a number")
    return value


Day = Annotated[date, BeforeValidator(_written_day), Field(ge=EARLIEST_DATE, le=LATEST_DATE)]

# A name, label or short note: one line of plain text.
Text = Annotated[str, AfterValidator(
    lambda v, info: v if _stored(info) else _plain(v, lines=False))]
# Findings, notes and uploaded files: plain text that may run over several lines.
MultilineText = Annotated[str, AfterValidator(
    lambda v, info: v if _stored(info) else _plain(v, lines=True))]


def to_fen_decimal(value: Decimal | int | str) -> Decimal:
    """Round an amount half-up to the fen."""
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


class ScaledDecimal(sa.types.TypeDecorator):
    """A Decimal with a fixed number of places, stored as a BIGINT scaled to whole units.

    Exact on every engine (SQLite has no exact decimal type of its own).
    """

    impl = sa.BigInteger
    cache_ok = True

    def __init__(self, places: int = 2):
        super().__init__()
        self.places = places
        self.unit = Decimal(1).scaleb(-places)
        self.factor = 10**places

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        number = Decimal(value)
        if number != number.quantize(self.unit):
            raise ValueError(f"{number} has more than {self.places} decimal places")
        return int(number * self.factor)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return (Decimal(int(value)) / self.factor).quantize(self.unit)

    def __repr__(self) -> str:
        return f"ScaledDecimal({self.places})"


class Money(ScaledDecimal):
    """A yuan amount stored as a BIGINT number of fen."""

    cache_ok = True

    def __init__(self):
        super().__init__(2)

    def __repr__(self) -> str:
        return "Money()"


class UtcDateTime(sa.types.TypeDecorator):
    """A timezone-aware UTC timestamp (SQLite keeps no zone, so it is restored on reading)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value} has no time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)  # PostgreSQL answers in the session's time zone

    def __repr__(self) -> str:
        return "UtcDateTime()"
