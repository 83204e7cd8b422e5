"""Turn one stored delivery into state. Every handler converges: replays and late events change nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update

from cicosts.ci.deliveries import repository as repo_queries
from cicosts.ci.deliveries.context import DeliveryContext
from cicosts.ci.deliveries.contributions import (
    job_ci_contribution,
    job_ledger_contribution,
    record_ci,
    run_contribution,
)
from cicosts.ci.pricing import billable_minutes, price_job
from cicosts.ci.runners import match_runner
from cicosts.kit.periods import parse_github_time, utc_now
from cicosts.ledger.service import LEDGER
from cicosts.models import Installation, Organization, Repository, Workflow, WorkflowJob, WorkflowRun

JOB_STATUS_RANK = {"queued": 0, "waiting": 1, "pending": 1, "in_progress": 2, "completed": 3}
RUN_STATUS_RANK = {
    "requested": 0,
    "queued": 0,
    "pending": 0,
    "waiting": 1,
    "in_progress": 2,
    "completed": 3,
}
UNKNOWN_WORKFLOW = "(unknown workflow)"


class UnprocessableDelivery(ValueError):
    """The payload lacks what its event must carry; retrying will not help."""


def _require(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    if not isinstance(value, dict):
        raise UnprocessableDelivery(f"payload has no {key!r} object")
    return value


# --- workflow_job ---------------------------------------------------------------------------


async def handle_workflow_job(ctx: DeliveryContext, payload: dict[str, Any]) -> None:
    data = _require(payload, "workflow_job")
    repo_data = _require(payload, "repository")
    org = await ctx.organization(_require(repo_data, "owner"))
    repository = await ctx.repository(org, repo_data)
    job = await ctx.job(org.id, int(data["id"]))
    status = str(data.get("status") or "queued")
    if job is not None and JOB_STATUS_RANK.get(job.status, 0) > JOB_STATUS_RANK.get(status, 0):
        return  # a late event never undoes a later state
    if job is None:
        run = await _run_for_job(ctx, org, repository, data)
        workflow = await ctx.workflow(repository, str(data.get("workflow_name") or run.name))
        job = WorkflowJob(
            org_id=org.id,
            repository_id=repository.id,
            workflow_id=workflow.id,
            run=run,
            github_job_id=int(data["id"]),
            github_run_id=int(data["run_id"]),
        )
        ctx.add_job(job)
        old_ci = old_ledger = None
        old_totals = RunTotals()
    else:
        run = await _run_of(ctx, job)
        workflow = await ctx.workflow_by_id(job.workflow_id)
        old_ci = job_ci_contribution(job)
        old_ledger = job_ledger_contribution(job, repository, workflow)
        old_totals = RunTotals.of(job)
    await _describe_job(ctx, job, data, status, repository)
    record_ci(ctx, old_ci, job_ci_contribution(job))
    ctx.record(LEDGER, old_ledger, job_ledger_contribution(job, repository, workflow))
    RunTotals.of(job).minus(old_totals).add_to(run)


async def _run_of(ctx: DeliveryContext, job: WorkflowJob) -> WorkflowRun:
    run = await ctx.run(job.org_id, job.github_run_id)
    assert run is not None, "jobs reference their run by a foreign key"
    return run


@dataclass(frozen=True)
class RunTotals:
    """A job's share of its run's totals (a run's cost is the sum over all its attempts' jobs)."""

    billable_minutes: int = 0
    cost_nanos: int = 0
    list_cost_nanos: int = 0
    unpriced_jobs: int = 0

    @classmethod
    def of(cls, job: WorkflowJob) -> RunTotals:
        return cls(job.billable_minutes, job.cost_nanos, job.list_cost_nanos, int(job.unpriced))

    def minus(self, other: RunTotals) -> RunTotals:
        return RunTotals(
            self.billable_minutes - other.billable_minutes,
            self.cost_nanos - other.cost_nanos,
            self.list_cost_nanos - other.list_cost_nanos,
            self.unpriced_jobs - other.unpriced_jobs,
        )

    def add_to(self, run: WorkflowRun) -> None:
        """Safe in memory: the run's row is locked (or new) for the rest of the transaction."""
        if self == RunTotals():
            return
        run.billable_minutes += self.billable_minutes
        run.cost_nanos += self.cost_nanos
        run.list_cost_nanos += self.list_cost_nanos
        run.unpriced_jobs += self.unpriced_jobs


