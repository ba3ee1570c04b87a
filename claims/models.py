"""Every table of the schema, imported in one place for Alembic and the test fixtures."""

from policies.models import (  # noqa: F401
    Household,
    IncomeRecord,
    InsuredHousehold,
    Member,
    MonitoringLine,
    NationalStandard,
    PolicyContract,
    Region,
    TermsVersion,
)
