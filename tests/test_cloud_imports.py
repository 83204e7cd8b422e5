"""FOCUS imports: the real sample to the nanodollar, uploads through the worker, Parquet, re-imports replacing
a billing period, rejected rows, missing columns, other currencies, rounding past nine decimals."""

from __future__ import annotations

import asyncio
import csv
import gzip
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.cloud.imports import contributions
from cicosts.cloud.imports.amounts import NotAnAmount, nanos_of
from cicosts.cloud.imports.columnar import ColumnConverter
from cicosts.cloud.imports.columnar import batches as column_batches
from cicosts.cloud.imports.focus import FIELDS, FocusParser, RowRejected
from cicosts.cloud.imports.jobs import import_local_files
from cicosts.cloud.imports.sources import open_table
from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity.api_keys.service import create_api_key
from cicosts.identity.service import ensure_user_with_organization
from cicosts.identity.tokens import create_access_token
from cicosts.kit.money import nanos_to_json_usd
from cicosts.models import (
    CloudBillingPeriod,
    CloudCostRow,
    CloudDaily,
    CloudImport,
    CloudTagDaily,
    Job,
    LedgerHourly,
    Organization,
)
from cicosts.worker.runner import Worker
from tests.cloud_helpers import (
    SAMPLE,
    SPEC_EXAMPLE,
    file_sums,
    import_rows,
    raw_and_rollups,
    raw_tag_counts,
    row,
    stored_sums,
    write_focus,
)
from tests.helpers import WEBHOOK_SECRET, TestClient


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """Uploads kept under the test's own directory."""
    return settings.model_copy(update={"data_dir": str(tmp_path / "data")})


@pytest.fixture
async def admin(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> str:
    """The owner of `acme`: their token."""
    async with transaction(sessionmaker) as session:
        user, _ = await ensure_user_with_organization(session, "alice", "acme")
    return create_access_token(user.id, settings)


async def upload(
    client: TestClient, token: str, *files: tuple[str, bytes], org: str = "acme"
) -> httpx.Response:
    return await client.http.post(
        "/v1/cloud/imports",
        params={"org": org},
        files=[("file", (name, data, "application/octet-stream")) for name, data in files],
        headers={"Authorization": f"Bearer {token}"},
    )


async def status(client: TestClient, token: str, import_id: int) -> dict[str, object]:
    response = await client.get(f"/v1/cloud/imports/{import_id}", token, org="acme")
    assert response.status_code == 200, response.text
    found: dict[str, object] = response.json()["data"]
    return found


async def test_the_real_sample_imports_every_row_and_adds_up_to_the_nanodollar(
    admin: str,
    client: TestClient,
    worker: Worker,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    response = await upload(
        client, admin, (SAMPLE.name, SAMPLE.read_bytes()), (SPEC_EXAMPLE.name, SPEC_EXAMPLE.read_bytes())
    )
    assert response.status_code == 202, response.text
    queued = response.json()["data"]
    assert (
        queued["status"] == "queued" and response.headers["Location"] == f"/v1/cloud/imports/{queued['id']}"
    )
    assert [f["name"] for f in queued["files"]] == [SAMPLE.name, SPEC_EXAMPLE.name]
    assert (Path(settings.data_dir) / "cloud-imports" / str(queued["id"])).is_dir()

    assert await worker.drain() == 1
    done = await status(client, admin, queued["id"])
    assert done["status"] == "done", done
    assert (done["rows_read"], done["rows_stored"], done["rows_rejected"]) == (1014, 1014, 0)
    assert not (
        Path(settings.data_dir) / "cloud-imports" / str(queued["id"])
    ).exists()  # deleted once imported

    expected = file_sums(SAMPLE)
    for key, sums in file_sums(SPEC_EXAMPLE).items():
        expected[key] = [a + b for a, b in zip(expected.get(key, [0] * 5), sums, strict=True)]
    async with transaction(sessionmaker) as session:
        assert (
            await stored_sums(session) == expected
        )  # per provider and service, every cost, to the nanodollar
        providers = {
            p: int(n)
            for p, n in await session.execute(
                select(CloudCostRow.provider, func.count()).group_by(CloudCostRow.provider)
            )
        }
    assert providers == {"AWS": 942, "Microsoft": 51, "Oracle": 7, "Acme Co": 14}
    totals = await raw_and_rollups(sessionmaker)
    assert totals["raw"] == totals["daily"]
    billed = sum(s[0] for s in expected.values())
    assert (
        totals["ledger"][0] == billed == totals["raw"]["USD"][0]
    )  # all USD: the whole bill is in the ledger
    assert done["currencies"] == [
        {
            "currency": "USD",
            "rows": 1014,
            "billed_cost": nanos_to_json_usd(billed),
            "effective_cost": nanos_to_json_usd(sum(s[1] for s in expected.values())),
            "list_cost": nanos_to_json_usd(sum(s[2] for s in expected.values())),
            "contracted_cost": nanos_to_json_usd(sum(s[3] for s in expected.values())),
        }
    ]


async def test_amounts_past_nine_decimals_are_rounded_half_to_even_and_kept_exactly(
    admin: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    values = ["0.0000000015", "0.0000000025", "-0.0000000015", "0.00001605990", "2.5"]
    rows = [row(value, resource=f"r{i}") for i, value in enumerate(values)]
    record = await import_rows(sessionmaker, tmp_path, rows)
    assert record.rows_stored == 5
    async with transaction(sessionmaker) as session:
        stored = (
            await session.execute(
                select(CloudCostRow.billed_nanos, CloudCostRow.unrounded).order_by(CloudCostRow.row_number)
            )
        ).all()
    assert [nanos for nanos, _ in stored] == [2, 2, -2, 16060, 2_500_000_000]
    assert json.loads(stored[0][1]) == {
        "BilledCost": "0.0000000015",
        "EffectiveCost": "0.0000000015",
        "ListCost": "0.0000000015",
        "ContractedCost": "0.0000000015",
    }
    assert stored[4][1] is None  # exact: nothing to keep


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**9), max_value=10**9, places=14))
def test_an_amount_is_its_decimal_value_rounded_half_to_even_to_the_nano(value: Decimal) -> None:
    expected = value.quantize(Decimal("0.000000001"), rounding=ROUND_HALF_EVEN).scaleb(9)
    for written in (str(value), f"{value:f}", f"{value:e}"):
        nanos, exact = nanos_of(written)
        assert nanos == int(expected)
        assert exact == (expected == value.scaleb(9))


