"""POST /v1/otlp/v1/traces: GenAI spans from the real OpenTelemetry exporter, and OTLP JSON, as calls."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import threading
import zlib
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from agentcost.http_client import AgentCostHTTPClient
from google.protobuf.json_format import ParseDict
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.app import create_app
from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity.api_keys.service import create_api_key
from cicosts.identity.service import ensure_user_with_organization
from cicosts.identity.tokens import create_access_token
from cicosts.kit.periods import as_utc
from cicosts.llm.otlp.service import MAX_BODY_BYTES
from cicosts.models import LLMEvent
from tests.helpers import TestClient

PROTOBUF = "application/x-protobuf"


@dataclass
class Project:
    id: int
    key: str
    owner_token: str
    read_key: str


@pytest.fixture
async def project(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> Project:
    async with transaction(sessionmaker) as session:
        user, org = await ensure_user_with_organization(session, "ada", "acme")
        _, read_key = await create_api_key(session, org_id=org.id, name="r", scopes=["read"], created_by=None)
    token = create_access_token(user.id, settings)
    response = await client.http.post(
        "/v1/projects", json={"name": "agents"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.text
    return Project(response.json()["id"], response.json()["api_key"], token, read_key)


@pytest.fixture
def live_server(settings: Settings) -> Iterator[str]:
    """The app in a real Uvicorn server on a free port, in a thread with its own event loop and engine."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # listening already: a request made before Uvicorn runs waits in the backlog
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings), log_level="warning", access_log=False, ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        ready = httpx.get(f"{url}/health/ready", timeout=30)  # answered once the server is up
        assert ready.status_code == 200, ready.text
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    assert not thread.is_alive()


