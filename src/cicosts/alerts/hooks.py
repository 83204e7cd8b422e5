"""The one call a source of costs makes after writing them: `costs_landed`, which asks for an evaluation.

It enqueues at most one evaluation per organization and minute (`landed:<org>:<minute>`), run when that minute
is over, so a burst of deliveries or LLM batches is evaluated once. A process looks at an organization once a
minute (does it have an enabled alert? then enqueue), so most calls cost nothing; an alert created during that
minute is evaluated by the next minute's costs or the 5-minute schedule.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.alerts import repository
from cicosts.kit.periods import utc_now
from cicosts.worker import queue

ALERTS_QUEUE = "alerts"
EVALUATE, DIGEST = "evaluate", "digest"
DEBOUNCE = timedelta(minutes=1)

# Per database engine: organization id -> the minute an evaluation was last enqueued for it by this process.
_landed: weakref.WeakKeyDictionary[Engine, dict[int, datetime]] = weakref.WeakKeyDictionary()


def slot(now: datetime, length: timedelta) -> datetime:
    """The start of the `length`-long slot of UTC time that `now` falls in."""
    seconds = int(length.total_seconds())
    return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=now.tzinfo)


async def costs_landed(session: AsyncSession, org_ids: Iterable[int]) -> None:
    """Costs of these organizations changed in the session's transaction: evaluate their alerts soon."""
    now = utc_now()
    minute = slot(now, DEBOUNCE)
    seen = _landed.setdefault(session.get_bind(), {})  # type: ignore[arg-type]
    for org_id in org_ids:
        if seen.get(org_id) == minute:
            continue
        # Remembered before the caller's transaction commits (the caller owns it). If it rolls back, the costs
        # that asked for this evaluation are gone too; costs landing again within the minute are then left to
        # the 5-minute scheduled evaluation, which still sees them.
        seen[org_id] = minute
        if not await repository.has_enabled_alerts(session, org_id):
            continue
        await queue.enqueue(
            session,
            queue=ALERTS_QUEUE,
            kind=EVALUATE,
            dedupe_key=f"landed:{org_id}:{minute:%Y%m%dT%H%M}",
            payload=json.dumps({"org_id": org_id}),
            run_at=minute + DEBOUNCE,
        )