@pytest.mark.parametrize("text", ["", "abc", "1,5", "NaN", "Infinity", "1e30", "٣", "--1", "0x10"])
def test_what_is_not_an_amount(text: str) -> None:
    with pytest.raises(NotAnAmount):
        nanos_of(text)


async def test_a_gzipped_upload_and_parquet_give_the_same_figures_as_the_csv(
    admin: str,
    client: TestClient,
    worker: Worker,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    csv_rows = list(csv.DictReader(SAMPLE.read_text().splitlines()))
    types = {
        "BilledCost": pa.decimal128(38, 11),
        "EffectiveCost": pa.float64(),
        "ListCost": pa.decimal128(38, 11),
    }
    columns = {}
    for name in csv_rows[0]:
        raw = [None if r[name] == "NULL" else r[name] for r in csv_rows]
        if name in types:
            columns[name] = pa.array(
                [
                    None if v is None else (Decimal(v) if types[name] != pa.float64() else float(v))
                    for v in raw
                ],
                types[name],
            )
        elif name in ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd"):
            columns[name] = pa.array(
                [datetime.fromisoformat(v).replace(tzinfo=UTC) for v in raw], pa.timestamp("us", "UTC")
            )
        elif name == "Tags":
            columns[name] = pa.array(
                [None if v is None else list(json.loads(v).items()) for v in raw],
                pa.map_(pa.string(), pa.string()),
            )
        else:
            columns[name] = pa.array(raw, pa.string())
    parquet = tmp_path / "sample.parquet"
    pq.write_table(pa.table(columns), parquet, row_group_size=300)

    record = await import_local_files(sessionmaker, "acme", [parquet])
    assert (record.status, record.rows_stored, record.rows_rejected) == ("done", 1000, 0), record.rejections
    async with transaction(sessionmaker) as session:
        from_parquet = await stored_sums(session)
    expected = file_sums(SAMPLE)
    for key, sums in expected.items():
        # EffectiveCost went through a float: its shortest repr is the decimal that was written
        assert from_parquet[key] == sums, key
    assert await raw_tag_count(sessionmaker) == sum(raw_tag_counts(csv_rows).values())

    # The same bill gzipped and uploaded: it replaces the Parquet import's billing periods, figures unchanged.
    response = await upload(client, admin, ("sample.csv.gz", gzip.compress(SAMPLE.read_bytes())))
    assert response.status_code == 202
    await worker.drain()
    done = await status(client, admin, response.json()["data"]["id"])
    assert (done["status"], done["rows_stored"]) == ("done", 1000)
    assert sorted(p["replaced_rows"] for p in done["periods"]) == [1, 6, 51, 942]
    async with transaction(sessionmaker) as session:
        assert await stored_sums(session) == expected


async def raw_tag_count(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    totals = await raw_and_rollups(sessionmaker)
    return sum(totals["tags"].values())


async def test_a_reimported_period_replaces_the_old_one_and_other_periods_stay(
    admin: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    september = datetime(2024, 9, 5, tzinfo=UTC)
    october = datetime(2024, 10, 5, tzinfo=UTC)
    first = [row("10", at=september, tags={"env": "prod"}), row("5", at=september), row("7", at=october)]
    await import_rows(sessionmaker, tmp_path, first, name="first.csv")
    again = await import_rows(sessionmaker, tmp_path, first, name="again.csv")
    totals = await raw_and_rollups(sessionmaker)
    assert totals["raw"]["USD"][0] == totals["daily"]["USD"][0] == totals["ledger"][0] == 22 * 10**9
    assert totals["raw"]["USD"][4] == 3  # imported twice, counted once
    assert sorted((p["billing_period_start"][:7], p["rows"], p["replaced_rows"]) for p in again.periods) == [
        ("2024-09", 2, 2),
        ("2024-10", 1, 1),
    ]

    # The provider restates September: one charge changes, one disappears, one appears; October stays.
    restated = [row("12", at=september, tags={"env": "prod"}), row("1", at=september, service="AWS Lambda")]
    record = await import_rows(sessionmaker, tmp_path, restated, name="restated.csv")
    assert [(p["rows"], p["replaced_rows"]) for p in record.periods] == [(2, 2)]
    totals = await raw_and_rollups(sessionmaker)
    assert totals["raw"] == totals["daily"]
    assert totals["raw"]["USD"][0] == totals["ledger"][0] == 20 * 10**9
    assert totals["tags"] == {("USD", "env"): 1}
    async with transaction(sessionmaker) as session:
        sums = await stored_sums(session)
        periods = (
            await session.scalars(
                select(CloudBillingPeriod).order_by(CloudBillingPeriod.billing_period_start)
            )
        ).all()
    assert sums[("AWS", "AWS Lambda")][0] == 10**9
    assert sums[("AWS", "Amazon Elastic Compute Cloud")][0] == 19 * 10**9
    assert [(p.import_id, p.rows) for p in periods] == [(record.id, 2), (again.id, 1)]


async def test_bad_rows_are_rejected_one_by_one_with_their_row_and_reason(
    admin: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    rows = [
        row("1"),
        row("abc"),
        row("1", BillingAccountId=""),
        row("1", ChargePeriodStart="yesterday"),
        row("1", currency="EURO"),
        row("1", Tags="{not json"),
        row("1", ChargePeriodEnd="2024-09-10T11:00:00Z"),
        row("1", ProviderName="NULL"),
        row("1", RegionId="r" * 256),
        row("2"),
    ]
    record = await import_rows(sessionmaker, tmp_path, rows)
    assert (record.status, record.rows_read, record.rows_stored, record.rows_rejected) == ("done", 10, 2, 8)
    assert [(r["row"], r["reason"]) for r in record.rejections] == [
        (2, "BilledCost: 'abc' is not a number"),
        (3, "BillingAccountId: missing"),
        (4, "ChargePeriodStart: 'yesterday' is not an ISO 8601 date-time"),
        (5, "BillingCurrency: 'EURO' is not an ISO 4217 currency code"),
        (6, "Tags: not a JSON object"),
        (7, "ChargePeriodEnd: before ChargePeriodStart"),
        (8, "ServiceProviderName: missing (and so is ProviderName)"),
        (9, "RegionId: longer than 255 characters"),
    ]
    assert {r["file"] for r in record.rejections} == {"bill.csv"}
    path = tmp_path / "short.csv"
    path.write_text((tmp_path / "bill.csv").read_text() + "1,2,3\n")
    record = await import_local_files(sessionmaker, "acme", [path])
    assert record.rejections[-1] == {
        "file": "short.csv",
        "row": 11,
        "reason": "has 3 fields where the header has 30",
    }


async def test_missing_mandatory_columns_fail_the_import_naming_them(
    admin: str,
    client: TestClient,
    worker: Worker,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    header = [
        c
        for c in csv.DictReader(SAMPLE.read_text().splitlines()).fieldnames or []
        if c not in ("BilledCost", "ProviderName", "ChargePeriodEnd")
    ]
    lines = SAMPLE.read_text().splitlines()
    reader = csv.DictReader(lines)
    body = [",".join(header)] + [",".join(f'"{r[c]}"' for c in header) for r in list(reader)[:3]]
    response = await upload(
        client, admin, ("good.csv", SPEC_EXAMPLE.read_bytes()), ("partial.csv", "\n".join(body).encode())
    )
    import_id = response.json()["data"]["id"]
    await worker.drain()
    failed = await status(client, admin, import_id)
    assert failed["status"] == "failed"
    assert failed["missing_columns"] == [
        "BilledCost",
        "ChargePeriodEnd",
        "ServiceProviderName (or ProviderName before FOCUS 1.3)",
    ]
    assert failed["error"] == (
        "partial.csv: Missing mandatory FOCUS columns: BilledCost, ChargePeriodEnd, "
        "ServiceProviderName (or ProviderName before FOCUS 1.3)"
    )
    async with transaction(sessionmaker) as session:
        assert await session.scalar(select(func.count()).select_from(CloudCostRow)) == 0  # not even good.csv
        job = await session.scalar(select(Job).where(Job.queue == "cloud_imports"))
    assert job is not None and job.status == "done"  # failed for good: not retried
    assert not (Path(settings.data_dir) / "cloud-imports" / str(import_id)).exists()


async def test_an_unreadable_file_fails_the_import(
    admin: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(SAMPLE.read_bytes())[:5000])
    record = await import_local_files(sessionmaker, "acme", [broken])
    assert record.status == "failed" and record.error is not None
    assert record.error.startswith("broken.csv.gz: ") and "gzip" in record.error
    latin = tmp_path / "latin.csv"
    latin.write_bytes("BilledCost,Caf\xe9\n".encode("latin-1"))
    record = await import_local_files(sessionmaker, "acme", [latin])
    assert record.error == "latin.csv: not UTF-8 text"


async def test_focus_1_3_names_the_provider_in_service_provider_name(
    admin: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    header = [
        c
        for c in csv.DictReader(SAMPLE.read_text().splitlines()).fieldnames or []
        if c not in ("ProviderName", "PublisherName")
    ]
    header += ["ServiceProviderName", "HostProviderName"]
    values = row("3", ServiceProviderName="Snowflake", HostProviderName="AWS", service="Snowflake Compute")
    path = write_focus(tmp_path / "f13.csv", [{c: values.get(c, "") for c in header}], header=header)
    record = await import_local_files(sessionmaker, "acme", [path])
    assert (record.status, record.rows_stored) == ("done", 1), record.rejections
    async with transaction(sessionmaker) as session:
        assert await session.scalar(select(CloudCostRow.provider)) == "Snowflake"


async def test_bills_in_other_currencies_stay_apart_and_out_of_the_usd_ledger(
    admin: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    rows = [row("10"), row("20", currency="EUR", account="eu-1"), row("30", currency="eur", account="eu-1")]
    record = await import_rows(sessionmaker, tmp_path, rows)
    assert [(c["currency"], c["rows"], c["billed"]) for c in record.currencies] == [
        ("EUR", 2, 50 * 10**9),
        ("USD", 1, 10 * 10**9),
    ]
    totals = await raw_and_rollups(sessionmaker)
    assert totals["raw"] == totals["daily"]
    assert totals["daily"]["EUR"][0] == 50 * 10**9
    assert totals["ledger"] == [10 * 10**9, 10 * 10**9, 1]  # the ledger is USD: the euros never reach it


async def test_only_an_admin_may_upload(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, admin: str
) -> None:
    async with transaction(sessionmaker) as session:
        member, org = await ensure_user_with_organization(session, "bob", "acme", role="member")
        _, read_key = await create_api_key(session, org_id=org.id, name="r", scopes=["read"], created_by=None)
    files = [(SAMPLE.name, b"BilledCost\n1\n")]
    assert (await upload(client, create_access_token(member.id, settings), *files)).status_code == 403
    refused = await upload(client, read_key, *files)
    assert refused.status_code == 403 and "scopes" in refused.json()["detail"]
    empty = await client.http.post(
        "/v1/cloud/imports", params={"org": "acme"}, headers={"Authorization": f"Bearer {admin}"}
    )
    assert empty.status_code == 422 and empty.json()["detail"].startswith("file:")
    # A read key sees the status of its organization's imports, not another's.
    response = await upload(client, admin, files[0])
    listing = await client.get("/v1/cloud/imports", read_key)
    assert [i["id"] for i in listing.json()["data"]["imports"]] == [response.json()["data"]["id"]]
    assert (await client.get("/v1/cloud/imports/987654", read_key)).status_code == 404


async def test_an_upload_over_the_limit_is_refused_and_nothing_is_kept(
    app: FastAPI,
    client: TestClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    admin: str,
) -> None:
    sample = SAMPLE.read_bytes()
    app.state.settings = settings.model_copy(update={"cloud_upload_max_bytes": len(sample) - 1})
    declared = await upload(client, admin, (SAMPLE.name, sample))
    limit = f"{len(sample) - 1:,} bytes"
    assert (declared.status_code, declared.json()["detail"]) == (
        413,
        f"file: the upload is over {limit} (CLOUD_UPLOAD_MAX_BYTES)",
    )

    async def chunks() -> AsyncIterator[bytes]:  # sent without a length, so counted as it arrives
        yield b"--cut\r\nContent-Disposition: form-data; name=file; filename=big.csv\r\n\r\n"
        for start in range(0, len(sample), 4096):
            yield sample[start : start + 4096]
        yield b"\r\n--cut--\r\n"

    streamed = await client.http.post(
        "/v1/cloud/imports",
        params={"org": "acme"},
        content=chunks(),
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "multipart/form-data; boundary=cut"},
    )
    assert "content-length" not in streamed.request.headers
    assert (streamed.status_code, streamed.json()["detail"]) == (413, declared.json()["detail"])
    async with transaction(sessionmaker) as session:
        assert await session.scalar(select(func.count()).select_from(CloudImport)) == 0
    assert not await asyncio.to_thread(lambda: list(Path(settings.data_dir).glob("cloud-imports/*/*")))
    app.state.settings = settings.model_copy(update={"cloud_upload_max_bytes": len(sample) + 1_000})
    assert (await upload(client, admin, (SAMPLE.name, sample))).status_code == 202


@hypothesis_settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    bills=st.lists(
        st.lists(
            st.tuples(
                st.integers(min_value=-(10**12), max_value=10**12),  # billed, in nanos
                st.sampled_from(["USD", "USD", "EUR"]),
                st.sampled_from(["Amazon EC2", "Amazon S3", "AWS Lambda"]),
                st.integers(min_value=1, max_value=3),  # September, October or November
                st.sampled_from([None, {"env": "prod"}, {"env": "dev", "team": "a"}]),
            ),
            max_size=8,
        ),
        min_size=1,
        max_size=4,
    )
)
async def test_rollups_always_equal_the_rows_whatever_is_imported_and_replaced(
    admin: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    bills: list[list[tuple[int, str, str, int, dict[str, str] | None]]],
) -> None:
    async with transaction(sessionmaker) as session:  # every example starts from no cloud costs
        for model in (CloudCostRow, CloudDaily, CloudTagDaily, CloudBillingPeriod, LedgerHourly):
            await session.execute(delete(model))
    for number, bill in enumerate(bills):
        rows = [
            row(
                str(Decimal(nanos).scaleb(-9)),
                at=datetime(2024, 8 + month, 3 + month, tzinfo=UTC),
                currency=currency,
                account="eu" if currency == "EUR" else "us",
                service=service,
                tags=tags,
            )
            for nanos, currency, service, month, tags in bill
        ]
        await import_rows(sessionmaker, tmp_path, rows, name=f"bill-{number}.csv")
        totals = await raw_and_rollups(sessionmaker)
        assert totals["raw"] == totals["daily"]
        usd = totals["raw"].get("USD", [0, 0, 0, 0, 0])
        assert totals["ledger"] == [usd[0], usd[2], usd[4]]


async def test_cli_imports_a_file_with_a_progress_bar(
    admin: str, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cicosts",
        "import",
        "focus",
        str(SAMPLE),
        "--org",
        "acme",
        env={
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "JWT_SECRET": settings.jwt_secret,
            "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "COLUMNS": "200",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await process.communicate())[0].decode()
    assert process.returncode == 0, output
    assert "read 1,000 rows, stored 1,000, rejected 0." in output
    async with transaction(sessionmaker) as session:
        record = await session.scalar(select(CloudImport))
        assert record is not None and (record.source, record.status) == ("cli", "done")
        assert await session.scalar(select(func.count()).select_from(CloudCostRow)) == 1000
        assert await session.scalar(select(func.sum(LedgerHourly.record_count))) == 1000
    unknown = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cicosts",
        "import",
        "focus",
        str(SAMPLE),
        "--org",
        "nobody",
        env={**os.environ, "DATABASE_URL": settings.database_url, "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await unknown.communicate())[0].decode()
    assert unknown.returncode == 1 and "no organization 'nobody'" in output


async def test_an_import_of_a_deleted_organization_is_dropped(
    admin: str,
    client: TestClient,
    worker: Worker,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    response = await upload(client, admin, (SPEC_EXAMPLE.name, SPEC_EXAMPLE.read_bytes()))
    import_id = response.json()["data"]["id"]
    async with transaction(sessionmaker) as session:
        record = await session.get(CloudImport, import_id)
        assert record is not None
        await session.delete(record)
    await worker.drain()
    async with transaction(sessionmaker) as session:
        job = await session.scalar(select(Job).where(Job.queue == "cloud_imports"))
    assert job is not None and job.status == "ignored"
    assert not (Path(settings.data_dir) / "cloud-imports" / str(import_id)).exists()


async def test_two_imports_of_one_period_at_once_leave_one_of_them(
    admin: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    rows = [row("1", resource=f"r{i}") for i in range(60)]
    files = [write_focus(tmp_path / "a.csv", rows), write_focus(tmp_path / "b.csv", rows[:40])]
    first, second = await asyncio.gather(
        *(import_local_files(sessionmaker, "acme", [path]) for path in files)
    )
    assert first.status == second.status == "done"
    totals = await raw_and_rollups(sessionmaker)
    assert totals["raw"] == totals["daily"]
    async with transaction(sessionmaker) as session:
        period = await session.scalar(select(CloudBillingPeriod))
    assert period is not None
    last = first if period.import_id == first.id else second
    assert (
        totals["raw"]["USD"][4] == last.rows_stored == period.rows
    )  # the later one replaced the earlier whole


def both_ways(path: Path) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The rows (and rejections) of a file as the row parser and as the column converter read it."""
    table = open_table(path)
    header = table.header
    parser = FocusParser(header, text_only=table.format != "parquet")
    by_rows: list[dict[str, object]] = []
    line = 0
    for batch in table.batches(1000):
        for values in batch:
            line += 1
            try:
                by_rows.append(dict(zip(FIELDS, parser.parse(list(values)), strict=True)))
            except RowRejected as exc:
                by_rows.append({"row": line, "reason": str(exc)})
    table.close()
    converter = ColumnConverter(
        FocusParser(header, text_only=table.format != "parquet"), csv=table.format != "parquet"
    )
    by_columns: list[dict[str, object]] = []
    seen = 0
    for batch in column_batches(path, header, lambda _: None):
        converted = converter.convert(batch)
        rows = iter(converted.table.to_pylist())
        rejected = dict(converted.rejected)
        for index in range(batch.num_rows):
            if index in rejected:
                by_columns.append({"row": seen + index + 1, "reason": rejected[index]})
            else:
                by_columns.append(next(rows))
        seen += batch.num_rows
    return by_rows, by_columns


@pytest.mark.parametrize("name", ["sample", "spec", "parquet", "edges"])
def test_the_column_converter_reads_every_file_as_the_row_parser_does(name: str, tmp_path: Path) -> None:
    if name == "sample":
        path = SAMPLE
    elif name == "spec":
        path = SPEC_EXAMPLE
    elif name == "parquet":
        rows = list(csv.DictReader(SAMPLE.read_text().splitlines()))[:200]
        columns = {
            c: pa.array([None if r[c] == "NULL" else r[c] for r in rows], pa.string()) for c in rows[0]
        }
        columns["BilledCost"] = pa.array([Decimal(r["BilledCost"]) for r in rows], pa.decimal128(38, 11))
        columns["ListCost"] = pa.array([float(r["ListCost"]) for r in rows], pa.float64())
        columns["BillingAccountId"] = pa.array(
            [int(r["BillingAccountId"]) if r["BillingAccountId"].isdigit() else None for r in rows],
            pa.int64(),
        )
        columns["ChargePeriodStart"] = pa.array(
            [datetime.fromisoformat(r["ChargePeriodStart"]) for r in rows], pa.timestamp("us")
        )
        columns["RegionName"] = pa.array(["NULL", " null "] + [None] * 198, pa.string())
        path = tmp_path / "sample.parquet"
        pq.write_table(pa.table(columns), path, row_group_size=64)
    else:
        odd = [
            row("0.0000000015", Tags='{"a": 1, "b": {"c": true}, "a ": "x"}'),
            row(" 2.5 ", currency=" usd ", ChargePeriodStart="9/10/24", ChargePeriodEnd="9/11/24"),
            row("1E-3", effective="-0.00000000050", list_cost="3.0000000005", ContractedCost=""),
            row(
                "4",
                service="",
                category="",
                region=None,
                sub_account=None,
                PricingQuantity="1e2",
                ListUnitPrice=" 7 ",
            ),
            row("5", ServiceName="NULL", ResourceId="null", BillingAccountName=" NULL "),
            row("6", ChargeCategory="", ProviderName=""),
            row("7", BillingPeriodEnd="2024-09-01T00:00:00Z"),
            row("8", PricingQuantity="lots"),
            row("9", ChargeClass="C" * 31),
            row("x", BillingAccountId=""),
            row("10", ChargePeriodStart="2024-09-10T12:00:00+02:00", ChargePeriodEnd="2024-09-10T11:00:00Z"),
            row("11", Tags="[1, 2]"),
            row("12", ServiceCategory="s" * 256),
        ]
        path = write_focus(tmp_path / "edges.csv.gz", odd, gz=True)
    by_rows, by_columns = both_ways(path)
    assert len(by_rows) == len(by_columns)
    for number, (expected, found) in enumerate(zip(by_rows, by_columns, strict=True), start=1):
        assert found == expected, number


async def test_an_organizations_cloud_rows_go_with_it(
    admin: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    async with transaction(sessionmaker) as session:
        await ensure_user_with_organization(session, "carol", "other")
    await import_rows(sessionmaker, tmp_path, [row("1"), row("2")], name="acme.csv")
    await import_rows(sessionmaker, tmp_path, [row("3")], org="other", name="other.csv")
    async with transaction(sessionmaker) as session:
        acme = await session.scalar(select(Organization).where(Organization.login == "acme"))
        assert acme is not None
        await session.execute(delete(Organization).where(Organization.id == acme.id))
    async with transaction(sessionmaker) as session:
        left = (await session.execute(select(CloudCostRow.billed_nanos))).scalars().all()
        imports = await session.scalar(select(func.count()).select_from(CloudImport))
    assert (
        left == [3 * 10**9] and imports == 1
    )  # the raw rows by the migration's trigger, the rest by cascade


async def test_rollups_are_written_a_portion_at_a_time(
    admin: str, sessionmaker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contributions, "PORTION", 7)
    for _ in range(2):  # and replaced, a portion at a time too
        record = await import_local_files(sessionmaker, "acme", [SAMPLE])
        assert record.rows_stored == 1000
    totals = await raw_and_rollups(sessionmaker)
    assert totals["raw"] == totals["daily"]
    assert totals["ledger"] == [totals["raw"]["USD"][0], totals["raw"]["USD"][2], 1000]
    async with transaction(sessionmaker) as session:
        assert await stored_sums(session) == file_sums(SAMPLE)
