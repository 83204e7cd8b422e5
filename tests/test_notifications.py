"""Emails: composed with escaped HTML, queued in the caller's transaction, sent by the worker over SMTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity.service import ensure_user_with_organization
from cicosts.models import Job, User
from cicosts.models.queue import DEAD, DONE, FAILED, IGNORED, QUEUED
from cicosts.notify.email import Email, Link, compose, message, send
from cicosts.notify.outbox import NOTIFICATIONS_QUEUE, enqueue_email
from cicosts.notify.recipients import admin_recipients
from cicosts.worker.runner import Worker
from tests.stripe_helpers import Mailbox, free_port, parts, start_smtp

HOSTILE = '<script>alert("x")</script> & Sons'


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    controller = start_smtp(box)
    box.port = controller.port  # type: ignore[attr-defined]
    yield box
    controller.stop()


def smtp_settings(settings: Settings, port: int, **changes: object) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_starttls": False,
            "smtp_from": "CICosts <billing@cicosts.example>",
            **changes,
        }
    )


def notice(to: tuple[str, ...] = ("ada@example.com",)) -> Email:
    return message(
        to,
        f"Payment failed for {HOSTILE}",
        [f"We could not collect the payment for {HOSTILE}.", "Second paragraph."],
        [Link("Pay the invoice", 'https://pay.example.com/i?a=1&b="2"')],
    )


def test_both_parts_carry_the_same_words_and_only_the_html_is_escaped() -> None:
    composed = compose(notice(), "CICosts <billing@cicosts.example>")
    assert composed.get_content_type() == "multipart/alternative"
    text, html = parts(composed)
    assert f"We could not collect the payment for {HOSTILE}." in text
    assert 'Pay the invoice: https://pay.example.com/i?a=1&b="2"' in text
    assert "<script>" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Sons" in html
    assert '<a href="https://pay.example.com/i?a=1&amp;b=&quot;2&quot;">Pay the invoice</a>' in html
    assert composed["Subject"] == f"Payment failed for {HOSTILE}"
    assert composed["From"] == "CICosts <billing@cicosts.example>" and composed["Message-ID"].endswith(
        "@cicosts.example>"
    )


def test_a_line_break_cannot_inject_a_header() -> None:
    email = Email(to=("ada@example.com",), subject="Hi\r\nBcc: eve@example.com", text="t", html="<p>t</p>")
    composed = compose(email, "CICosts <billing@cicosts.example>")
    assert composed["Subject"] == "Hi Bcc: eve@example.com" and composed["Bcc"] is None


def test_an_email_survives_the_queue_as_it_was() -> None:
    email = notice(("a@example.com", "b@example.com"))
    assert Email.from_json(email.to_json()) == email


async def test_send_delivers_both_parts_to_a_real_smtp_server_with_a_login(settings: Settings) -> None:
    box = Mailbox()
    controller = start_smtp(box, password="smtp-pass")
    try:
        configured = smtp_settings(
            settings, controller.port, smtp_username="cicosts", smtp_password="smtp-pass"
        )
        await send(notice(("ada@example.com", "bob@example.com")), configured)
    finally:
        controller.stop()
    assert box.logins == ["cicosts"]
    [envelope] = box.envelopes
    assert envelope.mail_from == "billing@cicosts.example"
    assert envelope.rcpt_tos == ["ada@example.com", "bob@example.com"]
    [received] = box.messages()
    text, html = parts(received)
    assert HOSTILE in text and "&lt;script&gt;" in html and "<script>" not in html


async def test_a_queued_email_is_sent_only_after_its_transaction_commits(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], mailbox: Mailbox
) -> None:
    configured = smtp_settings(settings, mailbox.port)  # type: ignore[attr-defined]
    worker = Worker(sessionmaker, configured)

    class Undo(Exception):
        pass

    with pytest.raises(Undo):
        async with transaction(sessionmaker) as session:
            assert await enqueue_email(session, notice(), configured, dedupe_key="rolled-back")
            raise Undo
    assert await worker.drain() == 0 and mailbox.envelopes == []
    async with transaction(sessionmaker) as session:
        assert await enqueue_email(session, notice(), configured, dedupe_key="kept")
        assert not await enqueue_email(session, notice(), configured, dedupe_key="kept")  # once per key
        assert not await enqueue_email(session, notice(to=()), configured)  # nobody to tell
    assert await worker.drain() == 1
    assert len(mailbox.envelopes) == 1
    async with transaction(sessionmaker) as session:
        job = await session.scalar(select(Job).where(Job.queue == NOTIFICATIONS_QUEUE))
    assert job is not None and (job.kind, job.status, job.attempts) == ("email", DONE, 1)


async def test_an_smtp_failure_is_retried_with_backoff_then_kept_as_a_dead_letter(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    nobody_listens = smtp_settings(settings, free_port(), worker_max_attempts=2)
    worker = Worker(sessionmaker, nobody_listens)
    async with transaction(sessionmaker) as session:
        await enqueue_email(session, notice(), nobody_listens, dedupe_key="unlucky")
    assert await worker.drain() == 1
    async with transaction(sessionmaker) as session:
        job = await session.scalar(select(Job).where(Job.dedupe_key == "unlucky"))
        assert job is not None and job.status == FAILED and job.last_error
        assert job.run_at > job.created_at  # backed off, not retried at once
        await session.execute(update(Job).where(Job.id == job.id).values(run_at=job.created_at))
    assert await worker.drain() == 1
    async with transaction(sessionmaker) as session:
        job = await session.scalar(select(Job).where(Job.dedupe_key == "unlucky"))
    assert job is not None and (job.status, job.attempts) == (DEAD, 2)


async def test_without_smtp_host_an_email_is_recorded_but_not_sent(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], worker: Worker
) -> None:
    assert not settings.email_configured
    async with transaction(sessionmaker) as session:
        assert await enqueue_email(session, notice(), settings, dedupe_key="unsent")
    assert await worker.drain() == 0
    async with transaction(sessionmaker) as session:
        job = await session.scalar(select(Job).where(Job.dedupe_key == "unsent"))
    assert job is not None and job.status == IGNORED and job.status != QUEUED


async def test_admin_recipients_are_owners_and_admins_who_want_alert_emails(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(sessionmaker) as session:
        people = {}
        for login, role in [("own", "owner"), ("adm", "admin"), ("quiet", "admin"), ("mem", "member")]:
            user, org = await ensure_user_with_organization(session, login, "acme", role=role)
            user.email = f"{login}@example.com"
            people[login] = user
        people["own"].notification_email = "billing@acme.example"
        people["quiet"].alert_emails_enabled = False
        await ensure_user_with_organization(session, "elsewhere", "other", role="owner")
        await session.flush()
        assert await admin_recipients(session, org.id) == ["billing@acme.example", "adm@example.com"]
        await session.execute(update(User).where(User.github_login == "adm").values(email=None))
        assert await admin_recipients(session, org.id) == ["billing@acme.example"]
