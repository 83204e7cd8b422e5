"""POST /v1/cloud/metrics: a batch of utilization samples (an admin's token), stored once per
(resource, metric, timestamp)."""

from __future__ import annotations

from fastapi import APIRouter

from cicosts.cloud.dependencies import CloudAdmin
from cicosts.cloud.metrics import service
from cicosts.cloud.metrics.schemas import MetricsBatch, MetricsResult
from cicosts.db import TransactionalRoute
from cicosts.identity.dependencies import Session
from cicosts.kit.envelope import Envelope, envelope
from cicosts.kit.periods import utc_now

router = APIRouter(prefix="/v1/cloud", tags=["cloud"], route_class=TransactionalRoute)
ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "No or invalid credentials"},
    403: {"description": "Not an admin of the organization"},
    404: {"description": "Unknown organization"},
    422: {"description": "A malformed sample (the detail names its index and field); nothing is stored"},
}


@router.post("/metrics", responses=ERRORS)
async def send_metrics(session: Session, access: CloudAdmin, batch: MetricsBatch) -> Envelope[MetricsResult]:
    """Up to 10,000 samples (5-minute or hourly CPU and memory datapoints); resending one updates it."""
    stored = await service.store_samples(session, access.organization.id, batch.samples, utc_now())
    return envelope(MetricsResult(received=len(batch.samples), stored=stored))
