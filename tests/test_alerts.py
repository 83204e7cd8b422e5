"""/api/v1/alerts and the evaluation of each alert type against costs written the way production writes them
(GitHub webhooks through the worker, LLM calls through /v1/events/batch), at explicit times, in time zones
other than UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.alerts import service
from cicosts.alerts.hooks import ALERTS_QUEUE
from cicosts.alerts.schemas import CheckResult
from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.models import Alert, AlertTrigger, Organization
from cicosts.worker.runner import Worker
from tests.alert_helpers import (
    LINUX_NANOS_PER_MINUTE,
    Clock,
    auth,
    body,
    ci_job,
    jobs_of,
    make_due,
    organization,
    set_time_zone,
)
from tests.cloud_helpers import import_rows
from tests.cloud_helpers import row as cloud_row
from tests.helpers import TestClient, at
from tests.test_llm_analytics import call, project_key, send

USD_PER_MINUTE = LINUX_NANOS_PER_MINUTE / 10**9


@pytest.fixture
async def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"allow_private_webhooks": True})


async def create(client: TestClient, token: str, org_id: int, **fields: Any) -> dict[str, Any]:
    response = await client.http.post(
        "/api/v1/alerts", params={"org_id": org_id}, json=body(**fields), headers=auth(token)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def check_at(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, alert_id: int, now: datetime
) -> CheckResult:
    """What POST /check does, at an explicit time."""
    async with transaction(sessionmaker) as session:
        alert = await session.get(Alert, alert_id)
        assert alert is not None
        org = await session.get(Organization, alert.org_id)
        assert org is not None
        return await service.check(session, org, alert_id, settings, now)


async def triggers(sessionmaker: async_sessionmaker[AsyncSession], alert_id: int) -> list[AlertTrigger]:
    async with transaction(sessionmaker) as session:
        return list(
            await session.scalars(
                select(AlertTrigger).where(AlertTrigger.alert_id == alert_id).order_by(AlertTrigger.id)
            )
        )


def usd(minutes: int) -> float:
    return round(minutes * USD_PER_MINUTE, 6)


# --- the API -------------------------------------------------------------------------------------------


async def test_members_write_viewers_read_and_the_secret_is_shown_once(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    org_id, tokens = await organization(sessionmaker, settings)
    slack_url = "http://127.0.0.1:9/services/T000/B000/secret-token"
    created = await create(
        client,
        tokens["member"],
        org_id,
        name="Monorepo CI",
        threshold_amount=250.5,
        notify_slack=True,
        slack_webhook_url=slack_url,
        webhook_url="http://127.0.0.1:9/hooks/costs",
        scope={"repository": "acme/app", "workflow": "CI"},
    )
    assert created["webhook_secret"].startswith("whsec_") and len(created["webhook_secret"]) > 40
    assert created["scope"] == {"source": "ci", "repository": "acme/app", "workflow": "CI"} | {
        name: None
        for name in (
            "provider",
            "runner_sku",
            "project",
            "agent",
            "model",
            "service",
            "account",
            "tag",
        )
    }
    assert (created["threshold_amount"], created["period"], created["enabled"]) == (250.5, "monthly", True)
    assert created["warning_percents"] == [50, 80, 100] and created["anomaly_sensitivity"] == 3.0
    alert_id = created["id"]

    viewer = await client.http.get(
        f"/api/v1/alerts/{alert_id}", params={"org_id": org_id}, headers=auth(tokens["viewer"])
    )
    assert viewer.status_code == 200 and "webhook_secret" not in viewer.json()
    assert viewer.json()["slack_webhook_url"] == "http://127.0.0.1:9/…"  # its secret path is hidden
    member = await client.http.get(
        f"/api/v1/alerts/{alert_id}", params={"org_id": org_id}, headers=auth(tokens["member"])
    )
    assert member.json()["slack_webhook_url"] == slack_url
    refused = await client.http.post(
        "/api/v1/alerts", params={"org_id": org_id}, json=body(), headers=auth(tokens["viewer"])
    )
    assert refused.status_code == 403

    second = await create(
        client, tokens["admin"], org_id, name="Agents", enabled=False, scope={"agent": "triage"}
    )
    assert second["scope"]["source"] == "llm"
    listed = await client.http.get(
        "/api/v1/alerts", params={"org_id": org_id}, headers=auth(tokens["viewer"])
    )
    assert listed.json()["total"] == 2 and [a["name"] for a in listed.json()["alerts"]] == [
        "Monorepo CI",
        "Agents",
    ]
    enabled = await client.http.get(
        "/api/v1/alerts", params={"org_id": org_id, "enabled": "false"}, headers=auth(tokens["viewer"])
    )
    assert [a["name"] for a in enabled.json()["alerts"]] == ["Agents"] and enabled.json()["total"] == 1

    changed = await client.http.put(
        f"/api/v1/alerts/{alert_id}",
        params={"org_id": org_id},
        json={"threshold_amount": 300, "notify_slack": False, "slack_webhook_url": None},
        headers=auth(tokens["member"]),
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["threshold_amount"], changed.json()["slack_webhook_url"]) == (300.0, None)
    assert (
        changed.json()["name"] == "Monorepo CI"
        and changed.json()["webhook_url"] == "http://127.0.0.1:9/hooks/costs"
    )

    rotated = await client.http.post(
        f"/api/v1/alerts/{alert_id}/webhook-secret", params={"org_id": org_id}, headers=auth(tokens["member"])
    )
    assert rotated.json()["webhook_secret"] != created["webhook_secret"]

    deleted = await client.http.delete(
        f"/api/v1/alerts/{alert_id}", params={"org_id": org_id}, headers=auth(tokens["member"])
    )
    assert deleted.status_code == 204
    gone = await client.http.get(
        f"/api/v1/alerts/{alert_id}", params={"org_id": org_id}, headers=auth(tokens["member"])
    )
    assert gone.status_code == 404 and gone.json()["detail"] == f"Alert {alert_id} not found"
    elsewhere, other_tokens = await organization(sessionmaker, settings, login="globex")
    hidden = await client.http.get(
        f"/api/v1/alerts/{second['id']}", params={"org_id": elsewhere}, headers=auth(other_tokens["owner"])
    )
    assert hidden.status_code == 404  # another organization's alert is not found, whatever its id


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"threshold_amount": -5}, "threshold_amount"),
        ({"threshold_amount": 0.0000000001}, "threshold_amount"),
        ({"alert_type": "sometimes"}, "alert_type"),
        ({"period": "yearly"}, "period"),
        ({"scope": {"repository": "acme/app", "agent": "triage"}}, "scope"),
        ({"scope": {"source": "llm", "workflow": "CI"}}, "scope"),
        ({"scope": {"tag": "team"}}, "scope.tag"),
        ({"scope": {"tag": "team=a", "service": "Amazon EC2"}}, "scope.tag"),
        ({"notify_slack": True}, "slack_webhook_url"),
        ({"webhook_url": "ftp://example.com/hook"}, "webhook_url"),
        ({"webhook_url": "http://user:pw@example.com/hook"}, "webhook_url"),
        ({"warning_percents": [0, 50]}, "warning_percents"),
        (
            {"alert_type": "anomaly", "scope": {"source": "cloud"}, "anomaly_granularity": "hour"},
            "anomaly_granularity",
        ),
    ],
)
async def test_bad_input_is_refused_naming_the_field(
    client: TestClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    fields: dict[str, Any],
    named: str,
) -> None:
    org_id, tokens = await organization(sessionmaker, settings)
    response = await client.http.post(
        "/api/v1/alerts", params={"org_id": org_id}, json=body(**fields), headers=auth(tokens["member"])
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(named), response.json()["detail"]


async def test_private_addresses_are_refused_unless_allowed(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    org_id, tokens = await organization(sessionmaker, settings)
    client.http._transport.app.state.settings = settings.model_copy(update={"allow_private_webhooks": False})  # type: ignore[attr-defined]
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://localhost/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ):
        response = await client.http.post(
            "/api/v1/alerts",
            params={"org_id": org_id},
            json=body(webhook_url=url),
            headers=auth(tokens["owner"]),
        )
        assert response.status_code == 422, url
        assert (
            response.json()["detail"].startswith("webhook_url: host")
            and "not a public address" in response.json()["detail"]
        )
    public = await client.http.post(
        "/api/v1/alerts",
        params={"org_id": org_id},
        json=body(webhook_url="https://8.8.8.8/hook"),
        headers=auth(tokens["owner"]),
    )
    assert public.status_code == 201, public.text


# --- cost thresholds: calendar periods in the organization's time zone --------------------------------


async def test_a_monthly_threshold_follows_the_organizations_month_and_triggers_once_per_period(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, worker: Worker
) -> None:
    # Los Angeles: March starts at 2026-03-01T08:00Z (PST); April at 2026-04-01T07:00Z (PDT).
    await ci_job(client, at("2026-03-01T07:30:00"), 10)  # Feb 28, 23:30 local: February's
    await ci_job(client, at("2026-03-01T08:30:00"), 20)  # Mar 1, 00:30 local: March's
    await worker.drain()
    org_id, tokens = await organization(sessionmaker, settings, time_zone="America/Los_Angeles")
    alert = await create(client, tokens["member"], org_id, threshold_amount=0.15)

    march = await check_at(sessionmaker, settings, alert["id"], at("2026-03-01T09:00:00"))
    assert (march.current_cost, march.threshold, march.threshold_exceeded) == (usd(20), 0.15, False)
    assert march.period_start == at("2026-03-01T08:00:00") and march.period_end == at("2026-04-01T07:00:00")
    await set_time_zone(sessionmaker, org_id, "UTC")  # in UTC both jobs are March's
    utc = await check_at(sessionmaker, settings, alert["id"], at("2026-03-01T09:00:00"))
    assert (utc.current_cost, utc.threshold_exceeded, utc.triggered) == (usd(30), True, True)
    assert utc.period_start == at("2026-03-01T00:00:00")
    await set_time_zone(sessionmaker, org_id, "America/Los_Angeles")

    clock = Clock(at("2026-03-01T09:00:00"))
    put = await client.http.put(
        f"/api/v1/alerts/{alert['id']}",
        params={"org_id": org_id},
        json={"threshold_amount": 0.1},
        headers=auth(tokens["member"]),
    )
    assert put.status_code == 200
    assert await Worker(sessionmaker, settings, clock=clock).drain() > 0  # the tick evaluates every alert
    await Worker(sessionmaker, settings, clock=clock).drain()  # again, as a restarted worker would
    clock.now = at("2026-03-20T12:00:00")
    await Worker(sessionmaker, settings, clock=clock).drain()
    recorded = await triggers(sessionmaker, alert["id"])
    assert [(t.actual_nanos, t.threshold_nanos, t.period_start) for t in recorded] == [
        (30 * LINUX_NANOS_PER_MINUTE, 150_000_000, at("2026-03-01T00:00:00")),  # the UTC check above
        (20 * LINUX_NANOS_PER_MINUTE, 100_000_000, at("2026-03-01T08:00:00")),  # once in March at $0.10
    ]

    await ci_job(client, at("2026-04-01T06:30:00"), 25)  # Mar 31, 23:30 PDT: still March
    await ci_job(client, at("2026-04-01T07:30:00"), 20)  # Apr 1, 00:30 PDT
    await worker.drain()
    clock.now = at("2026-04-01T08:00:00")
    await Worker(sessionmaker, settings, clock=clock).drain()
    april = (await triggers(sessionmaker, alert["id"]))[-1]
    assert (april.period_start, april.period_end) == (at("2026-04-01T07:00:00"), at("2026-05-01T07:00:00"))
    assert april.actual_nanos == 20 * LINUX_NANOS_PER_MINUTE

    listed = await client.http.get(
        f"/api/v1/alerts/{alert['id']}/triggers",
        params={"org_id": org_id, "limit": 2},
        headers=auth(tokens["viewer"]),
    )
    assert listed.json()["total"] == 3
    newest = listed.json()["triggers"][0]
    assert newest["actual_amount"] == usd(20) and newest["threshold_amount"] == 0.1 and not newest["notified"]
    assert set(newest) >= {"id", "alert_id", "triggered_at", "actual_amount", "threshold_amount", "notified"}


async def test_daily_and_weekly_periods_across_a_daylight_saving_change(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, worker: Worker
) -> None:
    # 2026-03-08 is the day New York springs forward: a 23-hour day from 05:00Z to 04:00Z the next day.
    await ci_job(client, at("2026-03-08T04:30:00"), 7)  # Mar 7, 23:30 EST
    await ci_job(client, at("2026-03-08T05:30:00"), 11)  # Mar 8, 00:30 EST
    await ci_job(client, at("2026-03-09T03:30:00"), 13)  # Mar 8, 23:30 EDT
    await ci_job(client, at("2026-03-09T04:30:00"), 15)  # Mar 9, 00:30 EDT: Monday, a new week
    await worker.drain()
    org_id, tokens = await organization(sessionmaker, settings, time_zone="America/New_York")
    daily = await create(client, tokens["member"], org_id, period="daily", threshold_amount=0.1)
    weekly = await create(client, tokens["member"], org_id, period="weekly", threshold_amount=0.1)

    sunday = await check_at(sessionmaker, settings, daily["id"], at("2026-03-09T03:59:00"))
    assert (sunday.period_start, sunday.period_end) == (at("2026-03-08T05:00:00"), at("2026-03-09T04:00:00"))
    assert sunday.current_cost == usd(11 + 13) and sunday.triggered
    week = await check_at(sessionmaker, settings, weekly["id"], at("2026-03-09T03:59:00"))
    assert week.period_start == at("2026-03-02T05:00:00")  # Monday, March 2, 00:00 EST
    assert week.current_cost == usd(7 + 11 + 13)
    monday = await check_at(sessionmaker, settings, weekly["id"], at("2026-03-09T05:00:00"))
    assert (monday.period_start, monday.current_cost, monday.threshold_exceeded) == (
        at("2026-03-09T04:00:00"),
        usd(15),
        False,
    )


# --- budgets: warning levels and the forecast -----------------------------------------------------------


async def test_a_budget_warns_once_per_level_and_period_by_actual_cost(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, worker: Worker
) -> None:
    for day in range(1, 10):  # $0.06 on each of March 1 to 9 (Berlin)
        await ci_job(client, at(f"2026-03-{day:02d}T11:00:00"), 10)
    await worker.drain()
    org_id, tokens = await organization(sessionmaker, settings, time_zone="Europe/Berlin")
    alert = await create(
        client, tokens["member"], org_id, alert_type="budget_limit", threshold_amount=1, forecast=False
    )
    now = at("2026-03-10T00:00:00")
    first = await check_at(sessionmaker, settings, alert["id"], now)
    assert (first.current_cost, first.threshold, first.threshold_exceeded, first.triggered) == (
        0.54,
        0.5,
        True,
        True,
    )
    assert first.details["percent_used"] == 54.0 and first.details["budget"] == 1.0
    again = await check_at(sessionmaker, settings, alert["id"], now)
    assert not again.triggered and again.trigger_id == first.trigger_id

    for _ in range(5):
        await ci_job(client, at("2026-03-10T12:00:00"), 10)  # $0.84 in all: 80% crossed
    await worker.drain()
    eighty = await check_at(sessionmaker, settings, alert["id"], at("2026-03-11T00:00:00"))
    assert (eighty.current_cost, eighty.threshold, eighty.triggered) == (0.84, 0.8, True)
    for _ in range(3):
        await ci_job(client, at("2026-03-11T12:00:00"), 10)  # $1.02: over budget
    await worker.drain()
    over = await check_at(sessionmaker, settings, alert["id"], at("2026-03-12T00:00:00"))
    assert (over.current_cost, over.threshold, over.triggered) == (1.02, 1.0, True)
    assert not (await check_at(sessionmaker, settings, alert["id"], at("2026-03-13T00:00:00"))).triggered
    recorded = await triggers(sessionmaker, alert["id"])
    assert [(t.level, t.basis, t.threshold_nanos) for t in recorded] == [
        (50, "actual", 500_000_000),
        (80, "actual", 800_000_000),
        (100, "actual", 1_000_000_000),
    ]
    assert all(t.period_start == at("2026-02-28T23:00:00") for t in recorded)  # March 1, 00:00 CET


async def test_a_budget_warns_when_the_forecast_crosses_before_the_cost_does(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, worker: Worker
) -> None:
    for day in range(1, 10):
        await ci_job(client, at(f"2026-03-{day:02d}T11:00:00"), 10)
    await worker.drain()
    org_id, tokens = await organization(sessionmaker, settings)
    alert = await create(client, tokens["member"], org_id, alert_type="budget_limit", threshold_amount=2)
    result = await check_at(sessionmaker, settings, alert["id"], at("2026-03-10T00:00:00"))
    # Spent $0.54; the last 7 days cost $0.42, so 22 more days add $1.32: $1.86, 93% of $2.
    assert result.details["projected"] == 1.86 and result.current_cost == 0.54
    levels = {level["percent"]: level["crossed_by"] for level in result.details["levels"]}
    assert levels == {50: "forecast", 80: "forecast", 100: None}
    assert result.triggered and result.threshold == 1.6
    [trigger] = await triggers(sessionmaker, alert["id"])
    assert (trigger.level, trigger.basis, trigger.actual_nanos) == (80, "forecast", 1_860_000_000)
    # The lower level is covered by the higher one: the actual cost crossing 50% later adds nothing.
    for _ in range(9):
        await ci_job(client, at("2026-03-30T12:00:00"), 10)
    await worker.drain()
    later = await check_at(sessionmaker, settings, alert["id"], at("2026-03-31T23:00:00"))
    assert later.current_cost == 1.08 and later.threshold_exceeded and not later.triggered
    assert later.trigger_id is None and len(await triggers(sessionmaker, alert["id"])) == 1


# --- anomalies -----------------------------------------------------------------------------------------


async def test_a_day_far_above_its_baseline_is_an_anomaly_and_a_small_rise_is_not(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, worker: Worker
) -> None:
    # Tokyo (UTC+9). Baseline: March 1 to 28 local, at local noon, 8/10/12 minutes in turn.
    for day in range(1, 29):
        await ci_job(client, at(f"2026-03-{day:02d}T03:00:00"), (8, 10, 12)[day % 3])
    # March 29 local: 00:30 JST (March 28, 15:30Z) and 23:30 JST (14:30Z): 20 minutes, $0.12.
    await ci_job(client, at("2026-03-28T15:30:00"), 10)
    await ci_job(client, at("2026-03-29T14:30:00"), 10)
    await worker.drain()
    org_id, tokens = await organization(sessionmaker, settings, time_zone="Asia/Tokyo")
    sensitive = await create(
        client, tokens["member"], org_id, alert_type="anomaly", threshold_amount=0.01, scope={"source": "ci"}
    )
    guarded = await create(client, tokens["member"], org_id, alert_type="anomaly", threshold_amount=0.1)
    now = at("2026-03-29T16:00:00")  # March 30, 01:00 JST: March 29 is the last complete day
    found = await check_at(sessionmaker, settings, sensitive["id"], now)
    assert (found.period_start, found.period_end) == (at("2026-03-28T15:00:00"), at("2026-03-29T15:00:00"))
    # median $0.06, MAD $0.012, k = 3: the bar is 0.06 + max(0.036, 0.01) = $0.096
    assert found.details["median"] == 0.06 and found.details["mad"] == 0.012 and found.details["bar"] == 0.096
    assert (found.current_cost, found.threshold, found.threshold_exceeded, found.triggered) == (
        0.12,
        0.096,
        True,
        True,
    )
    assert found.details["baseline_buckets"] == 28
    # With a minimum rise of $0.10, the bar is 0.06 + 0.10 = $0.16.
    small = await check_at(sessionmaker, settings, guarded["id"], now)
    assert (small.threshold, small.threshold_exceeded, small.triggered, small.trigger_id) == (
        0.16,
        False,
        False,
        None,
    )
    assert not (await check_at(sessionmaker, settings, sensitive["id"], now + timedelta(hours=5))).triggered
    [trigger] = await triggers(sessionmaker, sensitive["id"])
    assert (trigger.basis, trigger.level, trigger.dedupe_key) == (
        "anomaly",
        0,
        "anomaly:day:2026-03-28T15:00Z",
    )


async def test_an_anomaly_needs_a_week_of_history(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, worker: Worker
) -> None:
    for day in range(1, 5):
        await ci_job(client, at(f"2026-03-{day:02d}T12:00:00"), 1)
    await ci_job(client, at("2026-03-05T12:00:00"), 500)
    await worker.drain()
    org_id, tokens = await organization(sessionmaker, settings)
    alert = await create(client, tokens["member"], org_id, alert_type="anomaly", threshold_amount=0.01)
    result = await check_at(sessionmaker, settings, alert["id"], at("2026-03-06T01:00:00"))
    assert (result.current_cost, result.threshold_exceeded, result.triggered) == (usd(500), False, False)
    assert result.details["reason"] == "not enough history: 4 of the 7 days a baseline needs"


async def test_an_llm_hour_is_compared_with_the_same_hour_of_the_days_before(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    key, _, _ = await project_key(sessionmaker, settings, "support-bot")
    hour = at("2026-03-20T09:00:00")
    await send(client, key, [call(hour - timedelta(days=day) + timedelta(minutes=5)) for day in range(1, 11)])
    await send(client, key, [call(hour + timedelta(minutes=m)) for m in range(20)])
    await send(
        client, key, [call(hour - timedelta(hours=3)) for _ in range(40)]
    )  # another hour: not compared
    org_id, tokens = await organization(sessionmaker, settings)
    alert = await create(
        client,
        tokens["member"],
        org_id,
        alert_type="anomaly",
        threshold_amount=0.01,
        scope={"source": "llm", "project": "support-bot", "agent": "support"},
    )
    result = await check_at(sessionmaker, settings, alert["id"], at("2026-03-20T10:20:00"))
    assert result.details["granularity"] == "hour" and result.details["baseline_buckets"] == 10
    one_call = result.details["median"]
    assert result.details["mad"] == 0 and result.current_cost == pytest.approx(20 * one_call)
    assert result.threshold == pytest.approx(one_call + 0.01) and result.triggered
    assert (result.period_start, result.period_end) == (hour, hour + timedelta(hours=1))
    other = await create(
        client,
        tokens["member"],
        org_id,
        alert_type="anomaly",
        threshold_amount=0.01,
        scope={"agent": "billing"},
    )
    assert not (
        await check_at(sessionmaker, settings, other["id"], at("2026-03-20T10:20:00"))
    ).threshold_exceeded


# --- scope ------------------------------------------------------------------------------------------------


async def test_the_scope_narrows_the_costs_an_alert_reads(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, worker: Worker
) -> None:
    await ci_job(client, at("2026-03-02T10:00:00"), 10)
    await ci_job(client, at("2026-03-02T10:00:00"), 20, workflow="Deploy")
    await ci_job(client, at("2026-03-02T10:00:00"), 30, repo="web")
    await ci_job(client, at("2026-03-02T10:00:00"), 40, repo="web", labels=["macos-latest"])
    await worker.drain()
    key, _, _ = await project_key(sessionmaker, settings, "assistant")
    await send(client, key, [call(at("2026-03-02T10:00:00"))])
    org_id, tokens = await organization(sessionmaker, settings)
    now = at("2026-03-03T00:00:00")

    async def cost(scope: dict[str, Any]) -> float:
        alert = await create(client, tokens["member"], org_id, threshold_amount=1000, scope=scope)
        return (await check_at(sessionmaker, settings, alert["id"], now)).current_cost

    llm = await cost({"source": "llm"})
    assert llm > 0
    assert await cost({"source": "ci", "repository": "acme/app"}) == usd(30)
    assert await cost({"repository": "acme/app", "workflow": "Deploy"}) == usd(20)
    assert await cost({"runner_sku": "linux"}) == usd(10 + 20 + 30)
    assert await cost({"provider": "GitHub"}) == await cost({"source": "ci"})
    assert await cost({"source": "all"}) == pytest.approx(await cost({"source": "ci"}) + llm)
    assert await cost({"project": "assistant", "model": "gpt-4o"}) == llm
    assert await cost({"source": "cloud"}) == 0


# --- when evaluation runs ------------------------------------------------------------------------------


async def test_costs_landing_enqueue_one_debounced_evaluation_per_organization(
    client: TestClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    landed = Clock(minute)
    monkeypatch.setattr("cicosts.alerts.hooks.utc_now", landed)
    clock = Clock(at("2026-03-04T12:00:00"))  # a Wednesday: no digest is due
    worker = Worker(sessionmaker, settings, clock=clock)
    await ci_job(client, at("2026-03-04T10:00:00"), 10)
    await worker.drain()
    assert await jobs_of(sessionmaker, ALERTS_QUEUE) == []  # no alert, no evaluation
    org_id, tokens = await organization(sessionmaker, settings)
    alert = await create(client, tokens["member"], org_id, threshold_amount=0.1, period="daily")
    landed.now = minute + timedelta(minutes=1, seconds=10)  # a process checks for alerts once a minute

    for minutes in (5, 6, 7):
        await ci_job(client, at("2026-03-04T11:00:00"), minutes)
        await worker.drain()
    key, _, _ = await project_key(sessionmaker, settings, "bot")
    await send(client, key, [call(at("2026-03-04T11:00:00"))])
    pending = [job for job in await jobs_of(sessionmaker, ALERTS_QUEUE) if job.status == "queued"]
    assert len(pending) == 1 and pending[0].dedupe_key.startswith(f"landed:{org_id}:")
    assert pending[0].run_at == minute + timedelta(minutes=2)  # run when the minute is over
    assert await triggers(sessionmaker, alert["id"]) == []

    await make_due(sessionmaker, ALERTS_QUEUE)
    await worker.drain()
    [trigger] = await triggers(sessionmaker, alert["id"])
    assert trigger.actual_nanos > (10 + 5 + 6 + 7) * LINUX_NANOS_PER_MINUTE


async def test_the_schedule_enqueues_each_evaluation_and_digest_once_whatever_the_workers(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, client: TestClient
) -> None:
    from cicosts.alerts.scheduler import Scheduler

    org_id, tokens = await organization(sessionmaker, settings, time_zone="Asia/Tokyo")
    await create(client, tokens["member"], org_id)
    await create(client, tokens["member"], org_id, name="Second")
    first, second = Scheduler(sessionmaker), Scheduler(sessionmaker)
    sunday = at("2026-03-08T22:59:00")  # Monday 07:59 in Tokyo
    assert await first.tick(sunday) == 1  # one evaluation for the organization, not per alert
    assert await second.tick(sunday + timedelta(seconds=30)) == 0  # same 5-minute slot, another worker
    assert await first.tick(sunday + timedelta(minutes=1)) == 2  # 23:00Z: a new slot, and Monday 08:00 JST
    assert await second.tick(sunday + timedelta(minutes=2)) == 0
    assert await Scheduler(sessionmaker).tick(at("2026-03-09T22:58:00")) == 1  # a day later: no digest again
    assert await Scheduler(sessionmaker).tick(at("2026-03-09T23:00:00")) == 1  # the window is over
    kinds = [(job.kind, job.dedupe_key) for job in await jobs_of(sessionmaker, ALERTS_QUEUE)]
    assert ("digest", f"digest:{org_id}:2026-03-09") in kinds
    assert sorted(kind for kind, _ in kinds) == ["digest", "evaluate", "evaluate", "evaluate", "evaluate"]


async def test_a_tick_whose_transaction_fails_is_enqueued_again_by_the_next_tick(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, client: TestClient
) -> None:
    from cicosts.alerts.scheduler import Scheduler

    org_id, tokens = await organization(sessionmaker, settings, time_zone="Asia/Tokyo")
    await create(client, tokens["member"], org_id)
    scheduler = Scheduler(sessionmaker)
    monday = at("2026-03-08T23:01:00")  # Monday 08:01 in Tokyo: an evaluation and the digest are due
    async with transaction(sessionmaker) as session:  # the database refuses digests for now
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(
                text(
                    "CREATE FUNCTION refuse_digests() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'no digests'; END $$"
                )
            )
            await session.execute(
                text(
                    "CREATE TRIGGER refuse_digests BEFORE INSERT ON jobs FOR EACH ROW "
                    "WHEN (NEW.kind = 'digest') EXECUTE FUNCTION refuse_digests()"
                )
            )
        else:
            await session.execute(
                text(
                    "CREATE TRIGGER refuse_digests BEFORE INSERT ON jobs WHEN NEW.kind = 'digest' "
                    "BEGIN SELECT RAISE(ABORT, 'no digests'); END"
                )
            )
    try:
        with pytest.raises(DBAPIError):
            await scheduler.tick(monday)
        assert await jobs_of(sessionmaker, ALERTS_QUEUE) == []  # the whole tick was rolled back
    finally:
        async with transaction(sessionmaker) as session:
            if session.get_bind().dialect.name == "postgresql":
                await session.execute(text("DROP TRIGGER refuse_digests ON jobs"))
                await session.execute(text("DROP FUNCTION refuse_digests()"))
            else:
                await session.execute(text("DROP TRIGGER refuse_digests"))

    assert await scheduler.tick(monday + timedelta(seconds=30)) == 2  # same slot and week: both again
    kinds = sorted((job.kind, job.dedupe_key) for job in await jobs_of(sessionmaker, ALERTS_QUEUE))
    assert kinds == [("digest", f"digest:{org_id}:2026-03-09"), ("evaluate", f"tick:{org_id}:20260308T2300")]
    assert await scheduler.tick(monday + timedelta(minutes=1)) == 0  # and, once committed, only once


async def test_cloud_costs_by_service_account_and_tag(
    client: TestClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
) -> None:
    org_id, tokens = await organization(sessionmaker, settings, time_zone="Europe/Berlin")
    ec2, s3 = "Amazon Elastic Compute Cloud", "Amazon Simple Storage Service"
    await import_rows(
        sessionmaker,
        tmp_path,
        [
            cloud_row("10.00", at=at("2026-03-02T12:00:00"), service=ec2, tags={"team": "payments"}),
            cloud_row(
                "2.50", at=at("2026-03-04T12:00:00"), service=ec2, tags={"team": "payments", "env": "prod"}
            ),
            cloud_row(
                "5.00",
                at=at("2026-03-03T12:00:00"),
                service=s3,
                sub_account="333333333333",
                tags={"team": "search"},
            ),
            cloud_row(
                "7.00", at=at("2026-03-03T12:00:00"), service=ec2, currency="EUR", tags={"team": "payments"}
            ),
        ],
    )
    now = at("2026-03-10T00:00:00")

    async def cost(scope: dict[str, Any], **fields: Any) -> CheckResult:
        alert = await create(client, tokens["member"], org_id, threshold_amount=10, scope=scope, **fields)
        return await check_at(sessionmaker, settings, alert["id"], now)

    by_tag = await cost({"tag": "team=payments"})
    assert (by_tag.current_cost, by_tag.threshold_exceeded) == (12.5, True)  # USD rows only, as in the ledger
    assert (await cost({"tag": "env=prod"})).current_cost == 2.5
    assert (await cost({"service": ec2})).current_cost == 12.5
    assert (await cost({"account": "333333333333"})).current_cost == 5.0
    assert (await cost({"source": "cloud", "provider": "AWS"})).current_cost == 17.5
    weekly = await cost({"tag": "team=payments"}, period="weekly")  # the week from Monday, March 9 (Berlin)
    assert weekly.current_cost == 0 and weekly.period_start == at("2026-03-08T23:00:00")
    budget = await cost({"tag": "team=search"}, alert_type="budget_limit", forecast=False)
    assert (budget.current_cost, budget.details["percent_used"], budget.threshold) == (5.0, 50.0, 5.0)
