"""Rightsizing on synthetic utilization with known answers, and the utilization samples it reads."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.cloud.recommendations import service
from cicosts.cloud.recommendations.schemas import Recommendation
from cicosts.cloud.recommendations.service import monthly_nanos, percentile
from cicosts.cloud.recommendations.sizing import parse_type, smaller_sizes
from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity.api_keys.service import create_api_key
from cicosts.identity.service import ensure_user_with_organization
from cicosts.identity.tokens import create_access_token
from cicosts.kit.periods import utc_now
from cicosts.models import CloudMetricSample
from tests.cloud_helpers import import_rows, row
from tests.helpers import TestClient

NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)
START = NOW - timedelta(days=14)
HOUR = timedelta(hours=1)


@pytest.fixture
async def org(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> tuple[int, str]:
    """`acme`'s id and its owner's token."""
    async with transaction(sessionmaker) as session:
        user, organization = await ensure_user_with_organization(session, "alice", "acme")
    return organization.id, create_access_token(user.id, settings)


def samples(
    resource: str,
    instance_type: str,
    peaks: list[float],
    *,
    metric: str = "cpu",
    start: datetime = START,
    step: timedelta = HOUR,
    average: float | None = None,
) -> list[dict[str, Any]]:
    """One sample per step from `start`, each with the given peak (maximum) and average."""
    return [
        {
            "resource_id": resource,
            "instance_type": instance_type,
            "region": "us-east-1",
            "metric": metric,
            "timestamp": (start + step * i).isoformat(),
            "average": min(average if average is not None else peak, peak),
            "maximum": peak,
        }
        for i, peak in enumerate(peaks)
    ]


async def send(client: TestClient, token: str, batch: list[dict[str, Any]]) -> dict[str, Any]:
    response = await client.http.post(
        "/v1/cloud/metrics",
        params={"org": "acme"},
        json={"samples": batch},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["data"]
    return found


def hourly_bill(
    resource: str, price: str, hours: int, *, start: datetime = START, **extra: Any
) -> list[dict[str, str]]:
    return [
        row(price, at=start + HOUR * i, resource=resource, resource_type="instance", **extra)
        for i in range(hours)
    ]


async def advice(
    sessionmaker: async_sessionmaker[AsyncSession], org_id: int, now: datetime = NOW
) -> dict[str, Recommendation]:
    async with transaction(sessionmaker) as session:
        found = await service.recommendations(session, org_id, now)
    return {r.resource_id: r for r in found.recommendations}


async def test_a_cpu_p99_5_with_headroom_that_fits_half_the_size_downsizes_and_saves_half(
    client: TestClient, org: tuple[int, str], sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    org_id, token = org
    await send(client, token, samples("i-half", "m5.2xlarge", [30.0] * 48, average=20.0))
    await import_rows(sessionmaker, tmp_path, hourly_bill("i-half", "0.384", 48))
    found = (await advice(sessionmaker, org_id))["i-half"]
    # p99.5 30 % plus 20 % headroom: 36 % of an m5.2xlarge. Half of it (m5.xlarge) holds that, a quarter not.
    # The bill: 48 hours at $0.384 = $18.432, carried to 730 hours = $280.32; half of it is saved.
    assert (found.recommendation, found.current_type, found.recommended_type) == (
        "downsize",
        "m5.2xlarge",
        "m5.xlarge",
    )
    assert (found.cpu_avg, found.cpu_p99, found.memory_p99, found.hours_of_data) == (20.0, 30.0, None, 48)
    assert (found.monthly_cost, found.estimated_monthly_savings, found.currency) == (280.32, 140.16, "USD")
    assert found.savings_nanos == 140_160_000_000
    assert (found.confidence, found.lookback_days, found.instance, found.region) == (
        "low",
        14,
        "i-half",
        "us-east-1",
    )


async def test_memory_that_would_not_fit_keeps_the_size(
    client: TestClient, org: tuple[int, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    org_id, token = org
    await send(
        client,
        token,
        samples("i-mem", "m5.2xlarge", [30.0] * 48)
        + samples("i-mem", "m5.2xlarge", [70.0] * 48, metric="memory"),
    )
    await send(
        client,
        token,
        samples("i-mem-ok", "m5.2xlarge", [30.0] * 48)
        + samples("i-mem-ok", "m5.2xlarge", [41.0] * 48, metric="memory"),
    )
    found = await advice(sessionmaker, org_id)
    assert (found["i-mem"].recommendation, found["i-mem"].memory_p99, found["i-mem"].recommended_type) == (
        "keep",
        70.0,
        None,
    )
    assert found["i-mem"].estimated_monthly_savings is None  # never billed: nothing to save from
    # 41 % x 1.2 = 49.2 % of the memory: an m5.xlarge (half) still holds it
    assert (found["i-mem-ok"].recommendation, found["i-mem-ok"].recommended_type) == ("downsize", "m5.xlarge")


async def test_an_idle_instance_is_to_stop_and_saves_its_whole_cost(
    client: TestClient, org: tuple[int, str], sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    org_id, token = org
    await send(client, token, samples("i-idle", "t3.large", [4.999] * 40, average=1.0))
    await send(client, token, samples("i-busy-once", "t3.large", [4.0] * 39 + [5.0], average=1.0))
    await import_rows(sessionmaker, tmp_path, hourly_bill("i-idle", "0.0832", 40))
    found = await advice(sessionmaker, org_id)
    idle = found["i-idle"]
    assert (idle.recommendation, idle.recommended_type, idle.cpu_avg) == ("stop or terminate", None, 1.0)
    assert idle.monthly_cost == idle.estimated_monthly_savings == 60.736  # $0.0832 x 730
    assert found["i-busy-once"].recommendation != "stop or terminate"  # 5 % is not under 5 %


async def test_under_30_hours_of_data_is_not_enough_whatever_the_sample_period(
    client: TestClient, org: tuple[int, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    org_id, token = org
    five_minutes = timedelta(minutes=5)
    await send(client, token, samples("i-29h", "m5.2xlarge", [10.0] * (29 * 12), step=five_minutes))
    await send(client, token, samples("i-30h", "m5.2xlarge", [10.0] * (30 * 12), step=five_minutes))
    await send(client, token, samples("i-29-hourly", "m5.2xlarge", [10.0] * 29))
    found = await advice(sessionmaker, org_id)
    assert (found["i-29h"].recommendation, found["i-29h"].hours_of_data) == ("insufficient data", 29)
    assert found["i-29h"].cpu_p99 is None and found["i-29h"].cpu_avg == 10.0
    assert (found["i-30h"].recommendation, found["i-30h"].hours_of_data) == ("downsize", 30)
    assert found["i-30h"].recommended_type == "m5.large"  # 12 % of an m5.2xlarge fits a quarter of it
    assert found["i-29-hourly"].recommendation == "insufficient data"


async def test_billed_instances_without_samples_are_listed_as_no_data(
    client: TestClient, org: tuple[int, str], sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    org_id, _ = org
    description = "$0.34 per On Demand Linux c5.2xlarge Instance Hour"
    await import_rows(
        sessionmaker,
        tmp_path,
        [
            *hourly_bill("i-silent", "0.34", 24, description=description),
            row("3", at=START + HOUR, resource="vol-1", resource_type="volume", category="Storage"),
        ],
    )
    found = await advice(sessionmaker, org_id)
    assert set(found) == {"i-silent"}  # the volume is not an instance
    silent = found["i-silent"]
    assert (silent.recommendation, silent.current_type, silent.confidence) == ("no data", "c5.2xlarge", None)
    assert (silent.cpu_avg, silent.cpu_p99, silent.estimated_monthly_savings) == (None, None, None)
    assert silent.monthly_cost == 248.2  # $0.34 x 730: nothing guessed about its use


async def test_the_99_5th_percentile_ignores_one_spike_in_200_but_not_two(
    client: TestClient, org: tuple[int, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    org_id, token = org
    await send(client, token, samples("i-one", "m5.2xlarge", [20.0] * 199 + [95.0]))
    await send(client, token, samples("i-two", "m5.2xlarge", [20.0] * 198 + [95.0, 95.0]))
    found = await advice(sessionmaker, org_id)
    # 20 % x 1.2 = 24 % of an m5.2xlarge (16): an m5.large (4) offers 25 %
    assert (found["i-one"].cpu_p99, found["i-one"].recommended_type) == (20.0, "m5.large")
    assert (found["i-two"].cpu_p99, found["i-two"].recommendation) == (95.0, "keep")
    assert found["i-one"].confidence == "medium"  # 200 of 336 hours, no memory samples


async def test_types_without_a_normalization_factor_or_not_resized_are_unsupported(
    client: TestClient, org: tuple[int, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    org_id, token = org
    await send(client, token, samples("vm-azure", "Standard_D4s_v3", [30.0] * 40))
    await send(client, token, samples("i-gpu", "g5.4xlarge", [30.0] * 40))
    await send(client, token, samples("i-metal", "m5.metal", [2.0] * 40))
    found = await advice(sessionmaker, org_id)
    assert found["vm-azure"].recommendation == found["i-gpu"].recommendation == "unsupported"
    assert found["i-metal"].recommendation == "stop or terminate"  # idle whatever its type


async def test_a_resized_instance_is_judged_on_its_current_type(
    client: TestClient, org: tuple[int, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    org_id, token = org
    before = samples("i-resized", "m5.4xlarge", [60.0] * 50)
    after = samples("i-resized", "m5.xlarge", [20.0] * 40, start=START + 60 * HOUR)
    await send(client, token, before + after)
    found = (await advice(sessionmaker, org_id))["i-resized"]
    assert (found.current_type, found.hours_of_data, found.cpu_p99) == ("m5.xlarge", 40, 20.0)
    assert found.recommended_type == "m5.large"


async def test_family_ladders_and_arn_ids_join_bills_to_samples(
    client: TestClient, org: tuple[int, str], sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    org_id, token = org
    arn = "arn:aws:ec2:us-east-1:123456789012:instance/i-arn"
    await send(client, token, samples("i-arn", "t3.micro", [10.0] * 300, start=NOW - 300 * HOUR))
    await send(
        client, token, samples("i-arn", "t3.micro", [30.0] * 300, start=NOW - 300 * HOUR, metric="memory")
    )
    await send(client, token, samples("i-grav", "m6g.large", [10.0] * 40))
    await send(client, token, samples("i-c5", "c5.9xlarge", [10.0] * 40))
    await import_rows(sessionmaker, tmp_path, hourly_bill(arn, "0.0104", 300, start=NOW - 300 * HOUR))
    found = await advice(sessionmaker, org_id)
    small = found["i-arn"]
    # 10 % x 1.2 = 12 % of a t3.micro (0.5): a t3.nano (0.25) offers 50 %; memory 36 % also fits it
    assert (small.recommended_type, small.confidence, small.currency) == ("t3.nano", "high", "USD")
    assert (small.monthly_cost, small.estimated_monthly_savings) == (7.592, 3.796)
    assert found["i-grav"].recommended_type == "m6g.medium"  # Graviton families start at medium
    assert (
        found["i-c5"].recommended_type == "c5.2xlarge"
    )  # 12 % of 72 needs 8.64: c5.2xlarge (16), not xlarge (8)


async def test_savings_in_another_currency_stay_out_of_the_usd_total(
    client: TestClient, org: tuple[int, str], sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    org_id, token = org
    await send(
        client, token, samples("i-eu", "m5.2xlarge", [2.0] * 40) + samples("i-us", "m5.2xlarge", [2.0] * 40)
    )
    await import_rows(
        sessionmaker,
        tmp_path,
        hourly_bill("i-eu", "1", 40, currency="EUR", account="eu") + hourly_bill("i-us", "0.5", 40),
    )
    async with transaction(sessionmaker) as session:
        result = await service.recommendations(session, org_id, NOW)
    by_id = {r.resource_id: r for r in result.recommendations}
    assert (by_id["i-eu"].currency, by_id["i-eu"].estimated_monthly_savings) == ("EUR", 730.0)
    assert result.estimated_monthly_savings == 365.0
    assert [r.resource_id for r in result.recommendations] == ["i-eu", "i-us"]  # biggest saving first


async def test_samples_are_stored_once_per_resource_metric_and_time(
    client: TestClient, org: tuple[int, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, token = org
    batch = samples("i-1", "m5.large", [10.0, 20.0, 30.0])
    assert await send(client, token, batch) == {"received": 3, "stored": 3}
    assert await send(client, token, batch) == {"received": 3, "stored": 3}
    corrected = [{**batch[0], "average": 1.5, "maximum": 2.25}, {**batch[0], "average": 1.5, "maximum": 2.5}]
    assert await send(client, token, corrected) == {"received": 2, "stored": 1}  # the last one wins
    async with transaction(sessionmaker) as session:
        stored = (
            await session.execute(
                select(CloudMetricSample.average_milli, CloudMetricSample.maximum_milli).order_by(
                    CloudMetricSample.timestamp
                )
            )
        ).all()
    assert [tuple(s) for s in stored] == [(1500, 2500), (20000, 20000), (30000, 30000)]


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"metric": "disk"}, "samples.0.metric"),
        ({"average": 101}, "samples.0.average"),
        ({"maximum": 5, "average": 6}, "maximum is below average"),
        ({"timestamp": "yesterday"}, "samples.0.timestamp"),
        ({"resource_id": ""}, "samples.0.resource_id"),
    ],
)
async def test_a_bad_sample_refuses_the_batch_naming_it(
    client: TestClient, org: tuple[int, str], change: dict[str, Any], detail: str
) -> None:
    _, token = org
    sample = {**samples("i-1", "m5.large", [10.0])[0], **change}
    response = await client.http.post(
        "/v1/cloud/metrics",
        params={"org": "acme"},
        json={"samples": [sample]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422 and detail in response.json()["detail"]


async def test_both_recommendation_routes_answer_their_shapes(
    client: TestClient, org: tuple[int, str], sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    org_id, token = org
    async with transaction(sessionmaker) as session:
        _, key = await create_api_key(session, org_id=org_id, name="r", scopes=["read"], created_by=None)
    now = utc_now().replace(minute=0, second=0, microsecond=0)
    await send(client, token, samples("i-live", "m5.2xlarge", [30.0] * 48, start=now - 48 * HOUR))
    await import_rows(sessionmaker, tmp_path, hourly_bill("i-live", "0.384", 48, start=now - 48 * HOUR))
    plain = await client.get("/recommendations", key)
    assert plain.status_code == 200
    [item] = plain.json()
    assert {"instance", "region", "cpu_avg", "recommendation"} <= set(item)
    assert {
        "resource_id",
        "current_type",
        "recommended_type",
        "cpu_p99",
        "memory_p99",
        "lookback_days",
    } <= set(item)
    assert {"estimated_monthly_savings", "monthly_cost", "confidence"} <= set(item)
    assert (item["instance"], item["recommendation"], item["recommended_type"]) == (
        "i-live",
        "downsize",
        "m5.xlarge",
    )
    enveloped = await client.get("/v1/cloud/recommendations", key)
    body = enveloped.json()
    assert body["data"]["lookback_days"] == 14 and body["data"]["recommendations"] == [item]
    assert body["data"]["estimated_monthly_savings"] == item["estimated_monthly_savings"] == 140.16


def test_percentiles_sizes_and_monthly_cost_by_hand() -> None:
    assert percentile(list(range(1, 201)), Decimal("0.995")) == 199  # nearest rank
    assert percentile([5], Decimal("0.995")) == 5
    assert [t.name for t in smaller_sizes(parse_type("m5.4xlarge"))] == [
        "m5.2xlarge",
        "m5.xlarge",
        "m5.large",
    ]  # type: ignore[arg-type]
    assert [t.name for t in smaller_sizes(parse_type("t4g.small"))] == ["t4g.micro", "t4g.nano"]  # type: ignore[arg-type]
    assert parse_type("m5.24xlarge").factor == 192  # type: ignore[union-attr]
    assert parse_type("t3.nano").factor * 4 == 1  # type: ignore[union-attr]
    assert monthly_nanos(1_000_000_000, timedelta(hours=365)) == 2_000_000_000
    assert monthly_nanos(1, timedelta(hours=1460)) == 0  # half a nano rounds to even
    assert monthly_nanos(3, timedelta(hours=1460)) == 2
    assert monthly_nanos(5, timedelta(0)) is None


async def test_cli_imports_cloudwatch_style_metrics(
    org: tuple[int, str], settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    lines = ["InstanceId,InstanceType,Region,MetricName,Timestamp,Average,Maximum"]
    lines += [f"i-cw,m5.large,us-east-1,CPUUtilization,2026-03-01T{h:02d}:00:00Z,12.5,40" for h in range(24)]
    lines += [
        "i-cw,m5.large,us-east-1,mem_used_percent,2026-03-01T00:00:00Z,50,60",
        "i-cw,m5.large,,Disk,2026-03-01T00:00:00Z,1,1",
    ]
    path = tmp_path / "metrics.csv"
    path.write_text("\n".join(lines) + "\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cicosts",
        "import",
        "metrics",
        str(path),
        "--org",
        "acme",
        env={**os.environ, "DATABASE_URL": settings.database_url, "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await process.communicate())[0].decode()
    assert process.returncode == 0, output
    assert "Stored 25 samples, rejected 1 rows." in output and "row 26: metric:" in output
    async with transaction(sessionmaker) as session:
        counts = dict(
            (
                await session.execute(
                    select(CloudMetricSample.metric, func.count()).group_by(CloudMetricSample.metric)
                )
            ).all()
        )
    assert counts == {"cpu": 24, "memory": 1}
