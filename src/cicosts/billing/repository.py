"""Queries for subscriptions and received Stripe events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.kit.periods import utc_now
from cicosts.kit.upsert import insert_for
from cicosts.models import StripeEvent, Subscription


async def subscription_of_org(
    session: AsyncSession, org_id: int, *, lock: bool = True
) -> Subscription | None:
    """Locked for the rest of the transaction (PostgreSQL) unless only read, so writers queue up."""
    statement = select(Subscription).where(Subscription.org_id == org_id)
    return await session.scalar(statement.with_for_update() if lock else statement)


async def subscription_by_stripe_id(session: AsyncSession, subscription_id: str) -> Subscription | None:
    return await session.scalar(
        select(Subscription)
        .where(Subscription.stripe_subscription_id == subscription_id)
        .order_by(Subscription.id)
        .limit(1)
        .with_for_update()
    )


async def subscription_by_customer(session: AsyncSession, customer_id: str) -> Subscription | None:
    return await session.scalar(
        select(Subscription).where(Subscription.stripe_customer_id == customer_id).with_for_update()
    )


def add_subscription(session: AsyncSession, org_id: int) -> Subscription:
    subscription = Subscription(org_id=org_id, tier="free", cancel_at_period_end=False)
    session.add(subscription)
    return subscription


async def store_event_once(
    session: AsyncSession, *, event_id: str, event_type: str, created: datetime, payload: str, outcome: str
) -> bool:
    """Insert the raw event unless its id was stored before; False for a replay."""
    table: Table = StripeEvent.__table__  # type: ignore[assignment]
    statement = (
        insert_for(session, table)
        .values(
            id=event_id,
            type=event_type,
            created=created,
            payload=payload,
            outcome=outcome,
            attempts=1,
            received_at=utc_now(),
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def event_for_update(session: AsyncSession, event_id: str) -> StripeEvent | None:
    return await session.scalar(select(StripeEvent).where(StripeEvent.id == event_id).with_for_update())
