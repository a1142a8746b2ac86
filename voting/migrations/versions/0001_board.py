"""The bulletin board: elections (lock row and chain head), entries, ballot and ciphertext indexes."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_board"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the board tables."""
    op.create_table(
        "board_elections",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("board_public_key", sa.String(64), nullable=False),
        sa.Column("head_seq", sa.BigInteger, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("phase", sa.String(32), nullable=False),
        sa.Column("last_tracker", sa.String(64), nullable=False),
    )
    op.create_table(
        "board_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("election_id", sa.String(64), sa.ForeignKey("board_elections.id"), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("prev", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("sig", sa.String(128), nullable=False),
        sa.Column("dedup_key", sa.String(64), nullable=True),
        sa.UniqueConstraint("election_id", "seq", name="uq_board_entries_seq"),
        sa.UniqueConstraint("election_id", "dedup_key", name="uq_board_entries_dedup"),
    )
    op.create_index("ix_board_entries_election_id", "board_entries", ["election_id"])
    op.create_table(
        "board_ballots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("election_id", sa.String(64), sa.ForeignKey("board_elections.id"), nullable=False),
        sa.Column("ballot_hash", sa.String(64), nullable=False),
        sa.Column("credential", sa.String(64), nullable=False),
        sa.Column("tracker", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.UniqueConstraint("election_id", "ballot_hash", name="uq_board_ballots_hash"),
        sa.UniqueConstraint("election_id", "tracker", name="uq_board_ballots_tracker"),
    )
    op.create_index("ix_board_ballots_credential", "board_ballots", ["election_id", "credential"])
    op.create_table(
        "board_ciphertexts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("election_id", sa.String(64), sa.ForeignKey("board_elections.id"), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("election_id", "digest", name="uq_board_ciphertexts_digest"),
    )


def downgrade() -> None:
    """Drop the board tables."""
    op.drop_table("board_ciphertexts")
    op.drop_index("ix_board_ballots_credential", "board_ballots")
    op.drop_table("board_ballots")
    op.drop_index("ix_board_entries_election_id", "board_entries")
    op.drop_table("board_entries")
    op.drop_table("board_elections")
