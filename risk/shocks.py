"""The household's own burden of a shock (冲击自付负担): what it pays or loses after what
others paid, from a trigger event's amounts. Pure; the claims engine, the simulator and an
import compute the shock ledger's ``burden`` with it, so the features read one meaning."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

ZERO = Decimal("0.00")

# kind → (the cost or loss, the amounts others paid towards it)
COSTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "illness": (("total_cost",), ("basic_insurance_paid", "critical_illness_paid",
                                  "medical_assistance_paid", "other_insurance_paid")),
    "disaster": (("assessed_loss",), ("relief_paid", "insurance_paid")),
    "accident": (("cost",), ("compensation_paid", "insurance_paid")),
    "education": (("tuition_cost", "living_cost"), ("aid_received",)),
    "housing": (("repair_cost",), ("subsidy_received",)),
    "employment": (("lost_income",), ("unemployment_benefit",)),
    "industry": (("loss",), ("insurance_paid",)),
}

# The kinds whose burden is spending (支出): money paid out of the year's income. Only these
# count against the income in the 突发严重困难 criterion (risk.features.outcomes, the
# simulator's falls, docs/risk.md). A lost job's wages and a business's loss (employment,
# industry) are income never had: the year's income report already shows them, so counting
# their burden against it would count them twice. The ledger keeps them all for the features.
SPENDING = frozenset({"illness", "disaster", "accident", "education", "housing"})


def burden(kind: str, amounts: Mapping[str, Decimal | str | int | float | None]) -> Decimal:
    """Cost minus what others paid, never below zero; a kind without amounts (a disability
    certificate) or unknown to fangpin is no burden in money."""
    costs, paid = COSTS.get(kind, ((), ()))

    def total(names: tuple[str, ...]) -> Decimal:
        return sum((Decimal(str(amounts.get(n) or 0)) for n in names), ZERO)

    return max(total(costs) - total(paid), ZERO).quantize(Decimal("0.01"))
