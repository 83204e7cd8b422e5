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

from sqlalchemy import Table, TextClause, literal, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import ScalarElementColumnDefault

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
        groups: dict[tuple[Rollup, tuple[str, ...], tuple[str, ...]], list[dict[str, Any]]] = {}
        # A stable order keeps concurrent workers from deadlocking on the same rollup rows.
        for (rollup, key), measures in sorted(self._pending.items(), key=lambda item: repr(item[0][1])):
            if not any(measures.values()):
                continue
            shape = (rollup, tuple(name for name, _ in key), tuple(sorted(measures)))
            groups.setdefault(shape, []).append({**dict(key), **measures})
        self._pending.clear()
        unnest = dialect_name(session) == "postgresql"
        for (rollup, key_names, names), rows in groups.items():
            if unnest:
                columns = (*key_names, *names)
                statement = _unnested_upsert(session, rollup, columns, names)
                await session.execute(statement, _arrays(rows, columns))
            else:
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


def _arrays(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> dict[str, list[Any]]:
    return {f"c{index}": [row[name] for row in rows] for index, name in enumerate(columns)}


LITERAL = {"literal_binds": True}
_UNNESTED: dict[tuple[Rollup, tuple[str, ...], tuple[str, ...]], TextClause] = {}


def _unnested_upsert(
    session: AsyncSession, rollup: Rollup, columns: tuple[str, ...], measures: tuple[str, ...]
) -> TextClause:
    """PostgreSQL: all rows in one statement, one array per column, rather than a statement per row.

    The rows' keys are distinct (one pending change per rollup row), as ON CONFLICT DO UPDATE requires, and
    in the buffer's stable order, which unnest keeps. Measures a change leaves out get their column's default,
    as the ORM's INSERT gives them.
    """
    statement = _UNNESTED.get((rollup, columns, measures))
    if statement is None:
        dialect = session.get_bind().dialect
        quote = dialect.identifier_preparer.quote
        table = rollup.table
        arrays = ", ".join(
            f"CAST(:c{index} AS {table.c[name].type.compile(dialect=dialect)}[])"
            for index, name in enumerate(columns)
        )
        defaulted = _scalar_defaults(table, columns)
        defaults = "".join(
            f", {literal(value, table.c[name].type).compile(dialect=dialect, compile_kwargs=LITERAL)}"
            for name, value in defaulted
        )
        names = ", ".join(quote(name) for name in (*columns, *(name for name, _ in defaulted)))
        conflict = ", ".join(quote(name) for name in rollup.conflict_columns)
        additions = ", ".join(
            f"{quote(name)} = {table.name}.{quote(name)} + excluded.{quote(name)}" for name in measures
        )
        statement = text(
            f"INSERT INTO {table.name} ({names})"  # noqa: S608 - our own columns and constant defaults
            f" SELECT *{defaults} FROM unnest({arrays})"
            f" ON CONFLICT ({conflict}) DO UPDATE SET {additions}"
        )
        _UNNESTED[(rollup, columns, measures)] = statement
    return statement


def _scalar_defaults(table: Table, columns: tuple[str, ...]) -> list[tuple[str, Any]]:
    """The other columns with a constant default (measures start at 0), and that default."""
    return [
        (column.name, column.default.arg)
        for column in table.c
        if column.name not in columns and isinstance(column.default, ScalarElementColumnDefault)
    ]
