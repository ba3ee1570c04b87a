"""Personal data as the workspace shows it by default (脱敏): 张*三, 4110**********123X, the
last four digits of a bank account. Showing them in full is a permission, and each reveal is
on the audit trail."""

from __future__ import annotations


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


def account(number: str | None) -> str:
    return f"****{number[-4:]}" if number else ""
