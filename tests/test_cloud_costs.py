"""The cloud cost API: GET /costs and /v1/cloud/costs/*: figures, metrics, ranges and currencies apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity.api_keys.service import create_api_key
from cicosts.identity.service import ensure_user_with_organization
from cicosts.kit.periods import utc_now
from tests.cloud_helpers import import_rows, row
from tests.helpers import TestClient

SEPTEMBER = {"start_date": "2024-09-01", "end_date": "2024-09-30"}
TENTH, SECOND = datetime(2024, 9, 10, 12, tzinfo=UTC), datetime(2024, 9, 2, 3, tzinfo=UTC)
EC2, S3, VMS = "Amazon Elastic Compute Cloud", "Amazon Simple Storage Service", "Virtual Machines"


@pytest.fixture
async def key(sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path) -> str:
    """A read key of `acme`, whose September 2024 bill is loaded (and an August charge outside it)."""
    async with transaction(sessionmaker) as session:
        _, org = await ensure_user_with_organization(session, "alice", "acme")
        _, key = await create_api_key(session, org_id=org.id, name="r", scopes=["read"], created_by=None)
    rows = [
        row("10", at=TENTH, effective="8", list_cost="12", resource="i-1", tags={"env": "prod", "team": "a"}),
        row(
            "5",
            at=TENTH,
            service=S3,
            category="Storage",
            region="us-west-2",
            sub_account="333",
            tags={"env": "dev"},
        ),
        row("2.5", at=SECOND, resource="i-1"),
        row(
            "4",
            at=TENTH,
            provider="Microsoft",
            account="az-1",
            sub_account="/subscriptions/x",
            service=VMS,
            region="eastus",
            tags={"team": "b"},
        ),
        row(
            "100",
            at=TENTH,
            currency="EUR",
            account="eu-1",
            sub_account=None,
            region="eu-west-1",
            tags={"env": "prod"},
        ),
        row("1000", at=datetime(2024, 8, 20, tzinfo=UTC)),
    ]
    record = await import_rows(sessionmaker, tmp_path, rows)
    assert record.rows_stored == 6
    return key


async def data(client: TestClient, token: str, path: str, **params: Any) -> Any:
    response = await client.get(path, token, **{**SEPTEMBER, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data", "meta"} and body["meta"]["request_id"]
    return body["data"]


async def test_summary_in_each_metric_with_other_currencies_apart(client: TestClient, key: str) -> None:
    summary = await data(client, key, "/v1/cloud/costs/summary")
    assert summary == {
        "start_date": "2024-09-01",
        "end_date": "2024-09-30",
        "metric": "effective",
        "currency": "USD",
        "total": 19.5,
        "billed_cost": 21.5,
        "effective_cost": 19.5,
        "list_cost": 23.5,
        "contracted_cost": 19.5,
        "savings": 4.0,
        "records": 4,
        "other_currencies": [
            {
                "currency": "EUR",
                "total": 100.0,
                "billed_cost": 100.0,
                "effective_cost": 100.0,
                "list_cost": 100.0,
                "contracted_cost": 100.0,
                "records": 1,
            }
        ],
    }
    assert (await data(client, key, "/v1/cloud/costs/summary", metric="billed"))["total"] == 21.5
    assert (await data(client, key, "/v1/cloud/costs/summary", metric="list"))["total"] == 23.5
    august = await data(
        client, key, "/v1/cloud/costs/summary", start_date="2024-08-01", end_date="2024-08-31"
    )
    assert (august["total"], august["records"], august["other_currencies"]) == (1000.0, 1, [])


async def test_by_service_region_and_account(client: TestClient, key: str) -> None:
    services = await data(client, key, "/v1/cloud/costs/by-service")
    assert services["total"] == 19.5
    assert [
        (i["provider"], i["service"], i["service_category"], i["cost"], i["records"], i["pct_of_total"])
        for i in services["items"]
    ] == [
        ("AWS", EC2, "Compute", 10.5, 2, 53.8),
        ("AWS", S3, "Storage", 5.0, 1, 25.6),
        ("Microsoft", VMS, "Compute", 4.0, 1, 20.5),
    ]
    assert services["other_currencies"] == [
        {
            "currency": "EUR",
            "total": 100.0,
            "items": [
                {
                    "provider": "AWS",
                    "service": EC2,
                    "service_category": "Compute",
                    "cost": 100.0,
                    "records": 1,
                    "pct_of_total": 100.0,
                }
            ],
        }
    ]
    top = await data(client, key, "/v1/cloud/costs/by-service", limit=1, metric="billed")
    assert [(i["service"], i["cost"]) for i in top["items"]] == [(EC2, 12.5)] and top["total"] == 21.5

    regions = await data(client, key, "/v1/cloud/costs/by-region")
    assert [(i["provider"], i["region"], i["cost"]) for i in regions["items"]] == [
        ("AWS", "us-east-1", 10.5),
        ("AWS", "us-west-2", 5.0),
        ("Microsoft", "eastus", 4.0),
    ]
    assert [(i["region"], i["cost"]) for i in regions["other_currencies"][0]["items"]] == [
        ("eu-west-1", 100.0)
    ]

    accounts = await data(client, key, "/v1/cloud/costs/by-account")
    assert [
        (
            i["billing_account_id"],
            i["billing_account_name"],
            i["sub_account_id"],
            i["sub_account_name"],
            i["cost"],
        )
        for i in accounts["items"]
    ] == [
        ("111111111111", "Account 111111111111", "222222222222", "Team 222222222222", 10.5),
        ("111111111111", "Account 111111111111", "333", "Team 333", 5.0),
        ("az-1", "Account az-1", "/subscriptions/x", "Team /subscriptions/x", 4.0),
    ]
    assert [
        (i["billing_account_id"], i["sub_account_id"]) for i in accounts["other_currencies"][0]["items"]
    ] == [("eu-1", None)]


async def test_by_tag_counts_the_untagged_apart(client: TestClient, key: str) -> None:
    env = await data(client, key, "/v1/cloud/costs/by-tag", key="env")
    assert env["key"] == "env" and env["total"] == 19.5
    assert [(i["value"], i["cost"], i["records"], i["pct_of_total"]) for i in env["items"]] == [
        ("prod", 8.0, 1, 41.0),
        (None, 6.5, 2, 33.3),  # rows without an env tag
        ("dev", 5.0, 1, 25.6),
    ]
    assert [(i["value"], i["cost"]) for i in env["other_currencies"][0]["items"]] == [("prod", 100.0)]
    team = await data(client, key, "/v1/cloud/costs/by-tag", key="team", metric="billed")
    assert [(i["value"], i["cost"]) for i in team["items"]] == [("a", 10.0), (None, 7.5), ("b", 4.0)]
    nothing = await data(client, key, "/v1/cloud/costs/by-tag", key="owner")
    assert [(i["value"], i["cost"]) for i in nothing["items"]] == [(None, 19.5)]
    missing = await client.get("/v1/cloud/costs/by-tag", key, **SEPTEMBER)
    assert missing.status_code == 422 and "key" in missing.json()["detail"]


async def test_timeseries_by_day_week_and_month(client: TestClient, key: str) -> None:
    days = await data(client, key, "/v1/cloud/costs/timeseries")
    assert len(days["items"]) == 30 and days["granularity"] == "day" and days["total"] == 19.5
    assert {p["date"]: p["cost"] for p in days["items"] if p["cost"]} == {
        "2024-09-02": 2.5,
        "2024-09-10": 17.0,
    }
    assert [(p["date"], p["cost"]) for p in days["other_currencies"][0]["items"] if p["cost"]] == [
        ("2024-09-10", 100.0)
    ]
    weeks = await data(client, key, "/v1/cloud/costs/timeseries", granularity="week")
    assert [(p["date"], p["cost"], p["records"]) for p in weeks["items"]] == [
        ("2024-09-01", 0.0, 0),  # a Sunday: the range's first, partial week
        ("2024-09-02", 2.5, 1),
        ("2024-09-09", 17.0, 3),
        ("2024-09-16", 0.0, 0),
        ("2024-09-23", 0.0, 0),
        ("2024-09-30", 0.0, 0),
    ]
    months = await data(
        client, key, "/v1/cloud/costs/timeseries", granularity="month", start_date="2024-08-15"
    )
    assert [(p["date"], p["cost"]) for p in months["items"]] == [("2024-08-15", 1000.0), ("2024-09-01", 19.5)]
    too_long = await client.get(
        "/v1/cloud/costs/timeseries", key, start_date="2020-01-01", end_date="2024-01-01"
    )
    assert too_long.status_code == 400 and too_long.json()["detail"].startswith("granularity:")
    reversed_range = await client.get(
        "/v1/cloud/costs/summary", key, start_date="2024-09-30", end_date="2024-09-01"
    )
    assert reversed_range.status_code == 400 and reversed_range.json()["detail"].startswith("start_date:")


async def test_cost_entries_filter_and_page(client: TestClient, key: str) -> None:
    response = await client.get("/costs", key, **SEPTEMBER)
    assert response.status_code == 200
    entries = response.json()
    assert isinstance(entries, list) and len(entries) == 5
    assert set(entries[0]) == {
        "id",
        "service",
        "amount",
        "currency",
        "usage_date",
        "region",
        "tag",
        "provider",
        "account",
        "resource_id",
    }
    assert [e["usage_date"] for e in entries] == ["2024-09-10"] * 4 + ["2024-09-02"]
    first = next(e for e in entries if e["resource_id"] == "i-1" and e["usage_date"] == "2024-09-10")
    assert first | {"id": 0} == {
        "id": 0,
        "service": EC2,
        "amount": 8.0,
        "currency": "USD",
        "usage_date": "2024-09-10",
        "region": "us-east-1",
        "tag": {"env": "prod", "team": "a"},
        "provider": "AWS",
        "account": "222222222222",
        "resource_id": "i-1",
    }
    euro = next(e for e in entries if e["currency"] == "EUR")
    assert (euro["amount"], euro["account"], euro["tag"]) == (100.0, "eu-1", {"env": "prod"})

    async def amounts(**params: Any) -> list[float]:
        found = await client.get("/costs", key, **{**SEPTEMBER, **params})
        assert found.status_code == 200, found.text
        return sorted(e["amount"] for e in found.json())

    assert await amounts(service=S3) == [5.0]
    assert await amounts(region="us-east-1") == [2.5, 8.0]
    assert await amounts(provider="Microsoft") == [4.0]
    assert await amounts(provider="AWS", region="us-east-1", metric="list") == [2.5, 12.0]
    assert await amounts(service="nothing") == []
    pages = [await client.get("/costs", key, per_page=2, page=page, **SEPTEMBER) for page in (1, 2, 3, 4)]
    ids = [e["id"] for page in pages for e in page.json()]
    assert ids == [e["id"] for e in entries] and pages[3].json() == []
    august = await client.get("/costs", key, start_date="2024-08-01", end_date="2024-08-31")
    assert [e["amount"] for e in august.json()] == [1000.0]


async def test_the_default_range_is_the_current_month(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    async with transaction(sessionmaker) as session:
        _, org = await ensure_user_with_organization(session, "alice", "acme")
        _, key = await create_api_key(session, org_id=org.id, name="r", scopes=["read"], created_by=None)
    now = utc_now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    await import_rows(sessionmaker, tmp_path, [row("3", at=today), row("40", at=today - timedelta(days=40))])
    response = await client.get("/v1/cloud/costs/summary", key)
    summary = response.json()["data"]
    assert (summary["start_date"], summary["end_date"]) == (
        today.date().replace(day=1).isoformat(),
        today.date().isoformat(),
    )
    assert (summary["total"], summary["records"]) == (3.0, 1)
    assert [e["amount"] for e in (await client.get("/costs", key)).json()] == [3.0]
