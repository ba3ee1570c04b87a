"""The workspace with a million claims: time to render the claims queue's first page, a
filtered page, a claim's page and a supervisor's "my work".

    python scripts/bench_ui.py [--claims 1000000] [--requests 60]

The county (claims ÷ 5 households, each with five claims of different triggers, a complete
scoring run) is built once and kept under var/bench/. Pages are requested in-process through
the whole ASGI application (routing, session check, queries, templates), signed in as an
adjudicator; the last line gives the median and p95 of each.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH = ROOT / "var" / "bench"
TRIGGERS = ["illness", "disability", "disaster", "accident", "education"]
STATES = (["opened"] * 8 + ["investigating"] * 10 + ["village_review"] * 5
          + ["public_notice"] * 5 + ["approval"] * 5 + ["payment_pending"] * 3
          + ["paid"] * 50 + ["rejected"] * 10 + ["withdrawn"] * 4)


def build(url: str, claims: int) -> None:
    import sqlalchemy as sa
    from sqlmodel import Session

    from claims import migrate
    from claims.db import make_engine
    from claims.models import Claim
    from claims.seed import seed_people
    from policies import demo
    from policies.bulk import insert_columns
    from policies.models import Household, utcnow
    from risk.models import HouseholdScore, ScoreRun

    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        if session.execute(sa.text("SELECT count(*) FROM claim")).scalar():
            return
        print(f"  building a county with {claims:,} claims (kept for later runs)…",
              file=sys.stderr)
        summary = demo.build_demo_county(session, households=claims // len(TRIGGERS))
        seed_people(session)
        contract = session.get(demo.PolicyContract, summary.contract_id)
        households = session.execute(sa.select(Household.id).order_by(Household.id)
                                     ).scalars().all()
        rng = random.Random(5)
        today, now = date.today(), utcnow()
        columns: dict[str, list] = {k: [] for k in (
            "claim_number", "household_id", "contract_id", "terms_version_id", "trigger",
            "policy_year", "source", "application_reason", "state", "entitled",
            "approved_amount", "paid_amount", "calculation", "rejection_text", "due_date",
            "opened_at", "updated_at")}
        for n, (household, trigger) in enumerate(
                ((h, t) for h in households for t in TRIGGERS), start=1):
            state = rng.choice(STATES)
            entitled = rng.randrange(1_000, 3_000_000)  # fen
            columns["claim_number"].append(f"LP{today.year}{n:08d}")
            columns["household_id"].append(household)
            columns["contract_id"].append(contract.id)
            columns["terms_version_id"].append(contract.terms_version_id)
            columns["trigger"].append(trigger)
            columns["policy_year"].append(today.year)
            columns["source"].append("event")
            columns["application_reason"].append("")
            columns["state"].append(state)
            columns["entitled"].append(entitled)
            columns["approved_amount"].append(entitled if state in (
                "payment_pending", "paid") else 0)
            columns["paid_amount"].append(entitled if state == "paid" else 0)
            columns["calculation"].append("{}")
            columns["rejection_text"].append("")
            columns["due_date"].append(today + timedelta(days=rng.randrange(-20, 30)))
            columns["opened_at"].append(now)
            columns["updated_at"].append(now)
        insert_columns(session, Claim.__table__, columns, stored=frozenset(
            {"entitled", "approved_amount", "paid_amount", "calculation"}))
        run = ScoreRun(night=today, model_version="bench", as_of_year=today.year,
                       status="complete", started_by="bench", threshold=0.5, rise=0.25,
                       households=len(households))
        session.add(run)
        session.flush()
        insert_columns(session, HouseholdScore.__table__, {
            "run_id": [run.id] * len(households), "household_id": households,
            "score": [rng.random() ** 3 for _ in households]})
        session.commit()
    engine.dispose()


def signed_in_client(url: str, username: str = "adjudicator"):
    from fastapi.testclient import TestClient
    from sqlmodel import Session, select

    from claims.app import create_app
    from claims.auth import SYSTEM
    from claims.db import get_session, make_engine, sessions_on
    from claims.models import AppUser
    from claims.web import session as web_session

    engine = make_engine(url)
    app = create_app()

    app.dependency_overrides[get_session] = sessions_on(lambda: engine)
    with Session(engine) as session:
        user = session.exec(select(AppUser).where(AppUser.username == username)).one()
        web_session.set_password(session, SYSTEM, user, "bench-password-1")
        key, _ = web_session.sign_in(session, username, "bench-password-1")
        session.commit()
    client = TestClient(app)
    client.cookies.set(web_session.COOKIE, key)
    return client, engine


def timed(client, paths: list[str]) -> list[float]:
    times = []
    for path in paths:
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    BENCH.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{BENCH}/ui-{args.claims}.db"
    build(url, args.claims)
    client, engine = signed_in_client(url)
    from claims.db import refresh_statistics

    refresh_statistics(engine)  # as the nightly job leaves the database
    with engine.connect() as connection:
        top = connection.exec_driver_sql("SELECT max(id) FROM claim").scalar()
    rng = random.Random(1)
    filtered = ["/claims?state=investigating&trigger=illness&min_amount=5000&sort=amount",
                "/claims?overdue=1&sort=risk", "/claims?state=approval&min_risk=0.5",
                "/claims?township=&state=opened&sort=opened"]
    kinds = {
        "queue, first page": ["/claims"] * args.requests,
        "queue, filtered": [filtered[i % len(filtered)] for i in range(args.requests)],
        "claim page": [f"/claims/{rng.randrange(1, top + 1)}" for _ in range(args.requests)],
    }
    # "My work" of a supervisor: every open claim of the bench county has no adjudicator yet.
    supervisor, _engine = signed_in_client(url, "supervisor")
    kinds["my work, supervisor"] = ["/work"] * args.requests
    figures = {}
    for name, paths in kinds.items():
        who = supervisor if name.startswith("my work") else client
        timed(who, paths[:3])  # warm: templates compiled, pages cached by SQLite
        found = timed(who, paths)
        figures[name] = (statistics.median(found), statistics.quantiles(found, n=20)[-1])
        print(f"{name:<18} median {figures[name][0]:6.1f} ms   p95 {figures[name][1]:6.1f} ms")
    print(f"RESULT sqlite {args.claims:,} claims: " + "; ".join(
        f"{name} median {m:.0f} ms p95 {p:.0f} ms" for name, (m, p) in figures.items()))


if __name__ == "__main__":
    main()
