"""API keys, personal settings, organization settings and members, runner mappings and re-pricing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity.service import ensure_user_with_organization
from cicosts.identity.tokens import create_access_token
from cicosts.kit.periods import utc_now
from cicosts.models import ApiKey, Job, Organization, User, WorkflowJob, WorkflowRun
from cicosts.worker.runner import Worker
from tests.helpers import (
    TestClient,
    account,
    at,
    job_event,
    member_token,
    next_id,
    raw_totals,
    repository,
    rollup_totals,
)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_api_keys_are_shown_once_stored_hashed_and_revocable(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    token, org_id = await member_token(sessionmaker, settings, "ada", "acme")
    created = await client.http.post(
        "/api/v1/settings/api-keys",
        params={"org_id": org_id},
        headers=auth(token),
        json={"name": "CI exporter", "scopes": ["read"]},
    )
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("sk_") and len(key) == 3 + 64 and created.json()["prefix"] == key[:11]
    listed = (await client.get("/api/v1/settings/api-keys", token, org_id=org_id)).json()
    assert [k["prefix"] for k in listed] == [key[:11]] and "key" not in listed[0]
    async with transaction(sessionmaker) as session:
        row = (await session.scalars(select(ApiKey))).one()
    assert key not in (row.key_hash, row.prefix) and len(row.key_hash) == 64 and row.last_used_at is None
    usage = await client.get("/api/v1/limits/usage", key, org_id=org_id)
    assert usage.status_code == 200
    async with transaction(sessionmaker) as session:
        assert (await session.scalars(select(ApiKey))).one().last_used_at is not None
    revoked = await client.http.delete(
        f"/api/v1/settings/api-keys/{row.id}", params={"org_id": org_id}, headers=auth(token)
    )
    assert revoked.status_code == 204
    after = await client.get("/api/v1/limits/usage", key, org_id=org_id)
    assert after.status_code == 401 and "revoked" in after.json()["detail"]
    bad_scope = await client.http.post(
        "/api/v1/settings/api-keys",
        params={"org_id": org_id},
        headers=auth(token),
        json={"name": "x", "scopes": ["admin"]},
    )
    assert bad_scope.status_code == 422 and "scopes" in bad_scope.json()["detail"]


async def test_user_settings_and_notifications(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    token, _ = await member_token(sessionmaker, settings, "ada", "acme")
    updated = await client.http.patch(
        "/api/v1/settings/user",
        headers=auth(token),
        json={"name": "Ada L.", "notification_email": "ada@example.com", "time_zone": "Europe/London"},
    )
    assert updated.status_code == 200
    assert (updated.json()["name"], updated.json()["time_zone"]) == ("Ada L.", "Europe/London")
    assert (await client.get("/api/v1/settings/user", token)).json()[
        "notification_email"
    ] == "ada@example.com"
    bad_email = await client.http.patch(
        "/api/v1/settings/user", headers=auth(token), json={"notification_email": "not-an-email"}
    )
    assert bad_email.status_code == 422 and "notification_email" in bad_email.json()["detail"]
    bad_zone = await client.http.patch(
        "/api/v1/settings/user", headers=auth(token), json={"time_zone": "Mars/Base"}
    )
    assert bad_zone.status_code == 422 and "Mars/Base" in bad_zone.json()["detail"]
    null_zone = await client.http.patch(
        "/api/v1/settings/user", headers=auth(token), json={"name": "Ada", "time_zone": None}
    )
    assert null_zone.status_code == 400 and "time_zone" in null_zone.json()["detail"]
    unchanged = (await client.get("/api/v1/settings/user", token)).json()
    assert (unchanged["name"], unchanged["time_zone"]) == ("Ada L.", "Europe/London")
    notifications = await client.http.patch(
        "/api/v1/settings/notifications",
        headers=auth(token),
        json={"notification_email": None, "weekly_digest_enabled": False},
    )
    assert notifications.json() == {
        "notification_email": None,
        "weekly_digest_enabled": False,
        "alert_emails_enabled": True,
    }
    orgs = (await client.get("/api/v1/settings/organizations", token)).json()
    assert [(o["github_org_slug"], o["role"]) for o in orgs] == [("acme", "owner")] and orgs[0]["joined_at"]


async def test_the_last_owner_cannot_leave_or_delete_their_account_while_others_remain(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    owner_token, org_id = await member_token(sessionmaker, settings, "olive", "acme")
    async with transaction(sessionmaker) as session:
        member, _ = await ensure_user_with_organization(session, "mo", "acme", role="member")
    member_token_ = create_access_token(member.id, settings)
    leave = await client.http.post(
        f"/api/v1/settings/organizations/{org_id}/leave", headers=auth(owner_token)
    )
    assert leave.status_code == 400 and "last owner" in leave.json()["detail"]
    delete = await client.http.delete("/api/v1/settings/account", headers=auth(owner_token))
    assert delete.status_code == 400 and "last owner" in delete.json()["detail"]
    assert (
        await client.http.post(f"/api/v1/settings/organizations/{org_id}/leave", headers=auth(member_token_))
    ).status_code == 204
    assert (
        await client.http.delete("/api/v1/settings/account", headers=auth(owner_token))
    ).status_code == 204
    assert (await client.get("/api/v1/auth/me", owner_token)).status_code == 401
    async with transaction(sessionmaker) as session:
        user = await session.scalar(select(User).where(User.github_login == "olive"))
        erase = await session.scalar(select(Job).where(Job.kind == "erase_user"))
    assert user is not None and user.deleted_at is not None
    assert erase is not None and erase.run_at > utc_now() + timedelta(days=29)


async def test_ownership_transfer_and_member_roles(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    owner_token, org_id = await member_token(sessionmaker, settings, "olive", "acme")
    async with transaction(sessionmaker) as session:
        member, _ = await ensure_user_with_organization(session, "mo", "acme", role="member")
    promote = await client.http.patch(
        f"/api/v1/settings/members/{member.id}",
        params={"org_id": org_id},
        headers=auth(owner_token),
        json={"role": "owner"},
    )
    assert promote.status_code == 422  # owners are made by transfer only
    transfer = await client.http.post(
        "/api/v1/settings/org/transfer",
        params={"org_id": org_id},
        headers=auth(owner_token),
        json={"user_id": member.id},
    )
    assert transfer.status_code == 204
    members = (await client.get("/api/v1/settings/members", owner_token, org_id=org_id)).json()
    assert {m["github_login"]: m["role"] for m in members} == {"olive": "admin", "mo": "owner"}
    remove_owner = await client.http.delete(
        f"/api/v1/settings/members/{member.id}", params={"org_id": org_id}, headers=auth(owner_token)
    )
    assert remove_owner.status_code == 400


async def test_changing_a_runner_mapping_reprices_new_jobs_and_with_reprice_the_history(
    client: TestClient, worker: Worker, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    repo = repository("svc", private=True, repo_id=4040, owner=account("acme", 77))
    run_id, job_id = next_id(), next_id()
    await client.deliver(
        "workflow_job",
        job_event(
            "completed",
            job_id=job_id,
            run_id=run_id,
            started=at("2026-02-03T10:00:00"),
            seconds=600,
            labels=["big-box"],
            repo=repo,
            runner_group="Large",
        ),
    )
    await worker.drain()
    token, org_id = await member_token(sessionmaker, settings, "ada", "acme")
    async with transaction(sessionmaker) as session:
        job = (await session.scalars(select(WorkflowJob))).one()
    assert job.unpriced
    bad = await client.http.post(
        "/api/v1/settings/runner-mappings",
        params={"org_id": org_id},
        headers=auth(token),
        json={"match_kind": "label", "match_value": "big-box", "sku": "linux_9000"},
    )
    assert bad.status_code == 400 and "linux_9000" in bad.json()["detail"]
    both = await client.http.post(
        "/api/v1/settings/runner-mappings",
        params={"org_id": org_id},
        headers=auth(token),
        json={"match_kind": "label", "match_value": "big-box"},
    )
    assert both.status_code == 422
    created = await client.http.post(
        "/api/v1/settings/runner-mappings",
        params={"org_id": org_id, "reprice": "true"},
        headers=auth(token),
        json={"match_kind": "label", "match_value": "big-box", "sku": "linux_8_core"},
    )
    assert created.status_code == 201 and created.json()["repricing"] is True
    duplicate = await client.http.post(
        "/api/v1/settings/runner-mappings",
        params={"org_id": org_id},
        headers=auth(token),
        json={"match_kind": "label", "match_value": "big-box", "usd_per_minute": "0.5"},
    )
    assert duplicate.status_code == 409
    await worker.drain()
    async with transaction(sessionmaker) as session:
        job = (await session.scalars(select(WorkflowJob))).one()
        run = (await session.scalars(select(WorkflowRun))).one()
        raw = await raw_totals(session)
        ci, ledger = await rollup_totals(session)
    assert (job.unpriced, job.sku, job.cost_nanos) == (False, "linux_8_core", 10 * 22_000_000)
    assert run.cost_nanos == 10 * 22_000_000 and run.unpriced_jobs == 0
    assert ci == raw and ledger == raw and raw.unpriced == 0
    custom = await client.http.put(
        f"/api/v1/settings/runner-mappings/{created.json()['id']}",
        params={"org_id": org_id, "reprice": "true"},
        headers=auth(token),
        json={"match_kind": "label", "match_value": "big-box", "usd_per_minute": "0.015"},
    )
    assert custom.status_code == 200 and custom.json()["usd_per_minute"] == "0.015"
    await worker.drain()
    async with transaction(sessionmaker) as session:
        job = (await session.scalars(select(WorkflowJob))).one()
    assert (job.cost_nanos, job.price_source) == (10 * 15_000_000, "org_custom_rate")


async def test_a_deleted_account_is_erased_by_the_worker_thirty_days_later(
    client: TestClient, worker: Worker, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    token, org_id = await member_token(sessionmaker, settings, "gone", "gone")
    assert (await client.http.delete("/api/v1/settings/account", headers=auth(token))).status_code == 204
    assert await worker.drain() == 0  # not due yet
    async with transaction(sessionmaker) as session:
        await session.execute(update(Job).where(Job.kind == "erase_user").values(run_at=utc_now()))
    assert await worker.drain() == 1
    async with transaction(sessionmaker) as session:
        assert await session.scalar(select(User).where(User.github_login == "gone")) is None
        assert await session.get(Organization, org_id) is None  # only they belonged to it
        assert (await session.scalar(select(Job.status).where(Job.kind == "erase_user"))) == "done"
