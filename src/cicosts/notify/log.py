"""The delivery log: one row per attempt to send a notification, written with the attempt's outcome."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.models import NotificationDelivery

MAX_TARGET, MAX_ERROR = 500, 2000


async def record(
    session: AsyncSession,
    *,
    job_id: int,
    attempt: int,
    channel: str,
    target: str,
    org_id: int | None,
    reference: str | None,
    status: str,
    status_code: int | None = None,
    error: str | None = None,
    duration_ms: int = 0,
) -> None:
    session.add(
        NotificationDelivery(
            job_id=job_id,
            attempt=attempt,
            channel=channel,
            target=target[:MAX_TARGET],
            org_id=org_id,
            reference=reference,
            status=status,
            status_code=status_code,
            error=error[:MAX_ERROR] if error else None,
            duration_ms=duration_ms,
        )
    )
    await session.flush()


async def deliveries(
    session: AsyncSession, org_id: int, reference_prefix: str, limit: int, offset: int
) -> tuple[list[NotificationDelivery], int]:
    """An organization's attempts whose reference starts with `reference_prefix`, newest first."""
    where = (
        NotificationDelivery.org_id == org_id,
        NotificationDelivery.reference.startswith(reference_prefix, autoescape=True),
    )
    total = await session.scalar(select(func.count()).select_from(NotificationDelivery).where(*where))
    rows = await session.scalars(
        select(NotificationDelivery)
        .where(*where)
        .order_by(NotificationDelivery.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)
