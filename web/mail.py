"""Credential e-mails through the configured SMTP server; each send reports delivered or the error."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from web.config import SmtpSettings


def credential_message(sender: str, to: str, election_id: str, voter_id: str, credential: str, booth_url: str) -> EmailMessage:
    """The e-mail that carries one voter's private credential."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = f"Your voting credential for {election_id}"
    message.set_content(
        f"Hello {voter_id},\n\n"
        f"Your private voting credential for the election {election_id} is:\n\n    {credential}\n\n"
        f"Vote at {booth_url}\n\n"
        "Keep it secret: anyone who has it can vote in your name. It is sent once and not kept by the server;\n"
        "if you lose it, ask the election administrator for a new one before the election opens.\n"
    )
    return message


def send(settings: SmtpSettings, message: EmailMessage) -> str:
    """Send one message; returns '' when the server accepted it, else the error text."""
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                smtp.login(settings.username, settings.password)
            refused = smtp.send_message(message, to_addrs=[str(message["To"])])  # never other addresses a header names
    except (smtplib.SMTPException, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if refused:
        return "refused: " + "; ".join(f"{addr} {code} {text!r}" for addr, (code, text) in refused.items())
    return ""
