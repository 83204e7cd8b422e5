"""OTLP/HTTP trace exports read as LLM calls: one event per GenAI model-call span, in the batch API's shape.

What counts as a call: a span that names a model (`gen_ai.response.model`, else `gen_ai.request.model`).
Spans without one (HTTP, database, tool spans) are skipped and counted. Agent and tool operation spans
(`invoke_agent`, `create_agent`, `execute_tool`) are skipped too even when they carry usage: by the GenAI
conventions an agent span sums the model calls beneath it, which arrive as spans of their own, so counting
both would bill the calls twice. An agent span still lends its `gen_ai.agent.name` to the calls beneath it
when they arrive in the same export.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from google.protobuf.json_format import MessageToDict, ParseDict, ParseError  # type: ignore[import-untyped]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from prometheus_client import Counter

# protobuf ships no type information (types-protobuf would be one more dependency for two imports).
from pydantic_core import from_json
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.errors import BadRequest, CICostsError, PayloadTooLarge, Unprocessable
from cicosts.llm.events.schemas import MAX_EVENTS, validate_events
from cicosts.llm.events.service import ingest_batch
from cicosts.models import LLMProject

MAX_BODY_BYTES = 16 * 1024 * 1024  # decompressed: well above an SDK's default batch of 512 spans
DEFAULT_AGENT = "default"
UNSET_SERVICE = "unknown_service"  # what OpenTelemetry SDKs call a service nobody named
NOT_MODEL_CALLS = frozenset({"invoke_agent", "create_agent", "execute_tool"})
REJECTIONS_SHOWN = 5
SPANS = Counter("cicosts_otlp_spans_total", "OTLP spans received, by what became of them", ["outcome"])


class UnsupportedMediaType(CICostsError):
    status_code = 415


class WireFormat(StrEnum):
    PROTOBUF = "application/x-protobuf"
    JSON = "application/json"


def wire_format(content_type: str | None) -> WireFormat:
    """OTLP/HTTP speaks binary protobuf or JSON; the response answers in the request's."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in ("application/x-protobuf", "application/protobuf"):
        return WireFormat.PROTOBUF
    if media_type == "application/json":
        return WireFormat.JSON
    raise UnsupportedMediaType(
        f"Content-Type: send application/x-protobuf or application/json, not {media_type or 'nothing'!r}"
    )


