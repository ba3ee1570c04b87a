"""The document table: one row per uploaded file, never changed but for its withdrawal."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from policies.models import utcnow
from policies.types import UtcDateTime


class Document(SQLModel, table=True):
    """A file on a claim or on a department's event (理赔材料). The file itself lives in the
    document store under ``storage_key``, written once; a wrong one is withdrawn with a
    reason and stays listed."""

    __tablename__ = "document"
    id: int | None = Field(default=None, primary_key=True)
    claim_id: int | None = Field(default=None, foreign_key="claim.id", index=True)
    event_id: int | None = Field(default=None, foreign_key="trigger_event.id", index=True)
    filename: str = Field(max_length=255, description="the name the file was uploaded with")
    content_type: str = Field(max_length=100, description="as read from the file's content")
    kind: str = Field(max_length=16, description="image, pdf or office")
    doc_type: str | None = Field(default=None, max_length=32, description=(
        "what it is (policies.vocab.DocumentType): an invoice, a discharge summary …"))
    size: int
    sha256: str = Field(max_length=64, index=True)
    storage_key: str = Field(max_length=200, unique=True)
    added_by: str = Field(max_length=96, description="the actor's label, as on the audit trail")
    added_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UtcDateTime, nullable=True)
    withdrawn_by: str | None = Field(default=None, max_length=96)
    withdrawn_reason: str = Field(default="", max_length=500)