async def _run_for_job(
    ctx: DeliveryContext, org: Organization, repository: Repository, data: dict[str, Any]
) -> WorkflowRun:
    """The job's run; a stub when the job arrives first, completed by the run's own event later."""
    github_run_id = int(data["run_id"])
    run = await ctx.run(org.id, github_run_id)
    if run is not None:
        return run
    name = str(data.get("workflow_name") or UNKNOWN_WORKFLOW)
    workflow = await ctx.workflow(repository, name)
    created = (
        parse_github_time(data.get("created_at")) or parse_github_time(data.get("started_at")) or utc_now()
    )
    run = WorkflowRun(
        org_id=org.id,
        repository_id=repository.id,
        workflow_id=workflow.id,
        github_run_id=github_run_id,
        name=name,
        head_branch=data.get("head_branch"),
        head_sha=data.get("head_sha"),
        run_attempt=int(data.get("run_attempt") or 1),
        status="in_progress",
        created_at=created,
        described=False,
        billable_minutes=0,
        cost_nanos=0,
        list_cost_nanos=0,
        unpriced_jobs=0,
    )
    ctx.add_run(run)
    note_latest_run(workflow, run)
    record_ci(ctx, None, run_contribution(run))
    return run


def note_latest_run(workflow: Workflow, run: WorkflowRun) -> None:
    """Workflows remember their latest run, so lists can sort and filter by it without scanning runs."""
    if workflow.last_run_at is not None and run.created_at < workflow.last_run_at:
        return
    workflow.last_run_at = run.created_at
    workflow.last_run_status = run.conclusion or run.status


async def _describe_job(
    ctx: DeliveryContext,
    job: WorkflowJob,
    data: dict[str, Any],
    status: str,
    repository: Repository,
) -> None:
    job.name = str(data.get("name") or job.name or "")
    job.run_attempt = int(data.get("run_attempt") or 1)
    job.head_branch = data.get("head_branch")
    job.labels = [str(label) for label in data.get("labels") or []]
    job.runner_name = data.get("runner_name")
    job.runner_group_name = data.get("runner_group_name")
    job.status = status
    job.conclusion = data.get("conclusion")
    job.created_at = parse_github_time(data.get("created_at"))
    job.started_at = parse_github_time(data.get("started_at"))
    job.completed_at = parse_github_time(data.get("completed_at")) if status == "completed" else None
    job.updated_at = utc_now()
    await price_existing_job(ctx, job, repository)


async def price_existing_job(ctx: DeliveryContext, job: WorkflowJob, repository: Repository) -> None:
    """(Re)price a job from its facts with the organization's current rules and GitHub's price book."""
    label_rules, group_rules = await ctx.runner_rules(job.org_id)
    match = match_runner(job.labels, job.runner_group_name, label_rules, group_rules)
    job.sku = match.sku
    if job.completed_at is None:
        job.billable_minutes, job.cost_nanos, job.list_cost_nanos = 0, 0, 0
        job.unit_price_nanos, job.price_source, job.unpriced = None, None, False
        return
    price = price_job(
        match=match,
        minutes=billable_minutes(job.started_at, job.completed_at),
        completed_at=job.completed_at,
        private_repository=repository.private,
        prices=ctx.prices,
        self_hosted_nanos_per_minute=ctx.self_hosted_nanos_per_minute,
    )
    job.billable_minutes = price.billable_minutes
    job.unit_price_nanos = price.unit_price_nanos
    job.cost_nanos = price.cost_nanos
    job.list_cost_nanos = price.list_cost_nanos
    job.price_source = price.price_source
    job.unpriced = price.unpriced


# --- workflow_run ---------------------------------------------------------------------------


async def handle_workflow_run(ctx: DeliveryContext, payload: dict[str, Any]) -> None:
    data = _require(payload, "workflow_run")
    repo_data = _require(payload, "repository")
    org = await ctx.organization(_require(repo_data, "owner"))
    repository = await ctx.repository(org, repo_data)
    workflow_data = payload.get("workflow") if isinstance(payload.get("workflow"), dict) else {}
    assert isinstance(workflow_data, dict)
    # Some runs carry an empty name; the workflow object names it then.
    name = str(data.get("name") or workflow_data.get("name") or UNKNOWN_WORKFLOW)
    data = {**data, "name": name}
    workflow = await ctx.workflow(
        repository,
        name,
        path=data.get("path") or workflow_data.get("path"),
        github_workflow_id=data.get("workflow_id") or workflow_data.get("id"),
    )
    run = await ctx.run(org.id, int(data["id"]))
    old = run_contribution(run)
    if run is None:
        run = WorkflowRun(
            org_id=org.id,
            repository_id=repository.id,
            github_run_id=int(data["id"]),
            billable_minutes=0,
            cost_nanos=0,
            list_cost_nanos=0,
            unpriced_jobs=0,
            run_attempt=0,
            status="requested",
        )
        run.workflow_id = workflow.id
        _describe_run(run, data)
        ctx.add_run(run)
    else:
        run.workflow_id = workflow.id
        _describe_run(run, data)
    note_latest_run(workflow, run)
    record_ci(ctx, old, run_contribution(run))


