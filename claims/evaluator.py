"""The event evaluator: takes received events, oldest first, and evaluates them in bulk.

It runs as a thread of the service (the embedded default) or as its own process
(``fangpin evaluate --follow``) beside several API workers, always on connections of its own:
never the pool the requests use (on SQLite that pool is one connection). Each chunk is one
short transaction. On SQLite it reads beside the writers and takes the write lock only to write
its results; if a writer committed in between, SQLite refuses and the chunk is read again
(after four such refusals, a small chunk is taken under the write lock, so it always progresses).

``failed`` means the rules failed, never the database: a transient error (deadlock,
serialisation failure, lock timeout, SQLite busy) is retried with jitter and counted in the log
(claims.locks); an event is set aside as ``failed`` only when evaluating it raised anything
else, so it never blocks the others, and the error goes to the log.

On PostgreSQL several evaluators may run side by side, each a lane of the households
(intake.Lane: ``fangpin evaluate --lanes N`` once, or one ``fangpin evaluate --follow --lane
K/N`` per lane); each takes only the advisory locks of its lane's buckets, so every household's
events are still evaluated by one of them at a time, in the order they arrived.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from claims import intake, locks
from claims.db import make_engine, url_of
from claims.models import EventStatus, TriggerEvent

log = logging.getLogger("fangpin.evaluator")
CHUNK = 500
SWITCH_INTERVAL = 0.001  # seconds; see Evaluator.start
OPTIMISTIC_TRIES = 4  # reads beside the writers before a chunk is taken under the write lock
_wake = threading.Event()


def notify() -> None:
    """Tell the in-process evaluator that events were stored (it also polls, for events
    stored by other processes)."""
    _wake.set()


class Engines:
    """The evaluator's own engines for a database: one to write with and, on SQLite, one
    whose transactions read beside the writers (deferred)."""

    def __init__(self, url: str) -> None:
        self.write = make_engine(url, pool_size=1, max_overflow=0)
        self.optimistic = (make_engine(url, deferred=True, pool_size=1, max_overflow=0)
                           if self.write.dialect.name == "sqlite" else self.write)

    @classmethod
    def beside(cls, engine: Engine) -> Engines:
        return cls(url_of(engine))

    def dispose(self) -> None:
        self.write.dispose()
        self.optimistic.dispose()


def evaluate_all(engine: Engine | Engines, chunk: int = CHUNK, at_most: int | None = None,
                 stop: threading.Event | None = None, lane: intake.Lane | None = None) -> int:
    """Evaluate every waiting event (of ``lane``'s households: see intake.Lane), or about
    ``at_most``, or until ``stop`` is set, a chunk per transaction, on the evaluator's own
    connections; returns how many."""
    own = engine if isinstance(engine, Engines) else Engines.beside(engine)
    lane = lane or intake.Lane(0, 1)
    lane.after = 0
    total = 0
    try:
        while (at_most is None or total < at_most) and not (stop and stop.is_set()):
            try:
                done = _chunk(own, chunk, lane)
            except Exception as exc:
                if locks.is_transient(exc):  # retried ATTEMPTS times: the events wait
                    log.warning("the database stayed busy; the waiting events are evaluated "
                                "on the next round")
                    break
                log.exception("evaluating a chunk of events failed; taking them one by one")
                done = _one_by_one(own, chunk, lane)
            total += done
            if done == 0:
                if lane.after == 0:
                    break
                # once more from the start: an event committed after a later one was taken
                # (PostgreSQL numbers rows before they commit) waits behind the lane's cursor
                lane.after = 0
    finally:
        if own is not engine:
            own.dispose()
    return total


def _chunk(own: Engines, chunk: int, lane: intake.Lane,
           what: str = "evaluating events") -> int:
    """Evaluate the lane's next chunk in one transaction, retried on transient errors."""
    tries = [0]

    def work() -> int:
        optimistic = tries[0] < OPTIMISTIC_TRIES
        tries[0] += 1
        engine = own.optimistic if optimistic else own.write
        with Session(engine, expire_on_commit=False) as session:
            done = intake.evaluate_received(session, chunk if optimistic else
                                            max(1, chunk // 10), lane)
            session.commit()
        if done:
            lane.after = lane.taken
        return done

    return locks.retrying(work, what=what)


def _one_by_one(own: Engines, chunk: int, lane: intake.Lane) -> int:
    """Evaluate the lane's next chunk an event at a time, setting aside those whose rules
    fail."""
    with Session(own.write) as session:
        ids = session.exec(select(TriggerEvent.id).where(*lane.criteria())
                           .order_by(TriggerEvent.id).limit(chunk)).all()
    for done, event_id in enumerate(ids):
        try:
            _chunk(own, 1, lane, "evaluating one event")
        except Exception as exc:
            if locks.is_transient(exc):
                return done  # the database, not the rules: it waits for the next round
            log.exception("evaluating event %s failed; it is set aside as failed", event_id)
            with Session(own.write) as session:
                event = session.get(TriggerEvent, event_id)
                event.status = EventStatus.failed
                event.reason = f"evaluation failed ({type(exc).__name__}); see the service log"
                session.commit()
    return len(ids)


def evaluate_lanes(url: str, lanes: int, chunk: int = CHUNK) -> int:
    """Evaluate every waiting event in ``lanes`` processes side by side, this one and
    ``lanes - 1`` spawned, each a lane of the households (intake.Lane); returns how many.
    Worth it on PostgreSQL, where the lanes' transactions run at once; on SQLite they would
    only wait for each other's writes."""
    intake.Lane(0, lanes)  # refuses a count out of range before a process starts
    if lanes == 1:
        return _evaluate_lane(url, 0, 1, chunk)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(lanes - 1, mp_context=context) as pool:
        others = [pool.submit(_spawned_lane, url, index, lanes, chunk)
                  for index in range(1, lanes)]
        done = _evaluate_lane(url, 0, lanes, chunk)
        return done + sum(other.result() for other in others)


def _spawned_lane(url: str, index: int, lanes: int, chunk: int) -> int:
    gc.freeze()  # as the service does: what the process starts with is never garbage
    return _evaluate_lane(url, index, lanes, chunk)


def _evaluate_lane(url: str, index: int, lanes: int, chunk: int) -> int:
    engine = make_engine(url)
    try:
        return evaluate_all(engine, chunk, lane=intake.Lane(index, lanes))
    finally:
        engine.dispose()


class Evaluator:
    """A background thread that evaluates events (of ``lane``'s households) when woken, or
    every ``poll_seconds``, on engines of its own beside the service's ``engine``."""

    def __init__(self, engine: Callable[[], Engine], poll_seconds: float = 2.0,
                 lane: intake.Lane | None = None) -> None:
        self._engine = engine
        self._poll = poll_seconds
        self._lane = lane
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fangpin-evaluator", daemon=True)

    def start(self) -> None:
        # The thread shares the interpreter with the requests: while it calculates, a request
        # waits for the GIL up to the switch interval at each step (5 ms by default, tens of
        # steps a request); at 1 ms /healthz and intake answer within a few milliseconds.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        _wake.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        own = Engines.beside(self._engine())
        try:
            while not self._stop.is_set():
                _wake.wait(self._poll)
                _wake.clear()
                if self._stop.is_set():
                    return
                try:
                    evaluate_all(own, stop=self._stop, lane=self._lane)
                except Exception:  # the database may be down for a moment; try again later
                    log.exception("the evaluator could not reach the database")
        finally:
            own.dispose()
