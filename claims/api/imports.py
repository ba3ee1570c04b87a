"""File uploads: the registry's bulk household import and the income reports of monitoring."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.responses import JSONResponse

from claims import changes, clock
from claims.api.deps import SessionDep
from claims.auth import Actor, staff
from claims.models import Role
from claims.uploads import read_upload

router = APIRouter(prefix="/api/imports", tags=["imports"])
CountyClerk = Annotated[Actor, Depends(staff(Role.clerk, county="the household import"))]
# the monitoring office, as on its pages (/monitoring/import) and the rest of its API
Office = Annotated[Actor, Depends(staff(Role.clerk, Role.supervisor))]


@router.post(
    "/households",
    responses={
        200: {"description": "The file was written; the report counts what changed"},
        422: {"description": "Bad rows: the report lists each with row, field, value, reason"},
    },
)
def upload_households(
    session: SessionDep, actor: CountyClerk,
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or GBK) or XLSX, one row a member")],
    partial: Annotated[
        bool, Query(description="write the valid households and skip those with bad rows")
    ] = False,
):
    """Import households with their members from the monitoring system's export."""
    report = changes.import_households(session, actor, read_upload(file),
                                       file.filename or "upload.csv", partial=partial)
    session.commit()  # a refused file's audit entry only
    return JSONResponse(report.as_dict(), status_code=200 if report.written else 422)


@router.post(
    "/income-reports",
    responses={
        200: {"description": "The file was written; the report counts what changed"},
        422: {"description": "Bad rows: the report lists each with row, field, value, reason"},
    },
)
def upload_income_reports(
    session: SessionDep, actor: Office,
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or GBK) or XLSX, one row a "
                                                 "household and period")],
    partial: Annotated[
        bool, Query(description="write the valid rows and skip the bad ones")
    ] = False,
):
    """Import income reports taken during post-payout monitoring: 户编号, 起始日期, 截止日期
    and the income columns of the ledger (工资性收入, …)."""
    report = changes.import_income_reports(session, actor, read_upload(file),
                                           file.filename or "upload.csv", clock.county_today(),
                                           partial=partial)
    if report.written:
        session.commit()
    else:
        session.rollback()
    return JSONResponse(report.as_dict(), status_code=200 if report.written else 422)
