"""Slack incoming-webhook messages in Block Kit, with every value escaped, and their sending.

Slack reads `&`, `<` and `>` in mrkdwn text as markup (`<url|label>` links, `<!channel>` mentions), so every
value given here is escaped; a name like `<!channel>` shows as itself and pings nobody. Header blocks are
plain text and need no escaping.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cicosts.notify import urls

MAX_HEADER = 150  # Slack's limit for a header block's text
MAX_FIELD = 2000


def escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def message(
    title: str, summary: str, fields: Sequence[tuple[str, str]] = (), footer: str | None = None
) -> dict[str, Any]:
    """A header, a summary, up to 10 label/value fields and a footer; `text` is the fallback."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(title, MAX_HEADER), "emoji": False}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(escape(summary), MAX_FIELD)}},
    ]
    if fields:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": _cut(f"*{escape(label)}*\n{escape(value)}", MAX_FIELD)}
                    for label, value in fields[:10]
                ],
            }
        )
    if footer:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(footer)}]})
    return {"text": escape(f"{title}: {summary}"), "blocks": blocks}


async def send(url: str, body: dict[str, Any], *, allow_private: bool) -> int:
    """POST the message as JSON; Slack answers 200 `ok`, anything else raises `urls.SendFailed`."""
    content = json.dumps(body, separators=(",", ":")).encode()
    return await urls.post(
        url, content, {"Content-Type": "application/json; charset=utf-8"}, allow_private=allow_private
    )
