"""Queries behind pricing: the custom prices that may apply to one project's calls."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.models import LLMCustomPrice


async def custom_prices(session: AsyncSession, org_id: int, project_id: int | None) -> list[LLMCustomPrice]:
    """The organization's own prices, and the project's when there is one."""
    applies: ColumnElement[bool] = LLMCustomPrice.project_id.is_(None)
    if project_id is not None:
        applies = or_(applies, LLMCustomPrice.project_id == project_id)
    return list(await session.scalars(select(LLMCustomPrice).where(LLMCustomPrice.org_id == org_id, applies)))