class RecordingExporter(SpanExporter):
    """The real OTLP/HTTP exporter, remembering what each export returned and which spans it sent."""

    def __init__(self, inner: OTLPSpanExporter) -> None:
        self.inner = inner
        self.results: list[SpanExportResult] = []
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        self.results.append(result)
        self.spans.extend(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()


def exporter(url: str, key: str, compression: Compression = Compression.NoCompression) -> RecordingExporter:
    return RecordingExporter(
        OTLPSpanExporter(
            endpoint=f"{url}/v1/otlp/v1/traces",
            headers={"Authorization": f"Bearer {key}"},
            compression=compression,
            timeout=30,
        )
    )


def tracer_with(
    span_exporter: SpanExporter, *, batched: bool = False, service: str = "support-bot"
) -> tuple[TracerProvider, Tracer]:
    """A tracer of its own (the global one is left alone), exporting each span as it ends or in batches."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    processor = BatchSpanProcessor(span_exporter) if batched else SimpleSpanProcessor(span_exporter)
    provider.add_span_processor(processor)
    return provider, provider.get_tracer("tests.llm")


def ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


async def stored(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, LLMEvent]:
    """The stored calls by span id."""
    async with transaction(sessionmaker) as session:
        return {event.span_id or "": event for event in await session.scalars(select(LLMEvent))}


# --- the real exporter ------------------------------------------------------------------------------------


async def test_the_opentelemetry_exporter_sends_genai_spans_that_are_stored_as_calls(
    live_server: str, project: Project, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sent = exporter(live_server, project.key)
    provider, tracer = tracer_with(sent)
    start = ns(datetime.now(UTC) - timedelta(minutes=10))

    chat = tracer.start_span("chat gpt-4o", kind=SpanKind.CLIENT, start_time=start)
    chat.set_attributes(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 1_200,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.cache_read.input_tokens": 200,
            "gen_ai.agent.name": "triage",
            "gen_ai.conversation.id": "conv-1",
            "user.id": "u-7",
        }
    )
    chat.end(end_time=start + 1_234_567_891)
    legacy = tracer.start_span("completion", start_time=start)
    legacy.set_attributes(
        {
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-3-5-haiku-latest",
            "gen_ai.usage.prompt_tokens": 500,
            "gen_ai.usage.completion_tokens": 50,
            "gen_ai.usage.cache_creation.input_tokens": 100,
        }
    )
    legacy.set_status(Status(StatusCode.ERROR, "overloaded_error: try again"))
    legacy.end(end_time=start + 2_000_000_000)
    http_span = tracer.start_span("GET /orders", kind=SpanKind.SERVER)  # not a model call
    http_span.set_attribute("http.request.method", "GET")
    http_span.end()

    assert sent.results == [SpanExportResult.SUCCESS] * 3
    events = await stored(sessionmaker)
    assert len(events) == 2
    ids = {span.name: span.context for span in sent.spans}
    first = events[format(ids["chat gpt-4o"].span_id, "016x")]
    trace_id = format(ids["chat gpt-4o"].trace_id, "032x")
    assert (first.model, first.provider, first.agent_name) == ("gpt-4o-2024-08-06", "openai", "triage")
    assert (first.input_tokens, first.output_tokens, first.cached_tokens, first.cache_write_tokens) == (
        1_200,
        300,
        200,
        0,
    )
    assert first.latency_ms == 1_234 and first.success and first.error is None
    ended = start + 1_234_567_891
    assert as_utc(first.timestamp) == datetime.fromtimestamp(ended // 10**9, UTC).replace(
        microsecond=ended % 10**9 // 1_000
    )
    assert first.trace_id == trace_id and first.event_id == trace_id + first.span_id
    assert (first.user_id, first.session_id) == ("u-7", "conv-1")
    assert first.attributes["otel.span.name"] == "chat gpt-4o"
    assert first.project_id == project.id and not first.unpriced and first.cost_nanos > 0
    assert first.matched_model is not None and first.matched_provider == "openai"

    second = events[format(ids["completion"].span_id, "016x")]
    # The conventions count cache writes inside input tokens; the batch API counts them apart.
    assert (second.input_tokens, second.output_tokens, second.cache_write_tokens) == (400, 50, 100)
    assert (second.provider, second.agent_name) == ("anthropic", "support-bot")  # the service, unnamed agent
    assert not second.success and second.error == "overloaded_error: try again"
    assert second.latency_ms == 2_000

    # Exporting the same spans again stores nothing twice (the event id is trace id + span id).
    assert sent.export(sent.spans[:2]) == SpanExportResult.SUCCESS
    assert len(await stored(sessionmaker)) == 2
    provider.shutdown()


async def test_gzip_exports_and_agents_named_on_the_parent_span(
    live_server: str, project: Project, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sent = exporter(live_server, project.key, Compression.Gzip)
    provider, tracer = tracer_with(sent, batched=True, service="unknown_service")  # an SDK's unnamed service
    with tracer.start_as_current_span("invoke_agent planner") as agent:
        agent.set_attributes(
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "planner",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 3_000,  # the sum of the calls below: not a call of its own
                "gen_ai.usage.output_tokens": 300,
            }
        )
        for _ in range(2):
            with tracer.start_as_current_span("chat gpt-4o-mini") as chat:
                chat.set_attributes(
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": "gpt-4o-mini",
                        "gen_ai.usage.input_tokens": 1_500,
                        "gen_ai.usage.output_tokens": 150,
                    }
                )
        with tracer.start_as_current_span("execute_tool search") as tool:
            tool.set_attributes({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"})
    unnamed = tracer.start_span("chat")
    unnamed.set_attributes({"gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 10})
    unnamed.end()
    assert provider.force_flush(30_000)

    assert sent.results and set(sent.results) == {SpanExportResult.SUCCESS}
    events = list((await stored(sessionmaker)).values())
    assert len(events) == 3
    calls = sorted((e.agent_name, e.input_tokens, e.output_tokens) for e in events)
    assert calls == [("default", 10, 0), ("planner", 1_500, 150), ("planner", 1_500, 150)]
    assert all(e.provider is None and e.matched_provider == "openai" for e in events)
    provider.shutdown()


async def test_the_agentcost_sdk_finds_its_project_with_the_key(live_server: str, project: Project) -> None:
    client = AgentCostHTTPClient(api_key=project.key, base_url=live_server)
    try:
        info = client.get_project_info(str(project.id))
    finally:
        client.close()
    assert info is not None and info["id"] == project.id and info["name"] == "agents"
    assert info["api_key"] is None


# --- OTLP JSON and the wire ---------------------------------------------------------------------------------

TRACE_ID = "5b8efff798038103d269b633813fc60c"


def json_span(span_id: str, attributes: dict[str, Any], **fields: Any) -> dict[str, Any]:
    end = datetime.now(UTC) - timedelta(minutes=1)
    values = []
    for key, value in attributes.items():
        kind = (
            "intValue"
            if isinstance(value, int)
            else "doubleValue"
            if isinstance(value, float)
            else "stringValue"
        )
        values.append({"key": key, "value": {kind: str(value) if kind == "intValue" else value}})
    return {
        "traceId": TRACE_ID,
        "spanId": span_id,
        "parentSpanId": "",
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": str(ns(end) - 250_000_000),
        "endTimeUnixNano": str(ns(end)),
        "attributes": values,
        "status": {},
        **fields,
    }


def json_export(*spans: dict[str, Any], service: str = "json-bot") -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"scope": {"name": "manual"}, "spans": list(spans)}],
            }
        ]
    }


CHAT = {"gen_ai.request.model": "gpt-4o", "gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 100}


async def post(
    client: TestClient,
    key: str | None,
    body: bytes,
    content_type: str = "application/json",
    encoding: str | None = None,
) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if encoding:
        headers["Content-Encoding"] = encoding
    return await client.http.post("/v1/otlp/v1/traces", content=body, headers=headers)


async def test_otlp_json_is_stored_and_answered_in_json(
    client: TestClient, project: Project, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    body = json_export(
        json_span("eee19b7ec3c1b174", {**CHAT, "gen_ai.usage.output_tokens": 20.0}),
        json_span("eee19b7ec3c1b175", {"http.request.method": "GET"}),
        json_span("eee19b7ec3c1b176", {**CHAT, "gen_ai.usage.output_tokens": "7"}, status={"code": 2}),
    )

    response = await post(client, project.key, json.dumps(body).encode())

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json" and response.json() == {}
    events = await stored(sessionmaker)
    assert sorted(events) == ["eee19b7ec3c1b174", "eee19b7ec3c1b176"]
    ok, failed = events["eee19b7ec3c1b174"], events["eee19b7ec3c1b176"]
    assert (ok.trace_id, ok.event_id) == (TRACE_ID, TRACE_ID + "eee19b7ec3c1b174")
    assert (ok.output_tokens, ok.latency_ms, ok.agent_name, ok.success) == (20, 250, "json-bot", True)
    assert (failed.output_tokens, failed.success, failed.error) == (7, False, "error")
    # Sent again, gzipped: the same calls, stored once.
    again = await post(client, project.key, gzip.compress(json.dumps(body).encode()), encoding="gzip")
    assert again.status_code == 200 and again.json() == {}
    assert len(await stored(sessionmaker)) == 2


async def test_protobuf_plain_gzip_and_deflate_are_read(
    client: TestClient, project: Project, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    def export(span_id: str) -> bytes:
        request = ExportTraceServiceRequest()
        span = request.resource_spans.add().scope_spans.add().spans.add()
        span.trace_id = bytes.fromhex(TRACE_ID)
        span.span_id = bytes.fromhex(span_id)
        span.name = "chat"
        span.end_time_unix_nano = ns(datetime.now(UTC))
        for key, value in CHAT.items():
            attribute = span.attributes.add()
            attribute.key = key
            if isinstance(value, int):
                attribute.value.int_value = value
            else:
                attribute.value.string_value = value
        return request.SerializeToString()

    for span_id, encoding, encode in (
        ("0000000000000001", None, lambda body: body),
        ("0000000000000002", "gzip", gzip.compress),
        ("0000000000000003", "deflate", zlib.compress),
        ("0000000000000004", "deflate", lambda body: zlib.compress(body, wbits=-15)),  # raw deflate
    ):
        response = await post(client, project.key, encode(export(span_id)), PROTOBUF, encoding)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == PROTOBUF
        answer = ExportTraceServiceResponse()
        answer.ParseFromString(response.content)
        assert not answer.HasField("partial_success")
    events = await stored(sessionmaker)
    assert sorted(events) == [f"000000000000000{i}" for i in range(1, 5)]
    assert {e.agent_name for e in events.values()} == {"default"}  # no service, no agent


async def test_spans_the_batch_api_refuses_are_reported_as_partial_success(
    client: TestClient, project: Project, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    future = ns(datetime.now(UTC) + timedelta(hours=1))
    good = json_span("aaaaaaaaaaaaaaaa", CHAT)
    bad = json_span("bbbbbbbbbbbbbbbb", {**CHAT, "gen_ai.usage.input_tokens": -5})
    late = json_span("cccccccccccccccc", CHAT, endTimeUnixNano=str(future), startTimeUnixNano=str(future))
    edge = str(2**64 - 1)  # past any calendar
    never = json_span("eeeeeeeeeeeeeeee", CHAT, endTimeUnixNano=edge, startTimeUnixNano=edge)

    response = await post(client, project.key, json.dumps(json_export(good, bad, late, never)).encode())

    assert response.status_code == 200, response.text
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "3"
    assert partial["errorMessage"].startswith("3 span(s) rejected: ")
    assert "span bbbbbbbbbbbbbbbb: input_tokens" in partial["errorMessage"]
    assert "span cccccccccccccccc: timestamp" in partial["errorMessage"]
    assert "span eeeeeeeeeeeeeeee: timestamp" in partial["errorMessage"]
    assert sorted(await stored(sessionmaker)) == ["aaaaaaaaaaaaaaaa"]

    # An export none of whose spans can be stored is answered the same way, in protobuf here.
    response = await post(client, project.key, _protobuf(json_export(bad)), PROTOBUF)
    assert response.status_code == 200, response.text
    answer = ExportTraceServiceResponse()
    answer.ParseFromString(response.content)
    assert answer.partial_success.rejected_spans == 1
    assert answer.partial_success.error_message.startswith("1 span(s) rejected: span bbbbbbbbbbbbbbbb: ")
    # Nothing but non-GenAI spans: accepted, nothing stored.
    only_http = json_export(json_span("dddddddddddddddd", {"http.route": "/"}))
    assert (await post(client, project.key, json.dumps(only_http).encode())).json() == {}
    assert sorted(await stored(sessionmaker)) == ["aaaaaaaaaaaaaaaa"]
    metrics = (await client.http.get("/metrics")).text
    assert 'cicosts_otlp_spans_total{outcome="skipped"}' in metrics


def _protobuf(document: dict[str, Any]) -> bytes:
    """An OTLP JSON export as protobuf (its hex ids in base64, as protobuf's own JSON mapping has them)."""

    def ids(value: Any) -> Any:
        if isinstance(value, list):
            return [ids(item) for item in value]
        if isinstance(value, dict):
            return {
                key: base64.b64encode(bytes.fromhex(item)).decode()
                if key in ("traceId", "spanId")
                else ids(item)
                for key, item in value.items()
            }
        return value

    message = ExportTraceServiceRequest()
    ParseDict(ids(document), message)
    serialized: bytes = message.SerializeToString()
    return serialized


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "status", "detail"),
    [
        (b"\xff\xff\xff", PROTOBUF, None, 400, "body: "),
        (b"{not json", "application/json", None, 400, "body: not JSON"),
        (b'{"a":' + b"[" * 5_000 + b"]" * 5_000 + b"}", "application/json", None, 400, "body: not JSON"),
        (b"[1, 2]", "application/json", None, 400, "body: "),
        (b'{"resourceSpans": 5}', "application/json", None, 400, "body: "),
        (
            json.dumps(json_export(json_span("zz", CHAT))).encode(),
            "application/json",
            None,
            400,
            "body: spanId",
        ),
        (b"{}", "text/plain", None, 415, "Content-Type: "),
        (b"{}", "", None, 415, "Content-Type: "),
        (b"{}", "application/json", "br", 415, "Content-Encoding: "),
        (b"not gzip at all", "application/json", "gzip", 400, "Content-Encoding: "),
        (gzip.compress(b"{}", mtime=0)[:-6], "application/json", "gzip", 400, "Content-Encoding: "),
        (gzip.compress(b"\0" * (MAX_BODY_BYTES + 1), mtime=0), PROTOBUF, "gzip", 413, "body: "),
    ],
    ids=[
        "bad protobuf",
        "bad json",
        "json nested too deeply",
        "json array",
        "json of the wrong shape",
        "id not hex",
        "text",
        "no content type",
        "brotli",
        "not gzip",
        "truncated gzip",
        "gzip bomb",
    ],
)
async def test_what_is_not_an_otlp_export_is_refused(
    client: TestClient,
    project: Project,
    body: bytes,
    content_type: str,
    encoding: str | None,
    status: int,
    detail: str,
) -> None:
    response = await post(client, project.key, body, content_type, encoding)
    assert response.status_code == status, response.text
    assert response.json()["detail"].startswith(detail), response.text


