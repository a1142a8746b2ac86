"""The web app's own tables (admins, their sessions, login failures, trustee invitations, voters and deliveries, audit log)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Engine, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    """The current time in UTC (naive, as stored)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class WebBase(DeclarativeBase):
    """Declarative base of the web tables (kept apart from the board's)."""


class Admin(WebBase):
    """An administrator: argon2id password hash; must_change marks a one-time password."""

    __tablename__ = "web_admins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AdminSession(WebBase):
    """A signed-in admin's session: only the SHA-256 of its token (which the signed cookie holds) is kept, so that
    sign-out, a password change or a reset ends it on the server, not just in one browser."""

    __tablename__ = "web_admin_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    admin_id: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class LoginFailure(WebBase):
    """One failed sign-in, keyed by user name and by client address (rate limiting)."""

    __tablename__ = "web_login_failures"
    __table_args__ = (Index("ix_web_login_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class TrusteeInvite(WebBase):
    """An invitation link for trustee `index` of an election: only the token's SHA-256 is kept."""

    __tablename__ = "web_trustee_invites"
    __table_args__ = (UniqueConstraint("election_id", "trustee_index", name="uq_web_invite_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    election_id: Mapped[str] = mapped_column(String(64), index=True)
    trustee_index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Voter(WebBase):
    """A registered voter and the delivery of their credential.

    Only the public credential is kept, and only until the credential list is published on the
    board (then it is cleared, so no table links a voter to a credential). The secret is never stored.
    """

    __tablename__ = "web_voters"
    __table_args__ = (UniqueConstraint("election_id", "voter_id", name="uq_web_voters_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    election_id: Mapped[str] = mapped_column(String(64), index=True)
    voter_id: Mapped[str] = mapped_column(String(128))
    email: Mapped[str] = mapped_column(String(320), default="")
    public_credential: Mapped[str | None] = mapped_column(String(64), nullable=True)
    delivery: Mapped[str] = mapped_column(String(16), default="none")
    delivery_error: Mapped[str] = mapped_column(Text, default="")
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class CeremonyMessage(WebBase):
    """A trustee's public message of one key-ceremony round, held until the transcript goes on the board; round
    'close-reveals' with trustee index 0 is the administrator's decision to proceed without the missing reveals."""

    __tablename__ = "web_ceremony_messages"
    __table_args__ = (UniqueConstraint("election_id", "round", "trustee_index", name="uq_web_ceremony_msg"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    election_id: Mapped[str] = mapped_column(String(64), index=True)
    round: Mapped[str] = mapped_column(String(16))
    trustee_index: Mapped[int] = mapped_column(Integer)
    payload: Mapped[str] = mapped_column(Text)


class AuditEvent(WebBase):
    """One administrative or trustee action, shown on the audit log page."""

    __tablename__ = "web_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    election_id: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


def create_tables(engine: Engine) -> None:
    """Create the web tables that do not exist yet (idempotent)."""
    WebBase.metadata.create_all(engine)
