"""Each notification channel for real: email to an SMTP server (aiosmtpd) in the test, Slack and signed
webhooks to an HTTP server on loopback whose received requests are checked, the Standard Webhooks signature
included; retries with backoff, failures that end dead, the delivery log, and `notified` only after a channel
delivered."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks import Webhook

from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.models import AlertTrigger, NotificationDelivery
from cicosts.models.queue import DEAD, DONE, FAILED
from cicosts.notify import urls, webhooks
from cicosts.notify.outbox import NOTIFICATIONS_QUEUE
from cicosts.worker.runner import Worker
from tests.alert_helpers import Clock, HookServer, auth, body, ci_job, jobs_of, make_due, organization
from tests.helpers import TestClient, at
from tests.stripe_helpers import Mailbox, parts, start_smtp

HOSTILE = '<!channel> <script>alert("x")</script> & Sons'
NOW = at("2026-03-10T12:00:00")


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
        update={
            "allow_private_webhooks": True,
            "smtp_host": "127.0.0.1",
            "smtp_port": mailbox.port,  # type: ignore[attr-defined]
            "smtp_starttls": False,
            "smtp_from": "CICosts <alerts@cicosts.example>",
        }
    )


@pytest.fixture
async def server() -> AsyncIterator[HookServer]:
    hooks = await HookServer().start()
    yield hooks
    await hooks.stop()


async def alert_over(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, **fields: Any
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """CI costs of $0.12 this month and an alert at $0.10 with the channels given."""
    await ci_job(client, at("2026-03-02T10:00:00"), 20, repo="payments")
    await Worker(sessionmaker, settings, clock=Clock(NOW)).drain()
    org_id, tokens = await organization(sessionmaker, settings)
    response = await client.http.post(
        "/api/v1/alerts",
        params={"org_id": org_id},
        json=body(name=HOSTILE, threshold_amount=0.1, scope={"repository": "acme/payments"}, **fields),
        headers=auth(tokens["member"]),
    )
    assert response.status_code == 201, response.text
    return org_id, tokens, response.json()


async def evaluate(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> Worker:
    """A worker at NOW: its first pass evaluates every alert, then sends what that queued."""
    worker = Worker(sessionmaker, settings, clock=Clock(NOW))
    await worker.drain()
    return worker


async def the_trigger(sessionmaker: async_sessionmaker[AsyncSession]) -> AlertTrigger:
    async with transaction(sessionmaker) as session:
        [trigger] = (await session.scalars(select(AlertTrigger))).all()
        return trigger


async def delivery_log(sessionmaker: async_sessionmaker[AsyncSession]) -> list[NotificationDelivery]:
    async with transaction(sessionmaker) as session:
        return list(await session.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id)))


async def test_an_email_goes_to_owners_and_admins_who_allow_alert_emails(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, mailbox: Mailbox
) -> None:
    await alert_over(client, sessionmaker, settings, notify_email=True)
    await evaluate(sessionmaker, settings)
    [envelope] = mailbox.envelopes
    assert envelope.mail_from == "alerts@cicosts.example"
    assert envelope.rcpt_tos == ["owner@acme.example", "admin@acme.example"]  # not members or viewers
    [received] = mailbox.messages()
    assert " ".join(received["Subject"].split()) == f"[CICosts] Cost threshold: {HOSTILE}"
    text, html = parts(received)
    assert "This month's cost so far is $0.12, over the $0.10 threshold." in text
    assert f"Alert: {HOSTILE}" in text and "Scope: CI costs, repository acme/payments" in text
    assert "Period: 2026-03-01 to 2026-03-31 (UTC)" in text
    assert "<script>" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Sons" in html
    trigger = await the_trigger(sessionmaker)
    assert trigger.notified and trigger.notified_at is not None
    [sent] = await delivery_log(sessionmaker)
    assert (sent.channel, sent.status, sent.status_code, sent.attempt) == ("email", "sent", 250, 1)
    assert sent.target == "owner@acme.example, admin@acme.example"


async def test_slack_gets_block_kit_with_every_value_escaped(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, server: HookServer
) -> None:
    url = server.url("/services/T0001/B0001/secret-path")
    org_id, tokens, alert = await alert_over(
        client, sessionmaker, settings, notify_slack=True, slack_webhook_url=url
    )
    await evaluate(sessionmaker, settings)
    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/services/T0001/B0001/secret-path")
    assert request.headers["content-type"].startswith("application/json")
    assert request.headers["host"] == f"127.0.0.1:{server.port}"
    message = json.loads(request.body)
    header, summary, fields, footer = message["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": f"Cost threshold: {HOSTILE}", "emoji": False},
    }
    assert summary["text"]["text"] == "This month's cost so far is $0.12, over the $0.10 threshold."
    shown = [field["text"] for field in fields["fields"]]
    assert shown[0] == '*Alert*\n&lt;!channel&gt; &lt;script&gt;alert("x")&lt;/script&gt; &amp; Sons'
    assert "*Scope*\nCI costs, repository acme/payments" in shown
    assert "<!channel>" not in json.dumps(message["text"]) and footer["type"] == "context"
    assert (await the_trigger(sessionmaker)).notified
    deliveries = await client.http.get(
        f"/api/v1/alerts/{alert['id']}/deliveries", params={"org_id": org_id}, headers=auth(tokens["viewer"])
    )
    [shown_delivery] = deliveries.json()["deliveries"]
    assert shown_delivery["channel"] == "slack" and shown_delivery["status"] == "sent"
    assert shown_delivery["target"] == f"http://127.0.0.1:{server.port}"  # the secret path is never logged
    assert shown_delivery["trigger_id"] == (await the_trigger(sessionmaker)).id


def verify_by_hand(secret: str, headers: dict[str, str], payload: bytes) -> None:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + payload
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"


async def test_a_webhook_is_signed_the_standard_webhooks_way_and_retried_until_it_lands(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, server: HookServer
) -> None:
    server.statuses = [500, 200]
    org_id, tokens, alert = await alert_over(client, sessionmaker, settings, webhook_url=server.url("/in"))
    secret = alert["webhook_secret"]
    await evaluate(sessionmaker, settings)
    assert len(server.requests) == 1
    [job] = await jobs_of(sessionmaker, NOTIFICATIONS_QUEUE)
    assert (job.kind, job.status, job.attempts) == ("webhook", FAILED, 1) and job.run_at > job.created_at
    assert "500" in (job.last_error or "")
    assert not (await the_trigger(sessionmaker)).notified  # no channel delivered it yet

    await make_due(sessionmaker, NOTIFICATIONS_QUEUE)
    await Worker(sessionmaker, settings, clock=Clock(NOW)).drain()
    first, landed = server.requests
    for request in (first, landed):
        verify_by_hand(secret, request.headers, request.body)
        Webhook(secret).verify(request.body, request.headers)  # the reference implementation agrees
    assert first.headers["webhook-id"] == landed.headers["webhook-id"]  # the same message, retried
    assert first.body == landed.body
    assert first.headers["webhook-id"].startswith("msg_")
    event = json.loads(landed.body)
    assert event["type"] == "alert.triggered" and event["timestamp"].endswith("Z")
    assert event["data"]["alert"] == {
        "id": alert["id"],
        "name": HOSTILE,
        "alert_type": "cost_threshold",
        "period": "monthly",
        "threshold_amount": 0.1,
        "scope": {"source": "ci", "repository": "acme/payments"},
    }
    trigger = await the_trigger(sessionmaker)
    assert event["data"]["trigger"]["id"] == trigger.id and event["data"]["trigger"]["actual_amount"] == 0.12
    assert event["data"]["trigger"]["period_start"] == "2026-03-01T00:00:00Z"
    assert event["data"]["organization"] == {"id": org_id, "login": "acme"}
    assert trigger.notified
    assert [(d.status, d.status_code, d.attempt) for d in await delivery_log(sessionmaker)] == [
        ("failed", 500, 1),
        ("sent", 200, 2),
    ]
    listed = await client.http.get(
        f"/api/v1/alerts/{alert['id']}/triggers", params={"org_id": org_id}, headers=auth(tokens["viewer"])
    )
    assert listed.json()["triggers"][0]["notified"] is True


async def test_a_channel_that_keeps_failing_ends_dead_and_the_trigger_stays_unnotified(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, server: HookServer
) -> None:
    server.statuses = [503]
    settings = settings.model_copy(update={"worker_max_attempts": 2})
    org_id, tokens, alert = await alert_over(
        client, sessionmaker, settings, notify_slack=True, slack_webhook_url=server.url("/slack")
    )
    await evaluate(sessionmaker, settings)
    await make_due(sessionmaker, NOTIFICATIONS_QUEUE)
    await Worker(sessionmaker, settings, clock=Clock(NOW)).drain()
    [job] = await jobs_of(sessionmaker, NOTIFICATIONS_QUEUE)
    assert (job.status, job.attempts) == (DEAD, 2) and len(server.requests) == 2
    assert not (await the_trigger(sessionmaker)).notified
    deliveries = await client.http.get(
        f"/api/v1/alerts/{alert['id']}/deliveries", params={"org_id": org_id}, headers=auth(tokens["member"])
    )
    assert [(d["status"], d["status_code"], d["attempt"]) for d in deliveries.json()["deliveries"]] == [
        ("dead", 503, 2),
        ("failed", 503, 1),
    ]
    assert "answered 503: no_service" in deliveries.json()["deliveries"][0]["error"]


async def test_one_channel_delivering_is_enough_to_be_notified(
    client: TestClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    server: HookServer,
    mailbox: Mailbox,
) -> None:
    server.statuses = [500]
    await alert_over(client, sessionmaker, settings, notify_email=True, webhook_url=server.url())
    await evaluate(sessionmaker, settings)
    assert len(mailbox.envelopes) == 1 and len(server.requests) == 1
    assert (await the_trigger(sessionmaker)).notified
    statuses = {job.kind: job.status for job in await jobs_of(sessionmaker, NOTIFICATIONS_QUEUE)}
    assert statuses == {"email": DONE, "webhook": FAILED}


async def test_a_private_address_is_refused_again_when_sending(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, server: HookServer
) -> None:
    await alert_over(client, sessionmaker, settings, webhook_url=server.url())  # saved while allowed
    strict = settings.model_copy(update={"allow_private_webhooks": False})
    await evaluate(sessionmaker, strict)
    assert server.requests == []  # nothing reached the private address
    [job] = await jobs_of(sessionmaker, NOTIFICATIONS_QUEUE)
    assert job.status == FAILED and "not a public address" in (job.last_error or "")
    [attempt] = await delivery_log(sessionmaker)
    assert attempt.status == "failed" and attempt.status_code is None


async def test_a_triggered_check_over_http_notifies_after_the_request_commits(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, server: HookServer
) -> None:
    await ci_job(client, datetime.now(UTC).replace(microsecond=0), 30)
    await Worker(sessionmaker, settings).drain()
    org_id, tokens = await organization(sessionmaker, settings)
    created = await client.http.post(
        "/api/v1/alerts",
        params={"org_id": org_id},
        json=body(period="daily", threshold_amount=0.1, webhook_url=server.url()),
        headers=auth(tokens["member"]),
    )
    alert_id = created.json()["id"]
    checked = await client.http.post(
        f"/api/v1/alerts/{alert_id}/check", params={"org_id": org_id}, headers=auth(tokens["member"])
    )
    assert checked.status_code == 200, checked.text
    result = checked.json()
    assert set(result) >= {
        "alert_id",
        "current_cost",
        "threshold",
        "threshold_exceeded",
        "triggered",
        "trigger_id",
    }
    assert (result["current_cost"], result["threshold"], result["threshold_exceeded"]) == (0.18, 0.1, True)
    assert result["triggered"] and result["trigger_id"]
    again = await client.http.post(
        f"/api/v1/alerts/{alert_id}/check", params={"org_id": org_id}, headers=auth(tokens["member"])
    )
    assert not again.json()["triggered"] and again.json()["trigger_id"] == result["trigger_id"]
    viewer = await client.http.post(
        f"/api/v1/alerts/{alert_id}/check", params={"org_id": org_id}, headers=auth(tokens["viewer"])
    )
    assert viewer.status_code == 403
    await Worker(sessionmaker, settings).drain()
    [request] = server.requests
    assert json.loads(request.body)["data"]["trigger"]["id"] == result["trigger_id"]


def test_outbound_urls_must_be_http_to_a_host_without_credentials() -> None:
    for url, reason in [
        ("ftp://example.com/x", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("https://user:secret@example.com/x", "user name or password"),
        ("https:///nohost", "has no host"),
        ("x" * 2001, "at most 2000"),
    ]:
        with pytest.raises(urls.UnsafeURL, match=reason):
            urls.parse(url)
    assert urls.describe("https://hooks.slack.com/services/T/B/secret") == "https://hooks.slack.com"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.8",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - an address refused, not bound
        "224.0.0.251",
        "[::1]",
        "[fc00::1]",
        "[fe80::1]",
        "[::ffff:10.0.0.1]",
    ],
)
async def test_private_loopback_link_local_and_reserved_addresses_are_refused(address: str) -> None:
    with pytest.raises(urls.UnsafeURL, match="not a public address"):
        await urls.resolve(f"https://{address}/hook", allow_private=False)
    allowed = await urls.resolve(f"https://{address}/hook", allow_private=True)
    assert allowed.address == ipaddress.ip_address(address.strip("[]"))


async def test_a_request_goes_to_the_checked_address_with_the_hosts_name_kept() -> None:
    destination = await urls.resolve("https://8.8.8.8:8443/in?x=1", allow_private=False)
    assert destination.address.is_global
    named = urls.Destination(destination.url.copy_with(host="hooks.example.com"), destination.address)
    target, headers, extensions = named.request_to_address()
    assert str(target) == "https://8.8.8.8:8443/in?x=1"
    assert headers == {"Host": "hooks.example.com:8443"} and extensions == {
        "sni_hostname": "hooks.example.com"
    }


async def test_localhost_resolves_to_loopback_and_is_refused() -> None:
    with pytest.raises(urls.UnsafeURL, match="'localhost' is \\(or resolves to\\)"):
        await urls.resolve("http://localhost:8080/hook", allow_private=False)


def test_secrets_are_whsec_and_base64_of_32_random_bytes() -> None:
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert secret != webhooks.new_secret()
    headers = webhooks.headers(secret, "msg_1", 1_700_000_000, '{"a":1}')
    reference = Webhook(secret).sign("msg_1", datetime.fromtimestamp(1_700_000_000, tz=UTC), '{"a":1}')
    assert headers["webhook-signature"] == reference
    verify_by_hand(secret, headers, b'{"a":1}')
