"""Outbound notification URLs: http or https to public addresses only, checked when saved and when sent.

A URL a user gives us (a Slack incoming webhook, a signed webhook) must not make this server call into the
network it runs in (SSRF): metadata services (169.254.169.254), the database, loopback admin ports. So its
host is resolved and every address it resolves to must be public; a private, loopback, link-local, shared,
reserved, multicast or unspecified one is refused unless ALLOW_PRIVATE_WEBHOOKS=true. At send time the host
is resolved again and the request goes to the very address that was checked (the URL's host stays in the Host
header and in TLS's SNI and certificate check), so a DNS answer that changes between the check and the
connection (DNS rebinding) cannot reach a private address. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

import httpx

MAX_URL_LENGTH = 2000
RESOLVE_TIMEOUT_SECONDS = 5.0
SEND_TIMEOUT_SECONDS = 10.0
KEPT_RESPONSE_BYTES = 500

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(ValueError):
    """The URL is not one we send to; the message says why (without the URL's secret path)."""


class SendFailed(RuntimeError):
    """The endpoint did not accept the notification; retried by the outbox."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def parse(url: str) -> httpx.URL:
    """An absolute http(s) URL with a host and no user name or password in it."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"must be at most {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise UnsafeURL(f"is not a valid URL ({exc})") from exc
    if parsed.scheme not in ("http", "https"):
        raise UnsafeURL("must be an http:// or https:// URL")
    if not parsed.host:
        raise UnsafeURL("has no host")
    if parsed.userinfo:
        raise UnsafeURL("must not carry a user name or password")
    return parsed


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def describe(url: str) -> str:
    """What may be shown or logged of a URL: its scheme, host and port (a Slack URL's path is its secret)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        return "(invalid URL)"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}"


@dataclass(frozen=True)
class Destination:
    url: httpx.URL
    address: IPAddress

    def request_to_address(self) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
        """The URL with the checked address as its host, the Host header, and TLS's server name."""
        host = self.url.raw_host.decode("ascii")
        pinned = self.url.copy_with(host=str(self.address))
        extensions: dict[str, Any] = {"sni_hostname": host} if self.url.scheme == "https" else {}
        return pinned, {"Host": self.url.netloc.decode("ascii")}, extensions


async def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_SECONDS
        )
    except (OSError, TimeoutError) as exc:
        raise UnsafeURL(f"host {host!r} does not resolve") from exc
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise UnsafeURL(f"host {host!r} does not resolve")
    return found


async def resolve(url: str, *, allow_private: bool) -> Destination:
    """Check `url` and the addresses its host resolves to; the first one is where a request goes."""
    parsed = parse(url)
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = await _addresses(host, port)
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise UnsafeURL(
                    f"host {host!r} is (or resolves to) {address}, which is not a public address;"
                    " set ALLOW_PRIVATE_WEBHOOKS=true to allow it"
                )
    return Destination(parsed, addresses[0])


async def post(
    url: str,
    content: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
) -> int:
    """POST `content` to `url` (checked again now); the status code of a 2xx, else `SendFailed`."""
    try:
        destination = await resolve(url, allow_private=allow_private)
    except UnsafeURL as exc:
        raise SendFailed(f"refused {describe(url)}: {exc}") from exc
    target, host_header, extensions = destination.request_to_address()
    # trust_env=False: no proxy from the environment, so the checked address is the one connected to.
    async with httpx.AsyncClient(
        timeout=SEND_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False
    ) as client:
        try:
            async with client.stream(
                "POST",
                target,
                content=content,
                headers={**headers, **host_header},
                extensions=extensions,
            ) as response:
                if 200 <= response.status_code < 300:
                    return response.status_code
                text = await _start_of(response)
                raise SendFailed(
                    f"{describe(url)} answered {response.status_code}: {text}", response.status_code
                )
        except httpx.HTTPError as exc:
            raise SendFailed(f"{describe(url)}: {type(exc).__name__}: {exc}") from exc


async def _start_of(response: httpx.Response) -> str:
    """The first bytes of a refusal, enough to say why, without reading a body of any size."""
    kept = b""
    async for chunk in response.aiter_bytes():
        kept += chunk
        if len(kept) >= KEPT_RESPONSE_BYTES:
            break
    return kept[:KEPT_RESPONSE_BYTES].decode("utf-8", "replace").strip() or "(empty body)"
