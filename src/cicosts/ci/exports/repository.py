"""Export statements, scoped by organization: Core columns, not ORM entities, so millions of rows stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from sqlalchemy import Row, Select, String, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from cicosts.ci.dashboard.repository import Scope
from cicosts.kit.periods import Period
from cicosts.models import CIHourly, Repository, Workflow, WorkflowJob, WorkflowRun

COMPLETED = "completed"
Statement: TypeAlias = "Select[*tuple[Any, ...]]"
FoundRow: TypeAlias = "Row[*tuple[Any, ...]]"


class utc_text(FunctionElement[str]):
    """A timestamp as ISO 8601 UTC text to the second (2026-03-10T05:00:00Z, as GitHub writes it), written by
    the database: per row that is far cheaper than decoding a datetime and formatting it again in Python."""

    type = String()
    inherit_cache = True
    name = "utc_text"


@compiles(utc_text, "postgresql")
def _utc_text_postgresql(element: utc_text, compiler: SQLCompiler, **kw: Any) -> str:
    text = func.to_char(func.timezone("UTC", *element.clauses), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    return compiler.process(text, **kw)


@compiles(utc_text, "sqlite")
def _utc_text_sqlite(element: utc_text, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps our UTC timestamps as "YYYY-MM-DD HH:MM:SS.ffffff" text.
    return compiler.process(func.strftime("%Y-%m-%dT%H:%M:%SZ", *element.clauses), **kw)


@dataclass(frozen=True)
class Filter:
    """Whose rows an export reads: the organization's visible repositories, or the few named by `repo`."""

    scope: Scope
    period: Period
    repository_ids: tuple[int, ...] | None = None

    def where(self, org_id: Any, repository_id: Any, instant: Any) -> ColumnElement[bool]:
        condition = and_(
            org_id == self.scope.org_id,
            self.scope.visible(repository_id),
            instant >= self.period.start,
            instant < self.period.end,
        )
        if self.repository_ids is not None:
            condition = and_(condition, repository_id.in_(self.repository_ids))
        return condition


def _named(statement: Statement, repository_id: Any, workflow_id: Any) -> Statement:
    return statement.join(Repository, Repository.id == repository_id).join(
        Workflow, Workflow.id == workflow_id
    )


def _active() -> ColumnElement[bool]:
    # Rollup rows that a corrected delivery brought back to nothing are not activity.
    return or_(CIHourly.runs != 0, CIHourly.jobs != 0)


def hourly(where: Filter) -> Statement:
    """Runs and job costs per workflow and UTC hour, in hour order (the daily export groups local dates)."""
    statement = select(
        utc_text(CIHourly.hour),
        Repository.full_name,
        Workflow.name,
        CIHourly.workflow_id,
        CIHourly.runs,
        CIHourly.cost_nanos,
    )
    return (
        _named(statement, CIHourly.repository_id, CIHourly.workflow_id)
        .where(where.where(CIHourly.org_id, CIHourly.repository_id, CIHourly.hour), _active())
        .order_by(CIHourly.hour)
    )


def per_workflow(where: Filter) -> Statement:
    """Runs and job costs per workflow over the whole range."""
    statement = select(
        Repository.full_name,
        Workflow.name,
        func.sum(CIHourly.runs),
        func.sum(CIHourly.cost_nanos),
    )
    return (
        _named(statement, CIHourly.repository_id, CIHourly.workflow_id)
        .where(where.where(CIHourly.org_id, CIHourly.repository_id, CIHourly.hour), _active())
        .group_by(Repository.id, Repository.full_name, Workflow.id, Workflow.name)
        .order_by(Repository.full_name, Workflow.name, Workflow.id)
    )


def runs(where: Filter) -> Statement:
    """Runs created in the range, with the totals of all their attempts' jobs."""
    run = WorkflowRun
    statement = select(
        utc_text(run.created_at),
        Repository.full_name,
        Workflow.name,
        run.id,
        run.github_run_id,
        run.run_number,
        run.run_attempt,
        run.event,
        run.head_branch,
        run.actor_login,
        run.status,
        run.conclusion,
        utc_text(run.run_started_at),
        utc_text(run.completed_at),
        run.billable_minutes,
        run.cost_nanos,
        run.list_cost_nanos,
        run.unpriced_jobs,
    )
    return (
        _named(statement, run.repository_id, run.workflow_id)
        .where(where.where(run.org_id, run.repository_id, run.created_at))
        .order_by(run.created_at, run.id)
    )


def jobs(where: Filter) -> Statement:
    """Jobs that completed in the range: the ones billed in it."""
    job = WorkflowJob
    statement = select(
        utc_text(job.completed_at),
        Repository.full_name,
        Workflow.name,
        job.id,
        job.github_job_id,
        job.run_id,
        job.github_run_id,
        job.name,
        job.run_attempt,
        job.status,
        job.conclusion,
        utc_text(job.started_at),
        job.runner_name,
        job.runner_group_name,
        job.labels,
        job.sku,
        job.billable_minutes,
        job.unit_price_nanos,
        job.cost_nanos,
        job.list_cost_nanos,
        job.price_source,
        job.unpriced,
    )
    return (
        _named(statement, job.repository_id, job.workflow_id)
        .where(where.where(job.org_id, job.repository_id, job.completed_at), job.status == COMPLETED)
        .order_by(job.completed_at, job.id)
    )


async def count(session: AsyncSession, statement: Statement) -> int:
    counted = select(func.count()).select_from(statement.order_by(None).subquery())
    return int(await session.scalar(counted) or 0)
