"""Signed heads of the audit chain (审计链锚点): the chain's length and last hash, signed with a
key kept outside the database and written out after each nightly job and by
``fangpin audit anchor``. The hash chain alone shows an entry altered in place; it cannot show
the newest entries removed, or a row altered and every hash after it recomputed, because
whoever can write the table can recompute the chain. A head signed earlier can be recomputed
by nobody without the key, so ``fangpin audit verify`` checks the chain against the newest one.

The signature is an HMAC-SHA256 (the standard library's ``hmac``): the one who signs and the
one who verifies are the same operator, holding the same key, so a shared secret is enough —
a public-key signature would only add a dependency, for verifiers without the key. What it
protects: everything up to the newest head. Entries after it are protected by the chain
alone until the next anchor, so anchor often and keep the anchors where the database's
writers cannot edit them (ship the file or the log off the machine).
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import asdict, dataclass
from hashlib import sha256
from pathlib import Path

from sqlmodel import Session, select

from claims import audit
from claims.models import AuditEntry, utcnow
from claims.settings import Settings
from policies.errors import Conflict

log = logging.getLogger("claims.audit.anchor")
MARK = '{"audit_head"'


@dataclass(frozen=True)
class Head:
    """The chain as it stood: its number of entries and the hash of the last one."""

    count: int
    last_hash: str
    at: str  # when it was signed, ISO 8601 UTC


class ChainBroken(Conflict):
    """The chain does not verify, so its head is not signed (signing would bless it)."""


def sign(head: Head, key: bytes) -> str:
    body = json.dumps(asdict(head), sort_keys=True, separators=(",", ":"))
    return hmac.new(key, body.encode(), sha256).hexdigest()


def anchor_line(head: Head, key: bytes) -> str:
    """One line of text: the head and its signature, as written to the file and the log."""
    return json.dumps({"audit_head": asdict(head), "signature": sign(head, key)},
                      sort_keys=True, separators=(",", ":"))


def head_of(session: Session) -> Head:
    last = session.exec(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()
    return Head(last[0] if last else 0, last[1] if last else audit.GENESIS,
                utcnow().isoformat())


def _anchors_in(line: str) -> str | None:
    """The anchor in a line of the anchor file, a text log or a JSON log (in its message)."""
    if MARK not in line:
        try:
            record = json.loads(line)
        except ValueError:
            return None
        line = record.get("message", "") if isinstance(record, dict) else ""
    start = line.find(MARK)
    return line[start:] if start >= 0 else None


def newest(lines, key: bytes) -> Head | None:
    """The newest signed head among the lines (the longest chain; the chain only grows).
    Raises ChainBroken for an anchor whose signature is wrong: forged, or another key's."""
    found: Head | None = None
    for number, line in enumerate(lines, 1):
        text = _anchors_in(line)
        if text is None:
            continue
        try:
            anchor, _ = json.JSONDecoder().raw_decode(text)
            head = Head(**anchor["audit_head"])
            signature = str(anchor["signature"])
        except (ValueError, TypeError, KeyError):
            raise ChainBroken(f"line {number} of the anchors is not a readable audit head",
                              field="anchors", value=number) from None
        if not hmac.compare_digest(signature, sign(head, key)):
            raise ChainBroken(f"the audit head on line {number} of the anchors has a wrong "
                              "signature: forged, or signed with another FANGPIN_AUDIT_KEY",
                              field="anchors", value=number)
        if found is None or head.count >= found.count:
            found = head
    return found


def newest_in(path: str | Path | None, key: bytes) -> Head | None:
    """The newest signed head in a file of anchors (or a log); None without one."""
    if not path or not Path(path).is_file():
        return None
    with open(path, encoding="utf-8", errors="replace") as lines:
        return newest(lines, key)


def verify(session: Session, settings: Settings, anchors: str | None = None
           ) -> audit.Verification:
    """The chain checked against the newest signed head of the anchors (the setting's file
    unless another file, e.g. a log, is given)."""
    key = settings.audit_signing_key()
    if anchors and not Path(anchors).is_file():
        # anchors named and not there: checking without them would call a trail whose
        # newest entries were removed intact
        return audit.Verification(0, None, f"no file of anchors at {anchors}")
    try:
        head = newest_in(anchors or settings.audit_anchor_file, key)
    except ChainBroken as error:
        return audit.Verification(0, None, error.message)
    return audit.verify(session, head)


def anchor(session: Session, settings: Settings) -> Head:
    """Verify the chain against the newest head, then sign its head now and write it out: to
    the anchor file (when set) and to the log. Raises ChainBroken, writing nothing, when the
    chain does not verify."""
    result = verify(session, settings)
    if result.problem:
        raise ChainBroken(f"the audit chain does not verify, so its head is not signed: "
                          f"{result.problem}", field="audit")
    head = head_of(session)
    line = anchor_line(head, settings.audit_signing_key())
    if settings.audit_anchor_file:
        path = Path(settings.audit_anchor_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")
    log.info("audit head %s", line, extra={"unmasked": True})
    return head
