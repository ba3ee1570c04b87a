#!/usr/bin/env python
"""Monitoring at scale (issue 19, item 4): the nightly evaluation of N open post-payout
windows, set-based, against its floor.

Builds, in a process of its own (so that its memory is not counted), a scratch county of N
watched households in bulk: the generated mix the differential test checks
(tests/claims/test_monitoring_sets.py: members, a survey, the payout and 0–5 income reports
each, alerts and follow-ups already open, pending and declined proposals, open claims, early
warnings, new shocks, two score runs; about a quarter of the windows past their end). Then
prints, for the engine chosen:
  floor      — the same rows read with the raw driver (a chunk of 5,000 windows at a time: the
               windows, their ledgers, open alerts and follow-ups, scores, new shocks, and for
               the households stable long enough their proposals, claims, warnings and
               labour), the pure rules of risk.monitoring run over each window (their own time
               printed apart), and the same result rows written with the driver's executemany
               (closes, follow-ups, alerts, proposals); in a transaction rolled back;
  evaluation — `run_monitoring` as the nightly run calls it: in one process, or with
               --dask-workers K on a local Dask cluster of K worker processes of one thread
               (FANGPIN_SCORE_ENGINE=dask), each evaluating ranges of 5,000 windows (windows/s,
               the time for N, the ratio to the floor);
  memory     — this process's peak resident memory (the floor and the evaluation ran in it);
               the load average beside it, since the machine is shared.
Beside each wall time, this process's CPU time: on the shared machine wall times of the same
code moved by half from run to run, its CPU time by a few percent (on PostgreSQL the server's
CPU is not in it).
The target (issue 19, 2 cores): 1,000,000 open windows evaluated in under 60 s; peak memory
under 2 GB; on SQLite and PostgreSQL.

    python scripts/bench_monitoring.py [--windows 100000] [--engine sqlite|postgresql]
                                       [--dask-workers 0]

Findings (4 Dec 2026, before the ledgers were read from the driver's rows): 1,000,000
windows took 171.7 s on SQLite (floor 166.9 s, the rules 40.5 s) and 161.7 s on PostgreSQL
(148.6 s, 36.7 s) at load 1–5; without ANALYZE after the bulk build, 580 s on PostgreSQL
(bad plans, not the evaluation).

Findings (4 Dec 2026, later; docs/scaling.md, "Monitoring windows", has the table). Where the
time went, by whole-run CPU time and by ablation of each step at 100,000 windows on SQLite:
the ledger read (SQLAlchemy's processing of 1.1 million Money and UtcDateTime values, then a
second pass building the ledgers) about as much as the rules; the rules' rolling incomes
sorted each ledger again for every report day and computed the days after today only to
throw them away. Now the ledgers come from the driver's rows (fetchall), each distinct day and
amount of a chunk converted once and the ledgers built in one pass (the floor builds them with
the same code), and rolling_incomes sorts a ledger once for all its days up to today. Same
database, runs interleaved: the evaluation's CPU 12.5–12.9 s → 7.6–8.5 s on SQLite and
11.8 → 8.2 s on PostgreSQL (wall 22.8 → 11.5 s), the same rows written. 1,000,000 windows on
SQLite, alone on the machine (load 1.0 at the end): 153.0 s = 6,536 windows/s, 1.03× the
floor (148.0 s, the rules 25.6 s, down from 40.5 s), peak 371 MB; PostgreSQL alone (load
1.2): 126.0 s = 7,938 windows/s, 0.97× the floor (129.6 s, the rules 26.3 s), this
process's CPU 84.5 s, peak 340 MB. Both engines at once (load 5–8): 200.3 s and 182.6 s.
The 60 s target is still not met. The evaluation's own CPU grows with the windows (SQLite:
7.6–8.5 s at 100,000, 26.1–27.0 s at 300,000); SQLite's million took longer than that rate
(about 85 s): its floor's database share was 122 s of 148 s against about 4 s of 8 s at
100,000, not yet explained (one transaction writes the night into the WAL: the first suspect;
a larger cache_size made no difference at 300,000). On PostgreSQL the COPY of the alerts
and follow-ups pays for six and five indexes and three and two foreign keys checked row by
row (no triggers); the plans are index scans (EXPLAIN, 10 ms a chunk's statement).

Findings (5 Dec 2026): SQLite's million explained. With no statistics its planner found
status = 'open' more selective than a chunk's window ids and read every open alert and
follow-up of the county through the status index, for each chunk (the floor's raw statements
too). Both now test such a status with SQLite's unary + (claims.db.unindexed; Raw.unindexed
here). A million windows on SQLite, alone (load 1.0–1.2), the same counts: 65.4 s = 15,279
windows/s, CPU 64.9 s, 1.11× the floor (59.0 s, the rules 22.4 s), peak 330 MB; from 153.0 s.
300,000 windows: 18.6 s, CPU 18.2 s (26.1–27.0 s before). Still over the 60 s target.

Findings (5–6 Dec 2026): a third of the evaluation was the garbage collector (gc.callbacks at
100,000 windows on SQLite: 2.2 s of 6.6 s), rescanning each chunk's young objects at the
interpreter's threshold of 700; the night now collects less often while it runs
(policies.bulk.fewer_collections; the floor too): 0.15 s. On PostgreSQL a chunk's ids go as
one array parameter (policies.bulk.among; the floor's Raw.among too): 200,000 windows 19.5–19.9 →
15.7–16.1 s, CPU 10.9 → 7.7 s, interleaved. A million windows on SQLite, alone: 51.2 and
49.3 s (1.17× and 1.12× the floor of 43.7 and 44.0 s; CPU 50.7 and 48.9 s; peak 344 and 332
MB): the target is met. PostgreSQL, a million: 112.0 s in one process with the collector
change alone (0.96× the floor, CPU 57.4 s, half of it waiting for the server), 98.0 s with
both (0.86× the floor of 113.8 s, CPU 44.5 s, peak 297 MB); 76.3 s on two
Dask workers with both changes (0.75× the floor of 101.9 s). A third of the server's share
is the foreign keys of the alerts and follow-ups COPY writes, checked row by row (11.6 s
instead of 15.4 s at 200,000 with the checks disabled in a scratch copy; they stay).

Findings (7 Dec 2026): statement by statement at a million windows (cursor events, COPYs
timed apart), one process spent 13.5 s reading the scores: for household_id = ANY(ids) the
planner read a whole score partition in parallel for every chunk (71 ms); the ids are now
unnested into a set (policies.bulk.among; Raw.among here), 1.9 s. The COPY of the alerts and
follow-ups, 26.9 s, checked window and household as two keys row by row (the household's
locking its row): one key against the window (migration 0023), 20.8 s. A million windows on
PostgreSQL, quiet machine: one process 61.4 s and 66.7 s (CPU 32.0 and 35.3 s, 0.98x and
1.00x the floor of 62.7 and 66.8 s, the rules 15.6 and 16.5 s, peak 336 and 294 MB); two
Dask workers 48.0 s (0.77x the floor, driver 518 MB): the target is met with the Dask engine,
not yet in one process.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench_intake import drop, scratch_database  # noqa: E402
from sqlmodel import Session  # noqa: E402

from claims import clock, distributed, monitoring  # noqa: E402
from claims.db import make_engine  # noqa: E402
from claims.migrate import upgrade  # noqa: E402
from policies.bulk import fewer_collections  # noqa: E402
from risk import monitoring as watch  # noqa: E402

CHUNK = monitoring.CHUNK


def build(url: str, windows: int, today: date) -> None:
    from tests.claims.test_monitoring_sets import watched_county

    upgrade(url)
    engine = make_engine(url)
    started = time.perf_counter()
    with Session(engine) as session:
        watched_county(session, windows, seed=11, today=today, progress=lambda done, total: print(
            f"  built {done:,} of {total:,} ({time.perf_counter() - started:.0f} s)",
            file=sys.stderr))
    if engine.dialect.name == "postgresql":  # the statistics autovacuum would have gathered
        with engine.begin() as connection:
            for table in ("household", "member", "claim", "income_record", "monitoring_window",
                          "monitoring_alert", "follow_up", "elimination", "early_warning",
                          "trigger_event", "household_score"):
                connection.exec_driver_sql(f"ANALYZE {table}")
    engine.dispose()


class Raw:
    """The raw driver's connection, its markers and the stored forms of dates and money."""

    def __init__(self, engine):
        self.connection = engine.raw_connection()
        self.sqlite = engine.dialect.name == "sqlite"
        self.cursor = self.connection.cursor()
        if self.sqlite:  # the engine's connections leave transactions to it: begin one
            self.cursor.execute("BEGIN IMMEDIATE")

    def rows(self, sql: str, *params) -> list[tuple]:
        self.cursor.execute(sql.replace("%s", "?") if self.sqlite else sql, params)
        return self.cursor.fetchall()

    def insert(self, table: str, columns: str, rows: list[tuple]) -> None:
        """Rows in with the driver's bulk path: COPY on PostgreSQL, executemany on SQLite."""
        if not rows:
            return
        if self.sqlite:
            markers = ", ".join("?" * len(rows[0]))
            self.cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({markers})", rows)
            return
        with self.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def among(self, column: str, ids) -> tuple[str, list]:
        """The ids as the evaluation sends them (policies.bulk.among): an IN list on SQLite, one
        array parameter unnested into a set on PostgreSQL."""
        ids = sorted(ids)
        if not self.sqlite:
            return f"{column} IN (SELECT unnest(%s::integer[]))", [ids]
        return f"{column} IN ({', '.join(['%s'] * len(ids))})", ids

    def unindexed(self, column: str) -> str:
        """A status beside a list of ids, as the evaluation tests it (claims.db.unindexed)."""
        return f"+{column}" if self.sqlite else f"({column} || '')"

    def day(self, value) -> date:
        return date.fromisoformat(value[:10]) if isinstance(value, str) else value

    def stored_day(self, value: date):
        return str(value) if self.sqlite else value


def yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else Decimal(fen).scaleb(-2)


def floor(url: str, today: date) -> tuple[dict[str, int], float, float, float]:
    """The evaluation's unavoidable work with the raw driver (rolled back); its counts,
    seconds, this process's CPU seconds and the rules' own seconds."""
    engine, reader = make_engine(url), make_engine(url, read_only=True)
    raw = Raw(engine)
    with Session(reader) as session:  # the lines, read as the evaluation reads them
        lines = monitoring.Lines(session)
        runs = monitoring._score_runs(session)
        counts = dict.fromkeys(monitoring.COUNTS, 0)
        started, cpu = time.perf_counter(), time.process_time()
        with fewer_collections():  # as the evaluation collects garbage
            rules_s = floor_chunks(raw, today, lines, runs, counts)
        raw.connection.rollback()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    raw.connection.close()
    engine.dispose()
    reader.dispose()
    return counts, seconds, cpu, rules_s


def floor_chunks(raw: Raw, today: date, lines, runs, counts) -> float:
    """Every chunk of open windows; the rules' own seconds."""
    rules_s, after = 0.0, 0
    while True:
        watched = [monitoring._Watched(w, h, raw.day(o), raw.day(e), c, yuan(b), r, v)
                   for w, h, o, e, c, b, r, v in raw.rows(
            "SELECT w.id, w.household_id, w.opened_on, w.ends_on, w.claim_id, "
            "w.before_shock, CAST(w.rules AS TEXT), h.village_id FROM monitoring_window w "
            "JOIN household h ON h.id = w.household_id WHERE w.status = 'open' "
            "AND w.id > %s ORDER BY w.id LIMIT %s", after, CHUNK)]
        if not watched:
            return rules_s
        after = watched[-1].id
        rules_s += floor_chunk(raw, watched, today, lines, runs, counts)