def _describe_run(run: WorkflowRun, data: dict[str, Any]) -> None:
    run.name = str(data.get("name") or run.name or UNKNOWN_WORKFLOW)
    run.path = data.get("path") or run.path
    run.event = data.get("event") or run.event
    run.head_branch = data.get("head_branch") or run.head_branch
    run.head_sha = data.get("head_sha") or run.head_sha
    actor = data.get("triggering_actor") or data.get("actor") or {}
    run.actor_login = actor.get("login") or run.actor_login
    run.run_number = data.get("run_number") or run.run_number
    run.html_url = data.get("html_url") or run.html_url
    run.created_at = parse_github_time(data.get("created_at")) or run.created_at or utc_now()
    was_described = bool(run.described)
    run.described = True
    run.updated_at = utc_now()
    status = str(data.get("status") or "requested")
    attempt = int(data.get("run_attempt") or 1)
    incoming = (attempt, RUN_STATUS_RANK.get(status, 0))
    # A stub's attempt and status are guesses from a job: the run's own event always wins over them.
    current = (run.run_attempt or 0, RUN_STATUS_RANK.get(run.status, 0)) if was_described else (0, -1)
    if incoming < current:
        return  # a late event of an earlier state or attempt
    run.run_attempt = attempt
    run.status = status
    run.conclusion = data.get("conclusion") if status == "completed" else None
    run.run_started_at = parse_github_time(data.get("run_started_at")) or run.run_started_at
    run.completed_at = parse_github_time(data.get("updated_at")) if status == "completed" else None


# --- installation and installation_repositories ---------------------------------------------


async def handle_installation(ctx: DeliveryContext, payload: dict[str, Any]) -> None:
    data = _require(payload, "installation")
    org = await ctx.organization(_require(data, "account"))
    action = payload.get("action")
    installation = await repo_queries.installation(ctx.session, int(data["id"]))
    if installation is None:
        installation = Installation(github_installation_id=int(data["id"]), org_id=org.id)
        ctx.session.add(installation)
    installation.org_id = org.id
    installation.repository_selection = data.get("repository_selection")
    installation.permissions = dict(data.get("permissions") or {})
    installation.events = list(data.get("events") or [])
    installation.updated_at = utc_now()
    installation.status = {"deleted": "deleted", "suspend": "suspended"}.get(str(action), "active")
    await ctx.session.flush()
    if action == "deleted":
        await ctx.session.execute(
            update(Repository).where(Repository.org_id == org.id).values(installed=False)
        )
        ctx.forget_repositories()
        return
    for repo_data in payload.get("repositories") or []:
        await ctx.repository(org, repo_data, installed=True)


async def handle_installation_repositories(ctx: DeliveryContext, payload: dict[str, Any]) -> None:
    data = _require(payload, "installation")
    org = await ctx.organization(_require(data, "account"))
    for repo_data in payload.get("repositories_added") or []:
        await ctx.repository(org, repo_data, installed=True)
    for repo_data in payload.get("repositories_removed") or []:
        await ctx.repository(org, repo_data, installed=False)


Handler = Callable[[DeliveryContext, dict[str, Any]], Awaitable[None]]

HANDLERS: dict[str, Handler] = {
    "workflow_job": handle_workflow_job,
    "workflow_run": handle_workflow_run,
    "installation": handle_installation,
    "installation_repositories": handle_installation_repositories,
}
HANDLED_ACTIONS: dict[str, frozenset[str]] = {
    "workflow_job": frozenset({"queued", "waiting", "in_progress", "completed"}),
    "workflow_run": frozenset({"requested", "in_progress", "completed"}),
    "installation": frozenset({"created", "deleted", "suspend", "unsuspend", "new_permissions_accepted"}),
    "installation_repositories": frozenset({"added", "removed"}),
}


async def process_delivery(ctx: DeliveryContext, kind: str, payload: dict[str, Any]) -> bool:
    """Apply one delivery. Returns False when its event or action is not one we act on."""
    event, _, action = kind.partition(".")
    handler = HANDLERS.get(event)
    if handler is None or action not in HANDLED_ACTIONS[event]:
        return False
    await handler(ctx, payload)
    return True
