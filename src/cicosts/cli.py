"""The `cicosts` command: serve, api, worker, migrate, demo, token, export, reprice, simulate-webhooks,
deliveries, import."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, BinaryIO, TypeVar

import httpx
import typer
import uvicorn
from fastapi import FastAPI
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.ci.exports import service as exports
from cicosts.ci.exports.schemas import ExportFormat, ExportGranularity
from cicosts.ci.simulation import Scenario
from cicosts.ci.webhooks.service import GITHUB_QUEUE, signature_for
from cicosts.cloud.imports.jobs import import_local_files
from cicosts.cloud.metrics.loading import load_metrics_file
from cicosts.cloud.metrics.service import MetricsFileError
from cicosts.config import ConfigurationError, Settings, get_settings
from cicosts.db import create_engine, create_sessionmaker, transaction
from cicosts.demo import demo_exists, demo_workflows, load_demo
from cicosts.errors import BadRequest, CICostsError, NotFound
from cicosts.identity.repository import organization_by_login
from cicosts.identity.service import ensure_user_with_organization
from cicosts.identity.tokens import create_access_token
from cicosts.kit.gc import tune_gc_for_serving
from cicosts.kit.money import format_usd
from cicosts.kit.periods import utc_now
from cicosts.kit.request_id import configure_logging
from cicosts.llm.prices.repository import project_of_org
from cicosts.llm.prices.repricing import ProjectRepricing, reprice_project
from cicosts.llm.projects.repository import project_named
from cicosts.migrations import upgrade_database
from cicosts.models import LLMProject
from cicosts.models.queue import DEAD, FAILED
from cicosts.worker import queue
from cicosts.worker.runner import Worker

app = typer.Typer(help="CICosts: engineering spend on one ledger.", no_args_is_help=True)
deliveries_app = typer.Typer(help="Failed and dead GitHub deliveries.", invoke_without_command=True)
app.add_typer(deliveries_app, name="deliveries")
import_app = typer.Typer(
    help="Import cloud bills (FinOps FOCUS) and utilization metrics.", no_args_is_help=True
)
app.add_typer(import_app, name="import")
console = Console()
T = TypeVar("T")


def _settings() -> Settings:
    try:
        return get_settings()
    except ConfigurationError as exc:
        console.print(f"[red]Configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _run(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(work(_settings()))


async def _migrate(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        await upgrade_database(engine)
    finally:
        await engine.dispose()


async def _load_demo(settings: Settings, days: int = 90) -> None:
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    try:
        if await demo_exists(sessionmaker):
            console.print("Demo organization [bold]acme-demo[/bold] is already loaded.")
            return
        with Progress(console=console) as progress:
            task = progress.add_task(f"Loading {days} days of demo deliveries", total=None)
            sent = await load_demo(
                sessionmaker, settings, days=days, progress=lambda n: progress.update(task, completed=n)
            )
        console.print(f"Loaded {sent} deliveries for [bold]acme-demo[/bold].")
        console.print("Get a token: [bold]cicosts token --login demo --org acme-demo[/bold]")
    finally:
        await engine.dispose()


ACCESS_LOG_HELP = "Log every request (off by default: at thousands of requests per second it costs CPU)"


def api_app() -> FastAPI:
    """The app of one process of `cicosts api --workers N` (uvicorn calls it in each process it starts)."""
    from cicosts.app import create_app

    application = create_app()
    tune_gc_for_serving()
    return application


def _serve(host: str, port: int, *, run_worker: bool, workers: int = 1, access_log: bool = False) -> None:
    """uvicorn with uvloop and httptools (installed with uvicorn[standard]; `auto` picks them)."""
    from cicosts.app import create_app

    settings = _settings()  # refuse bad configuration before starting any process
    configure_logging()
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "access_log": access_log,
        "loop": "auto",
        "http": "auto",
    }
    if workers > 1:
        uvicorn.run("cicosts.cli:api_app", factory=True, workers=workers, **options)
        return
    application = create_app(settings, run_worker=run_worker)
    tune_gc_for_serving()
    uvicorn.run(application, **options)


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    demo: Annotated[bool, typer.Option(help="Load the demo organization first")] = False,
    access_log: Annotated[bool, typer.Option(help=ACCESS_LOG_HELP)] = False,
) -> None:
    """API and worker in one process (the embedded default). Migrates an embedded database first."""
    settings = _settings()
    if settings.is_sqlite:
        _run(_migrate)
    if demo:
        _run(_load_demo)
    _serve(host, port, run_worker=True, access_log=access_log)


@app.command()
def api(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="API processes sharing the port")] = 1,
    access_log: Annotated[bool, typer.Option(help=ACCESS_LOG_HELP)] = False,
) -> None:
    """The API alone (run workers apart with `cicosts worker`); any number of processes, all stateless."""
    _serve(host, port, run_worker=False, workers=workers, access_log=access_log)


@app.command()
def worker() -> None:
    """One worker: processes stored deliveries until stopped."""

    async def work(settings: Settings) -> None:
        engine = create_engine(settings)
        try:
            await Worker(create_sessionmaker(engine), settings).run_forever()
        finally:
            await engine.dispose()

    configure_logging()
    _run(work)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    _run(_migrate)
    console.print("Database is up to date.")


@app.command()
def demo(days: Annotated[int, typer.Option(min=1, max=365)] = 90) -> None:
    """Load the demo organization (acme-demo) through the real ingestion code."""
    _run(_migrate)
    _run(lambda settings: _load_demo(settings, days))


@app.command()
def token(
    login: Annotated[str, typer.Option(help="GitHub login of the user")],
    org: Annotated[str | None, typer.Option(help="Organization slug (default: the user's own)")] = None,
    hours: Annotated[int, typer.Option(min=1, max=720)] = 24,
) -> None:
    """Development only: create the user (owner of ORG) if missing and print an access token."""
    settings = _settings()
    if settings.is_production:
        console.print("[red]`cicosts token` is for development only.[/red]")
        raise typer.Exit(2)

    async def work(settings: Settings) -> str:
        engine = create_engine(settings)
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                user, _ = await ensure_user_with_organization(session, login, org)
            return create_access_token(user.id, settings, timedelta(hours=hours))
        finally:
            await engine.dispose()

    print(_run(work))


DAY = ["%Y-%m-%d"]


async def _plan_export(
    settings: Settings,
    org: str,
    dates: tuple[date, date],
    granularity: ExportGranularity,
    export_format: ExportFormat,
    repo: str | None,
) -> tuple[exports.Export, int | None]:
    """The export checked as the HTTP route checks it, and how many rows it will have (None: not known)."""
    engine = create_engine(settings)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            organization = await organization_by_login(session, org)
            if organization is None:
                raise NotFound(f"org: no organization {org!r}")
            plan = await exports.prepare(
                session,
                organization,
                settings,
                start=dates[0],
                end=dates[1],
                granularity=granularity,
                export_format=export_format,
                repo=repo,
                now=utc_now(),
            )
            return plan, await exports.count(session, plan)
    finally:
        await engine.dispose()


async def _write_export(
    settings: Settings, plan: exports.Export, sink: BinaryIO, advance: Callable[[int], None]
) -> None:
    engine = create_engine(settings)
    try:
        async for chunk in exports.export_bytes(
            create_sessionmaker(engine), plan, utc_now(), progress=advance
        ):
            sink.write(chunk)
    finally:
        await engine.dispose()


@app.command()
def export(
    org: Annotated[str, typer.Option(help="Organization's GitHub login")],
    start: Annotated[datetime, typer.Option(formats=DAY, help="First day, in the organization's time zone")],
    end: Annotated[datetime, typer.Option(formats=DAY, help="Last day, included")],
    export_format: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.CSV,
    granularity: ExportGranularity = ExportGranularity.DAILY,
    repo: Annotated[str | None, typer.Option(help="Only this repository (owner/name or name)")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="File to write; - for standard output")] = "-",
) -> None:
    """CI costs as CSV or JSON, the same export as GET /v1/costs/export, with a progress bar."""
    errors = Console(stderr=True)  # progress and messages stay out of an export written to standard output
    dates = (start.date(), end.date())
    try:
        plan, total = _run(
            lambda settings: _plan_export(settings, org, dates, granularity, export_format, repo)
        )
    except CICostsError as exc:
        errors.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    if plan.dates.capped is not None:
        errors.print(
            f"[yellow]The plan's history starts on {plan.dates.capped.start}; exporting from it.[/yellow]"
        )
    exported = 0
    with Progress(
        *Progress.get_default_columns(), TextColumn("{task.completed} rows"), console=errors
    ) as bar:
        task = bar.add_task(f"Exporting {granularity.value} rows", total=total)

        def advance(rows: int) -> None:
            nonlocal exported
            exported += rows
            bar.update(task, completed=exported)

        if output == "-":
            _run(lambda settings: _write_export(settings, plan, sys.stdout.buffer, advance))
        else:
            with Path(output).open("wb") as sink:
                _run(lambda settings: _write_export(settings, plan, sink, advance))
    errors.print(f"Exported {exported} rows to {'standard output' if output == '-' else output}.")


async def _project_of(session: AsyncSession, org: str, project: str) -> LLMProject:
    organization = await organization_by_login(session, org)
    if organization is None:
        raise NotFound(f"org: no organization {org!r}")
    found = await project_named(session, organization.id, project)
    if found is None and project.isdecimal():
        found = await project_of_org(session, organization.id, int(project))
    if found is None:
        raise NotFound(f"project: organization {org} has no project {project!r}")
    return found


async def _reprice(
    settings: Settings, org: str, project: str, days: tuple[date, date]
) -> tuple[str, ProjectRepricing]:
    if days[1] < days[0]:
        raise BadRequest(f"end: {days[1]} is before start {days[0]}")
    start = datetime.combine(days[0], datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(days[1] + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    engine = create_engine(settings)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            found = await _project_of(session, org, project)
            return found.name, await reprice_project(session, found, start, end)
    finally:
        await engine.dispose()


@app.command()
def reprice(
    org: Annotated[str, typer.Option(help="Organization's GitHub login")],
    project: Annotated[str, typer.Option(help="LLM project's name or id")],
    start: Annotated[datetime, typer.Option(formats=DAY, help="First day (UTC)")],
    end: Annotated[datetime, typer.Option(formats=DAY, help="Last day (UTC), included")],
) -> None:
    """Price a project's LLM calls of these days again with the prices known now (a custom price set since,
    or a newer catalogue), each at its own time; the totals follow. One transaction: all or nothing."""
    days = (start.date(), end.date())
    try:
        name, result = _run(lambda settings: _reprice(settings, org, project, days))
    except CICostsError as exc:
        console.print(f"[red]{escape(exc.detail)}[/red]")
        raise typer.Exit(1) from exc
    console.print(
        f"Repriced {result.repriced:,} of {result.examined:,} calls of project {escape(name)}"
        f" from {days[0]} to {days[1]}: cost {format_usd(result.cost_before_nanos)}"
        f" -> {format_usd(result.cost_after_nanos)}; {result.still_unpriced:,} still unpriced.",
        highlight=False,
    )


@app.command("simulate-webhooks")
def simulate_webhooks(
    url: Annotated[str, typer.Option(help="Webhook URL, e.g. http://127.0.0.1:8000/api/v1/webhooks/github")],
    secret: Annotated[str, typer.Option(help="The server's GITHUB_WEBHOOK_SECRET")],
    count: Annotated[int, typer.Option(min=1)] = 100,
    days: Annotated[int, typer.Option(min=1)] = 7,
) -> None:
    """Send COUNT signed, realistic deliveries to a running server."""
    scenario = Scenario(demo_workflows(), seed=int(time.time()))
    scenario.reseed_ids(int(time.time() * 1000))
    now = utc_now()
    sent = failed = 0
    with httpx.Client(timeout=30) as client, Progress(console=console) as progress:
        task = progress.add_task("Sending deliveries", total=count)
        for delivery in scenario.runs_between(now - timedelta(days=days), now):
            if sent + failed >= count:
                break
            body = json.dumps(delivery.payload).encode()
            response = client.post(
                url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-GitHub-Event": delivery.event,
                    "X-GitHub-Delivery": delivery.delivery_id,
                    "X-Hub-Signature-256": signature_for(secret, body),
                },
            )
            if response.status_code < 300:
                sent += 1
            else:
                failed += 1
                console.print(f"[red]{response.status_code}[/red] {response.text[:200]}")
            progress.advance(task)
    console.print(f"Sent {sent}, refused {failed}.")
    if failed:
        raise typer.Exit(1)


@deliveries_app.callback()
def deliveries(ctx: typer.Context) -> None:
    """List failed and dead deliveries (`cicosts deliveries replay ID` runs one again)."""
    if ctx.invoked_subcommand is not None:
        return

    async def work(settings: Settings) -> None:
        engine = create_engine(settings)
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                jobs = await queue.list_jobs(session, GITHUB_QUEUE, (FAILED, DEAD))
        finally:
            await engine.dispose()
        table = Table("id", "delivery", "event", "status", "attempts", "last error")
        for job in jobs:
            table.add_row(
                str(job.id),
                job.dedupe_key,
                job.kind,
                job.status,
                str(job.attempts),
                (job.last_error or "")[:80],
            )
        console.print(table if jobs else "No failed or dead deliveries.")

    _run(work)


@deliveries_app.command("replay")
def replay(job_id: int) -> None:
    """Queue delivery ID again; the worker processes it on its next pass."""

    async def work(settings: Settings) -> bool:
        engine = create_engine(settings)
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                return await queue.replay(session, job_id) is not None
        finally:
            await engine.dispose()

    if not _run(work):
        console.print(f"[red]No delivery with id {job_id}.[/red]")
        raise typer.Exit(1)
    console.print(f"Delivery {job_id} queued again.")


def _import_progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


@import_app.command("focus")
def import_focus(
    files: Annotated[
        list[Path],
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="FOCUS 1.0-1.3 files: CSV, gzipped CSV or Parquet (one billing period's parts together)",
        ),
    ],
    org: Annotated[str, typer.Option(help="Organization's GitHub login")],
) -> None:
    """Import FOCUS billing files as an upload is imported; a re-imported billing period replaces the old."""

    async def work(settings: Settings) -> Any:
        engine = create_engine(settings)
        try:
            with _import_progress() as bar:
                task = bar.add_task("Importing", total=sum(path.stat().st_size for path in files), rows=0)

                def advance(rows: int, done: int) -> None:
                    bar.update(task, completed=done, rows=rows)

                return await import_local_files(create_sessionmaker(engine), org, files, advance)
        finally:
            await engine.dispose()

    try:
        record = _run(work)
    except CICostsError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    if record.status != "done":
        console.print(f"[red]Import failed: {record.error}[/red]")
        raise typer.Exit(1)
    for rejection in record.rejections[:20]:
        console.print(f"[yellow]{rejection['file']} row {rejection['row']}: {rejection['reason']}[/yellow]")
    if record.rows_rejected > 20:
        console.print(f"[yellow]... and {record.rows_rejected - 20} more rejected rows[/yellow]")
    for period in record.periods[:10]:
        replaced = f", replacing {period['replaced_rows']:,}" if period["replaced_rows"] else ""
        console.print(
            f"Billing account {period['billing_account_id']},"
            f" period from {period['billing_period_start'][:10]}:"
            f" {period['rows']:,} rows{replaced}"
        )
    if len(record.periods) > 10:
        console.print(f"... and {len(record.periods) - 10} more billing periods")
    console.print(
        f"Import {record.id}: read {record.rows_read:,} rows, stored {record.rows_stored:,},"
        f" rejected {record.rows_rejected:,}."
    )


@import_app.command("metrics")
def import_metrics(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Metrics CSV")],
    org: Annotated[str, typer.Option(help="Organization's GitHub login")],
) -> None:
    """Import CloudWatch-style utilization samples (CSV: resource_id or InstanceId, instance_type, region,
    metric (cpu, memory, CPUUtilization, mem_used_percent), timestamp, average, maximum)."""

    async def work(settings: Settings) -> Any:
        engine = create_engine(settings)
        try:
            with _import_progress() as bar:
                task = bar.add_task("Importing samples", total=file.stat().st_size, rows=0)

                def advance(rows: int, done: int) -> None:
                    bar.update(task, completed=done, rows=rows)

                return await load_metrics_file(create_sessionmaker(engine), org, file, advance)
        finally:
            await engine.dispose()

    try:
        loaded = _run(work)
    except (CICostsError, MetricsFileError) as exc:
        console.print(f"[red]{getattr(exc, 'detail', exc)}[/red]")
        raise typer.Exit(1) from exc
    for row, reason in loaded.rejected[:20]:
        console.print(f"[yellow]row {row}: {reason}[/yellow]")
    if len(loaded.rejected) > 20:
        console.print(f"[yellow]... and {len(loaded.rejected) - 20} more rejected rows[/yellow]")
    console.print(f"Stored {loaded.stored:,} samples, rejected {len(loaded.rejected):,} rows.")


def main() -> None:
    app()
