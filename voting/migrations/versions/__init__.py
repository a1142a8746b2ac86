"""Alembic revisions of the bulletin board."""