def floor_chunk(raw: Raw, watched, today: date, lines, runs, counts) -> float:
    ended = [w.id for w in watched if w.ends_on < today]
    if ended:
        where, params = raw.among("id", ended)
        raw.rows(f"UPDATE monitoring_window SET status = 'closed' WHERE {where} "
                 "AND status = 'open' RETURNING id", *params)
    counts["closed"] += len(ended)
    live = [w for w in watched if w.ends_on >= today]
    counts["windows"] += len(live)
    households, window_ids = {w.household_id for w in live}, [w.id for w in live]
    where, params = raw.among("household_id", households)
    day, amount = monitoring._Converted(raw.day), monitoring._Converted(yuan)
    ledgers = monitoring._ledgers_of(  # the ledgers built as the evaluation builds them
        (h, source, day[start], day[end], amount[net], amount[listed], size, recorded)
        for h, source, start, end, net, listed, size, recorded in raw.rows(
            "SELECT household_id, source, period_start, period_end, net_income, "
            "transfer_poverty_insurance, household_size, recorded_at FROM income_record "
            f"WHERE {where} ORDER BY household_id, period_end, id", *params))
    where_w, params_w = raw.among("window_id", window_ids)
    taken = defaultdict(set)
    for w, kind in raw.rows(f"SELECT window_id, kind FROM monitoring_alert WHERE {where_w} "
                            f"AND {raw.unindexed('status')} = 'open'", *params_w):
        taken[w].add(kind)
    cases = dict(raw.rows(f"SELECT window_id, min(id) FROM follow_up WHERE {where_w} "
                          f"AND {raw.unindexed('status')} = 'open' GROUP BY window_id",
                          *params_w))
    scores: dict[int, list] = {}
    if runs:
        for run, h, score in raw.rows(f"SELECT run_id, household_id, score FROM household_score "
                                      f"WHERE run_id IN (%s, %s) AND {where}",
                                      *runs, *params):
            scores.setdefault(h, [None, None])[0 if run == runs[0] else 1] = score
    where_s, params_s = raw.among("w.id", window_ids)
    shocked = {w for (w,) in raw.rows(
        f"SELECT w.id FROM monitoring_window w WHERE {where_s} AND EXISTS (SELECT 1 FROM "
        "trigger_event t WHERE t.household_id = w.household_id AND t.event_date > w.opened_on "
        "AND (t.claim_id IS NULL OR t.claim_id != w.claim_id))", *params_s)}
    timer = time.perf_counter()
    raised, seen = {}, {}
    for w in live:
        seen[w.id] = monitoring.picture_of(*ledgers.get(w.household_id, ([], [], [])),
                                           w.village_id, w.opened_on, w.ends_on,
                                           monitoring._rules(w.rules), today, lines)
        found = [a for a in monitoring._alerts(
            seen[w.id], today, w.before_shock, tuple(scores.get(w.household_id, (None, None))),
            w.id in shocked, monitoring._rules(w.rules)) if a.kind not in taken[w.id]]
        if found:
            raised[w] = found
    rules_s = time.perf_counter() - timer
    new = [w for w in raised if w.id not in cases]
    raw.insert("follow_up", "window_id, household_id, opened_on, helper, status, outcome_note, "
               "closed_by", [(w.id, w.household_id, raw.stored_day(today), "", "open", "", "")
                             for w in new])
    counts["follow_ups"] += len(new)
    if new:
        where_n, params_n = raw.among("window_id", [w.id for w in new])
        cases.update(raw.rows(f"SELECT window_id, min(id) FROM follow_up WHERE {where_n} "
                              f"AND {raw.unindexed('status')} = 'open' GROUP BY window_id",
                              *params_n))
    alerts = [(w.id, w.household_id, a.kind, json.dumps(a.figures), raw.stored_day(today),
               "open", cases[w.id]) for w, found in raised.items() for a in found]
    raw.insert("monitoring_alert", "window_id, household_id, kind, figures, raised_on, status, "
               "follow_up_id", alerts)
    counts["alerts"] += len(alerts)
    return rules_s + floor_proposals(raw, live, seen, today, counts)


