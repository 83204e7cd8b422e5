"""Delta upserts into rollup tables.

A raw row contributes a set of measures to one rollup key. When a row changes, the old contribution is
taken away and the new one added, so a rollup always equals the sum of its raw rows, whatever order
events arrive in. Changes are gathered in a `RollupBuffer` and written once per rollup row at the end of
the unit of work, in the same transaction as the raw rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.kit.upsert import dialect_name, insert_for


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
    """The changes that turn `old` into `new`; nothing when they are equal."""
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


@dataclass(frozen=True)
class Rollup:
    table: Table
    conflict_columns: tuple[str, ...]


class RollupBuffer:
    """Changes gathered during a unit of work, written as one upsert per rollup row by `flush`."""

    def __init__(self) -> None:
        self._pending: dict[tuple[Rollup, tuple[tuple[str, Any], ...]], dict[str, int]] = {}

    def add(self, rollup: Rollup, old: Contribution | None, new: Contribution | None) -> None:
        for change in delta(old, new):
            measures = self._pending.setdefault((rollup, change.key), {})
            for name, value in change.measures.items():
                measures[name] = measures.get(name, 0) + value

    async def flush(self, session: AsyncSession) -> None:
        groups: dict[tuple[Rollup, tuple[str, ...]], list[dict[str, Any]]] = {}
        # A stable order keeps concurrent workers from deadlocking on the same rollup rows.
        for (rollup, key), measures in sorted(self._pending.items(), key=lambda item: repr(item[0][1])):
            if not any(measures.values()):
                continue
            names = tuple(sorted(measures))
            groups.setdefault((rollup, names), []).append({**dict(key), **measures})
        self._pending.clear()
        for (rollup, names), rows in groups.items():
            await session.execute(_upsert(session, rollup, names), rows)


_STATEMENTS: dict[tuple[str, Rollup, tuple[str, ...]], Any] = {}


def _upsert(session: AsyncSession, rollup: Rollup, measures: Sequence[str]) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE SET m = m + excluded.m, built once per shape."""
    cache_key = (dialect_name(session), rollup, tuple(measures))
    statement = _STATEMENTS.get(cache_key)
    if statement is None:
        insert = insert_for(session, rollup.table)
        statement = insert.on_conflict_do_update(
            index_elements=list(rollup.conflict_columns),
            set_={name: rollup.table.c[name] + insert.excluded[name] for name in measures},
        )
        _STATEMENTS[cache_key] = statement
    return statement
