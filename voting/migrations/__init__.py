"""Alembic migrations of the bulletin board."""
