"""GET /v1/costs/export and `cicosts export`: CI costs as CSV or JSON at four granularities, streamed."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.ci.exports import encoding, service
from cicosts.ci.exports.schemas import ExportFormat, ExportGranularity
from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity.api_keys.service import create_api_key
from cicosts.identity.service import ensure_user_with_organization
from cicosts.kit.periods import utc_now
from cicosts.models import Organization
from cicosts.worker.runner import Worker
from tests.helpers import WEBHOOK_SECRET, TestClient, account, at, member_token, raw_totals, repository
from tests.test_dashboard import ship_run

OWNER = account("acme", 4242)
API = repository("api", private=True, repo_id=501, owner=OWNER)
SDK = repository("sdk", private=False, repo_id=502, owner=OWNER)
MARCH = {"start_date": "2026-03-01", "end_date": "2026-03-31"}
LINUX, UNKNOWN = ["ubuntu-latest"], ["mystery"]
DAILY = ["date", "repository", "workflow", "runs", "total_cost", "avg_cost"]
PER_JOB = (
    "date,repository,workflow,job_id,github_job_id,run_id,github_run_id,job_name,attempt,status,conclusion,"
    "started_at,completed_at,runner_name,runner_group,labels,sku,billable_minutes,unit_price,cost,list_cost,"
    "price_source,unpriced"
)
PER_RUN = (
    "date,repository,workflow,run_id,github_run_id,run_number,attempt,event,branch,actor,status,conclusion,"
    "created_at,started_at,completed_at,billable_minutes,cost,list_cost,unpriced_jobs"
)


@pytest.fixture
async def acme(
    client: TestClient, worker: Worker, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> str:
    """March 2026 (UTC): a 10-minute Linux job ($0.06) completed at 05:00 on the 10th; a public repository's
    free 5-minute job completed at 02:35 on the 11th; a 5-minute job ($0.03) and an unpriced one that
    afternoon."""
    await ship_run(client, repo=API, workflow="CI", created=at("2026-03-10T04:50:00"), jobs=[(600, LINUX)])
    await ship_run(client, repo=SDK, workflow="Docs", created=at("2026-03-11T02:30:00"), jobs=[(300, LINUX)])
    await ship_run(
        client,
        repo=API,
        workflow="CI",
        created=at("2026-03-11T17:00:00"),
        jobs=[(300, LINUX), (120, UNKNOWN)],
    )
    await worker.drain()
    token, _ = await member_token(sessionmaker, settings, "alice", "acme")
    return token


async def export(client: TestClient, token: str | None, **params: Any) -> httpx.Response:
    return await client.get("/v1/costs/export", token, **{**MARCH, **params})


def table(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.text)))


def records(response: httpx.Response) -> list[dict[str, str]]:
    header, *rows = table(response)
    return [dict(zip(header, row, strict=True)) for row in rows]


def nanos(usd: str) -> int:
    amount = Decimal(usd) * 10**9
    assert amount == amount.to_integral_value(), usd
    return int(amount)


async def set_time_zone(sessionmaker: async_sessionmaker[AsyncSession], name: str) -> None:
    async with transaction(sessionmaker) as session:
        await session.execute(update(Organization).values(time_zone=name))


@given(st.integers(min_value=-(10**20), max_value=10**20))
def test_money_is_written_exactly_as_usd_with_nine_decimals(amount: int) -> None:
    text = encoding.usd(amount)
    assert Fraction(Decimal(text)) == Fraction(amount, 10**9)  # both exact: no decimal context rounding
    assert len(text.partition(".")[2]) == 9 and "e" not in text.lower()


def test_money_examples() -> None:
    assert [encoding.usd(n) for n in (8_000_000, 0, 1, 1_234_567_890_123)] == [
        "0.008000000",
        "0.000000000",
        "0.000000001",
        "1234.567890123",
    ]


@given(st.integers(min_value=0, max_value=10**18), st.integers(min_value=1, max_value=10**6))
def test_averages_are_rounded_to_the_nearest_nanodollar_ties_to_even(total: int, runs: int) -> None:
    assert service.average(total, runs) == encoding.usd(round(Fraction(total, runs)))


ZONES = [
    "UTC",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Santiago",
    "Australia/Lord_Howe",
]


@given(
    st.sampled_from(ZONES),
    st.integers(min_value=946_684_800, max_value=2_208_988_800),  # 2000 to 2040
    st.lists(st.integers(min_value=0, max_value=3 * 86_400), max_size=60),  # within three days: midnights
)
@example("America/Santiago", 1_662_861_600, [0, 7199, 7200, 7201, 10_800])  # midnight skipped on 2022-09-11
@example("America/Los_Angeles", 1_772_956_800, [0, 3599, 3600, 36_000, 86_399])  # 2026-03-08, DST starts
def test_local_dates_of_ordered_timestamps_match_a_conversion_of_each(
    zone: str, start: int, offsets: list[int]
) -> None:
    tz = ZoneInfo(zone)
    date_of = service.LocalDates(tz)
    for instant in sorted(datetime.fromtimestamp(start + offset, UTC) for offset in offsets):
        assert date_of(service.timestamp(instant)) == instant.astimezone(tz).date().isoformat()


def test_average_without_runs_is_empty() -> None:
    assert service.average(30_000_000, 0) is None


async def test_daily_csv_has_one_row_per_date_repository_and_workflow(client: TestClient, acme: str) -> None:
    response = await export(client, acme, granularity="daily")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text.startswith(",".join(DAILY) + "\n")
    assert table(response) == [
        DAILY,
        ["2026-03-10", "acme/api", "CI", "1", "0.060000000", "0.060000000"],
        ["2026-03-11", "acme/api", "CI", "1", "0.030000000", "0.030000000"],
        ["2026-03-11", "acme/sdk", "Docs", "1", "0.000000000", "0.000000000"],
    ]


async def test_summary_csv_has_one_row_per_repository_and_workflow(client: TestClient, acme: str) -> None:
    assert table(await export(client, acme, granularity="summary")) == [
        ["repository", "workflow", "runs", "total_cost", "avg_cost"],
        ["acme/api", "CI", "2", "0.090000000", "0.045000000"],
        ["acme/sdk", "Docs", "1", "0.000000000", "0.000000000"],
    ]


async def test_per_job_csv_lists_every_completed_job_with_its_price(client: TestClient, acme: str) -> None:
    response = await export(client, acme, granularity="per-job")
    assert response.text.split("\n")[0] == PER_JOB
    jobs = records(response)
    assert [(j["date"], j["workflow"], j["cost"], j["unpriced"]) for j in jobs] == [
        ("2026-03-10", "CI", "0.060000000", "false"),
        ("2026-03-11", "Docs", "0.000000000", "false"),
        ("2026-03-11", "CI", "0.000000000", "true"),
        ("2026-03-11", "CI", "0.030000000", "false"),
    ]
    first, public, unpriced = jobs[0], jobs[1], jobs[2]
    assert {key: first[key] for key in ("started_at", "completed_at", "attempt", "status", "conclusion")} == {
        "started_at": "2026-03-10T04:50:00Z",
        "completed_at": "2026-03-10T05:00:00Z",
        "attempt": "1",
        "status": "completed",
        "conclusion": "success",
    }
    assert (first["runner_name"], first["runner_group"], first["labels"]) == (
        "GitHub Actions 2",
        "GitHub Actions",
        "ubuntu-latest",
    )
    assert (first["sku"], first["billable_minutes"], first["unit_price"], first["list_cost"]) == (
        "linux",
        "10",
        "0.006000000",
        "0.060000000",
    )
    assert (public["price_source"], public["list_cost"]) == ("public_repo_free", "0.030000000")
    assert (unpriced["sku"], unpriced["unit_price"], unpriced["labels"]) == ("", "", "mystery")
    assert int(first["github_job_id"]) > 0 and first["github_run_id"] != first["run_id"]


async def test_per_run_csv_lists_runs_with_their_totals(client: TestClient, acme: str) -> None:
    response = await export(client, acme, granularity="per-run")
    assert response.text.split("\n")[0] == PER_RUN
    runs = records(response)
    assert [
        (r["date"], r["repository"], r["cost"], r["billable_minutes"], r["unpriced_jobs"]) for r in runs
    ] == [
        ("2026-03-10", "acme/api", "0.060000000", "10", "0"),
        ("2026-03-11", "acme/sdk", "0.000000000", "5", "0"),
        ("2026-03-11", "acme/api", "0.030000000", "7", "1"),
    ]
    first = runs[0]
    assert (first["event"], first["branch"], first["actor"], first["attempt"], first["conclusion"]) == (
        "push",
        "main",
        "octocat",
        "1",
        "success",
    )
    assert (first["created_at"], first["started_at"], first["completed_at"]) == (
        "2026-03-10T04:50:00Z",
        "2026-03-10T04:50:10Z",
        "2026-03-10T05:00:10Z",
    )


async def test_json_export_is_one_document_with_the_same_rows(client: TestClient, acme: str) -> None:
    response = await export(client, acme, granularity="per-job", format="json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    document = response.json()
    assert set(document) == {"data", "meta"}  # the public API's envelope
    assert (document["meta"]["request_id"], document["meta"]["capped"]) == (
        response.headers["x-request-id"],
        None,
    )
    data = document["data"]
    assert data["date_range"] == {
        "start": "2026-03-01",
        "end": "2026-03-31",
        "time_zone": "UTC",
        "capped": None,
    }
    assert (data["organization"], data["granularity"], data["currency"]) == ("acme", "per-job", "USD")
    assert datetime.fromisoformat(data["export_date"]) <= datetime.now(UTC)
    rows = data["rows"]
    assert ",".join(rows[0]) == PER_JOB
    assert (rows[0]["cost"], rows[0]["labels"], rows[0]["unpriced"], rows[0]["billable_minutes"]) == (
        "0.060000000",
        ["ubuntu-latest"],
        False,
        10,
    )
    assert (rows[2]["unpriced"], rows[2]["sku"], rows[2]["unit_price"]) == (True, None, None)
    as_csv = records(await export(client, acme, granularity="per-job"))
    assert [r["job_id"] for r in as_csv] == [str(r["job_id"]) for r in rows]
    daily = (await export(client, acme, format="json")).json()["data"]["rows"]
    assert daily[0] == {
        "date": "2026-03-10",
        "repository": "acme/api",
        "workflow": "CI",
        "runs": 1,
        "total_cost": "0.060000000",
        "avg_cost": "0.060000000",
    }


async def test_export_totals_equal_the_jobs_costs(
    client: TestClient, acme: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with transaction(sessionmaker) as session:
        raw = await raw_totals(session)
    assert raw.cost == 90_000_000
    by_job = sum(nanos(j["cost"]) for j in records(await export(client, acme, granularity="per-job")))
    by_day = sum(nanos(d["total_cost"]) for d in records(await export(client, acme, granularity="daily")))
    summary = records(await export(client, acme, granularity="summary"))
    assert by_job == by_day == sum(nanos(s["total_cost"]) for s in summary) == raw.cost
    assert sum(int(s["runs"]) for s in summary) == raw.runs == 3


async def test_dates_are_the_organizations_local_days(
    client: TestClient, acme: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await set_time_zone(sessionmaker, "America/Los_Angeles")  # UTC-7 in March after the 8th
    jobs = records(await export(client, acme, granularity="per-job"))
    # 05:00 UTC on the 10th is 22:00 on the 9th; the public job (02:35 UTC on the 11th) is the 10th's evening.
    assert [(j["date"], j["workflow"], j["completed_at"]) for j in jobs] == [
        ("2026-03-09", "CI", "2026-03-10T05:00:00Z"),
        ("2026-03-10", "Docs", "2026-03-11T02:35:00Z"),
        ("2026-03-11", "CI", "2026-03-11T17:02:00Z"),
        ("2026-03-11", "CI", "2026-03-11T17:05:00Z"),
    ]
    assert table(await export(client, acme, granularity="daily"))[1:] == [
        ["2026-03-09", "acme/api", "CI", "1", "0.060000000", "0.060000000"],
        ["2026-03-10", "acme/sdk", "Docs", "1", "0.000000000", "0.000000000"],
        ["2026-03-11", "acme/api", "CI", "1", "0.030000000", "0.030000000"],
    ]
    one_day = {"start_date": "2026-03-10", "end_date": "2026-03-10"}
    assert [j["workflow"] for j in records(await export(client, acme, granularity="per-job", **one_day))] == [
        "Docs"
    ]
    data = (await export(client, acme, format="json", **one_day)).json()["data"]
    assert data["date_range"]["time_zone"] == "America/Los_Angeles"
    assert [(r["date"], r["workflow"]) for r in data["rows"]] == [("2026-03-10", "Docs")]


async def test_a_runs_cost_lands_on_the_day_its_jobs_complete(
    client: TestClient, worker: Worker, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    await ship_run(client, repo=API, workflow="CI", created=at("2026-03-11T23:55:00"), jobs=[(600, LINUX)])
    await worker.drain()
    token, _ = await member_token(sessionmaker, settings, "alice", "acme")
    assert table(await export(client, token))[1:] == [
        ["2026-03-11", "acme/api", "CI", "1", "0.000000000", "0.000000000"],
        ["2026-03-12", "acme/api", "CI", "0", "0.060000000", ""],  # no run created that day: no average
    ]
    assert (await export(client, token, format="json")).json()["data"]["rows"][1]["avg_cost"] is None


async def test_bad_parameters_are_refused_naming_them(client: TestClient, acme: str) -> None:
    missing_start = await client.get("/v1/costs/export", acme, end_date="2026-03-31")
    assert (missing_start.status_code, missing_start.json()) == (400, {"detail": "start_date is required"})
    missing_end = await client.get("/v1/costs/export", acme, start_date="2026-03-01")
    assert (missing_end.status_code, missing_end.json()) == (400, {"detail": "end_date is required"})
    reversed_ = await export(client, acme, start_date="2026-03-31", end_date="2026-03-01")
    assert reversed_.status_code == 400 and reversed_.json()["detail"].startswith("start_date")
    for name, value in (("format", "xml"), ("granularity", "hourly"), ("start_date", "31/03/2026")):
        response = await export(client, acme, **{name: value})
        assert response.status_code == 422 and response.json()["detail"].startswith(name), response.text
    unknown = await export(client, acme, repo="acme/nope")
    assert unknown.status_code == 404 and unknown.json()["detail"].startswith("repo")


async def test_repo_narrows_the_export_to_one_repository(client: TestClient, acme: str) -> None:
    for name in ("acme/sdk", "sdk"):
        rows = records(await export(client, acme, granularity="per-job", repo=name))
        assert [r["repository"] for r in rows] == ["acme/sdk"]


async def test_the_download_is_named_after_the_organization_granularity_and_dates(
    client: TestClient, acme: str
) -> None:
    csv_response = await export(client, acme, granularity="per-job")
    assert csv_response.headers["content-disposition"] == (
        'attachment; filename="cicosts-acme-per-job-2026-03-01-2026-03-31.csv"'
    )
    json_response = await export(client, acme, format="json")
    assert json_response.headers["content-disposition"] == (
        'attachment; filename="cicosts-acme-daily-2026-03-01-2026-03-31.json"'
    )
    assert "x-range-capped" not in csv_response.headers


async def test_api_keys_export_their_own_organization_only(
    client: TestClient, acme: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with transaction(sessionmaker) as session:
        _, org = await ensure_user_with_organization(session, "alice", "acme")
        _, own = await create_api_key(session, org_id=org.id, name="r", scopes=["read"], created_by=None)
        _, other = await ensure_user_with_organization(session, "mallory", "evilcorp")
        _, foreign = await create_api_key(
            session, org_id=other.id, name="f", scopes=["read"], created_by=None
        )
    assert len(table(await export(client, own))) == 4  # the key's organization when `org` is left out
    assert len(table(await export(client, own, org="acme"))) == 4
    refused = await export(client, foreign, org="acme")
    assert refused.status_code == 403 and "another organization" in refused.json()["detail"]
    outsider, _ = await member_token(sessionmaker, client.settings, "mallory", "evilcorp")
    assert (await export(client, outsider, org="acme")).status_code == 403
    assert (await export(client, None, org="acme")).status_code == 401


async def test_formula_like_names_are_quoted_in_csv_but_kept_in_json(
    client: TestClient, worker: Worker, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    await ship_run(
        client,
        repo=API,
        workflow='=HYPERLINK("http://x")',
        created=at("2026-03-05T10:00:00"),
        jobs=[(60, LINUX)],
    )
    await worker.drain()
    token, _ = await member_token(sessionmaker, settings, "alice", "acme")
    assert records(await export(client, token))[0]["workflow"] == '\'=HYPERLINK("http://x")'
    assert (await export(client, token, format="json")).json()["data"]["rows"][0]["workflow"] == (
        '=HYPERLINK("http://x")'
    )


async def test_the_plan_hides_repositories_and_caps_history(
    app: FastAPI,
    client: TestClient,
    worker: Worker,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    repos = [repository(f"repo{n}", repo_id=6000 + n, owner=OWNER) for n in range(4)]
    for repo in repos:  # the free plan keeps the first three repositories visible
        await ship_run(client, repo=repo, workflow="CI", created=now - timedelta(days=2), jobs=[(600, LINUX)])
    await ship_run(
        client, repo=repos[0], workflow="CI", created=now - timedelta(days=45), jobs=[(600, LINUX)]
    )
    await worker.drain()
    token, _ = await member_token(sessionmaker, settings, "alice", "acme")
    today = now.date()
    asked = {"start_date": str(today - timedelta(days=59)), "end_date": str(today)}
    assert len(table(await export(client, token, granularity="per-job", **asked))) == 6  # self-hosted: all
    app.state.settings = settings.model_copy(update={"billing_enabled": True})
    first_day = str(today - timedelta(days=29))
    capped = await export(client, token, granularity="per-job", **asked)
    assert capped.headers["x-range-capped"] == first_day
    assert sorted(r["repository"] for r in records(capped)) == ["acme/repo0", "acme/repo1", "acme/repo2"]
    document = (await export(client, token, format="json", **asked)).json()
    data = document["data"]
    assert document["meta"]["capped"] == data["date_range"]["capped"]
    assert data["date_range"] == {
        "start": first_day,
        "end": str(today),
        "time_zone": "UTC",
        "capped": {"requested_start": asked["start_date"], "start": first_day, "max_history_days": 30},
    }
    assert sum(r["runs"] for r in data["rows"]) == 3


async def plan_for(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    granularity: ExportGranularity,
    export_format: ExportFormat,
) -> service.Export:
    async with transaction(sessionmaker) as session:
        organization = await session.get(Organization, 1)
        assert organization is not None
        return await service.prepare(
            session,
            organization,
            settings,
            start=date(2026, 3, 1),
            end=date(2026, 3, 31),
            granularity=granularity,
            export_format=export_format,
            repo=None,
            now=utc_now(),
        )


async def test_rows_stream_in_database_partitions_and_bounded_chunks(
    client: TestClient,
    acme: str,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole = (await export(client, acme, granularity="per-job", format="json")).text
    monkeypatch.setattr(service, "YIELD_PER", 1)
    monkeypatch.setattr(encoding, "ROWS_PER_WRITE", 1)
    monkeypatch.setattr(encoding, "CHUNK_CHARS", 200)
    plan = await plan_for(sessionmaker, settings, ExportGranularity.PER_JOB, ExportFormat.JSON)
    batches = [batch async for batch in service.rows(sessionmaker, plan)]
    assert [len(batch) for batch in batches] == [1, 1, 1, 1]
    chunks = [chunk async for chunk in service.export_bytes(sessionmaker, plan, utc_now())]
    assert len(chunks) > 2 and all(len(chunk) < 1500 for chunk in chunks)  # about one row past the limit
    assert json.loads(b"".join(chunks))["data"]["rows"] == json.loads(whole)["data"]["rows"]


@pytest.mark.parametrize("granularity", [ExportGranularity.PER_JOB, ExportGranularity.PER_RUN])
async def test_the_database_and_python_write_the_same_csv(
    client: TestClient,
    acme: str,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    granularity: ExportGranularity,
) -> None:
    """On PostgreSQL the raw-row CSVs are written by COPY; they must be the file Python would write."""
    sent = (await export(client, acme, granularity=granularity.value)).text
    plan = await plan_for(sessionmaker, settings, granularity, ExportFormat.CSV)
    python = b"".join(
        [c async for c in service.encoded(plan, service.rows(sessionmaker, plan), utc_now(), "-")]
    )
    assert sent == python.decode()
    assert len(sent.splitlines()) > 2


async def cicosts(settings: Settings, *args: str) -> tuple[int, bytes, str]:
    """`cicosts ARGS` in its own process against the test database: exit code, standard output and error."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cicosts",
        *args,
        env={
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "JWT_SECRET": settings.jwt_secret,
            "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "COLUMNS": "200",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    output, errors = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output, errors.decode()


async def test_the_cli_writes_the_same_export_as_the_http_route(
    client: TestClient, acme: str, settings: Settings, tmp_path: Path
) -> None:
    target = tmp_path / "jobs.csv"
    dates = ["--org", "acme", "--start", "2026-03-01", "--end", "2026-03-31"]
    code, _, errors = await cicosts(settings, "export", *dates, "--granularity", "per-job", "-o", str(target))
    assert code == 0, errors
    assert "Exported 4 rows" in errors
    assert target.read_bytes() == (await export(client, acme, granularity="per-job")).content
    code, output, errors = await cicosts(settings, "export", *dates, "--format", "json", "-o", "-")
    assert code == 0, errors
    http = (await export(client, acme, format="json")).json()["data"]
    assert json.loads(output)["data"]["rows"] == http["rows"] and http["rows"]
    code, _, errors = await cicosts(
        settings, "export", "--org", "nobody", "--start", "2026-03-01", "--end", "2026-03-02"
    )
    assert code == 1 and "no organization" in errors