def decompressed(body: bytes, content_encoding: str | None) -> bytes:
    """The body without its gzip or deflate encoding, refused past MAX_BODY_BYTES (a zip bomb stops there)."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS if body[:1] == b"\x78" else -zlib.MAX_WBITS  # zlib-wrapped, or raw
    else:
        raise UnsupportedMediaType(f"Content-Encoding: send gzip, deflate or none, not {encoding!r}")
    decompressor = zlib.decompressobj(wbits)
    try:
        data = decompressor.decompress(body, MAX_BODY_BYTES + 1)
    except zlib.error as exc:
        raise BadRequest(f"Content-Encoding: the body is not valid {encoding} ({exc})") from exc
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body: more than {MAX_BODY_BYTES} bytes once decompressed")
    if not decompressor.eof:
        raise BadRequest(f"Content-Encoding: the {encoding} body is truncated")
    return data


def decoded(body: bytes, form: WireFormat) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    if form is WireFormat.PROTOBUF:
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise BadRequest(f"body: not an OTLP ExportTraceServiceRequest in protobuf ({exc})") from exc
        return request
    try:
        document = from_json(body)  # a nesting limit, where json.loads would raise RecursionError
    except ValueError as exc:
        raise BadRequest(f"body: not JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise BadRequest("body: an OTLP JSON export is an object with resourceSpans")
    try:
        ParseDict(_ids_as_base64(document), request, ignore_unknown_fields=True)
    except ParseError as exc:
        raise BadRequest(f"body: not an OTLP ExportTraceServiceRequest in JSON ({exc})") from exc
    return request


_ID_FIELDS = frozenset({"traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id"})


def _ids_as_base64(value: Any) -> Any:
    """OTLP JSON writes trace and span ids in hex, where protobuf's JSON mapping expects base64."""
    if isinstance(value, list):
        return [_ids_as_base64(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted: dict[str, Any] = {}
    for key, item in value.items():
        if key in _ID_FIELDS and isinstance(item, str):
            try:
                item = base64.b64encode(bytes.fromhex(item)).decode()
            except ValueError as exc:
                raise BadRequest(f"body: {key} {item!r} is not hexadecimal") from exc
        converted[key] = _ids_as_base64(item)
    return converted


def _plain(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_plain(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return binascii.hexlify(value.bytes_value).decode()
    return getattr(value, kind)


def attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: _plain(pair.value) for pair in pairs}


def _text(attrs: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = attrs.get(name)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _count(attrs: Mapping[str, Any], *names: str) -> Any:
    """A token count as an int when it is one (JSON exporters may send "12" or 12.0); else as sent."""
    for name in names:
        value = attrs.get(name)
        if value is None:
            continue
        if isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        return value
    return None


INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
OUTPUT = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
CACHE_READ = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
CACHE_WRITE = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.cache_write_tokens",
)
REASONING = ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens")


def batch_input_tokens(reported: Any, cache_read: Any, cache_write: Any) -> Any:
    """Input tokens as the batch API counts them: the whole prompt including cache reads, not cache writes.

    The GenAI conventions count both cache reads and writes inside `input_tokens`, so writes come out. Some
    instrumentations pass Anthropic's figure through instead, which counts neither (only the uncached rest);
    that shows as input smaller than its own cached parts, and then the reads go in.
    """
    if not all(isinstance(value, int) for value in (reported, cache_read, cache_write)):
        return reported
    if reported >= cache_read + cache_write:
        return reported - cache_write
    return reported + cache_read


def _iso(unix_nanos: int) -> str:
    seconds, nanos = divmod(unix_nanos, 1_000_000_000)
    try:
        moment = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=nanos // 1_000)
    except (OverflowError, OSError, ValueError):
        return f"{unix_nanos} ns after 1970, out of range"  # the batch API refuses it, naming the timestamp
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class Translation:
    """What one export holds: events for the batch API, and how many spans were not model calls."""

    events: list[dict[str, Any]] = field(default_factory=list)
    spans: int = 0
    skipped: int = 0


def _agent_names(request: ExportTraceServiceRequest) -> dict[bytes, str]:
    """Agent spans' names by span id, and their parents', for calls that do not name their agent."""
    names: dict[bytes, str] = {}
    parents: dict[bytes, bytes] = {}
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                parents[span.span_id] = span.parent_span_id
                name = _text(attributes(span.attributes), "gen_ai.agent.name")
                if name is not None:
                    names[span.span_id] = name
    resolved: dict[bytes, str] = {}
    for span_id in parents:
        seen: set[bytes] = set()
        current = span_id
        while current and current not in seen:
            seen.add(current)
            if current in names:
                resolved[span_id] = names[current]
                break
            current = parents.get(current, b"")
    return resolved


def translated(request: ExportTraceServiceRequest) -> Translation:
    result = Translation()
    agents = _agent_names(request)
    for resource_spans in request.resource_spans:
        service_name = _text(attributes(resource_spans.resource.attributes), "service.name")
        if service_name is not None and service_name.startswith(UNSET_SERVICE):
            service_name = None
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                result.spans += 1
                event = span_event(span, agents.get(span.parent_span_id) or service_name)
                if event is None:
                    result.skipped += 1
                else:
                    result.events.append(event)
    return result


def span_event(span: Span, inherited_agent: str | None = None) -> dict[str, Any] | None:
    """The batch API's event for a model-call span; None for any other span."""
    attrs = attributes(span.attributes)
    model = _text(attrs, "gen_ai.response.model", "gen_ai.request.model")
    if model is None or _text(attrs, "gen_ai.operation.name") in NOT_MODEL_CALLS:
        return None
    cache_read = _count(attrs, *CACHE_READ) or 0
    cache_write = _count(attrs, *CACHE_WRITE) or 0
    failed = span.status.code == Status.STATUS_CODE_ERROR
    event: dict[str, Any] = {
        "model": model,
        "provider": _text(attrs, "gen_ai.provider.name", "gen_ai.system"),
        "agent_name": _text(attrs, "gen_ai.agent.name") or inherited_agent or DEFAULT_AGENT,
        "input_tokens": batch_input_tokens(_count(attrs, *INPUT) or 0, cache_read, cache_write),
        "output_tokens": _count(attrs, *OUTPUT) or 0,
        "cached_tokens": cache_read,
        "cache_write_tokens": cache_write,
        "reasoning_tokens": _count(attrs, *REASONING) or 0,
        "success": not failed,
        "error": (span.status.message or _text(attrs, "error.type") or "error") if failed else None,
        "workflow": _text(attrs, "gen_ai.workflow.name"),
        "metadata": _metadata(span, attrs),
    }
    ended = span.end_time_unix_nano or span.start_time_unix_nano
    if ended:
        event["timestamp"] = _iso(ended)
    if span.start_time_unix_nano and span.end_time_unix_nano >= span.start_time_unix_nano:
        event["latency_ms"] = (span.end_time_unix_nano - span.start_time_unix_nano) // 1_000_000
    if span.trace_id:
        event["trace_id"] = span.trace_id.hex()
    if span.span_id:
        event["span_id"] = span.span_id.hex()
    if span.trace_id and span.span_id:
        event["event_id"] = span.trace_id.hex() + span.span_id.hex()  # the same span stored once
    return {name: value for name, value in event.items() if value is not None}


async def store(session: AsyncSession, project: LLMProject, spans: Translation, now: datetime) -> list[str]:
    """The events stored as the batch API stores them (in its batch size); why each refused span was."""
    reasons: list[str] = []
    for start in range(0, len(spans.events), MAX_EVENTS):
        events = spans.events[start : start + MAX_EVENTS]
        try:
            rejected = (await ingest_batch(session, project, events, None, now=now)).rejected
        except Unprocessable:
            # Not one event valid: the batch API refuses the batch, but OTLP reports refused spans one by one
            # (and nothing was written, so the export's other spans stand).
            rejected = validate_events(events, now)[1]
        for rejection in rejected:
            span_id = events[rejection.index].get("span_id", "without an id")
            reasons.append(f"span {span_id}: {rejection.reason}")
    return reasons


def _metadata(span: Span, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The batch API reads the user and session from metadata, and keeps the rest as sent."""
    kept = {
        "user_id": _text(attrs, "user.id", "enduser.id"),
        "session_id": _text(attrs, "gen_ai.conversation.id", "session.id"),
        "otel.span.name": span.name,
        "gen_ai.operation.name": _text(attrs, "gen_ai.operation.name"),
    }
    return {name: value for name, value in kept.items() if value}


def response_body(form: WireFormat, reasons: list[str]) -> bytes:
    """OTLP's success answer; `partial_success` says how many spans were refused and why."""
    response = ExportTraceServiceResponse()
    rejected = len(reasons)
    if rejected:
        response.partial_success.rejected_spans = rejected
        shown = "; ".join(reasons[:REJECTIONS_SHOWN])
        more = f" (and {len(reasons) - REJECTIONS_SHOWN} more)" if len(reasons) > REJECTIONS_SHOWN else ""
        response.partial_success.error_message = f"{rejected} span(s) rejected: {shown}{more}"
    if form is WireFormat.PROTOBUF:
        serialized: bytes = response.SerializeToString()
        return serialized
    return json.dumps(MessageToDict(response)).encode()


def count(spans: Translation, rejected: int) -> None:
    """Spans skipped as not model calls are visible here, since OTLP's answer has no place for them."""
    SPANS.labels("skipped").inc(spans.skipped)
    SPANS.labels("rejected").inc(rejected)
    SPANS.labels("accepted").inc(len(spans.events) - rejected)
