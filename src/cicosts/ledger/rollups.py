"""Delta upserts into rollup tables.

A raw row contributes a set of measures to one rollup key. When a row changes, the old contribution is
taken away and the new one added, so a rollup always equals the sum of its raw rows, whatever order
events arrive in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.kit.upsert import insert_for


@dataclass(frozen=True)
class Contribution:
    """What one raw row adds to one rollup row: its key columns and its additive measures."""

    key: tuple[tuple[str, Any], ...]
    measures: Mapping[str, int]

    def negated(self) -> Contribution:
        return Contribution(self.key, {name: -value for name, value in self.measures.items()})


def contribution(key: Mapping[str, Any], measures: Mapping[str, int]) -> Contribution:
    return Contribution(tuple(key.items()), dict(measures))


def delta(old: Contribution | None, new: Contribution | None) -> list[Contribution]:
    """The upserts that turn `old` into `new`; nothing when they are equal."""
    if old is not None and new is not None and old.key == new.key:
        diff = {name: new.measures.get(name, 0) - old.measures.get(name, 0) for name in new.measures}
        if not any(diff.values()):
            return []
        return [Contribution(new.key, diff)]
    changes = []
    if old is not None:
        changes.append(old.negated())
    if new is not None:
        changes.append(new)
    return changes


async def apply(
    session: AsyncSession, table: Table, conflict_columns: list[str], changes: list[Contribution]
) -> None:
    for change in changes:
        values = {**dict(change.key), **change.measures}
        statement = insert_for(session, table).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=conflict_columns,
            set_={name: table.c[name] + statement.excluded[name] for name in change.measures},
        )
        await session.execute(statement)
