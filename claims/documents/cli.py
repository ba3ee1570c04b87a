"""``fangpin documents check``: the document store against the table."""

from __future__ import annotations

import sys
import time
from datetime import timedelta


def _check(args) -> int:
    # here, not at the top: every fangpin command builds the parser that registers this one,
    # and the service's imports (the audit trail, pandas) cost a second of each start-up
    import obstore
    from sqlmodel import Session

    from claims.db import get_engine
    from claims.documents import service, storage

    started = time.perf_counter()
    store = storage.current()
    try:
        with Session(get_engine()) as session:
            report = service.check(session, store, remove_orphans=args.remove_orphans,
                                   older_than=timedelta(minutes=args.older_than_minutes))
    except (OSError, obstore.exceptions.BaseError) as exc:
        print(f"error: the document store {store.where} could not be read: "
              f"{str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    shown = 0
    for line in service.summary(report):
        if line.startswith(("MISSING", "ALTERED", "ORPHAN", "REMOVED")):
            shown += 1
            if args.limit and shown > args.limit:
                continue
        print(line)
    if args.limit and shown > args.limit:
        print(f"… and {shown - args.limit:,} more findings (--limit 0 lists all)")
    print(f"checked in {time.perf_counter() - started:.2f} s")
    return 0 if report.sound else 1


def register(sub) -> None:
    """Add the ``documents`` command to the command line's subcommands."""
    documents = sub.add_parser("documents", help="documents: check the store against the table")
    documents.add_argument("action", choices=["check"])
    documents.add_argument("--remove-orphans", action="store_true", help=(
        "delete files that have no row (an upload whose transaction never committed)"))
    documents.add_argument("--older-than-minutes", type=int, default=60, help=(
        "only orphans older than this are deleted (default 60: a younger file may belong to "
        "an upload still under way)"))
    documents.add_argument("--limit", type=int, default=50,
                           help="list at most this many findings (0: all)")
    documents.set_defaults(func=_check)
