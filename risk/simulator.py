"""A county simulator (家庭收入与风险事件模拟) that is a fair opponent for the risk model.

Month by month a county's members work, fall ill, become disabled, have accidents, lose their
jobs, go to school, die or leave, and its villages have disasters, at the rates of
``risk/simulation.toml`` (which says where each comes from). A household's spending on these
shocks — out-of-pocket medical costs, schooling costs, disaster and accident losses — is what
can push it under the line even when its income stays above (突发严重困难); lost work months
and chronic costs run on into the following months and years.

It writes what a county's own data would hold, through the same tables: the demo county's
households and members, their registry history (member_version, household_version: each
change from the day it became known), the shocks as the shock ledger (source 'simulated'),
one annual income report per household and year (recorded 1-4 months after the year, some
late, about 5% never), the lines, and monitoring identification from the day a fall is
recorded until a later report shows the household back above the line.

The simulator card sets each simulated rate beside its published target, and the ceiling: how
well an oracle that knows the simulator's hidden state can rank the households that will fall
(Monte Carlo re-simulation of the next 12 months from that state).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sklearn.metrics import roc_auc_score
from sqlmodel import Session, col

from policies import demo, history
from policies.bulk import insert_columns, read_frame, update_columns
from policies.models import (
    Household,
    HouseholdVersion,
    IncomeRecord,
    Member,
    MemberVersion,
    MonitoringLine,
)
from risk.features import INCOME_FRESH_DAYS
from risk.models import Shock
from risk.shocks import SPENDING, burden

KINDS = ("illness", "disability", "disaster", "accident", "education", "employment")
CAUSES = (*KINDS, "income")  # "income": no shock cost much; the earnings fell
HEALTH = ("healthy", "chronic", "serious_illness", "disabled")
LABOUR = ("skilled", "ordinary", "weak", "lost", "none")
CATEGORIES = (None, "unstable_lifted_out", "marginal", "sudden_hardship")
STATUS = ("active", "left", "deceased")
SCHOOLING = ("not_in_school", "preschool", "primary", "junior", "senior", "higher")
COMPONENTS = ("wages", "crops", "stock", "pension", "dibao_income", "relief", "payout",
              "costs", "out_of_pocket", "burden")  # a year's, per household
EPOCH = date(1970, 1, 1)
WRITE_CHUNK = 200_000  # rows a bulk write holds as Python objects
DATES = frozenset({"valid_from", "valid_to", "birth_date"})  # written in their stored form
SEED_NOTE = re.compile(r"(?:seed|种子) (\d+)")  # the note in Chinese, or as written before
SOURCE = "simulated"  # the shock ledger's source of the simulator's shocks


def parameters() -> dict[str, Any]:
    """The simulator's documented parameters."""
    text = resources.files("risk").joinpath("simulation.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _day(d: date) -> int:
    return (d - EPOCH).days


def _iso(days: np.ndarray) -> np.ndarray:
    """Days since 1970 as the stored form of a date ('YYYY-MM-DD', which SQLite keeps and
    PostgreSQL's COPY reads): the bulk writes skip a Python date per value."""
    return np.datetime_as_string(np.asarray(days, dtype="datetime64[D]"), unit="D")


@dataclass
class PanelSummary:
    households: int
    members: int
    years: tuple[int, ...]
    below_line_share: dict[int, float]  # per year, the share of households under the line
    county: demo.DemoSummary
    card: dict[str, Any] = field(default_factory=dict)
    panel: Panel | None = None  # the simulated truth, for tests and the card


# ---------------------------------------------------------------- the hidden state


@dataclass
class _State:
    """Everything the simulation knows about the county at the start of a month: members
    (one row each) and households. Nothing here is visible to the features except through
    the tables written from it."""

    m: dict[str, np.ndarray]  # per member; "hh" is the household's position
    h: dict[str, np.ndarray]  # per household; "village" is the village's position
    villages: int

    def copy(self) -> _State:
        return _State({k: v.copy() for k, v in self.m.items()},
                      {k: v.copy() for k, v in self.h.items()}, self.villages)

    def tiled(self, households: np.ndarray, draws: int) -> _State:
        """``draws`` independent copies of the households named (positions), as one county."""
        keep = np.isin(self.m["hh"], households)
        position = np.full(len(self.h["level"]), -1)
        position[households] = np.arange(len(households))
        m = {k: np.tile(v[keep], draws) for k, v in self.m.items()}
        per = keep.sum()
        m["hh"] = np.tile(position[self.m["hh"][keep]], draws) + np.repeat(
            np.arange(draws) * len(households), per)
        h = {k: np.tile(v[households], (draws,) + (1,) * (v.ndim - 1))
             for k, v in self.h.items()}
        h["village"] = h["village"] + np.repeat(np.arange(draws) * self.villages,
                                                len(households))
        return _State(m, h, self.villages * draws)


class _Record:
    """What the simulation writes: registry changes, shocks and identifications."""

    def __init__(self) -> None:
        self.members: list[pd.DataFrame] = []
        self.households: list[pd.DataFrame] = []
        self.shocks: list[dict[str, np.ndarray]] = []

    def member(self, who: np.ndarray, day: np.ndarray, **fields: np.ndarray) -> None:
        if len(who):
            self.members.append(pd.DataFrame({"member": who, "day": day, **fields}))

    def household(self, which: np.ndarray, day: np.ndarray | int, category: np.ndarray
                  ) -> None:
        if len(which):
            self.households.append(pd.DataFrame({"household": which, "day": day,
                                                 "category": category}))

    def shock(self, kind: str, hh: np.ndarray, member: np.ndarray, occurred: np.ndarray,
              known: np.ndarray, amount: np.ndarray, grade: np.ndarray | None = None) -> None:
        if len(hh):
            self.shocks.append({"kind": np.full(len(hh), kind), "hh": hh, "member": member,
                                "occurred": occurred, "known": known, "burden": amount,
                                "grade": grade if grade is not None else np.zeros(len(hh))})


@dataclass
class Panel:
    """The simulated truth: annual reports (recorded or not), shocks, registry events, and
    the state snapshots the ceiling starts from."""

    household_ids: np.ndarray
    member_ids: np.ndarray
    reports: pd.DataFrame  # one row per household and year (burn-in year included)
    shocks: pd.DataFrame
    member_events: pd.DataFrame
    household_events: pd.DataFrame
    snapshots: dict[int, _State]
    start_category: np.ndarray


class _Simulation:
    """The county's dynamics, one month at a time; the same code runs the panel and the
    oracle's re-simulations."""

    def __init__(self, params: dict[str, Any], lines: dict[int, float]):
        self.p = params
        self.lines = lines
        work = params["work"]
        self.rho = work["level_persistence"] ** (1 / 12)
        self.level_sd = work["level_spread"] * np.sqrt(1 - self.rho ** 2)
        weights = {int(k): v for k, v in params["disaster"]["months"].items()}
        total = sum(weights.values())
        self.disaster_month = {mo: weights.get(mo, 0.0) * 12 / total for mo in range(1, 13)}

    @staticmethod
    def _lag(rng: np.random.Generator, day: np.ndarray, lag: list[int]) -> np.ndarray:
        return day + rng.integers(lag[0], lag[1] + 1, len(day))

    def _paid(self, rng, n, dibao):
        low, high = self.p["illness"]["paid_share"]
        return np.minimum(rng.uniform(low, high, n) + dibao * self.p["illness"][
            "assistance_bonus"], 0.95)

    def step(self, s: _State, year: int, month: int, rng: np.random.Generator,
             rec: _Record | None, shocks: bool = True) -> np.ndarray | None:
        """One month; returns the households' fall flags after December, else None."""
        p, m, h = self.p, s.m, s.h
        line = self.lines[year]
        start = _day(date(year, month, 1))
        days = (_day(date(year + month // 12, month % 12 + 1, 1)) - start)
        n_members, n_homes = len(m["hh"]), len(h["level"])
        if month == 1:
            for name in COMPONENTS:
                h[name][:] = 0
            h["impact"][:] = 0
            h["crop_noise"] = np.exp(rng.normal(0, p["farm"]["crops_noise"], n_homes))
        self._recorded(s, start, start + days, rng, rec)
        day = start + rng.integers(0, days, n_members)
        age = (start + 15 - m["birth"]) / 365.25
        alive = (m["status"] == 0) & (m["birth"] <= start + days - 1)
        h["level"] = self.rho * h["level"] + rng.normal(0, self.level_sd, n_homes)
        hh = m["hh"]
        dibao = h["dibao"][hh]
        student = (((age >= 15) & (age < 18)) | ((age >= 18) & (age < 22) & m["higher"]))
        worker = alive & (m["skill"] > 0) & (age >= 16) & (age < 65) & ~student
        if shocks:
            self._health(s, year, month, rng, rec, day, age, alive, worker, dibao)
            self._education(s, year, month, start, rng, rec, age, alive, dibao)
            self._disaster(s, month, start, days, rng, rec, line)
            alive = (m["status"] == 0) & (m["birth"] <= start + days - 1)
            worker &= alive
        # Earnings: a worker's capacity (a twelfth of a year's), cut by health for good and
        # by months out of work while they last.
        work = p["work"]
        capacity = np.where(m["migrant"] > 0, m["migrant"] * work["migrant_wage_months_of_line"],
                            work["local_work_months"] * work["local_wage_months_of_line"]
                            ) * line / 12 * m["skill"]
        level = np.exp(h["level"] + work["level_offset"])
        out = m["out"] > 0
        earned = np.where(worker & ~out & (m["spell"] <= 0), capacity * m["impair"], 0.0)
        if rec is not None:  # the causes of a year's fall: the card's, not the dynamics'
            lost = np.where(worker, capacity - earned, 0.0) * level[hh]
            cause = np.where(out, m["out_cause"], np.where(m["spell"] > 0, 0,
                                                           m["impair_cause"]))
            np.add.at(h["impact"], (hh[lost > 0], cause[lost > 0]), lost[lost > 0])
        m["out"] = np.maximum(m["out"] - 1, 0)
        h["wages"] += np.bincount(hh, weights=earned, minlength=n_homes) * level
        farm = p["farm"]
        share = float(farm["harvest"].get(str(month), 0.0))
        if share:
            crops = farm["crops_of_line"] * line * h["farm"] * h["crop_noise"] * share
            h["impact"][:, KINDS.index("disaster")] += crops * h["crop_cut"]
            crops = crops * (1 - h["crop_cut"])
            h["crop_cut"][:] = 0
            h["crops"] += crops
            h["costs"] += crops * farm["business_cost_share"]
        stock = h["livestock"] * farm["livestock_of_line"] * line / 12 * h["crop_noise"]
        h["stock"] += stock
        h["costs"] += stock * farm["business_cost_share"]
        transfers = p["transfers"]
        h["pension"] += np.bincount(hh, weights=alive & (age >= 60), minlength=n_homes) * float(
            transfers["pension"]) / 12
        size = np.bincount(hh, weights=alive, minlength=n_homes)
        h["dibao"] &= size > 0
        h["dibao_income"] += h["dibao"] * size * float(transfers["dibao_per_person"]) / 12
        # The poverty-prevention insurance pays on the year's out-of-pocket medical cost.
        insurance = p["insurance"]
        due = np.minimum(np.maximum(h["out_of_pocket"] - float(insurance["deductible"]), 0)
                         * insurance["ratio"], float(insurance["cap"]))
        h["payout"] = np.maximum(h["payout"], due)
        for name in ("spell", "follow", "recent", "unsteady"):
            m[name] = np.maximum(m[name] - 1, 0)
        if month < 12:
            return None
        return self._year_end(s, year, size, rng)

    def _health(self, s, year, month, rng, rec, day, age, alive, worker, dibao):
        """A month's deaths, departures, illnesses, accidents, lay-offs and disabilities;
        drawn only for the members they befall."""
        p, m, h = self.p, s.m, s.h
        ill, dis, acc, pop, work = (p["illness"], p["disability"], p["accident"],
                                    p["population"], p["work"])
        n = len(m["hh"])
        u = rng.random((9, n))
        years = np.maximum(age, 0)
        dies = alive & (u[0] < np.minimum(pop["mortality_a"] * np.exp(
            pop["mortality_b"] * (age - 30)), 0.5) / 12)
        leaves = alive & ~dies & (age >= 18) & (age < 35) & (u[1] < pop["leave_rate"] / 12)
        # A new chronic illness cuts capacity for good.
        chronic = np.flatnonzero(alive & ~m["chronic"] & (m["grade"] == 0) & (u[2] < (
            ill["chronic_base"] + ill["chronic_per_year_over_30"] * np.maximum(age - 30, 0))
            / 12))
        m["chronic"][chronic] = True
        m["impair"][chronic] *= work["chronic_capacity"]
        m["impair_cause"][chronic] = KINDS.index("illness")
        # Hospitalisation: its bill, months lost, and perhaps a spell of serious illness.
        rate = (ill["base"] + ill["per_year_of_age"] * years) * np.where(
            m["chronic"], ill["chronic_multiplier"], 1.0) * np.where(
            m["grade"] > 0, ill["disabled_multiplier"], 1.0) * np.where(
            m["recent"] > 0, ill["recurrence_multiplier"], 1.0)
        sick_mask = alive & (u[3] < rate / 12)
        sick = np.flatnonzero(sick_mask)
        cost = float(ill["cost_median"]) * np.exp(rng.normal(0, ill["cost_spread"], len(sick)))
        own = cost * (1 - self._paid(rng, len(sick), dibao[sick]))
        m["recent"][sick] = ill["recurrence_months"]
        working = sick[worker[sick]]
        m["out"][working] = np.maximum(m["out"][working],
                                       rng.uniform(*ill["months_lost"], len(working)))
        m["out_cause"][working] = KINDS.index("illness")
        starts = (rng.random(len(sick)) < ill["serious_share"]) & (m["spell"][sick] <= 0)
        serious = sick[starts]
        spell = rng.integers(ill["spell_months"][0], ill["spell_months"][1] + 1, len(serious))
        m["spell"][serious] = spell
        m["follow"][serious] = spell
        m["follow_cost"][serious] = cost[starts] * ill["follow_up_cost_share"]
        # Bills of a spell (every three months) and of the chronically ill and disabled.
        follow_mask = alive & (m["follow"] > 0) & (m["follow"] % 3 == 0) & ~sick_mask
        follow = np.flatnonzero(follow_mask)
        follow_own = m["follow_cost"][follow] * (1 - self._paid(rng, len(follow),
                                                                dibao[follow]))
        billed = np.flatnonzero(alive & (m["chronic"] | (m["grade"] > 0)) & (
            u[4] < ill["chronic_bills_a_year"] / 12) & ~sick_mask & ~follow_mask)
        chronic_own = float(ill["chronic_cost_median"]) * np.exp(rng.normal(
            0, ill["chronic_cost_spread"], len(billed))) / ill["chronic_bills_a_year"] \
            * np.where(m["chronic"][billed], 1.0, 0.6) \
            * (1 - self._paid(rng, len(billed), dibao[billed]))
        bills = np.concatenate([sick, follow, billed])
        amounts = np.concatenate([own, follow_own, chronic_own])
        known = self._lag(rng, day[bills], ill["known_lag_days"])
        self._charge(s, "illness", bills, amounts, day[bills], known, rec)
        np.add.at(h["out_of_pocket"], m["hh"][bills], amounts)
        # Ends of spells: back to chronic illness or to health.
        ended = np.flatnonzero(alive & (m["spell"] == 1))
        to_chronic = u[5][ended] < ill["chronic_after_spell"]
        m["chronic"][ended[to_chronic]] = True
        # Accidents of workers: the cost less compensation, months lost, some deaths.
        accident = np.flatnonzero(worker & (u[6] < acc["rate"] / 12))
        a_own = float(acc["cost_median"]) * np.exp(rng.normal(
            0, acc["cost_spread"], len(accident))) * (1 - rng.uniform(
            *acc["compensation_share"], len(accident)))
        self._charge(s, "accident", accident, a_own, day[accident], self._lag(
            rng, day[accident], acc["known_lag_days"]), rec)
        m["out"][accident] = np.maximum(m["out"][accident], rng.uniform(
            *acc["months_lost"], len(accident)))
        m["out_cause"][accident] = KINDS.index("accident")
        dies[accident[rng.random(len(accident)) < acc["death_share"]]] = True
        # Lay-offs of migrant workers: the months run on; the wages lost are the ledger's
        # burden (a feature), not a spending: the earnings below leave them out already.
        layoff = np.flatnonzero(worker & (m["migrant"] > 0) & (m["out"] <= 0) & (
            u[7] < work["job_loss_rate"] / 12 * np.where(
                m["unsteady"] > 0, work["job_loss_again_multiplier"], 1.0)))
        months = rng.uniform(*work["job_loss_months"], len(layoff))
        wage = m["migrant"][layoff] * work["migrant_wage_months_of_line"] * self.lines[year] \
            / 12 * m["skill"][layoff] * m["impair"][layoff] * np.exp(
            h["level"][m["hh"][layoff]] + work["level_offset"])
        m["out"][layoff] = months
        m["unsteady"][layoff] = months.astype(int) + work["job_loss_again_months"]
        m["out_cause"][layoff] = KINDS.index("employment")
        lost = burden("employment", {"lost_income": 1, "unemployment_benefit": 0})
        self._charge(s, "employment", layoff, months * wage * float(lost), day[layoff],
                     self._lag(rng, day[layoff], p["employment"]["known_lag_days"]), rec)
        # New disabilities: of age, after an accident, after a serious illness.
        after = np.zeros(n, dtype=bool)
        after[accident[rng.random(len(accident)) < dis["after_accident"]]] = True
        after[serious[rng.random(len(serious)) < dis["after_serious_illness"]]] = True
        disabled = np.flatnonzero(alive & (m["grade"] == 0) & (after | (u[8] < (
            dis["base"] + dis["per_year_of_age"] * years) / 12)))
        grade = rng.choice([1, 2, 3, 4], len(disabled), p=dis["grades"])
        m["grade"][disabled] = grade
        m["impair"][disabled] *= np.where(grade <= 2, 0.0, work["mild_disability_capacity"])
        m["impair_cause"][disabled] = KINDS.index("disability")
        d_known = self._lag(rng, day[disabled], dis["known_lag_days"])
        dies &= alive
        m["status"][dies] = 2
        m["status"][leaves & ~dies] = 1
        # What the registry learns, each on the day it is known.
        weak, no_labour = LABOUR.index("weak"), LABOUR.index("lost")
        changes = []
        c = chronic[m["health"][chronic] == 0]
        m["health"][c] = 1
        m["labour"][c] = np.where(m["labour"][c] <= 1, weak, m["labour"][c])
        changes.append((c, self._lag(rng, day[c], ill["known_lag_days"])))
        keep = m["health"][serious] != 3
        c = serious[keep]
        m["health"][c], m["labour"][c] = 2, no_labour
        changes.append((c, known[:len(sick)][starts][keep]))
        back = m["health"][ended] == 2
        c = ended[back]
        m["health"][c] = np.where(to_chronic[back], 1, 0)
        m["labour"][c] = weak
        m["skill"][c] = np.minimum(m["skill"][c], work["weak_multiplier"])
        changes.append((c, self._lag(rng, day[c], ill["known_lag_days"])))
        m["health"][disabled] = 3
        m["labour"][disabled] = np.where(grade <= 2, no_labour,
                                         np.maximum(m["labour"][disabled], weak))
        changes.append((disabled, d_known))
        if rec is None:
            return
        rec.shock("disability", m["hh"][disabled], disabled, day[disabled], d_known,
                  np.full(len(disabled), float(burden("disability", {}))), grade)
        for c, when in changes:
            rec.member(c, when, health=m["health"][c], labour=m["labour"][c],
                       grade=m["grade"][c])
        for status, mask, lag in ((2, dies, [10, 60]), (1, leaves & ~dies, [30, 180])):
            c = np.flatnonzero(mask)
            rec.member(c, self._lag(rng, day[c], lag), status=np.full(len(c), status))

    def _charge(self, s, kind, who, amount, day, known, rec):
        """Shocks to members ``who``: the ledger; a spending's amount is also their
        households' burden of the year and its cause (a lost income is already out of the
        wages, and in the cause through ``out_cause``)."""
        h, hh = s.h, s.m["hh"][who]
        if kind in SPENDING:
            np.add.at(h["burden"], hh, amount)
            if rec is not None:
                np.add.at(h["impact"], (hh, KINDS.index(kind)), amount)
        if rec is not None:
            rec.shock(kind, hh, who, day, known, amount)

    def _education(self, s, year, month, start, rng, rec, age, alive, dibao):
        p, m, h = self.p, s.m, s.h
        if month not in (3, 9):
            return
        edu = p["education"]
        age_sep = (_day(date(year if month == 9 else year - 1, 9, 1)) - m["birth"]) / 365.25
        senior = alive & (age_sep >= 15) & (age_sep < 18)
        higher = alive & (age_sep >= 18) & (age_sep < 22) & m["higher"]
        term = senior | higher
        n = len(age)
        cost = np.where(higher, float(edu["higher_term_cost"]), float(edu["senior_term_cost"])
                        ) * np.exp(rng.normal(0, edu["cost_spread"], n))
        supported = dibao | h["lifted"][m["hh"]]
        aid = np.where(supported, rng.uniform(*edu["aid_share_supported"], n),
                       rng.uniform(*edu["aid_share"], n))
        day = start + rng.integers(0, 15, n)
        known = self._lag(rng, day, edu["known_lag_days"])
        who = np.flatnonzero(term)
        self._charge(s, "education", who, (cost * (1 - aid))[who], day[who], known[who], rec)
        if rec is not None and month == 9:
            before = _schooling(age_sep - 1, m["higher"])
            now = _schooling(age_sep, m["higher"])
            c = np.flatnonzero(alive & (before != now))
            rec.member(c, start + rng.integers(0, 30, len(c)), schooling=now[c])

    def _disaster(self, s, month, start, days, rng, rec, line):
        p, h = self.p, s.h
        dis = p["disaster"]
        rate = dis["rate"] * self.disaster_month[month] / 12
        hit = rng.random(s.villages) < rate
        n = len(h["level"])
        affected = hit[h["village"]] & (rng.random(n) < dis["affected_share"])
        if not affected.any():
            return
        day = (start + rng.integers(0, days, s.villages))[h["village"]]
        loss = float(dis["loss_median"]) * np.exp(rng.normal(0, dis["loss_spread"], n))
        relief = loss * rng.uniform(*dis["relief_share"], n)
        own = np.where(affected, loss - relief, 0.0)
        h["crop_cut"] = np.where(affected, np.maximum(h["crop_cut"], rng.uniform(
            *dis["harvest_lost"], n)), h["crop_cut"])
        h["relief"] += np.where(affected, relief, 0.0)
        h["burden"] += own
        h["impact"][:, KINDS.index("disaster")] += own
        if rec is not None:
            which = np.flatnonzero(affected)
            known = self._lag(rng, day[which], dis["known_lag_days"])
            rec.shock("disaster", which, np.full(len(which), -1), day[which], known,
                      own[which])

    def _year_end(self, s, year, size, rng) -> np.ndarray:
        """The year's report: net and per-capita income, the burden, whether it fell; when it
        will be recorded (or never)."""
        h, p = s.h, self.p
        line = self.lines[year]
        net = (h["wages"] + h["crops"] + h["stock"] + h["pension"] + h["dibao_income"]
               + h["relief"] + h["payout"] - h["costs"])
        people = np.maximum(size, 1)
        per_capita = net / people
        after = (net - h["burden"]) / people
        fell = (size > 0) & ((per_capita < line) | (after < line))
        reports = p["reports"]
        n = len(net)
        late = rng.random(n) < reports["late_share"]
        lag = np.where(late, rng.integers(reports["late_lag_days"][0],
                                          reports["late_lag_days"][1] + 1, n),
                       rng.integers(reports["lag_days"][0], reports["lag_days"][1] + 1, n))
        missing = (rng.random(n) < reports["missing_share"]) | (size == 0)
        h["pending"] = np.where(missing, -1, _day(date(year, 12, 31)) + lag)
        h["pending_fell"] = fell
        h["pending_below"] = per_capita < line
        h["pending_ratio"] = per_capita / line
        h["last_size"] = size
        h["per_capita"] = per_capita
        h["net"] = net
        h["missing"] = missing
        h["lag"] = lag
        return fell

    def _recorded(self, s, start, end, rng, rec):
        """Reports recorded this month: a fall recorded starts monitoring that day, a report
        back above the line ends it; 低保 follows (see simulation.toml)."""
        h = s.h
        due = np.flatnonzero((h["pending"] >= start) & (h["pending"] < end))
        if not len(due):
            return
        day = h["pending"][due]
        h["pending"][due] = -1
        fell = h["pending_fell"][due]
        category = h["category"][due]
        t = self.p["transfers"]
        ratio = h["pending_ratio"][due]
        enter = fell & (category == 0)
        leave = ~fell & (category > 0)
        new = np.where(~h["pending_below"][due], 3, np.where(h["lifted"][due], 1, 2))
        h["category"][due] = np.where(enter, new, np.where(leave, 0, category))
        u = rng.random(len(due))
        grant = enter & ~h["dibao"][due] & (ratio < t["dibao_grant_below"]) & (
            u < t["dibao_grant_probability"])
        end_dibao = leave & h["dibao"][due] & (ratio > t["dibao_end_above"]) & (
            u < t["dibao_end_probability"])
        h["dibao"][due] = (h["dibao"][due] | grant) & ~end_dibao
        if rec is None:
            return
        changed = enter | leave
        rec.household(due[changed], day[changed], h["category"][due][changed])
        moved = due[grant | end_dibao]
        if len(moved):
            when = dict(zip(moved.tolist(), (day[grant | end_dibao] + 30).tolist(),
                            strict=True))
            members = np.flatnonzero(np.isin(s.m["hh"], moved) & (s.m["status"] == 0))
            rec.member(members, np.array([when[x] for x in s.m["hh"][members]], dtype=int),
                       dibao=h["dibao"][s.m["hh"][members]].astype(int))


def _schooling(age: np.ndarray, higher: np.ndarray) -> np.ndarray:
    """The registry's schooling stage of an age on 1 September (as policies/demo.py)."""
    stage = np.select([(age >= 3) & (age < 6), (age >= 6) & (age < 12),
                       (age >= 12) & (age < 15), (age >= 15) & (age < 18),
                       (age >= 18) & (age < 22) & higher], [1, 2, 3, 4, 5], 0)
    return stage


# ---------------------------------------------------------------- the panel


def _start_state(params: dict[str, Any], homes: pd.DataFrame, people: pd.DataFrame,
                 rng: np.random.Generator) -> _State:
    """The county as registered at the start, with the hidden traits drawn."""
    n = len(homes)
    index = pd.Index(homes["id"])
    villages, village = np.unique(homes["village_id"].to_numpy(), return_inverse=True)
    hh = index.get_indexer(people["household_id"])
    labour = people["labour_skill"].map({c: i for i, c in enumerate(LABOUR)}).to_numpy()
    work = params["work"]
    skill = np.select([labour == 0, labour == 1, labour == 2],
                      [work["skilled_multiplier"], 1.0, work["weak_multiplier"]], 0.0)
    health = people["health"].map({c: i for i, c in enumerate(HEALTH)}).to_numpy()
    grade = people["disability_grade"].fillna(0).astype(int).to_numpy()
    n_members = len(people)
    ill = params["illness"]
    spell = np.where(health == 2, rng.integers(3, ill["spell_months"][1] + 1, n_members), 0)
    m = {
        "hh": hh, "birth": people["birth_date"].map(_day).to_numpy(),
        "status": people["status"].map({c: i for i, c in enumerate(STATUS)}).to_numpy(),
        "chronic": health == 1, "grade": grade, "spell": spell,
        "follow": spell.copy(), "follow_cost": np.where(spell > 0, float(ill["cost_median"]) *
                                                        ill["follow_up_cost_share"], 0.0),
        "out": np.zeros(n_members), "out_cause": np.zeros(n_members, dtype=int),
        "recent": np.zeros(n_members, dtype=int), "unsteady": np.zeros(n_members, dtype=int),
        "impair": np.ones(n_members), "impair_cause": np.zeros(n_members, dtype=int),
        "skill": skill, "labour": labour, "health": health,
        "migrant": people["migrant_work_months"].to_numpy().astype(float),
        "higher": rng.random(n_members) < params["population"]["higher_education_share"],
    }
    zeros = np.zeros(n)
    h = {"village": village,
         "level": rng.normal(0, work["level_spread"], n),
         "farm": np.exp(rng.normal(0, 0.4, n)),
         "livestock": rng.random(n) < params["farm"]["livestock_share"],
         "crop_noise": np.ones(n), "crop_cut": zeros.copy(),
         "dibao": np.bincount(hh, weights=people["dibao"].to_numpy(), minlength=n) > 0,
         "lifted": (homes["household_type"] == "lifted_out").to_numpy(),
         "category": np.zeros(n, dtype=int),
         "impact": np.zeros((n, len(KINDS))),
         "pending": np.full(n, -1), "pending_fell": np.zeros(n, dtype=bool),
         "pending_below": np.zeros(n, dtype=bool), "pending_ratio": np.ones(n)}
    for name in COMPONENTS:
        h.setdefault(name, zeros.copy())
    return _State({k: np.array(v) for k, v in m.items()},  # writable copies
                  {k: np.array(v) for k, v in h.items()}, len(villages))


def run_panel(params: dict[str, Any], homes: pd.DataFrame, people: pd.DataFrame, seed: int,
              snapshot_days: tuple[date, ...] = ()) -> Panel:
    """Simulate the county from its registry at the start of the panel (households and
    members as frames, in id order) to the end of the last year, in memory."""
    first, last = params["panel"]["first_year"], params["panel"]["last_year"]
    lines = {int(y): float(v) for y, v in params["lines"].items()}
    missing = [y for y in range(first - 1, last + 1) if y not in lines]
    if missing:
        raise ValueError(f"simulation.toml: [lines] has no line for {missing}")
    rng = np.random.default_rng([seed, 16])
    s = _start_state(params, homes, people, rng)
    sim = _Simulation(params, lines)
    rec = _Record()
    start_category = np.zeros(len(homes), dtype=int)
    rows, snapshots = [], {}
    wanted = {(d.year, d.month): d for d in snapshot_days}
    for year in range(first - 1, last + 1):
        for month in range(1, 13):
            if (year, month) in wanted:
                snapshots[_day(wanted[(year, month)])] = s.copy()
            fell = sim.step(s, year, month, rng, rec if year >= first else None,
                            shocks=year >= first)
        assert fell is not None
        if year == first - 1:
            # The panel starts with the households that fell in the silent year monitored.
            s.h["category"] = np.where(fell, np.where(s.h["pending_below"], np.where(
                s.h["lifted"], 1, 2), 3), 0)
            s.h["pending"][:] = -1
            start_category = s.h["category"].copy()
            continue
        rows.append(pd.DataFrame({
            "household": np.arange(len(fell)), "year": year, "size": s.h["last_size"],
            "net": s.h["net"], "per_capita": s.h["per_capita"], "burden": s.h["burden"],
            "out_of_pocket": s.h["out_of_pocket"], "fell": fell, "missing": s.h["missing"],
            "recorded": np.where(s.h["missing"], -1, _day(date(year, 12, 31)) + s.h["lag"]),
            "line": lines[year],
            "cause": _causes(s.h["impact"], s.h["last_size"], lines[year], params),
            **{name: s.h[name].copy() for name in ("wages", "crops", "stock", "pension",
                                                    "dibao_income", "relief", "payout",
                                                    "costs")}}))
    shocks = pd.DataFrame({k: np.concatenate([r[k] for r in rec.shocks])
                           for k in ("kind", "hh", "member", "occurred", "known", "burden",
                                     "grade")}) if rec.shocks else pd.DataFrame()
    return Panel(
        household_ids=homes["id"].to_numpy(), member_ids=people["id"].to_numpy(),
        reports=pd.concat(rows, ignore_index=True), shocks=shocks,
        member_events=pd.concat(rec.members, ignore_index=True) if rec.members
        else pd.DataFrame(columns=["member", "day"]),
        household_events=pd.concat(rec.households, ignore_index=True) if rec.households
        else pd.DataFrame(columns=["household", "day", "category"]),
        snapshots=snapshots, start_category=start_category)


def _causes(impact: np.ndarray, size: np.ndarray, line: float, params) -> np.ndarray:
    """Each household's main cause of the year: the kind that cost it most, if any did."""
    per_person = impact / np.maximum(size, 1)[:, None]
    main = per_person.argmax(axis=1)
    small = per_person.max(axis=1) < params["causes"]["minimum_of_line"] * line
    return np.where(small, "income", np.array(KINDS)[main])


# ---------------------------------------------------------------- what a county sees


def monitored_on(panel: Panel, day: date) -> np.ndarray:
    """Whether each household's registry version valid on ``day`` has a category."""
    category = panel.start_category.copy()
    events = panel.household_events
    known = events[events["day"] <= _day(day)].sort_values("day", kind="stable")
    last = known.groupby("household")["category"].last()
    category[last.index.to_numpy()] = last.to_numpy()
    return category > 0


def latest_known(panel: Panel, day: date) -> pd.DataFrame:
    """Each household's latest report recorded by ``day`` of a period ended before it
    (per-capita income and its year), NaN where none."""
    r = panel.reports
    known = r[(r["recorded"] >= 0) & (r["recorded"] <= _day(day))
              & (r["year"] < day.year)]
    latest = known.sort_values("year").groupby("household")[["per_capita", "year"]].last()
    return latest.reindex(range(len(panel.household_ids)))


def at_risk(panel: Panel, day: date, line: float) -> tuple[np.ndarray, np.ndarray]:
    """The at-risk population on ``day`` (design16: not below ``line`` — the day's line — by
    the latest known report, not monitored) and each household's known income ÷ line. A
    report too old to be current (risk.features.INCOME_FRESH_DAYS) is no income known, as
    the features read it: the household is at risk, never hidden below the line."""
    latest = latest_known(panel, day)
    age = (pd.Timestamp(day) - pd.to_datetime(
        latest["year"].astype("Int64").astype(str) + "-12-31", errors="coerce")).dt.days
    ratio = (latest["per_capita"].where(age <= INCOME_FRESH_DAYS) / line).to_numpy()
    population = ~monitored_on(panel, day) & ~(ratio < 1)
    alive = panel.reports[panel.reports["year"] == day.year - 1]["size"].to_numpy() > 0
    return population & alive, ratio


def outcome(panel: Panel, day: date) -> pd.Series:
    """Whether each household fell within the 12 months after ``day`` (design16): its report
    ending in (day, day + 365] below the line, or below it after the year's burden; only
    households with such a report (recorded sometime: labels are known later)."""
    end = day + timedelta(days=365)
    r = panel.reports
    ends = pd.to_datetime(r["year"].astype(str) + "-12-31").dt.date
    window = r[(ends > day) & (ends <= end) & ~r["missing"]]
    return window.groupby("household")["fell"].max().astype(int)


# ---------------------------------------------------------------- the ceiling


def _oracle(panel: Panel, params: dict[str, Any], day: date, households: np.ndarray,
            seed: int, draws: int) -> np.ndarray:
    """P(fall in the 12 months after ``day`` | hidden state on ``day``) of each household:
    the share of ``draws`` re-simulations from that state in which it falls."""
    lines = {int(y): float(v) for y, v in params["lines"].items()}
    sim = _Simulation(params, lines)
    state = panel.snapshots[_day(day)]
    rng = np.random.default_rng([seed, 17, _day(day)])
    falls = np.zeros(len(households))
    batch = max(1, min(draws, 2_000_000 // max(len(state.m["hh"]), 1)))
    done = 0
    while done < draws:
        k = min(batch, draws - done)
        s = state.tiled(households, k)
        fell = None
        for month in range(day.month, 13):
            fell = sim.step(s, day.year, month, rng, None)
        assert fell is not None
        falls += fell.reshape(k, len(households)).sum(axis=0)
        done += k
    return falls / draws


def _capture(score: np.ndarray, fell: np.ndarray, share: float = 0.1) -> float:
    top = np.argsort(-score, kind="stable")[:max(1, int(np.ceil(share * len(score))))]
    return float(fell[top].sum() / max(fell.sum(), 1))


def ceiling_of(panel: Panel, params: dict[str, Any], day: date, seed: int,
               draws: int | None = None) -> dict[str, Any]:
    """The oracle's ROC AUC and top-10% capture on ``day``'s at-risk population (a random
    sample of it, see simulation.toml [card]), beside those of "last income ÷ line", with
    the population's size and the sample's fall rate."""
    draws = draws or params["card"]["draws"]
    line = float(params["lines"][str(day.year)])
    population, ratio = at_risk(panel, day, line)
    fell = outcome(panel, day).reindex(range(len(population)))
    chosen = np.flatnonzero(population & fell.notna().to_numpy())
    households = len(chosen)
    sample = params["card"]["sample"]
    if sample and len(chosen) > sample:
        chosen = np.sort(np.random.default_rng([seed, 18]).choice(chosen, sample,
                                                                  replace=False))
    y = fell.to_numpy()[chosen].astype(int)
    probability = _oracle(panel, params, day, chosen, seed, draws)
    known = ratio[chosen]
    rule = -np.where(np.isnan(known), np.nanmedian(known), known)
    two = len(set(y)) == 2
    return {
        "test_day": day.isoformat(), "households": households, "ranked": int(len(chosen)),
        "fallers": int(y.sum()), "fall_rate": float(y.mean()) if len(y) else 0.0,
        "draws": int(draws),
        "auc": float(roc_auc_score(y, probability)) if two else float("nan"),
        "top10_capture": _capture(probability, y),
        "rule_auc": float(roc_auc_score(y, rule)) if two else float("nan"),
        "rule_top10_capture": _capture(rule, y),
    }


def default_test_day(params: dict[str, Any]) -> date:
    return date(params["panel"]["last_year"], 1, 1)


def day_problem(params: dict[str, Any], day: date) -> str | None:
    """Why the oracle cannot start from ``day``, or None when it can."""
    first, last = params["panel"]["first_year"], params["panel"]["last_year"]
    if day.day != 1 or not (first < day.year <= last):
        return (f"test_day {day.isoformat()}: must be the first day of a month in "
                f"{first + 1}..{last} (the oracle starts from a month's state)")
    return None


def simulated_seeds(session: Session) -> set[int]:
    """The seeds of the counties this simulator wrote into the database, from which their
    hidden state is simulated again: named in the monitoring lines' note, with the
    simulator's own shocks in the ledger. Empty for a county of its own records — files
    exported from a simulated county and imported included, whatever their notes say (the
    imported registry is not the one the panel started from)."""
    if session.execute(sa.select(col(Shock.id)).where(
            col(Shock.source) == SOURCE).limit(1)).first() is None:
        return set()
    note = MonitoringLine.__table__.c.note
    notes = session.execute(sa.select(note).where(
        note.like("模拟面板%") | note.like("simulated%"))).scalars().all()
    return {int(x.group(1)) for x in map(SEED_NOTE.search, notes) if x}


def ceiling(session: Session, test_day: date | None = None, *, seed: int | None = None,
            params: dict[str, Any] | None = None, draws: int | None = None
            ) -> dict[str, Any]:
    """The ceiling of a county this simulator wrote (its seed is in the lines' note): the
    panel is simulated again in memory from the registry's first versions, and the oracle
    ranks ``test_day``'s at-risk population (default: 1 January of the last year).
    Plain numbers: auc, top10_capture, rule_auc, households, fallers, …"""
    params = params or parameters()
    day = test_day or default_test_day(params)
    problem = day_problem(params, day)
    if problem:
        raise ValueError(problem)
    if seed is None:
        found = simulated_seeds(session)
        if len(found) != 1:
            raise ValueError("seed: this database holds no (or more than one) simulated "
                             "county; give the seed it was simulated with")
        seed = found.pop()
    homes, people = _first_versions(session)
    panel = run_panel(params, homes, people, seed, (day,))
    return ceiling_of(panel, params, day, seed, draws)


def _first_versions(session: Session) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The households and members as registered at the start of the panel."""
    hv, mv = HouseholdVersion.__table__, MemberVersion.__table__
    connection = session.connection()
    first_h = sa.select(hv.c.household_id, sa.func.min(hv.c.valid_from).label("f")).group_by(
        hv.c.household_id).subquery()
    homes = read_frame(connection, sa.select(
        hv.c.household_id.label("id"), hv.c.village_id, hv.c.household_type).join(
        first_h, sa.and_(first_h.c.household_id == hv.c.household_id,
                         first_h.c.f == hv.c.valid_from)).order_by(hv.c.household_id))
    first_m = sa.select(mv.c.member_id, sa.func.min(mv.c.valid_from).label("f")).group_by(
        mv.c.member_id).subquery()
    people = read_frame(connection, sa.select(
        mv.c.member_id.label("id"), mv.c.household_id, mv.c.relation, mv.c.birth_date,
        mv.c.health, mv.c.disability_grade, mv.c.labour_skill, mv.c.migrant_work_months,
        mv.c.schooling, mv.c.dibao, mv.c.status).join(
        first_m, sa.and_(first_m.c.member_id == mv.c.member_id,
                         first_m.c.f == mv.c.valid_from)).order_by(mv.c.member_id))
    people["birth_date"] = pd.to_datetime(people["birth_date"]).dt.date
    people["dibao"] = people["dibao"].astype(bool)
    return homes, people


# ---------------------------------------------------------------- writing the county


def simulate_county(session: Session, *, households: int = 15_000, seed: int = 20171106,
                    params: dict[str, Any] | None = None, draws: int | None = None
                    ) -> PanelSummary:
    """Write the demo county with its simulated history (registry versions, shocks, income
    reports, lines, monitoring) and return the summary with the simulator card; flushes."""
    params = params or parameters()
    first, last = params["panel"]["first_year"], params["panel"]["last_year"]
    years = tuple(range(first, last + 1))
    lines = {int(y): Decimal(v) for y, v in params["lines"].items()}
    day = default_test_day(params)
    before = session.execute(sa.select(sa.func.max(Household.__table__.c.id))).scalar() or 0
    # Ages counted from the day after the panel (its rates were tuned on a registry written
    # then): a seed writes the same county whatever day it runs; counted from the day of
    # writing, the county and its ceiling changed with the date (FANGPIN_TIMEZONE's too).
    county = demo.build_demo_county(session, households=households, seed=seed, year=last,
                                    with_incomes=False, on=date(last + 1, 1, 1))
    line_table = MonitoringLine.__table__
    session.execute(sa.delete(line_table).where(line_table.c.region_id == county.county_id))
    session.execute(sa.insert(line_table), [
        {"region_id": county.county_id, "year": y, "fixed_amount": lines[y],
         "note": f"模拟面板，种子 {seed}（risk/simulation.toml）"} for y in years])
    # The history ends with the panel; the demo's cover runs on to the county's present year.
    county = demo.cover_through(session, county, history.clock().year)
    homes, people = _registered(session, before)
    panel = run_panel(params, homes, people, seed, (day,))
    _write(session, params, panel, homes, people)
    session.flush()
    reports = panel.reports
    below = {year: float((reports.loc[reports["year"] == year, "per_capita"]
                          < float(lines[year])).mean()) for year in years}
    card = simulator_figures(panel, params, seed, draws)
    return PanelSummary(households=len(homes), members=len(people), years=years,
                        below_line_share=below, county=county, card=card, panel=panel)


def _registered(session: Session, after: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo county's households and members as the builder registered them."""
    homes_t, members_t = Household.__table__, Member.__table__
    connection = session.connection()
    homes = read_frame(connection, sa.select(
        homes_t.c.id, homes_t.c.village_id, homes_t.c.household_type, homes_t.c.relocated,
        homes_t.c.status).where(homes_t.c.id > after).order_by(homes_t.c.id))
    people = read_frame(connection, sa.select(
        members_t.c.id, members_t.c.household_id, members_t.c.relation, members_t.c.birth_date,
        members_t.c.health, members_t.c.disability_grade, members_t.c.labour_skill,
        members_t.c.migrant_work_months, members_t.c.schooling, members_t.c.dibao,
        members_t.c.tekun, members_t.c.status).where(members_t.c.household_id > after)
        .order_by(members_t.c.id))
    people["birth_date"] = pd.to_datetime(people["birth_date"]).dt.date
    for flag in ("dibao", "tekun"):
        people[flag] = people[flag].astype(bool)
    homes["relocated"] = homes["relocated"].astype(bool)
    return homes, people


def _write(session: Session, params: dict[str, Any], panel: Panel, homes: pd.DataFrame,
           people: pd.DataFrame) -> None:
    """The panel into the county's tables: reports, shocks, registry versions, and the
    current rows as the last versions hold them."""
    first = params["panel"]["first_year"]
    start = _day(date(first, 1, 1))
    r = panel.reports[~panel.reports["missing"]]
    hid = panel.household_ids[r["household"].to_numpy()]
    fen = {name: np.round(r[column].to_numpy() * 100).astype(np.int64) for name, column in (
        ("wages", "wages"), ("business_crops", "crops"), ("business_livestock", "stock"),
        ("transfer_pension", "pension"), ("transfer_dibao", "dibao_income"),
        ("transfer_disaster_relief", "relief"), ("transfer_poverty_insurance", "payout"),
        ("business_costs", "costs"), ("eligible_out_of_pocket", "out_of_pocket"))}
    net = sum(fen[n] for n in fen if n not in ("business_costs", "eligible_out_of_pocket")) \
        - fen["business_costs"]
    sizes = r["size"].to_numpy().astype(np.int64)
    per_capita = np.where(net >= 0, (2 * net + sizes) // (2 * sizes),
                          -((-2 * net + sizes) // (2 * sizes)))
    recorded = pd.to_datetime(r["recorded"].to_numpy(), unit="D") + pd.Timedelta(hours=2)
    year = r["year"].to_numpy()
    _insert(session, IncomeRecord.__table__, {
        "household_id": hid, **fen,
        "business_other": 0, "property_income": 0, "transfer_tekun": 0,
        "transfer_other": 0, "household_size": sizes,
        "net_income": net, "per_capita_net_income": per_capita,
        "source": "survey", "reference": np.char.add("annual-", year.astype(str)),
        "period_start": np.char.add(year.astype(str), "-01-01"),
        "period_end": np.char.add(year.astype(str), "-12-31"),
        "recorded_at": recorded.tz_localize(UTC).to_pydatetime(),
    }, stored=demo.MONEY_COLUMNS | {"period_start", "period_end"})
    shocks = panel.shocks
    if len(shocks):
        member = shocks["member"].to_numpy()
        grade = shocks["grade"].to_numpy().astype(int)
        _insert(session, Shock.__table__, {
            "household_id": panel.household_ids[shocks["hh"].to_numpy()],
            "member_id": np.where(member >= 0, panel.member_ids[np.maximum(member, 0)],
                                  None),
            "kind": shocks["kind"].to_numpy(),
            "occurred_on": _iso(shocks["occurred"].to_numpy()),
            "known_on": _iso(shocks["known"].to_numpy()),
            "burden": np.round(shocks["burden"].to_numpy() * 100).astype(np.int64),
            "disability_grade": np.where(grade > 0, grade, None),
            "source": SOURCE, "reference": ""},
            stored=frozenset({"burden", "occurred_on", "known_on"}))
    _write_members(session, panel, people, start)
    _write_households(session, panel, homes, start)


def _versions(initial: pd.DataFrame, events: pd.DataFrame, key: str) -> pd.DataFrame:
    """Versions from a first row per entity and its dated changes (a field left empty in an
    event keeps its value): one version per day that changed something. The first version is
    the entity as registered, as the panel started from it: a change on its first day (or,
    for a member, before birth) is recorded the day after, so the oracle that re-simulates
    the panel from the first versions starts from the same county."""
    events = events.assign(day=np.maximum(events["day"].to_numpy(), initial["day"].to_numpy()[
        events[key].to_numpy().astype(int)] + 1))
    rows = pd.concat([initial, events], ignore_index=True)
    rows["order"] = np.arange(len(rows))
    rows = rows.sort_values([key, "day", "order"], kind="stable")
    fields = [c for c in rows.columns if c not in (key, "day", "order")]
    rows[fields] = rows.groupby(key)[fields].ffill()
    rows = rows.groupby([key, "day"], sort=False).last().reset_index()
    rows["valid_to"] = rows.groupby(key)["day"].shift(-1)
    return rows


def _write_members(session: Session, panel: Panel, people: pd.DataFrame, start: int) -> None:
    birth = people["birth_date"].map(_day).to_numpy()
    age = (start - birth) / 365.25
    higher = (people["schooling"] == "higher").to_numpy()
    initial = pd.DataFrame({
        "member": np.arange(len(people)), "day": np.maximum(birth, start),
        "health": people["health"].map(HEALTH.index).to_numpy(),
        "labour": people["labour_skill"].map(LABOUR.index).to_numpy(),
        "grade": people["disability_grade"].fillna(0).astype(int).to_numpy(),
        "status": people["status"].map(STATUS.index).to_numpy(),
        "dibao": people["dibao"].astype(int).to_numpy(),
        "schooling": _schooling(age, higher | (age >= 18))})
    versions = _versions(initial, panel.member_events, "member")
    which = versions["member"].to_numpy().astype(int)
    grade = versions["grade"].to_numpy().astype(int)
    columns = {
        "member_id": panel.member_ids[which],
        "household_id": people["household_id"].to_numpy()[which],
        "valid_from": _iso(versions["day"].to_numpy().astype(int)),
        "valid_to": _valid_to(versions),
        "relation": people["relation"].to_numpy()[which],
        "birth_date": _iso(birth)[which],
        "schooling": np.array(SCHOOLING)[versions["schooling"].to_numpy().astype(int)],
        "health": np.array(HEALTH)[versions["health"].to_numpy().astype(int)],
        "disability_grade": np.where(grade > 0, grade, None),
        "labour_skill": np.array(LABOUR)[versions["labour"].to_numpy().astype(int)],
        "migrant_work_months": people["migrant_work_months"].to_numpy()[which],
        "dibao": versions["dibao"].to_numpy().astype(bool),
        "tekun": people["tekun"].to_numpy()[which],
        "status": np.array(STATUS)[versions["status"].to_numpy().astype(int)],
    }
    table = MemberVersion.__table__
    session.execute(table.delete().where(table.c.member_id.in_(
        sa.select(Member.__table__.c.id).where(Member.__table__.c.household_id >= int(
            panel.household_ids.min())))))
    _insert(session, table, columns, stored=DATES)
    current = versions["valid_to"].isna().to_numpy()
    update_columns(session, Member.__table__, "id", {
        "id": columns["member_id"][current].tolist(),
        **{name: columns[name][current].tolist() for name in (
            "schooling", "health", "disability_grade", "labour_skill", "dibao", "status")}})


def _valid_to(versions: pd.DataFrame) -> np.ndarray:
    to = versions["valid_to"].to_numpy()
    return np.where(np.isnan(to), None, _iso(np.where(np.isnan(to), 0, to).astype(int)))


def _write_households(session: Session, panel: Panel, homes: pd.DataFrame,
                      start: int) -> None:
    initial = pd.DataFrame({"household": np.arange(len(homes)), "day": start,
                            "category": panel.start_category})
    versions = _versions(initial, panel.household_events, "household")
    which = versions["household"].to_numpy().astype(int)
    category = np.array(CATEGORIES, dtype=object)[versions["category"].to_numpy().astype(int)]
    columns = {
        "household_id": panel.household_ids[which],
        "valid_from": _iso(versions["day"].to_numpy().astype(int)),
        "valid_to": _valid_to(versions),
        "village_id": homes["village_id"].to_numpy()[which],
        "household_type": homes["household_type"].to_numpy()[which],
        "monitoring_category": category,
        "relocated": homes["relocated"].to_numpy()[which],
        "status": homes["status"].to_numpy()[which],
    }
    table = HouseholdVersion.__table__
    session.execute(table.delete().where(table.c.household_id >= int(
        panel.household_ids.min())))
    _insert(session, table, columns, stored=DATES)
    current = versions["valid_to"].isna().to_numpy()
    update_columns(session, Household.__table__, "id", {
        "id": columns["household_id"][current].tolist(),
        "monitoring_category": columns["monitoring_category"][current].tolist()})


def _insert(session: Session, table: sa.Table, columns: dict[str, Any],
            stored: frozenset[str] = frozenset()) -> None:
    """Insert columns of equal length (arrays; a plain value is every row's) in slices, so a
    large county never holds all its rows as Python objects at once."""
    n = max(len(v) for v in columns.values() if isinstance(v, np.ndarray))
    for start in range(0, n, WRITE_CHUNK):
        end = min(start + WRITE_CHUNK, n)
        insert_columns(session, table, {
            name: value[start:end].tolist() if isinstance(value, np.ndarray)
            else [value] * (end - start) for name, value in columns.items()}, stored=stored)


# ---------------------------------------------------------------- the card


def simulator_figures(panel: Panel, params: dict[str, Any], seed: int,
                      draws: int | None = None, test_day: date | None = None
                      ) -> dict[str, Any]:
    """The card's figures: each target rate beside the simulated one, and the ceiling."""
    targets = params["targets"]
    first, last = params["panel"]["first_year"], params["panel"]["last_year"]
    n = len(panel.household_ids)
    events = panel.household_events
    entered = events[events["category"] > 0]
    entered_year = pd.to_datetime(entered["day"], unit="D").dt.year
    years = range(first + 1, last + 1)  # whole years of identification from recorded reports
    identified = float(np.mean([(entered_year == y).sum() / n for y in years]))
    # The cause of each case: that of the report whose recorded fall identified it.
    r = panel.reports
    new_cases = r.merge(entered.rename(columns={"day": "recorded"})[["household", "recorded"]],
                        on=["household", "recorded"])
    causes = new_cases["cause"].value_counts(normalize=True).reindex(CAUSES, fill_value=0.0)
    monitored = float(np.mean([monitored_on(panel, date(y, 1, 1)).mean()
                               for y in range(first, last + 1)]))
    lag = (r.loc[~r["missing"], "recorded"] - (pd.to_datetime(
        r.loc[~r["missing"], "year"].astype(str) + "-12-31") - pd.Timestamp(EPOCH)).dt.days)
    rural = targets["rural_identified_share"] / targets["covered_share_of_rural"]
    rows = [
        {"rate": "newly identified households a year (share of covered)",
         "target": rural, "simulated": identified,
         "source": f"about {targets['rural_identified_share']:.0%} of the rural population "
                   f"(保山 2021, DOMAIN.md §10) ÷ covered {targets['covered_share_of_rural']:.0%}"
                   " of it"},
        {"rate": "illness the main cause of new cases", "target": targets[
            "illness_cause_share"], "simulated": float(causes["illness"]),
         "source": "42.4% (2013), 44.1% (2015) of registered poor households (DOMAIN.md §10)"},
        {"rate": "monitored households on 1 January (share of covered)",
         "target": targets["monitored_share"], "simulated": monitored,
         "source": "14% of the lifted-out population (保山 2021, DOMAIN.md §10)"},
        {"rate": "income reports missing", "target": targets["missing_report_share"],
         "simulated": float(r["missing"].mean()), "source": "issue 16 (assumption)"},
    ]
    day = test_day or default_test_day(params)
    return {
        "seed": seed, "households": n, "years": [first, last], "targets": rows,
        "causes": {k: float(v) for k, v in causes.items()},
        "reports": {"late_share": float((lag > 120).mean()),
                    "median_lag_days": float(lag.median()),
                    "missing_share": float(r["missing"].mean())},
        "shocks": {k: int(v) for k, v in panel.shocks["kind"].value_counts().items()}
        if len(panel.shocks) else {},
        "registry_changes": {"member_versions": int(len(panel.member_events)),
                             "identifications": int(len(entered)),
                             "removals": int((events["category"] == 0).sum())},
        "ceiling": ceiling_of(panel, params, day, seed, draws),
    }


def simulator_card(card: dict[str, Any]) -> str:
    """The simulator card in Markdown: targets beside the simulated rates, and the ceiling."""
    c = card["ceiling"]
    lines = [
        f"# Simulator card (seed {card['seed']}, {card['households']:,} households, "
        f"{card['years'][0]}-{card['years'][1]})", "",
        "| rate | target | simulated | target set against |", "|---|---|---|---|",
        *[f"| {t['rate']} | {t['target']:.1%} | {t['simulated']:.1%} | {t['source']} |"
          for t in card["targets"]], "",
        "Main causes of new cases: " + ", ".join(
            f"{k} {v:.0%}" for k, v in card["causes"].items()) + ".",
        f"Reports: median lag {card['reports']['median_lag_days']:.0f} days, "
        f"{card['reports']['late_share']:.1%} later than 4 months, "
        f"{card['reports']['missing_share']:.1%} missing.",
        "Shocks written: " + ", ".join(f"{k} {v:,}" for k, v in card["shocks"].items()) + ".",
        "",
        f"## Ceiling on {c['test_day']}",
        f"At-risk population (not below the line by its latest known report, not monitored) "
        f"with a report of the next 12 months: {c['households']:,} households, "
        f"ranked {c['ranked']:,} of them, of which {c['fallers']:,} fell "
        f"({c['fall_rate']:.1%}).", "",
        "| ranking | ROC AUC | top-10% capture |", "|---|---|---|",
        f"| oracle: P(fall \\| hidden state), {c['draws']} re-simulations | {c['auc']:.3f} | "
        f"{c['top10_capture']:.1%} |",
        f"| last known income ÷ line | {c['rule_auc']:.3f} | {c['rule_top10_capture']:.1%} |",
        "",
        "The oracle knows what no county knows (the year's income so far, earning levels, "
        "who is out of work): a model of the county's data should come near it, not above. "
        "Published return-to-poverty models reach AUC 0.706 and about 0.82 (DOMAIN.md §10).",
    ]
    return "\n".join(lines) + "\n"
