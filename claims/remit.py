"""What each department may report (职责范围): a department API key may send only the event
types of its remit — its own list, or by default its department's — so that the
medical-insurance key cannot send disability events and one loss does not arrive twice from two
departments as two different kinds of report.

An event outside the key's remit is refused: a single event with 403 (the key is not allowed
to send it; the event itself may be fine), a batch's or a file's as a ``rejected`` outcome with
the same reason. Staff and the system are not departments and are not limited."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from claims import audit
from claims.auth import Actor, forget_actors
from claims.models import ApiClient
from policies.benefits import EventIn
from policies.errors import InvalidInput, NotFound

# None: every event type, built in or declared by terms (the poverty office gathers all).
DEFAULT_REMIT: dict[str, tuple[str, ...] | None] = {
    "poverty_office": None,
    "medical_insurance": ("illness",),
    "disabled_federation": ("disability",),
    "emergency_management": ("disaster",),
    "traffic_police": ("accident",),
    "education": ("education",),
    # hardship that reaches civil affairs through temporary assistance (临时救助): unsafe
    # housing, a lost job, a failed farm or business
    "civil_affairs": ("housing", "employment", "industry"),
}


class OutsideRemit(InvalidInput):
    """A valid event of a type the sending key may not report (403; in a batch, rejected)."""

    status_code = 403


def remit_of(organisation: str | None, event_types: Any) -> frozenset[str] | None:
    """The event types a key may send: its own list, else its department's; None: all."""
    if event_types is not None:
        return frozenset(event_types)
    default = DEFAULT_REMIT.get(organisation or "", ())
    return None if default is None else frozenset(default)


def check(actor: Actor, event: EventIn) -> None:
    """Refuse an event its department key may not send; anyone else may send any."""
    if actor.kind != "client":
        return
    allowed = remit_of(actor.organisation, actor.event_types)
    if allowed is not None and event.type not in allowed:
        raise OutsideRemit(
            f"{actor.name} may not send {event.type!r} events: its remit is "
            f"{', '.join(sorted(allowed)) or 'no event type'} (an administrator sets it)",
            field="type", value=event.type)


def set_remit(session: Session, actor: Actor, client_id: int, event_types: list[str] | None,
              known: frozenset[str]) -> ApiClient:
    """Set a key's remit (None: back to its department's); audited; flushes. Every type must
    be one that exists (``known``: built in or declared by stored terms)."""
    client = session.get(ApiClient, client_id)
    if client is None:
        raise NotFound(f"no department API key {client_id}", field="client_id",
                       value=client_id)
    if event_types is not None:
        unknown = sorted(set(event_types) - known)
        if unknown:
            raise InvalidInput(f"unknown event type(s) {', '.join(unknown)}; known: "
                               f"{', '.join(sorted(known))}", field="event_types",
                               value=", ".join(unknown))
        event_types = sorted(set(event_types))
    before = client.event_types
    client.event_types = event_types
    session.add(client)
    session.flush()
    audit.record(session, actor, "api_client", client.id, "set_remit",
                 before={"event_types": before}, after={"event_types": event_types})
    forget_actors()  # at once in this process; other processes within auth.ACTOR_TTL
    return client


def view(client: ApiClient) -> dict[str, Any]:
    """A key's remit as administrators read it."""
    allowed = remit_of(client.organisation, client.event_types)
    return {"event_types": None if allowed is None else sorted(allowed),
            "remit": "own" if client.event_types is not None else "department"}
