"""Queries for custom prices, and the projects they may be set for."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.models import LLMCustomPrice, LLMProject


async def project_of_org(session: AsyncSession, org_id: int, project_id: int) -> LLMProject | None:
    project = await session.get(LLMProject, project_id)
    return project if project is not None and project.org_id == org_id else None


async def custom_prices(
    session: AsyncSession, org_id: int, project_id: int | None, *, every_project: bool = False
) -> list[LLMCustomPrice]:
    """The organization's own prices and `project_id`'s (or every project's), oldest start first."""
    statement = select(LLMCustomPrice).where(LLMCustomPrice.org_id == org_id)
    if not every_project:
        statement = statement.where(_applying_to(project_id))
    statement = statement.order_by(LLMCustomPrice.effective_from, LLMCustomPrice.id)
    return list(await session.scalars(statement))


async def custom_prices_for_model(
    session: AsyncSession, org_id: int, project_id: int | None, model: str
) -> list[LLMCustomPrice]:
    """Prices set for `model` (named in any case, as the price book matches them).

    Compared in Python: SQLite's lower() folds ASCII only, so "É" and "é" would differ there but not in the
    price book. An organization has few custom prices.
    """
    statement = (
        select(LLMCustomPrice)
        .where(LLMCustomPrice.org_id == org_id, _applying_to(project_id))
        .order_by(LLMCustomPrice.effective_from, LLMCustomPrice.id)
    )
    wanted = model.lower()
    return [row for row in await session.scalars(statement) if row.model.lower() == wanted]


def _applying_to(project_id: int | None) -> Any:
    """Organization-wide prices, and the project's own when there is a project."""
    organization_wide = LLMCustomPrice.project_id.is_(None)
    if project_id is None:
        return organization_wide
    return or_(organization_wide, LLMCustomPrice.project_id == project_id)
