"""The web interface for administrators, trustees, voters and the public."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from web.config import Config


def create_app(config: "Config") -> "Flask":
    """Build the Flask app (see web.app.create_app)."""
    from web.app import create_app as build

    return build(config)
