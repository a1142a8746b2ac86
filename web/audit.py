"""The audit log of administrative and trustee actions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from web.models import AuditEvent


def record(db: Session, actor: str, action: str, election_id: str = "", detail: str = "") -> None:
    """Add one event to the log (committed by the caller's transaction). The actor is cut to its column's 200
    characters: 'trustee i (name)' with a name of the 200 allowed is longer, and PostgreSQL refuses what does not fit."""
    db.add(AuditEvent(actor=actor[:200], action=action, election_id=election_id, detail=detail[:2000]))


def events(db: Session, election_id: str | None = None, limit: int = 500) -> list[AuditEvent]:
    """The newest events first, optionally of one election."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if election_id:
        query = query.where(AuditEvent.election_id == election_id)
    return list(db.scalars(query))
