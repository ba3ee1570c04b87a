"""Payment batches: gather approved claims, export the bank file, import the confirmation."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.responses import Response
from sqlmodel import select

from claims import audit, changes, masking, payments
from claims.api.deps import SessionDep
from claims.auth import Actor, staff
from claims.models import PaymentBatch, PaymentState, Role
from claims.settings import get_settings
from claims.uploads import read_upload
from policies import registry

router = APIRouter(prefix="/api/payment-batches", tags=["payments"])
# A batch holds the whole county's payees: county-wide, for reading too.
Payer = Annotated[Actor, Depends(staff(Role.supervisor, county="payment batches"))]
Reader = Annotated[Actor, Depends(staff(county="payment batches"))]
MEDIA = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def batch_view(session, batch: PaymentBatch) -> dict:
    """A batch with its lines (bank accounts and holders masked) and the flag for the
    supervisor: lines whose household's bank account changed shortly before the batch."""
    lines = changes.flagged_lines(session, batch)
    return audit.jsonable({
        **registry.fields_of(batch), "amount": payments.amount_of(lines),
        "paid_amount": payments.amount_of(lines, PaymentState.paid),
        "bank_change_flag_days": get_settings().bank_change_flag_days,
        "bank_changes_flagged": sum(1 for line in lines if line["bank_account_changed_at"]),
        "lines": [masking.fields(line) for line in lines]})


@router.post("", status_code=201)
def create_batch(session: SessionDep, actor: Payer):
    """Gather every approved claim waiting for payment into a new batch."""
    batch = payments.create_batch(session, actor)
    session.commit()
    return batch_view(session, batch)


@router.get("")
def list_batches(session: SessionDep, _: Reader):
    """Payment batches, newest first."""
    batches = session.exec(select(PaymentBatch).order_by(PaymentBatch.id.desc())).all()
    return {"data": [batch_view(session, b) for b in batches], "count": len(batches)}


@router.get("/{batch_id}")
def read_batch(batch_id: int, session: SessionDep, _: Reader):
    """A batch with its lines and their states."""
    return batch_view(session, payments.get_batch(session, batch_id))


@router.post("/{batch_id}/bank-file")
def bank_file(batch_id: int, session: SessionDep, actor: Payer,
              format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv"):
    """The bank's file for a batch; its lines become exported. 409 (code batch_settled) once
    the bank answered every line: nothing is left to send."""
    name, data = payments.bank_file(session, actor, batch_id, format)
    session.commit()
    return Response(data, media_type=MEDIA[format], headers={
        "content-disposition": f'attachment; filename="{name}"'})


@router.post("/{batch_id}/confirmation")
def confirmation(batch_id: int, session: SessionDep, actor: Payer,
                 file: Annotated[UploadFile, File(description="the bank's answer, CSV or XLSX")]):
    """Import the bank's confirmation line by line; importing it twice changes nothing."""
    results = payments.confirm(session, actor, batch_id, read_upload(file),
                               file.filename or "confirmation.csv")
    session.commit()
    return {"results": [asdict(r) for r in results]}
