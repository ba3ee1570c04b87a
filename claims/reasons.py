"""Why the system changed a claim (系统原因): a code and its values, kept as one line of text
("payment_confirmed payment=5") so the audit trail and the claim's records keep one column, and
rendered by the pages in the reader's language. A person's own reason is kept as typed."""

from __future__ import annotations

import re

from policies.messages import N_

SYSTEM_REASONS = {
    "payment_confirmed": N_("the bank confirmed payment %(payment)s"),
    "payment_returned": N_("the bank sent payment %(payment)s back"),
    "bills_during_payment": N_("bills arrived while the payment was under way"),
    "new_bill": N_("a new bill: entitlement %(entitled)s, paid %(paid)s"),
    "amount_changed": N_("the amount changed from %(old)s to %(new)s"),
    "event": N_("opened from a department's report"),
    "elimination_confirmed": N_("risk elimination %(elimination)s confirmed"),
}
_CODED = re.compile(r"^([a-z_]+)((?: [a-z_]+=\S+)*)$")


def coded(code: str, **values: object) -> str:
    """The stored form of a system reason."""
    if code not in SYSTEM_REASONS:
        raise KeyError(code)
    return " ".join([code, *(f"{name}={value}" for name, value in values.items())])


def parse(text: str) -> tuple[str, dict[str, str]] | None:
    """The code and values of a stored system reason; None for a person's own text."""
    found = _CODED.match(text or "")
    if not found or found[1] not in SYSTEM_REASONS:
        return None
    values = dict(part.split("=", 1) for part in found[2].split())
    return found[1], values
