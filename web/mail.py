"""Voters' e-mails (credentials, voting links) through the configured SMTP server; each send reports delivered or
the error."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from web.config import SmtpSettings


def _message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


def credential_message(sender: str, to: str, election_id: str, voter_id: str, credential: str, booth_url: str) -> EmailMessage:
    """The e-mail that carries one voter's private credential."""
    return _message(sender, to, f"Your voting credential for {election_id}", (
        f"Hello {voter_id},\n\n"
        f"Your private voting credential for the election {election_id} is:\n\n    {credential}\n\n"
        f"Vote at {booth_url} once the election is open: its voting link, with the election's fingerprint, is sent\n"
        "to you then and published by the election officials.\n\n"
        "Keep it secret: anyone who has it can vote in your name. It is sent once and not kept by the server;\n"
        "if you lose it, ask the election administrator for a new one before the election opens.\n"))


def voting_link_message(sender: str, to: str, election_id: str, voter_id: str, link: str, base_hash: str) -> EmailMessage:
    """The e-mail sent when the election opens: the voting link, which pins the election's fingerprint (base hash)."""
    return _message(sender, to, f"The election {election_id} is open", (
        f"Hello {voter_id},\n\n"
        f"The election {election_id} is open. Vote with the credential you received, at:\n\n    {link}\n\n"
        f"The election's fingerprint is\n\n    {base_hash}\n\n"
        "The booth checks that the election it is given has this fingerprint: open it from this link, or paste the\n"
        "fingerprint, which the election officials also publish, into the booth yourself.\n"))


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
