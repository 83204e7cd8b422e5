"""Issue, list, verify and revoke API keys. A key is shown once; only its SHA-256 and prefix are kept."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.errors import NotFound, Unauthorized
from cicosts.kit.periods import as_utc, utc_now
from cicosts.models import ApiKey

API_KEY_PREFIX = "sk_"
SHOWN_PREFIX_LENGTH = 11  # "sk_" and 8 hex characters: enough to tell keys apart, useless to an attacker
# "Last used" is shown to the minute; writing it on every request would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_api_key(
    session: AsyncSession,
    *,
    org_id: int,
    name: str,
    scopes: list[str],
    created_by: int | None,
    project_id: int | None = None,
) -> tuple[ApiKey, str]:
    """The new key row and the key itself, which is never stored and never shown again."""
    key = API_KEY_PREFIX + secrets.token_hex(32)
    row = ApiKey(
        org_id=org_id,
        project_id=project_id,
        name=name,
        prefix=key[:SHOWN_PREFIX_LENGTH],
        key_hash=hash_key(key),
        scopes=sorted(set(scopes)),
        created_by=created_by,
    )
    session.add(row)
    await session.flush()
    return row, key


async def verify_api_key(session: AsyncSession, key: str) -> ApiKey:
    # Looked up by its hash: equal hashes are the only match, so no comparison leaks timing about the key.
    row = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if row is None or row.revoked_at is not None:
        raise Unauthorized("API key is invalid or revoked")
    now = utc_now()
    if row.last_used_at is None or now - as_utc(row.last_used_at) >= LAST_USED_RESOLUTION:
        row.last_used_at = now
    return row


async def list_api_keys(session: AsyncSession, org_id: int) -> list[ApiKey]:
    return list(
        await session.scalars(
            select(ApiKey).where(ApiKey.org_id == org_id, ApiKey.revoked_at.is_(None)).order_by(ApiKey.id)
        )
    )


async def revoke_api_key(session: AsyncSession, org_id: int, key_id: int) -> None:
    row = await session.scalar(select(ApiKey).where(ApiKey.org_id == org_id, ApiKey.id == key_id))
    if row is None or row.revoked_at is not None:
        raise NotFound(f"API key {key_id} not found")
    row.revoked_at = utc_now()


async def revoke_keys_created_by(session: AsyncSession, user_id: int) -> None:
    await session.execute(
        update(ApiKey)
        .where(ApiKey.created_by == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )
