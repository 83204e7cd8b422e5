"""The weekly digest: due Monday 08:00 in the organization's time zone, sent once per member who wants it,
with last week's costs by source, the top workflows and agents, what changed most, and the recommendations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.models import User
from cicosts.worker.runner import Worker
from tests.alert_helpers import Clock, ci_job, organization
from tests.helpers import TestClient, at
from tests.stripe_helpers import Mailbox, parts, start_smtp
from tests.test_llm_analytics import call, project_key, send

HOSTILE_WORKFLOW = "<b>Deploy</b> & more"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    controller = start_smtp(box)
    box.port = controller.port  # type: ignore[attr-defined]
    yield box
    controller.stop()


@pytest.fixture
async def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    return settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": mailbox.port, "smtp_starttls": False}  # type: ignore[attr-defined]
    )


async def test_the_digest_of_last_week_goes_out_monday_morning_local_time_once(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, mailbox: Mailbox
) -> None:
    # Berlin. Last week: Monday 2026-03-02 to Sunday 2026-03-08; due March 9, 08:00 CET (07:00Z).
    await ci_job(client, at("2026-02-24T10:00:00"), 20)  # the week before: $0.12
    await ci_job(client, at("2026-03-03T10:00:00"), 10)  # $0.06
    await ci_job(client, at("2026-03-04T10:00:00"), 50, workflow=HOSTILE_WORKFLOW)  # $0.30
    await ci_job(client, at("2026-03-01T22:30:00"), 99)  # Sunday 23:30 CET: the week before, $0.594
    key, _, _ = await project_key(sessionmaker, settings, "support-bot")
    await send(client, key, [call(at("2026-03-05T09:00:00")) for _ in range(3)])
    await organization(sessionmaker, settings, time_zone="Europe/Berlin")
    async with transaction(sessionmaker) as session:
        await session.execute(
            update(User).where(User.github_login == "acme-admin").values(weekly_digest_enabled=False)
        )
        await session.execute(
            update(User)
            .where(User.github_login == "acme-member")
            .values(notification_email="team@acme.example")
        )
    clock = Clock(at("2026-03-09T06:59:00"))  # 07:59 in Berlin: not yet
    await Worker(sessionmaker, settings, clock=clock).drain()
    assert mailbox.envelopes == []

    clock.now = at("2026-03-09T07:03:00")
    await Worker(sessionmaker, settings, clock=clock).drain()
    clock.now += timedelta(hours=3)
    await Worker(sessionmaker, settings, clock=clock).drain()  # later that morning: not again
    recipients = sorted(address for envelope in mailbox.envelopes for address in envelope.rcpt_tos)
    assert recipients == ["owner@acme.example", "team@acme.example", "viewer@acme.example"]

    received = mailbox.messages()[0]
    assert " ".join(received["Subject"].split()) == "[CICosts] acme: the week of 2026-03-02 to 2026-03-08"
    text, html = parts(received)
    lines = text.splitlines()
    assert "• CI/CD (GitHub Actions): $0.36, -49.6% on the week before ($0.71)" in lines
    assert any(line.startswith("• LLM and agents: $") and "new this week" in line for line in lines)
    top = lines.index("Top workflows:")
    assert lines[top + 2 : top + 5 : 2] == [
        f"• acme/app / {HOSTILE_WORKFLOW}: $0.30",
        "• acme/app / CI: $0.06",
    ]
    assert "Top agents:" in lines and any(line.startswith("• support-bot / support: $") for line in lines)
    assert "Biggest changes:" in lines
    assert "• CI/CD (GitHub Actions), acme/app / CI: -$0.65 ($0.71 to $0.06)" in lines
    assert "Open recommendations:" in lines or "No open recommendations." in lines
    assert "Times are in Europe/Berlin." in text
    assert "<b>Deploy</b>" not in html and "&lt;b&gt;Deploy&lt;/b&gt; &amp; more" in html


async def test_no_digest_for_an_organization_without_costs(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, mailbox: Mailbox
) -> None:
    await organization(sessionmaker, settings)
    await Worker(sessionmaker, settings, clock=Clock(at("2026-03-09T08:30:00"))).drain()
    assert mailbox.envelopes == []
