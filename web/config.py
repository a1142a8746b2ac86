"""Settings of the web app: database URL, data folder, session secret, SMTP, cookie security."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from threshold import keystore
from threshold.errors import QuorumError

DEFAULT_DATA_DIR = Path("data")
MAX_BODY_BYTES = 16 << 20  # the largest request body the app reads (a pasted voter list, a modp ballot)
_PUBLIC_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s?#]*)?")


class ConfigError(QuorumError, ValueError):
    """A setting that cannot be used. `setting` names where it came from (a Config.load argument such as
    "data_dir", a QUORUM_* variable, or a file), `value` is what was given, `reason` what is wrong with it."""

    def __init__(self, setting: str, value: str, reason: str) -> None:
        super().__init__(f"{setting} {value}: {reason}")
        self.setting, self.value, self.reason = setting, value, reason


@dataclass(frozen=True)
class SmtpSettings:
    """Where credential e-mails go out: host, port, optional STARTTLS and login, sender address."""

    host: str
    port: int = 25
    sender: str = "quorum@localhost"
    starttls: bool = False
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 10.0


@dataclass(frozen=True)
class Config:
    """Everything create_app needs; build it with Config.load() or directly in tests."""

    db_url: str
    data_dir: Path
    secret_key: bytes = field(repr=False)
    smtp: SmtpSettings | None = None
    https: bool = False
    public_url: str = ""  # the origin voters and trustees reach (QUORUM_PUBLIC_URL): links sent out are built on it
    login_max_failures: int = 5
    login_window_seconds: int = 900
    session_hours: int = 8
    testing: bool = False

    @property
    def board_key_path(self) -> Path:
        """The board's Ed25519 signing key (created on first start, mode 0600)."""
        return self.data_dir / "board.key"

    @classmethod
    def load(cls, db: str | None = None, data_dir: str | Path | None = None, **overrides: object) -> "Config":
        """Settings from arguments, then QUORUM_* environment variables, then defaults (SQLite under ./data/)."""
        setting = "data_dir" if data_dir else "QUORUM_DATA_DIR" if os.environ.get("QUORUM_DATA_DIR") else "data folder"
        folder = Path(data_dir or os.environ.get("QUORUM_DATA_DIR") or DEFAULT_DATA_DIR)
        if folder.exists() and not folder.is_dir():
            raise ConfigError(setting, str(folder), "exists and is not a folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(setting, str(folder), f"cannot create the folder ({exc.strerror or exc})") from None
        url = db or os.environ.get("QUORUM_DB") or f"sqlite:///{(folder / 'quorum.db').resolve()}"
        public_url = os.environ.get("QUORUM_PUBLIC_URL", "")
        if public_url and not _PUBLIC_URL.fullmatch(public_url):
            raise ConfigError("QUORUM_PUBLIC_URL", repr(public_url), "expected http(s)://host[:port][/path]")
        values: dict[str, object] = {
            "db_url": url,
            "data_dir": folder,
            "secret_key": _secret_key(folder, setting),
            "smtp": smtp_from_env(),
            "https": public_url.startswith("https://"),
            "public_url": public_url.rstrip("/"),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def smtp_from_env() -> SmtpSettings | None:
    """SMTP settings from QUORUM_SMTP_HOST/PORT/FROM/STARTTLS/USER/PASSWORD; None when no host is set."""
    host = os.environ.get("QUORUM_SMTP_HOST", "")
    if not host:
        return None
    return SmtpSettings(
        host=host,
        port=_port(os.environ.get("QUORUM_SMTP_PORT", "25")),
        sender=os.environ.get("QUORUM_SMTP_FROM", "quorum@localhost"),
        starttls=os.environ.get("QUORUM_SMTP_STARTTLS", "") in ("1", "true", "yes"),
        username=os.environ.get("QUORUM_SMTP_USER", ""),
        password=os.environ.get("QUORUM_SMTP_PASSWORD", ""),
    )


def _port(text: str) -> int:
    """QUORUM_SMTP_PORT as a TCP port number."""
    if not text.strip().isdigit() or not 0 < int(text) < 65536:
        raise ConfigError("QUORUM_SMTP_PORT", repr(text), "not a port number (1-65535)")
    return int(text)


def _secret_key(folder: Path, setting: str = "data folder") -> bytes:
    """The session-signing key: QUORUM_SECRET_KEY, else a random key kept in the data folder (mode 0600)."""
    env = os.environ.get("QUORUM_SECRET_KEY")
    if env:
        return env.encode("utf-8")
    path = folder / "session.key"
    try:
        if not path.exists():  # created whole or not at all: a process starting at the same moment reads the winner's
            keystore.create_new(path, (secrets.token_hex(32) + "\n").encode("ascii"))
        return _read_key(path)
    except OSError as exc:
        raise ConfigError(setting, str(folder), f"cannot keep session.key there ({exc.strerror or exc})") from None


def _read_key(path: Path) -> bytes:
    """A key file of exactly 64 hex digits; a damaged one (empty or short after a crash or a full disk) is named,
    never used as a weak key."""
    try:
        text = path.read_text(encoding="ascii").strip()
        if not re.fullmatch("[0-9a-fA-F]{64}", text):  # bytes.fromhex would skip inner whitespace
            raise ValueError(text)
        return bytes.fromhex(text)
    except (ValueError, UnicodeError):
        raise ConfigError("key file", str(path), "is not a key of 64 hex digits (remove it to have a new one made)") from None
