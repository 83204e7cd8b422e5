"""What processing a batch of deliveries shares inside one transaction.

The batch's runs and jobs are read up front, locked (FOR UPDATE on PostgreSQL), and kept here; handlers
change them in memory, and `finish` writes every change and every rollup delta in a few statements.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.ci.deliveries import repository as queries
from cicosts.ci.pricing import PriceBook
from cicosts.ci.runners import OrgRunnerRule
from cicosts.identity.service import ensure_github_account
from cicosts.ledger.rollups import Contribution, Rollup, RollupBuffer
from cicosts.models import Organization, Repository, Workflow, WorkflowJob, WorkflowRun

RunnerRules = tuple[dict[str, OrgRunnerRule], dict[str, OrgRunnerRule]]


@dataclass
class DeliveryContext:
    session: AsyncSession
    prices: PriceBook
    self_hosted_nanos_per_minute: int
    rollups: RollupBuffer = field(default_factory=RollupBuffer)
    _organizations: dict[int, Organization] = field(default_factory=dict)
    _repositories: dict[int, Repository] = field(default_factory=dict)
    _workflows: dict[tuple[int, str], Workflow] = field(default_factory=dict)
    _workflows_by_id: dict[int, Workflow] = field(default_factory=dict)
    _runs: dict[tuple[int, int], WorkflowRun | None] = field(default_factory=dict)
    _jobs: dict[tuple[int, int], WorkflowJob | None] = field(default_factory=dict)
    _rules: dict[int, RunnerRules] = field(default_factory=dict)

    @property
    def organization_ids(self) -> set[int]:
        """The organizations this batch touched (their costs may have changed)."""
        return {org.id for org in self._organizations.values()}

    def record(self, rollup: Rollup, old: Contribution | None, new: Contribution | None) -> None:
        self.rollups.add(rollup, old, new)

    async def finish(self) -> None:
        await self.session.flush()
        await self.rollups.flush(self.session)

    # --- accounts, repositories, workflows ---------------------------------------------------

    async def organization(self, account: dict[str, Any]) -> Organization:
        account_id = int(account["id"])
        if account_id not in self._organizations:
            self._organizations[account_id] = await ensure_github_account(self.session, account)
        return self._organizations[account_id]

    async def repository(
        self, org: Organization, data: dict[str, Any], installed: bool | None = None
    ) -> Repository:
        github_id = int(data["id"])
        repository = self._repositories.get(github_id)
        if repository is None:
            repository = await queries.repository_by_github_id(self.session, github_id)
        if repository is None:
            repository = Repository(
                github_repository_id=github_id,
                org_id=org.id,
                name=str(data.get("name") or str(data["full_name"]).split("/")[-1]),
                full_name=str(data["full_name"]),
                private=bool(data.get("private", True)),
                installed=True if installed is None else installed,
            )
            self.session.add(repository)
            await self.session.flush()
        else:
            _describe_repository(repository, org, data, installed)
        self._repositories[github_id] = repository
        return repository

    def forget_repositories(self) -> None:
        self._repositories.clear()

    async def workflow(
        self,
        repository: Repository,
        name: str,
        path: str | None = None,
        github_workflow_id: int | None = None,
    ) -> Workflow:
        key = (repository.id, name)
        workflow = self._workflows.get(key)
        if workflow is None:
            workflow = await queries.workflow_by_name(self.session, repository.id, name)
        if workflow is None:
            workflow = Workflow(org_id=repository.org_id, repository_id=repository.id, name=name)
            self.session.add(workflow)
            await self.session.flush()
        if path and workflow.path != path:
            workflow.path = path
        if github_workflow_id and workflow.github_workflow_id != github_workflow_id:
            workflow.github_workflow_id = github_workflow_id
        self._workflows[key] = workflow
        self._workflows_by_id[workflow.id] = workflow
        return workflow

    async def workflow_by_id(self, workflow_id: int) -> Workflow:
        workflow = self._workflows_by_id.get(workflow_id)
        if workflow is None:
            workflow = await self.session.get(Workflow, workflow_id)
            assert workflow is not None, "jobs reference their workflow by a foreign key"
            self._workflows_by_id[workflow_id] = workflow
        return workflow

    async def runner_rules(self, org_id: int) -> RunnerRules:
        if org_id not in self._rules:
            self._rules[org_id] = await queries.runner_rules(self.session, org_id)
        return self._rules[org_id]

    # --- runs and jobs -------------------------------------------------------------------------

    async def prefetch(self, payloads: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Read and lock, in two queries per organization, every run and job the batch names."""
        run_ids: dict[int, set[int]] = {}
        job_ids: dict[int, set[int]] = {}
        workflow_names: dict[int, set[str]] = {}
        repository_ids: set[int] = set()
        for event, payload in payloads:
            try:
                org = await self.organization(payload["repository"]["owner"])
                repository_ids.add(int(payload["repository"]["id"]))
                if event == "workflow_job":
                    job_ids.setdefault(org.id, set()).add(int(payload["workflow_job"]["id"]))
                    run_ids.setdefault(org.id, set()).add(int(payload["workflow_job"]["run_id"]))
                    name = payload["workflow_job"].get("workflow_name")
                elif event == "workflow_run":
                    run_ids.setdefault(org.id, set()).add(int(payload["workflow_run"]["id"]))
                    name = payload["workflow_run"].get("name")
                else:
                    continue
                if isinstance(name, str):
                    workflow_names.setdefault(org.id, set()).add(name)
            except (KeyError, TypeError, ValueError, AttributeError):
                continue  # the handler reports what is wrong with this payload
        if repository_ids:
            for repository in await queries.repositories_by_github_ids(self.session, repository_ids):
                self._repositories[repository.github_repository_id] = repository
        for org_id, names in workflow_names.items():
            for workflow in await queries.workflows_named(self.session, org_id, names):
                self._workflows[(workflow.repository_id, workflow.name)] = workflow
                self._workflows_by_id[workflow.id] = workflow
        for org_id, ids in run_ids.items():
            self._runs.update(dict.fromkeys(((org_id, i) for i in ids), None))
            for run in await queries.runs_for_update(self.session, org_id, ids):
                self._runs[(org_id, run.github_run_id)] = run
        for org_id, ids in job_ids.items():
            self._jobs.update(dict.fromkeys(((org_id, i) for i in ids), None))
            for job in await queries.jobs_for_update(self.session, org_id, ids):
                self._jobs[(org_id, job.github_job_id)] = job

    async def run(self, org_id: int, github_run_id: int) -> WorkflowRun | None:
        key = (org_id, github_run_id)
        if key not in self._runs:
            found = await queries.runs_for_update(self.session, org_id, [github_run_id])
            self._runs[key] = found[0] if found else None
        return self._runs[key]

    async def job(self, org_id: int, github_job_id: int) -> WorkflowJob | None:
        key = (org_id, github_job_id)
        if key not in self._jobs:
            found = await queries.jobs_for_update(self.session, org_id, [github_job_id])
            self._jobs[key] = found[0] if found else None
        return self._jobs[key]

    def add_run(self, run: WorkflowRun) -> None:
        self.session.add(run)
        self._runs[(run.org_id, run.github_run_id)] = run

    def add_job(self, job: WorkflowJob) -> None:
        self.session.add(job)
        self._jobs[(job.org_id, job.github_job_id)] = job


def _describe_repository(
    repository: Repository, org: Organization, data: dict[str, Any], installed: bool | None
) -> None:
    repository.org_id = org.id
    repository.full_name = str(data.get("full_name") or repository.full_name)
    repository.name = str(data.get("name") or repository.name)
    if "private" in data:
        repository.private = bool(data["private"])
    if installed is not None:
        repository.installed = installed
