"""POST /v1/events/batch, as the AgentCost SDK speaks it.

Events are validated one at a time, so one bad event is rejected with its index and reason while the rest are
stored. Fields we do not use are accepted and ignored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AliasPath, BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import SkipJsonSchema

from cicosts.kit.periods import UTCInstant

MAX_EVENTS = 1_000
MAX_BODY_BYTES = 5 * 1024 * 1024
FUTURE_TOLERANCE = timedelta(minutes=5)  # clock skew between a client and us
MAX_TOKENS = 10**9  # per count and call: far above any context window, far below overflowing the rollups
MAX_TAGS = 50
MAX_ERROR_CHARS = 4_000  # an error message, not a whole stack trace

Tokens = Annotated[int, Field(ge=0, le=MAX_TOKENS)]
Name = Annotated[str, Field(max_length=255)]


class Metadata(BaseModel):
    """The metadata keys lifted into columns (and rollup dimensions); every other key is kept as sent."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    user_id: Name | None = None
    session_id: Name | None = None
    tags: list[Name] | Name | None = Field(default=None, description=f"At most {MAX_TAGS}")


class EventIn(BaseModel):
    """One LLM call.

    Token counts follow AgentCost's convention: `input_tokens` is the whole prompt, cache reads
    (`cached_tokens`) included and cache writes (`cache_write_tokens`) not; `output_tokens` includes reasoning
    (`reasoning_tokens`, or Gemini's `thinking_tokens`).
    """

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    agent_name: Name | None = "default"
    model: Annotated[str, Field(min_length=1, max_length=255)]
    provider: Annotated[str, Field(max_length=100)] | None = None
    input_tokens: Tokens
    output_tokens: Tokens
    cached_tokens: Tokens | None = None
    cache_write_tokens: Tokens | None = None
    reasoning_tokens: Tokens | None = None
    thinking_tokens: Tokens | None = None
    latency_ms: Annotated[float, Field(ge=0, le=2**31 - 1)] | None = None
    timestamp: UTCInstant = Field(description="ISO 8601; without an offset, UTC")
    success: bool | None = None
    error: str | None = None
    metadata: Metadata | None = None
    # The same key again, whole and as sent, to be stored (a validator keeping it costs 3x as much).
    metadata_sent: SkipJsonSchema[dict[str, Any] | None] = Field(
        default=None, validation_alias=AliasPath("metadata")
    )
    event_id: Name | None = Field(default=None, description="Idempotency key: stored once per project")
    trace_id: Name | None = None
    span_id: Name | None = None
    workflow: Name | None = None
    tool_name: Name | None = None
    input_hash: Annotated[str, Field(max_length=128)] | None = None
    cost: Annotated[float, Field(ge=0, le=10**9)] | None = Field(
        default=None, description="The client's own cost in USD, kept for comparison only"
    )

    @property
    def reasoning(self) -> int:
        return self.reasoning_tokens if self.reasoning_tokens is not None else self.thinking_tokens or 0

    def tag_values(self) -> list[str]:
        tags = self.metadata.tags if self.metadata is not None else None
        if tags is None:
            return []
        return [tags] if isinstance(tags, str) else tags


class OutcomeIn(BaseModel):
    """How one trace (a workflow run) ended; a later report replaces an earlier one."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    trace_id: Annotated[str, Field(min_length=1, max_length=255)]
    success: bool | None = None
    label: Name | None = None


class BatchIn(BaseModel):
    """The body: `events` (at most 1,000, and 5 MB in all) and the SDK's `outcomes`; `sessions` is ignored."""

    model_config = ConfigDict(extra="ignore")

    project_id: int | str | None = Field(default=None, description="If given, the API key's project")
    events: list[Any]
    outcomes: list[Any] | None = None


class ValidBatch(BaseModel):
    """The body when every event in it is valid, parsed and validated from JSON in one pass.

    The common case, and twice as fast as parsing first and validating event by event; a body that does not
    fit it takes the slower way, which says which events are wrong.
    """

    model_config = ConfigDict(extra="ignore")

    project_id: int | str | None = None
    events: list[EventIn]
    outcomes: list[Any] | None = None


class BatchDoc(BatchIn):
    """What the body looks like, for the OpenAPI document only (the route validates events one by one)."""

    events: list[EventIn]
    outcomes: list[OutcomeIn] | None = None


class RejectedEvent(BaseModel):
    index: int = Field(description="Position in `events`, from 0")
    reason: str = Field(description="The field at fault and what is wrong with it")


class BatchResult(BaseModel):
    status: Literal["ok"] = "ok"
    events_received: int
    events_stored: int
    events_duplicate: int = Field(description="Events whose event_id was already stored (or repeated)")
    events_rejected: int
    events_unpriced: int = Field(description="Stored events no price is known for: counted, costed at 0")
    rejected: list[RejectedEvent]


Checked = tuple[list[tuple[int, EventIn]], list[RejectedEvent]]


def validate_events(events: list[Any], now: datetime) -> Checked:
    """The valid events with their positions, and why each other one was refused."""
    validated: list[tuple[int, EventIn]] = []
    rejected: list[RejectedEvent] = []
    for index, raw in enumerate(events):
        if not isinstance(raw, dict):
            rejected.append(RejectedEvent(index=index, reason=f"event: must be an object, not {_kind(raw)}"))
            continue
        try:
            validated.append((index, EventIn.model_validate(raw)))
        except ValidationError as exc:
            rejected.append(RejectedEvent(index=index, reason=validation_reason(exc)))
    accepted, inconsistent = check_events(validated, now)
    if inconsistent:
        rejected = sorted(rejected + inconsistent, key=lambda rejection: rejection.index)
    return accepted, rejected


def check_events(validated: list[tuple[int, EventIn]], now: datetime) -> Checked:
    """Of events whose fields are each valid, those whose fields agree with each other and the clock."""
    accepted: list[tuple[int, EventIn]] = []
    rejected: list[RejectedEvent] = []
    latest = now + FUTURE_TOLERANCE
    for index, event in validated:
        reason = _inconsistency(event, latest)
        if reason is None:
            accepted.append((index, event))
        else:
            rejected.append(RejectedEvent(index=index, reason=reason))
    return accepted, rejected


def _inconsistency(event: EventIn, latest: datetime) -> str | None:
    if event.timestamp > latest:
        return f"timestamp: {event.timestamp.isoformat()} is more than 5 minutes in the future"
    if (event.cached_tokens or 0) > event.input_tokens:
        return "cached_tokens: cannot exceed input_tokens (cache reads are part of the prompt)"
    if event.reasoning > event.output_tokens:
        return "reasoning_tokens: cannot exceed output_tokens (reasoning is part of the output)"
    if len(event.tag_values()) > MAX_TAGS:
        return f"metadata.tags: at most {MAX_TAGS} tags"
    return None


def validation_reason(exc: ValidationError) -> str:
    """Each field's first error as `field: message`, the field dotted (`metadata.user_id`)."""
    messages: dict[str, str] = {}
    for error in exc.errors():
        messages.setdefault(".".join(str(part) for part in error["loc"]) or "event", error["msg"])
    return "; ".join(f"{field}: {message}" for field, message in messages.items())


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def inlined_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its definitions inlined, to describe a body the route reads itself."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    result: dict[str, Any] = inline(schema)
    return result
