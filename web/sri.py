"""Subresource Integrity of the scripts and stylesheets: sha384 of each file, an import map with the scripts'
integrity, and the booth hash over all of them (a stylesheet can hide or relabel an option as well as a script can
change a vote: ATTACKS row 18)."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
PINNED = ("*.js", "*.css")


def sri_of(data: bytes) -> str:
    """The integrity attribute value of a file's bytes."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


@dataclass(frozen=True)
class BoothAssets:
    """Every script and stylesheet the pages load, by URL path, with its integrity value; and one hash over all."""

    integrity: dict[str, str]

    @classmethod
    def scan(cls, root: Path = STATIC, prefix: str = "/static/") -> "BoothAssets":
        """Hash every .js and .css file under root (done once at startup)."""
        files = sorted(p for pattern in PINNED for p in root.rglob(pattern) if p.is_file())
        return cls({prefix + p.relative_to(root).as_posix(): sri_of(p.read_bytes()) for p in files})

    @property
    def booth_hash(self) -> str:
        """Hex SHA-256 of the canonical JSON of {path: integrity}: the value published on the board."""
        text = json.dumps(self.integrity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def import_map(self) -> str:
        """The JSON of an import map that pins every module's integrity (safe inside a script element)."""
        modules = {path: value for path, value in self.integrity.items() if path.endswith(".js")}
        text = json.dumps({"imports": {}, "integrity": modules}, sort_keys=True)
        return text.replace("<", "\\u003c")

    def attr(self, path: str) -> str:
        """The integrity value of one script or stylesheet; KeyError if the page names a file that does not exist."""
        return self.integrity[path]
