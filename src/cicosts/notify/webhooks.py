"""Generic webhooks signed with the Standard Webhooks scheme (https://www.standardwebhooks.com).

Each request carries three headers:

- `webhook-id`: the message's id, the same on every retry, so a receiver can drop duplicates;
- `webhook-timestamp`: when this attempt was signed, in whole seconds since the Unix epoch (a receiver refuses
  old ones, which stops replays), so each retry is signed again;
- `webhook-signature`: `v1,` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")), where the key is the
  bytes the secret `whsec_<base64>` encodes. Several space-separated signatures may follow (key rotation).

The body is JSON: `{"type": ..., "timestamp": ..., "data": {...}}`; the exact bytes signed are the bytes sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import uuid

from cicosts.notify import urls

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def key_of(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc
    if not key:
        raise ValueError("a webhook secret cannot be empty")
    return key


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(key_of(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secret: str, message_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }


async def send(
    url: str, secret: str, message_id: str, body: str, *, timestamp: int, allow_private: bool
) -> int:
    """POST `body` signed at `timestamp`; a 2xx status code, or `urls.SendFailed`."""
    return await urls.post(
        url, body.encode(), headers(secret, message_id, timestamp, body), allow_private=allow_private
    )
