"""PostgreSQL: a batch's calls inserted and added to their rollups by one statement.

The same sums as `contributions.BatchRollups` (which SQLite and repricing use, and which the tests hold this
to): `llm_hourly` per agent, model and provider; `llm_dimension_hourly` per user, session, workflow, tool and
tag; the ledger per provider, service, agent and model. Summed by the database from the rows the INSERT
actually stored (a repeated event_id adds nothing), they cost the API no Python per call, which was a quarter
of its time per batch. Each rollup's rows are written in key order, so concurrent batches lock shared rollup
rows in the same order and wait for each other rather than deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.kit.json_text import json_text
from cicosts.llm.events.contributions import MEASURES, SKU_LENGTH, ledger_names
from cicosts.models import LLMProject

# Each measure of `contributions.MEASURES` summed over a group of stored calls.
SUMS = {
    "calls": "count(*)",
    "failed_calls": "count(*) FILTER (WHERE NOT success)",
    "unpriced_calls": "count(*) FILTER (WHERE unpriced)",
    "input_tokens": "sum(input_tokens)",
    "output_tokens": "sum(output_tokens)",
    "cached_tokens": "sum(cached_tokens)",
    "cache_write_tokens": "sum(cache_write_tokens)",
    "reasoning_tokens": "sum(reasoning_tokens)",
    "cost_nanos": "sum(cost_nanos)",
    "failed_cost_nanos": "coalesce(sum(cost_nanos) FILTER (WHERE NOT success), 0)",
    "cache_savings_nanos": "sum(cache_savings_nanos)",
    "latency_ms_sum": "coalesce(sum(latency_ms), 0)",
    "latency_calls": "count(latency_ms)",
}
assert tuple(SUMS) == MEASURES, "one sum per rollup measure"
LEDGER_SUMS = {
    "billed_nanos": "sum(cost_nanos)",
    "list_nanos": "sum(cost_nanos)",
    "quantity_micros": "sum(input_tokens + cache_write_tokens + output_tokens) * 1000000",
    "record_count": "count(*)",
    "unpriced_count": "count(*) FILTER (WHERE unpriced)",
}


@dataclass(frozen=True)
class Stored:
    calls: int
    unpriced: int


async def insert_and_sum(
    session: AsyncSession, project: LLMProject, rows: Sequence[dict[str, Any]]
) -> Stored:
    """Insert the rows whose event_id the project has not stored yet and add those to the rollups."""
    columns = tuple(rows[0])
    parameters = {
        "rows": json_text(rows),  # datetimes as ISO 8601 with their offset; metadata and tags as JSON
        "names": json_text(_ledger_names(rows)),
        "org_id": project.org_id,
        "project_id": project.id,
        "project_name": project.name,
    }
    result = await session.execute(_statement(session, columns), parameters)
    calls, unpriced = result.one()
    return Stored(int(calls), int(unpriced))


def _ledger_names(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ledger's provider and service for each (matched provider, provider, model) in the batch."""
    names: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = (row["matched_provider"], row["provider"], row["model"])
        if key not in names:
            provider, service = ledger_names(row)
            names[key] = {"matched": key[0], "reported": key[1], "model": key[2]}
            names[key] |= {"provider": provider, "service": service}
    return list(names.values())


_STATEMENTS: dict[tuple[str, ...], TextClause] = {}


def _statement(session: AsyncSession, columns: tuple[str, ...]) -> TextClause:
    statement = _STATEMENTS.get(columns)
    if statement is None:
        quote = session.get_bind().dialect.identifier_preparer.quote
        statement = text(_sql(", ".join(quote(name) for name in columns)))
        _STATEMENTS[columns] = statement
    return statement


def _upsert(table: str, keys: Sequence[str], sums: dict[str, str], source: str, *, extra: str = "") -> str:
    """INSERT the sums per key (`source` selects the keys, `extra` columns, then the sums) in key order; a
    row that exists already gets them added."""
    measures = ", ".join(sums)
    additions = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in sums)
    unique = ", ".join(keys)
    return (
        f"INSERT INTO {table} ({unique}, {extra}{measures}) {source.format(sums=', '.join(sums.values()))}"
        f" ON CONFLICT ({unique}) DO UPDATE SET {additions}"
    )


def _sql(columns: str) -> str:
    hourly = _upsert(
        "llm_hourly",
        ("org_id", "hour", "project_id", "agent_name", "model", "provider"),
        SUMS,
        "SELECT :org_id, hour, :project_id, agent_name, model, provider_key, {sums} FROM calls"
        " GROUP BY hour, agent_name, model, provider_key ORDER BY hour, agent_name, model, provider_key",
    )
    dimensions = _upsert(
        "llm_dimension_hourly",
        ("org_id", "hour", "project_id", "dimension", "value"),
        SUMS,
        "SELECT :org_id, hour, :project_id, dimension, value, {sums} FROM calls CROSS JOIN LATERAL ("
        " VALUES ('user', user_id), ('session', session_id), ('workflow', workflow), ('tool', tool_name)"
        " UNION ALL SELECT DISTINCT 'tag', tag FROM json_array_elements_text(calls.tags) AS tag"
        ") AS dimensions (dimension, value)"
        " WHERE value <> '' GROUP BY hour, dimension, value ORDER BY hour, dimension, value",
    )
    ledger = _upsert(
        "ledger_hourly",
        ("org_id", "hour", "source", "provider", "service", "sub_account", "resource", "sku"),
        LEDGER_SUMS,
        "SELECT :org_id, hour, 'llm', names.provider, names.service, :project_name, agent_name, sku,"
        " 'tokens', {sums} FROM calls JOIN json_to_recordset(CAST(:names AS json))"
        " AS names (matched text, reported text, model text, provider text, service text)"
        " ON names.model = calls.model AND names.matched IS NOT DISTINCT FROM calls.matched_provider"
        " AND names.reported IS NOT DISTINCT FROM calls.provider"
        " GROUP BY hour, names.provider, names.service, agent_name, sku"
        " ORDER BY hour, names.provider, names.service, agent_name, sku",
        extra="unit, ",
    )
    return (
        f"WITH stored AS (INSERT INTO llm_events ({columns})"  # noqa: S608 - our own column names
        f" SELECT {columns} FROM json_populate_recordset(NULL::llm_events, CAST(:rows AS json))"
        " ON CONFLICT (project_id, event_id) DO NOTHING RETURNING *),"
        " calls AS (SELECT *, date_trunc('hour', timestamp, 'UTC') AS hour,"
        " coalesce(matched_provider, provider, '') AS provider_key,"
        f" left(model, {SKU_LENGTH}) AS sku FROM stored),"
        f" hourly AS ({hourly}),"
        f" dimensions AS ({dimensions}),"
        f" ledger AS ({ledger})"
        " SELECT count(*), count(*) FILTER (WHERE unpriced) FROM stored"
    )
