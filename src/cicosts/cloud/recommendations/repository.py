"""What rightsizing reads: an organization's utilization samples and its instances' billed cost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.kit.periods import Period
from cicosts.models import CloudCostRow, CloudMetricSample

COMPUTE = "Compute"
INSTANCE_TYPES = ("instance", "virtual machine", "virtual machines", "vm")
SAMPLES_AT_ONCE = 10_000


async def samples(session: AsyncSession, org_id: int, window: Period) -> AsyncIterator[Any]:
    """The window's samples by resource, metric and time, streamed."""
    s = CloudMetricSample
    statement = (
        select(
            s.resource_id, s.metric, s.timestamp, s.instance_type, s.region, s.average_milli, s.maximum_milli
        )
        .where(s.org_id == org_id, s.timestamp >= window.start, s.timestamp < window.end)
        .order_by(s.resource_id, s.metric, s.timestamp)
        .execution_options(yield_per=SAMPLES_AT_ONCE)
    )
    result = await session.stream(statement)
    async for row in result:
        yield row


def _instance(row: type[CloudCostRow]) -> Any:
    """A compute instance: typed as one, or an EC2 instance id (bare or at the end of its ARN)."""
    return or_(
        func.lower(row.resource_type).in_(INSTANCE_TYPES),
        row.resource_id.like("i-%"),
        row.resource_id.like("%:instance/i-%"),
    )


async def billed_instances(session: AsyncSession, org_id: int, window: Period) -> list[Any]:
    """Per compute instance and currency, the cost billed for charge periods starting in the window."""
    r = CloudCostRow
    statement = (
        select(
            r.resource_id,
            r.billing_currency,
            func.sum(r.billed_nanos).label("billed"),
            func.min(r.charge_period_start).label("first_charge"),
            func.max(r.resource_name).label("name"),
            func.max(r.region_id).label("region"),
            func.max(r.charge_description).label("description"),
        )
        .where(
            r.org_id == org_id,
            r.usage_date >= window.start.date(),
            r.usage_date <= window.end.date(),
            r.charge_period_start >= window.start,
            r.charge_period_start < window.end,
            r.service_category == COMPUTE,
            r.resource_id.is_not(None),
            _instance(r),
        )
        .group_by(r.resource_id, r.billing_currency)
    )
    return list((await session.execute(statement)).all())


async def billed_until(session: AsyncSession, org_id: int, window: Period) -> datetime | None:
    """How far the organization's billing data reaches into the window (bills lag usage by a day or so)."""
    r = CloudCostRow
    statement = select(func.max(r.charge_period_end)).where(
        r.org_id == org_id,
        r.usage_date >= window.start.date(),
        r.usage_date <= window.end.date(),
        r.charge_period_start >= window.start,
        r.charge_period_start < window.end,
    )
    found: datetime | None = await session.scalar(statement)
    return found
