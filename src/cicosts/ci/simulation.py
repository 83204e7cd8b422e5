"""Realistic GitHub Actions deliveries: the demo organization, `simulate-webhooks` and benchmarks use them.

Payloads have the shape GitHub sends (only the fields CICosts reads, plus a few for realism).
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

ISO = "%Y-%m-%dT%H:%M:%SZ"


def github_time(value: datetime) -> str:
    return value.strftime(ISO)


@dataclass(frozen=True)
class Account:
    id: int
    login: str
    type: str = "Organization"

    def payload(self) -> dict[str, Any]:
        return {"id": self.id, "login": self.login, "type": self.type}


@dataclass(frozen=True)
class Repo:
    id: int
    name: str
    owner: Account
    private: bool

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "full_name": f"{self.owner.login}/{self.name}",
            "private": self.private,
            "owner": self.owner.payload(),
        }


@dataclass(frozen=True)
class JobSpec:
    name: str
    labels: tuple[str, ...]
    mean_minutes: float
    runner_group: str = "GitHub Actions"


@dataclass(frozen=True)
class WorkflowSpec:
    id: int
    name: str
    path: str
    repo: Repo
    jobs: tuple[JobSpec, ...]
    runs_per_day: float
    event: str = "push"


@dataclass(frozen=True)
class Delivery:
    event: str
    delivery_id: str
    payload: dict[str, Any]


def workflow_run_payload(
    spec: WorkflowSpec,
    run_id: int,
    run_number: int,
    attempt: int,
    action: str,
    created: datetime,
    started: datetime,
    updated: datetime,
    conclusion: str | None,
    actor: str = "octocat",
    branch: str = "main",
) -> dict[str, Any]:
    status = {"requested": "queued", "in_progress": "in_progress", "completed": "completed"}[action]
    return {
        "action": action,
        "workflow_run": {
            "id": run_id,
            "name": spec.name,
            "path": spec.path,
            "workflow_id": spec.id,
            "event": spec.event,
            "head_branch": branch,
            "head_sha": uuid.UUID(int=run_id).hex[:40].ljust(40, "0"),
            "run_number": run_number,
            "run_attempt": attempt,
            "status": status,
            "conclusion": conclusion if action == "completed" else None,
            "created_at": github_time(created),
            "run_started_at": github_time(started),
            "updated_at": github_time(updated),
            "html_url": f"https://github.com/{spec.repo.owner.login}/{spec.repo.name}/actions/runs/{run_id}",
            "actor": {"login": actor},
            "triggering_actor": {"login": actor},
        },
        "workflow": {"id": spec.id, "name": spec.name, "path": spec.path},
        "repository": spec.repo.payload(),
        "organization": {"login": spec.repo.owner.login, "id": spec.repo.owner.id},
        "sender": {"login": actor},
    }


def workflow_job_payload(
    spec: WorkflowSpec,
    job: JobSpec,
    job_id: int,
    run_id: int,
    attempt: int,
    action: str,
    created: datetime,
    started: datetime | None,
    completed: datetime | None,
    conclusion: str | None,
    runner_name: str | None = None,
    branch: str = "main",
) -> dict[str, Any]:
    return {
        "action": action,
        "workflow_job": {
            "id": job_id,
            "run_id": run_id,
            "run_attempt": attempt,
            "workflow_name": spec.name,
            "head_branch": branch,
            "name": job.name,
            "status": action,
            "conclusion": conclusion if action == "completed" else None,
            "created_at": github_time(created),
            "started_at": github_time(started or created),
            "completed_at": github_time(completed) if completed and action == "completed" else None,
            "labels": list(job.labels),
            "runner_name": runner_name if action != "queued" else None,
            "runner_group_name": job.runner_group if action != "queued" else None,
            "steps": [],
        },
        "repository": spec.repo.payload(),
        "sender": {"login": "octocat"},
    }


@dataclass
class Scenario:
    """A seeded stream of runs of the given workflows, each with its jobs, failures and re-runs."""

    workflows: list[WorkflowSpec]
    seed: int = 42
    failure_rate: float = 0.10
    cancel_rate: float = 0.04
    rerun_rate: float = 0.5
    job_events: tuple[str, ...] = ("queued", "in_progress", "completed")
    _next_id: int = field(default=5_000_000_000, init=False)

    def reseed_ids(self, base: int) -> None:
        """Start ids elsewhere, so that several simulations against one server never collide."""
        self._next_id = base

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def runs_between(self, start: datetime, end: datetime) -> Iterator[Delivery]:
        rng = random.Random(self.seed)
        run_numbers = dict.fromkeys((w.id for w in self.workflows), 0)
        day = start
        while day < end:
            weekend = day.weekday() >= 5
            for spec in self.workflows:
                expected = spec.runs_per_day * (0.3 if weekend else 1.0)
                for _ in range(_poisson(rng, expected)):
                    created = day + timedelta(seconds=rng.randrange(86_400))
                    if created >= end:
                        continue
                    run_numbers[spec.id] += 1
                    yield from self.one_run(rng, spec, run_numbers[spec.id], created, end)
            day += timedelta(days=1)

    def one_run(
        self,
        rng: random.Random,
        spec: WorkflowSpec,
        run_number: int,
        created: datetime,
        end: datetime,
    ) -> Iterator[Delivery]:
        run_id = self._id()
        attempt = 1
        started = created + timedelta(seconds=rng.randint(2, 40))
        while True:
            roll = rng.random()
            conclusion = (
                "failure"
                if roll < self.failure_rate
                else "cancelled"
                if roll < self.failure_rate + self.cancel_rate
                else "success"
            )
            yield self._delivery(
                "workflow_run",
                workflow_run_payload(
                    spec, run_id, run_number, attempt, "requested", created, started, started, None
                ),
            )
            finished = started
            for index, job in enumerate(spec.jobs):
                job_start = started + timedelta(seconds=rng.randint(3, 90))
                minutes = max(rng.lognormvariate(math.log(job.mean_minutes), 0.35), 0.05)
                if conclusion == "cancelled" and index == len(spec.jobs) - 1:
                    minutes *= rng.random()
                job_end = job_start + timedelta(seconds=int(minutes * 60))
                if job_end >= end:
                    continue
                finished = max(finished, job_end)
                job_conclusion = conclusion if index == len(spec.jobs) - 1 else "success"
                job_id = self._id()
                for action in self.job_events:
                    yield self._delivery(
                        "workflow_job",
                        workflow_job_payload(
                            spec,
                            job,
                            job_id,
                            run_id,
                            attempt,
                            action,
                            started,
                            job_start,
                            job_end,
                            job_conclusion,
                            runner_name=f"runner-{rng.randint(1, 40)}",
                        ),
                    )
            yield self._delivery(
                "workflow_run",
                workflow_run_payload(
                    spec,
                    run_id,
                    run_number,
                    attempt,
                    "completed",
                    created,
                    started,
                    finished,
                    conclusion,
                ),
            )
            if conclusion != "failure" or attempt > 1 or rng.random() > self.rerun_rate:
                return
            attempt += 1
            started = finished + timedelta(minutes=rng.randint(2, 60))
            if started >= end:
                return

    def _delivery(self, event: str, payload: dict[str, Any]) -> Delivery:
        return Delivery(event, str(uuid.UUID(int=self._id() << 64 | 0xDE11)), payload)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
