"""The event evaluator: takes received events, oldest first, and evaluates them in bulk.

It runs as a thread of the service (the embedded default) or as its own process
(``fangpin evaluate --follow``) beside several API workers. Each chunk is one transaction; an
event whose evaluation fails is set aside with status ``failed`` so it never blocks the
others, and the error goes to the log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from claims import intake
from claims.models import EventStatus, TriggerEvent

log = logging.getLogger("fangpin.evaluator")
CHUNK = 500
_wake = threading.Event()


def notify() -> None:
    """Tell the in-process evaluator that events were stored (it also polls, for events
    stored by other processes)."""
    _wake.set()


def evaluate_all(engine: Engine, chunk: int = CHUNK, at_most: int | None = None) -> int:
    """Evaluate every waiting event (or about ``at_most``), a chunk per transaction; returns
    how many."""
    total = 0
    while at_most is None or total < at_most:
        try:
            with Session(engine, expire_on_commit=False) as session:
                done = intake.evaluate_received(session, chunk)
                session.commit()
        except Exception:
            log.exception("evaluating a chunk of events failed; taking them one by one")
            done = _one_by_one(engine, chunk)
        total += done
        if done == 0:
            break
    return total


def _one_by_one(engine: Engine, chunk: int) -> int:
    """Evaluate the next chunk an event at a time, setting aside those that fail."""
    with Session(engine) as session:
        ids = session.exec(select(TriggerEvent.id).where(
            TriggerEvent.status == EventStatus.received).order_by(TriggerEvent.id)
            .limit(chunk)).all()
    for event_id in ids:
        try:
            with Session(engine, expire_on_commit=False) as session:
                intake.evaluate_received(session, 1)
                session.commit()
        except Exception as exc:
            log.exception("evaluating event %s failed; it is set aside as failed", event_id)
            with Session(engine) as session:
                event = session.get(TriggerEvent, event_id)
                event.status = EventStatus.failed
                event.reason = f"evaluation failed ({type(exc).__name__}); see the service log"
                session.commit()
    return len(ids)


class Evaluator:
    """A background thread that evaluates events when woken, or every ``poll_seconds``."""

    def __init__(self, engine: Callable[[], Engine], poll_seconds: float = 2.0) -> None:
        self._engine = engine
        self._poll = poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fangpin-evaluator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        _wake.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            _wake.wait(self._poll)
            _wake.clear()
            if self._stop.is_set():
                return
            try:
                evaluate_all(self._engine())
            except Exception:  # the database may be down for a moment; try again later
                log.exception("the evaluator could not reach the database")