def floor_proposals(raw: Raw, live, seen, today: date, counts) -> float:
    stable = [w for w in live if seen[w.id].latest is not None
              and seen[w.id].months_stable >= monitoring._rules(w.rules).stable_months]
    if not stable:
        return 0.0
    where, params = raw.among("household_id", {w.household_id for w in stable})
    where_w, params_w = raw.among("window_id", [w.id for w in stable])

    def households(sql: str) -> set[int]:
        return {h for (h,) in raw.rows(sql, *params)}

    pending = households(f"SELECT household_id FROM elimination WHERE {where} "
                         f"AND {raw.unindexed('status')} = 'proposed'")
    decided = {w: json.loads(f) if isinstance(f, str) else f for w, f in raw.rows(
        "SELECT window_id, figures FROM elimination WHERE id IN (SELECT max(id) FROM "
        f"elimination WHERE {where_w} GROUP BY window_id)", *params_w)}
    states = "', '".join(monitoring.OPEN_CLAIM_STATES)
    busy = households(f"SELECT household_id FROM claim WHERE {where} "
                      f"AND {raw.unindexed('state')} IN ('{states}')")
    warned = households(f"SELECT household_id FROM early_warning WHERE {where} "
                        f"AND {raw.unindexed('status')} = 'open'")
    able = households(f"SELECT household_id FROM member WHERE {where} AND status = 'active' "
                      "AND labour_skill NOT IN ('lost', 'none')")
    cases = {w for (w,) in raw.rows(f"SELECT window_id FROM follow_up WHERE {where_w} "
                                    f"AND {raw.unindexed('status')} = 'open'", *params_w)}
    timer, rows = time.perf_counter(), []
    for w in stable:
        latest = seen[w.id].latest
        if w.household_id in pending or (decided.get(w.id) or {}).get("report_day") == str(
                latest["day"]):
            continue
        proposed, _why = watch.propose_elimination(
            months_above=seen[w.id].months_stable, costs_settled=w.household_id not in busy,
            new_risk=w.id in cases or w.household_id in warned,
            has_labour=w.household_id in able, rules=monitoring._rules(w.rules))
        if proposed:
            pending.add(w.household_id)
            rows.append((w.household_id, w.id, "proposed", raw.stored_day(today), json.dumps(
                monitoring._figures(latest, seen[w.id].months_stable)), "[]", "", ""))
    rules_s = time.perf_counter() - timer
    raw.insert("elimination", "household_id, window_id, status, proposed_on, figures, flags, "
               "decided_by, note", rows)
    counts["proposals"] += len(rows)
    return rules_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=100_000)
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--dask-workers", type=int, default=0)
    args = parser.parse_args()
    today = clock.county_today()
    with tempfile.TemporaryDirectory() as tmp:
        url, schema = scratch_database(args.engine, tmp, "fangpin_monitoring")
        try:
            started = time.perf_counter()
            builder = multiprocessing.get_context("fork").Process(
                target=build, args=(url, args.windows, today))
            builder.start()
            builder.join()
            if builder.exitcode:
                raise SystemExit(f"building the county failed ({builder.exitcode})")
            built_s = time.perf_counter() - started
            floor_counts, floor_s, floor_cpu, rules_s = floor(url, today)
            engine = make_engine(url)
            with distributed.computing("dask" if args.dask_workers else "local", None,
                                       args.dask_workers, lambda client: distributed.
                                       window_evaluator(client, engine)) as ranges:
                started, cpu = time.perf_counter(), time.process_time()
                run = monitoring.run_monitoring(engine, today, "bench", evaluate_ranges=ranges)
                run_s, run_cpu = time.perf_counter() - started, time.process_time() - cpu
            engine.dispose()
        finally:
            drop(schema)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    counts = run.counts
    print(f"{args.windows:,} open windows on {args.engine} (built in {built_s:.0f} s): "
          f"{counts['windows']:,} evaluated, {counts['closed']:,} closed, {counts['alerts']:,} "
          f"alerts, {counts['follow_ups']:,} follow-ups, {counts['proposals']:,} proposals")
    where = (f"Dask, {args.dask_workers} workers × 1 thread" if args.dask_workers
             else "one process")
    print(f"evaluation ({where}): {run_s:.1f} s = {args.windows / run_s:,.0f} windows/s "
          f"(target: 1,000,000 in < 60 s = 16,667/s); this process's CPU {run_cpu:.1f} s")
    print(f"floor: {floor_s:.1f} s = {args.windows / floor_s:,.0f} windows/s, of which the "
          f"rules {rules_s:.1f} s; this process's CPU {floor_cpu:.1f} s; "
          f"the evaluation takes {run_s / floor_s:.2f}× the floor's "
          f"time; the floor wrote {'the same' if floor_counts == counts else 'OTHER'} counts"
          + ("" if floor_counts == counts else f" {floor_counts}"))
    print(f"peak memory {peak:,.0f} MB (target < 2,048); load average at the end "
          f"{', '.join(f'{load:.1f}' for load in os.getloadavg())} (1, 5, 15 min) on "
          f"{os.cpu_count()} cores")


if __name__ == "__main__":
    main()
