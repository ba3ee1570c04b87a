"""The income ledger as known on a day, against an oracle written apart from the SQL: random
households' annual records (survey, report and payout), stored in an order unlike the one
they were recorded in, corrected at random moments (some corrections changing nothing),
then each year's per-capita figure the features read on random days compared with a
replay of the same history in plain Python. FANGPIN_TEST_LEDGER_HOUSEHOLDS sets the size
(default 30; a long run: FANGPIN_TEST_LEDGER_HOUSEHOLDS=200). On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from policies import registry
from policies.bulk import read_frame
from policies.models import IncomeRecord, IncomeRecordCreate, IncomeRecordUpdate
from risk import features
from tests.factories import county_with_villages, household_with_members

HOUSEHOLDS = int(os.environ.get("FANGPIN_TEST_LEDGER_HOUSEHOLDS", "30"))
YEARS = (2021, 2022, 2023, 2024, 2025)


def moment_in(rng: random.Random, first: date, days: int) -> datetime:
    """A moment (UTC, whole minutes) within ``days`` days from ``first``."""
    return datetime(first.year, first.month, first.day, tzinfo=UTC) + timedelta(
        minutes=rng.randrange(days * 24 * 60))


def known_figure(history: list[tuple[datetime, int]], moment: datetime) -> int | None:
    """The oracle: of a record's figures by the moment each was set (the first at its
    recording), the last set before ``moment``."""
    figure = None
    for when, value in history:  # in time order
        if when < moment:
            figure = value
    return figure


@pytest.mark.parametrize("seed", [11, 12])
def test_each_days_ledger_is_the_replayed_history(session, monkeypatch, seed):
    rng = random.Random(seed)
    ids = county_with_villages(session, villages=1)
    homes = [household_with_members(session, ids["village0"], number=f"H{n:04d}",
                                    members=rng.randint(1, 4), seq_start=4 * n + 1)[0].id
             for n in range(HOUSEHOLDS)]
    # the records, created in a shuffled order, each then stamped with its own recording
    planned = [(home, year, source, reference)
               for home in homes for year in YEARS
               for source, reference in (("survey", ""), ("report", "a"), ("report", "b"),
                                         ("payout", "p"))
               if rng.random() < (0.7 if reference in ("", "a") else 0.25)]
    rng.shuffle(planned)
    stored: dict[int, dict] = {}
    for home, year, source, reference in planned:
        record = registry.create_income_record(session, IncomeRecordCreate(
            household_id=home, period_start=date(year, 1, 1), period_end=date(year, 12, 31),
            source=source, reference=reference,
            wages=Decimal(rng.randrange(0, 60_000)),
            transfer_poverty_insurance=Decimal(rng.randrange(0, 5_000))))
        recorded = moment_in(rng, date(year + 1, 1, 1), 500)
        if rng.random() < 0.05:  # two records of one moment: the later id is the later
            recorded = datetime(year + 1, 3, 1, 12, tzinfo=UTC)
        session.execute(IncomeRecord.__table__.update().where(
            IncomeRecord.__table__.c.id == record.id).values(recorded_at=recorded))
        session.expire(record, ["recorded_at"])
        stored[record.id] = {"home": home, "year": year, "source": source,
                             "recorded": recorded,
                             "history": [(recorded, int(record.per_capita_net_income * 100))]}
    # corrections at random moments after each recording, made in the order of time
    corrections = sorted(
        (moment_in(rng, (info["recorded"] + timedelta(days=1)).date(), 600), record_id)
        for record_id, info in stored.items() for _ in range(rng.choice((0, 0, 1, 2, 3))))
    for when, record_id in corrections:
        monkeypatch.setattr(registry, "utcnow", lambda when=when: when)
        record = registry.get_income_record(session, record_id)
        wages = record.wages if rng.random() < 0.2 else Decimal(rng.randrange(0, 60_000))
        registry.update_income_record(session, record_id, IncomeRecordUpdate(wages=wages))
        stored[record_id]["history"].append((when, int(record.per_capita_net_income * 100)))
    session.commit()

    days = [date(2022, 1, 1) + timedelta(days=rng.randrange(5 * 365)) for _ in range(8)]
    for day in days:
        moment = features.known_by(day)
        frame = read_frame(session.connection(), features._incomes_query(day, homes, None))
        frame = frame.set_index("household_id")
        for home in homes:
            for year in features.income_years(day):
                mine = [(info["recorded"], record_id) for record_id, info in stored.items()
                        if info["home"] == home and info["year"] == year
                        and info["source"] != "payout" and info["recorded"] < moment]
                expected = known_figure(stored[max(mine)[1]]["history"], moment) if mine \
                    else None
                got = frame.at[home, str(year)] if home in frame.index else None
                got = None if got is None or pd.isna(got) else int(pd.to_numeric(got))
                assert got == expected, (day, home, year, mine)
