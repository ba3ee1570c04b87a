"""Personal data as fangpin shows it by default (脱敏), in pages, the API and the audit trail
alike: 张*三, 4110**********123X, 138****0000, the last four digits of a bank account.
Showing them in full is a permission, and each reveal is on the audit trail."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from policies.citizen_id import InvalidCitizenId, check_character, parse_citizen_id
from policies.messages import N_


def name(full: str | None) -> str:
    if not full:
        return ""
    if len(full) <= 2:
        return full[0] + "*"
    return full[0] + "*" * (len(full) - 2) + full[-1]


def id_number(number: str | None) -> str:
    if not number:
        return ""
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def phone(number: str | None) -> str | None:
    if not number:
        return number
    return number[:3] + "*" * max(len(number) - 7, 1) + number[-4:]


def account(number: str | None) -> str:
    return f"****{number[-4:]}" if number else ""


def withheld(_value: Any) -> None:
    """Not shown at all: a birth date with the masked ID number (4110…0011) and the county's
    code spells the number out in full (a hostile tester rebuilt 200 of 200)."""
    return None


# How each personal field of a household or member is masked (a field absent is not personal);
# a bank's name is typed text, where a tester's "农行 4110…0013" showed an ID number in full.
FIELDS = {"name": name, "head_name": name, "id_number": id_number, "phone": phone,
          "bank_account": account, "account_holder": name, "birth_date": withheld,
          "bank_name": lambda text: in_text(text)}


def fields(values: dict[str, Any]) -> dict[str, Any]:
    """A copy of a row's values with its personal fields masked (None stays None)."""
    return {k: (FIELDS[k](v) if k in FIELDS and v is not None else v)
            for k, v in values.items()}


# An ID number within a sentence: 18 characters, not part of a longer run of digits.
# Typed as a person types it: in full-width digits (an input method's ４１１０…), in groups
# (411081 19580320 0013, or with hyphens), the old 15-digit number, or run on from a label
# (ID411081…) (a hostile tester's findings, each shown in full before).
_D, _X = "[0-9\uff10-\uff19]", "[0-9Xx\uff10-\uff19\uff38\uff58]"
_ALONE, _ENDS = "(?<![0-9\uff10-\uff19*])", "(?![0-9\uff10-\uff19*])"
_ID_IN_TEXT = re.compile(
    rf"{_ALONE}(?:{_D}{{6}}[ -]?{_D}{{8}}[ -]?{_D}{{3}}{_X}"
    rf"|{_D}{{6}}[ -]?{_D}{{6}}[ -]?{_D}{{3}})(?![0-9A-Za-z\uff10-\uff19])")


# A bank card's number (16 to 19 digits, or in groups of four: 6228 5776 7501 2858 767) and a
# mobile number (13x to 19x, perhaps after +86, perhaps grouped 138 1234 5678) within a
# sentence: staff type them into notes ("电话 13812345678"), banks into return reasons.
_CARD_IN_TEXT = re.compile(
    rf"{_ALONE}(?:{_D}{{4}}([ -]){_D}{{4}}\1{_D}{{4}}\1{_D}{{4}}(?:\1{_D}{{1,3}})?"
    rf"|{_D}{{16,19}}){_ENDS}")
_MOBILE_IN_TEXT = re.compile(
    rf"{_ALONE}(\+?86[ -]?)?([1\uff11][3-9\uff13-\uff19]{_D}(?:[ -]?{_D}{{4}}){{2}}){_ENDS}")
_SEPARATORS = re.compile("[ -]")


def _mobile(found: re.Match) -> str:
    return (found.group(1) or "") + (phone(_SEPARATORS.sub("", found.group(2))) or "")


def in_text(text: str) -> str:
    """Free text (a reason, a note) with any ID number, bank card or mobile number in it
    masked: older stored reasons carry some in full, and staff type them into notes."""
    text = _ID_IN_TEXT.sub(lambda found: id_number(found.group()), text)
    text = _CARD_IN_TEXT.sub(lambda found: account(_SEPARATORS.sub("", found.group())), text)
    return _MOBILE_IN_TEXT.sub(_mobile, text)


PERSONAL_NUMBER = N_("names an ID number, a bank card or a mobile number, which every user "
                     "would read: leave it out")


def no_personal_number(text: str | None) -> str | None:
    """``text``, if it names no ID number, bank card or mobile number: for text every user
    reads, a catastrophe's name (a tester's named a contact's ID number and mobile, shown in
    full to every township)."""
    # digits however they are parted (411081.1965…, 138/1234/5678: a re-tester's passed) that
    # make an ID number, a mobile or a card (a date's 2026.7.18-7.20 makes none)
    if text is not None and (in_text(text) != text or any(
            _personal(run) for run in _RUN.findall(_JOINED.sub("", unicodedata.normalize(
                "NFKC", text))))):
        raise ValueError(PERSONAL_NUMBER)
    return text


_JOINED = re.compile(r"(?<=[0-9])[\s.\-_/·*,，、。:：]+(?=[0-9Xx])")
_RUN = re.compile(r"[0-9]+[Xx]?")


def _personal(run: str) -> bool:
    """Whether a run of digits is an ID number, a mobile or a bank card's number."""
    if len(run) in (15, 17, 18):  # 17: its check character follows from them
        try:
            parse_citizen_id(run + check_character(run) if len(run) == 17 else run)
            return True
        except InvalidCitizenId:
            return False
    if not run.isdigit():
        return False
    if len(run) == 11:
        return run[0] == "1" and run[1] in "3456789"
    if 16 <= len(run) <= 19:  # a card's number carries its Luhn check digit
        digits = [int(d) for d in reversed(run)]
        return sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2)
                   for i, d in enumerate(digits)) % 10 == 0
    return False


def in_texts(value: Any) -> Any:
    """A value with any ID number in its texts masked, through its lists and dicts (what a
    step recorded, an audit entry's before and after)."""
    if isinstance(value, str):
        return in_text(value)
    if isinstance(value, dict):  # keys too: a survey's asset check is keyed by what staff typed
        return {in_texts(k): in_texts(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [in_texts(v) for v in value]
    return value


# The free text of each kind of record (by its table) that staff type, or a bank or a
# department sends, and that may name a person by ID number: every reader — pages, the API,
# workbooks, printed notices — gets it masked, the revealing user too (revealing is a
# household's, on its page and the trail). A table absent holds no such text; a new free-text
# column is added here (tests/claims/test_masking.py walks the schema for one left out).
TYPED: dict[str, tuple[str, ...]] = {
    "claim": ("application_reason", "rejection_text"),
    "claim_record": ("data",),  # what a step recorded: a survey's findings, a waiver's reason
    "audit_entry": ("reason", "before", "after"),
    "trigger_event": ("reason",),
    "document": ("filename", "withdrawn_reason"),  # 发票_<ID number>.png, as scanned
    "payment": ("failure_reason",),  # the bank's, from its return file
    "early_warning": ("outcome",),
    "follow_up": ("helper", "outcome_note"),  # a helper may be typed with their ID number
    "assistance": ("description", "reference"),
    "elimination": ("note",),
    "elimination_step": ("data",),  # what a step of elimination found, an objection
    "income_record": ("reference",),  # a report's 备注 or a form's number, as typed
}


def typed(row: Any) -> dict[str, Any]:
    """A row's free-text fields (by TYPED) as every reader sees them, any ID number masked;
    each service adds the row's other fields as it shows them."""
    return {name: in_texts(getattr(row, name)) for name in TYPED.get(row.__tablename__, ())}