async def test_a_body_over_the_limit_is_refused_before_it_is_read(
    client: TestClient, project: Project
) -> None:
    response = await post(client, project.key, b"\0" * (MAX_BODY_BYTES + 1), PROTOBUF)
    assert response.status_code == 413 and response.json()["detail"].startswith("body: ")

    async def unannounced() -> AsyncIterator[bytes]:  # sent chunked, without a Content-Length
        for _ in range(17):
            yield b"\0" * 2**20

    streamed = await client.http.post(
        "/v1/otlp/v1/traces",
        content=unannounced(),
        headers={"Authorization": f"Bearer {project.key}", "Content-Type": PROTOBUF},
    )
    assert streamed.status_code == 413 and streamed.json()["detail"].startswith("body: ")


async def test_only_a_projects_key_may_send_spans(
    client: TestClient, project: Project, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    body = json.dumps(json_export(json_span("aaaaaaaaaaaaaaaa", CHAT))).encode()
    assert (await post(client, None, body)).status_code == 401
    assert (await post(client, "sk_" + "0" * 64, body)).status_code == 401
    for key, reason in (
        (project.owner_token, "not a user token"),
        (project.read_key, "do not allow ingest"),
    ):
        response = await post(client, key, body)
        assert response.status_code == 403 and reason in response.json()["detail"], response.text
    rotated = await client.http.post(
        f"/v1/projects/{project.id}/rotate-key", headers={"Authorization": f"Bearer {project.owner_token}"}
    )
    assert rotated.status_code == 200
    assert (await post(client, project.key, body)).status_code == 401
    assert (await post(client, rotated.json()["api_key"], body)).status_code == 200
    async with transaction(sessionmaker) as session:
        assert await session.scalar(select(func.count()).select_from(LLMEvent)) == 1
