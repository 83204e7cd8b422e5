"""GET /v1/workflows: the public API's workflows (API key with `read` scope, or a member's token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cicosts.ci.costs.dependencies import Repo, Selected
from cicosts.ci.costs.endpoints import ERRORS
from cicosts.ci.workflows import service
from cicosts.ci.workflows.schemas import WorkflowDetail, WorkflowPage
from cicosts.db import TransactionalRoute
from cicosts.identity.dependencies import Session
from cicosts.kit.envelope import Envelope, envelope
from cicosts.kit.ids import MAX_PAGE, PathId

router = APIRouter(prefix="/v1/workflows", tags=["workflows"], route_class=TransactionalRoute)


@router.get("", responses=ERRORS)
async def workflows(
    session: Session,
    selected: Selected,
    repo: Repo = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Envelope[WorkflowPage]:
    """Workflows that ran in the range, most expensive first."""
    result = await service.workflow_page(session, selected, repo, page, per_page)
    return envelope(result, selected.dates.capped)


@router.get("/{workflow_id}", responses=ERRORS)
async def workflow(session: Session, selected: Selected, workflow_id: PathId) -> Envelope[WorkflowDetail]:
    """One workflow over the range: its figures, its most expensive jobs and its cost per day."""
    result = await service.workflow_detail(session, selected, workflow_id)
    return envelope(result, selected.dates.capped)
