"""Compose an email (a plain-text part and an HTML part with every value escaped) and send it over SMTP.

Generic on purpose: billing notices use it today, alerts later. Nothing here touches the database; the
outbox (`outbox.py`) queues emails in the caller's transaction and the worker sends them after commit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from html import escape

import aiosmtplib

from cicosts.config import Settings

SMTP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Email:
    """One message to one or more recipients; `html` is trusted markup, built with `html_body`."""

    to: tuple[str, ...]
    subject: str
    text: str
    html: str

    def to_json(self) -> str:
        return json.dumps(
            {"to": list(self.to), "subject": self.subject, "text": self.text, "html": self.html}
        )

    @classmethod
    def from_json(cls, payload: str) -> Email:
        data = json.loads(payload)
        return cls(
            to=tuple(str(address) for address in data["to"]),
            subject=str(data["subject"]),
            text=str(data["text"]),
            html=str(data["html"]),
        )


def plain_text(paragraphs: Sequence[str], links: Sequence[Link] = ()) -> str:
    parts = list(paragraphs) + [f"{link.label}: {link.url}" for link in links]
    return "\n\n".join(parts) + "\n"


def html_body(title: str, paragraphs: Sequence[str], links: Sequence[Link] = ()) -> str:
    """A small HTML document; every value given is escaped, so none can inject markup."""
    body = [f"<h1>{escape(title)}</h1>"]
    body += [f"<p>{escape(paragraph)}</p>" for paragraph in paragraphs]
    body += [f'<p><a href="{escape(link.url, quote=True)}">{escape(link.label)}</a></p>' for link in links]
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>'
        + escape(title)
        + "</title></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def message(to: Sequence[str], subject: str, paragraphs: Sequence[str], links: Sequence[Link] = ()) -> Email:
    """Both parts from the same values: the text as it is, the HTML escaped."""
    return Email(
        to=tuple(to),
        subject=subject,
        text=plain_text(paragraphs, links),
        html=html_body(subject, paragraphs, links),
    )


def _one_line(value: str) -> str:
    return " ".join(value.split())  # a header cannot carry a line break (no header injection)


def compose(email: Email, sender: str) -> EmailMessage:
    """multipart/alternative: the plain text first, the HTML preferred by clients that show it."""
    composed = EmailMessage()
    composed["Subject"] = _one_line(email.subject)
    composed["From"] = _one_line(sender)
    composed["To"] = ", ".join(_one_line(address) for address in email.to)
    composed["Date"] = formatdate(localtime=False, usegmt=True)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "cicosts.localhost"
    composed["Message-ID"] = make_msgid(domain=domain)
    composed.set_content(email.text)
    composed.add_alternative(email.html, subtype="html")
    return composed


async def send(email: Email, settings: Settings) -> None:
    """Send over SMTP (STARTTLS first when SMTP_STARTTLS); raises on any refusal, so the job is retried."""
    if not settings.email_configured:
        raise RuntimeError("SMTP_HOST is not set")
    await aiosmtplib.send(
        compose(email, settings.smtp_from),
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password or None,
        start_tls=settings.smtp_starttls,
        timeout=SMTP_TIMEOUT_SECONDS,
    )
