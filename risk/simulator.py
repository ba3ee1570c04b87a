"""A household panel simulator (家庭收入面板模拟): the data to learn return-to-poverty risk from.

Year by year, a county's households earn wages from their working members, farm and keep
livestock, and receive pensions and 低保; illness, disability, accidents and village-wide
disasters strike at the rates of ``risk/simulation.toml`` (which says why each value is what
it is), cut income and raise out-of-pocket costs; the insurance pays part of large costs.

It writes what the registry holds — the demo county's regions, households and members (as
registered at the start of the panel), the monitoring line of every year, and one annual
survey record per household and year in the income ledger — so training reads the same
tables and the same features as the nightly scoring does.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session

from policies import demo
from policies.bulk import insert_columns
from policies.models import Household, IncomeRecord, Member, MonitoringLine, utcnow


def parameters() -> dict[str, Any]:
    """The simulator's documented parameters."""
    text = resources.files("risk").joinpath("simulation.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


@dataclass(frozen=True)
class PanelSummary:
    households: int
    members: int
    years: tuple[int, ...]
    below_line_share: dict[int, float]  # per year, the share of households under the line
    county: demo.DemoSummary


def _members_frame(session: Session) -> pd.DataFrame:
    """The members as registered: what the simulation starts from."""
    table = Member.__table__
    rows = session.execute(sa.select(
        table.c.household_id, table.c.birth_date, table.c.health, table.c.disability_grade,
        table.c.labour_skill, table.c.migrant_work_months, table.c.schooling, table.c.dibao,
    ).order_by(table.c.household_id)).all()
    return pd.DataFrame(rows, columns=["household_id", "birth_date", "health", "disability",
                                       "labour", "migrant_months", "schooling", "dibao"])


def simulate_county(session: Session, *, households: int = 15_000, seed: int = 20171106,
                    params: dict[str, Any] | None = None) -> PanelSummary:
    """Write the demo county with a panel of annual incomes shaped by shocks; flushes."""
    params = params or parameters()
    first, last = params["panel"]["first_year"], params["panel"]["last_year"]
    years = tuple(range(first, last + 1))
    lines = {int(y): Decimal(v) for y, v in params["lines"].items()}
    missing = [y for y in years if y not in lines]
    if missing:
        raise ValueError(f"simulation.toml: [lines] has no line for {missing}")
    summary = demo.build_demo_county(session, households=households, seed=seed, year=last,
                                     with_incomes=False)
    line_table = MonitoringLine.__table__
    session.execute(sa.delete(line_table).where(line_table.c.region_id == summary.county_id))
    session.execute(sa.insert(line_table), [
        {"region_id": summary.county_id, "year": y, "fixed_amount": lines[y],
         "note": "simulated panel (risk/simulation.toml)"} for y in years])

    house = pd.DataFrame(session.execute(sa.select(
        Household.__table__.c.id, Household.__table__.c.village_id).order_by(
        Household.__table__.c.id)).all(), columns=["id", "village_id"])
    people = _members_frame(session)
    rng = np.random.default_rng([seed, 6])
    ledger = simulate_incomes(rng, house, people, years, lines, params)
    now = utcnow()
    ledger["recorded_at"] = [now] * len(ledger)
    for start in range(0, len(ledger), 50_000):
        part = ledger.iloc[start:start + 50_000]
        insert_columns(session, IncomeRecord.__table__,
                       {name: part[name].tolist() for name in part.columns},
                       stored=demo.MONEY_COLUMNS)
    session.flush()
    below = {}
    for year in years:
        in_year = ledger[ledger["period_start"] == date(year, 1, 1)]
        below[year] = float((in_year["per_capita_net_income"] < int(lines[year] * 100)).mean())
    return PanelSummary(households=len(house), members=len(people), years=years,
                        below_line_share=below, county=summary)


def simulate_incomes(rng: np.random.Generator, house: pd.DataFrame, people: pd.DataFrame,
                     years: tuple[int, ...], lines: dict[int, Decimal],
                     params: dict[str, Any]) -> pd.DataFrame:
    """The income ledger of every household and year (money in fen), from the members'
    registered state at the start and the shocks that follow."""
    work, farm, shocks = params["work"], params["farm"], params["shocks"]
    transfers, insurance = params["transfers"], params["insurance"]
    n = len(house)
    index = pd.Index(house["id"])
    owner = index.get_indexer(people["household_id"])  # household position of each member
    village_codes, village = np.unique(house["village_id"].to_numpy(), return_inverse=True)
    born_year = pd.to_datetime(people["birth_date"]).dt.year.to_numpy()
    labour = people["labour"].to_numpy()
    migrant_months = people["migrant_months"].to_numpy().astype(float)
    schooling = people["schooling"].to_numpy()
    chronic = people["health"].to_numpy() == "chronic"
    disabled = people["disability"].notna().to_numpy().copy()
    dibao = np.bincount(owner, weights=people["dibao"].to_numpy(), minlength=n) > 0
    alive = np.ones(len(people), dtype=bool)
    # A worker's state changes when disability or death strikes; the registry keeps the
    # state at the start (what a clerk registered), as a training set must.
    can_work = np.isin(labour, ["skilled", "ordinary", "weak"]) & (schooling == "not_in_school")
    skill = np.select([labour == "skilled", labour == "weak"],
                      [work["skilled_multiplier"], work["weak_multiplier"]], 1.0)
    level = rng.normal(0, work["level_spread"], n)
    farm_size = np.exp(rng.normal(0, 0.4, n))
    keeps_livestock = rng.random(n) < farm["livestock_share"]
    columns: dict[str, list] = {}
    for year in years:
        line = float(lines[year])
        age = year - born_year
        level = work["level_persistence"] * level + rng.normal(0, work["level_noise"], n)
        worker = alive & can_work & (age >= 16) & (age < 65)
        # Shocks of the year, person by person.
        p_ill = (shocks["illness_base"] + shocks["illness_per_year_of_age"] * np.maximum(age, 0))
        p_ill = np.where(chronic, p_ill * shocks["illness_chronic_multiplier"], p_ill)
        ill = alive & (rng.random(len(people)) < p_ill)
        cost = np.where(ill, float(shocks["illness_cost_median"]) * np.exp(
            rng.normal(0, shocks["illness_cost_spread"], len(people))), 0.0)
        lost = np.where(ill & worker, rng.uniform(*shocks["illness_months_lost"], len(people)),
                        0.0)
        p_dis = shocks["disability_base"] + shocks["disability_per_year_of_age"] * age
        new_disabled = alive & ~disabled & (rng.random(len(people)) < p_dis)
        disabled |= new_disabled
        accident = worker & (rng.random(len(people)) < shocks["accident_rate"])
        cost += np.where(accident, float(shocks["accident_cost_median"]) * np.exp(
            rng.normal(0, 0.7, len(people))), 0.0)
        lost += np.where(accident, rng.uniform(*shocks["accident_months_lost"], len(people)), 0)
        died = accident & (rng.random(len(people)) < shocks["accident_death_share"])
        laid_off = worker & (migrant_months > 0) & (rng.random(len(people)) < work[
            "job_loss_rate"])
        lost += np.where(laid_off, rng.uniform(*work["job_loss_months"], len(people)), 0)
        # Earnings: migrants for their months, others locally; a sick worker loses months.
        months = np.where(migrant_months > 0, migrant_months, work["local_work_months"])
        monthly = np.where(migrant_months > 0, work["migrant_wage_months_of_line"],
                           work["local_wage_months_of_line"]) * line
        earning = worker & ~new_disabled
        wages_person = np.where(earning, np.maximum(months - lost, 0) * monthly * skill, 0.0)
        wages = np.bincount(owner, weights=wages_person, minlength=n) * np.exp(level)
        can_work &= ~new_disabled
        alive &= ~died
        # Farming, and the village's disaster.
        disaster = (rng.random(len(village_codes)) < shocks["disaster_rate"])[village]
        loss_share = np.where(disaster, rng.uniform(*shocks["disaster_loss"], n), 0.0)
        crops = farm["crops_of_line"] * line * farm_size * np.exp(
            rng.normal(0, farm["crops_noise"], n))
        livestock = np.where(keeps_livestock, farm["livestock_of_line"] * line * np.exp(
            rng.normal(0, 0.5, n)), 0.0)
        loss = (crops + livestock) * loss_share
        crops, livestock = crops * (1 - loss_share), livestock * (1 - loss_share)
        costs = (crops + livestock + loss) * farm["business_cost_share"]
        relief = loss * shocks["disaster_relief_share"]
        # Transfers, and what the insurance pays on large out-of-pocket costs.
        size = np.maximum(np.bincount(owner, weights=alive, minlength=n), 1)
        pension = np.bincount(owner, weights=alive & (age >= 60), minlength=n) * float(
            transfers["pension"])
        dibao_income = np.where(dibao, size * float(transfers["dibao_per_person"]), 0.0)
        out_of_pocket = np.bincount(owner, weights=cost, minlength=n) * shocks[
            "out_of_pocket_share"]
        payout = np.minimum(np.maximum(out_of_pocket - float(insurance["deductible"]), 0)
                            * insurance["ratio"], float(insurance["cap"]))
        fen = {name: np.round(value * 100).astype(np.int64) for name, value in {
            "wages": wages, "business_crops": crops, "business_livestock": livestock,
            "transfer_pension": pension, "transfer_dibao": dibao_income,
            "transfer_disaster_relief": relief, "transfer_poverty_insurance": payout,
            "business_costs": costs, "eligible_out_of_pocket": out_of_pocket}.items()}
        net = (fen["wages"] + fen["business_crops"] + fen["business_livestock"]
               + fen["transfer_pension"] + fen["transfer_dibao"]
               + fen["transfer_disaster_relief"] + fen["transfer_poverty_insurance"]
               - fen["business_costs"])
        sizes = size.astype(np.int64)
        per_capita = np.floor_divide(2 * net + sizes, 2 * sizes)
        values = {"household_id": house["id"].to_numpy(), **fen,
                  "business_other": 0, "property_income": 0, "transfer_tekun": 0,
                  "transfer_other": 0, "household_size": sizes, "net_income": net,
                  "per_capita_net_income": per_capita, "source": "survey",
                  "reference": f"annual-{year}", "period_start": date(year, 1, 1),
                  "period_end": date(year, 12, 31)}
        for name, value in values.items():
            columns.setdefault(name, []).extend(
                value.tolist() if isinstance(value, np.ndarray) else [value] * n)
    return pd.DataFrame(columns)
