"""The few GitHub OAuth and REST calls sign-in needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from cicosts.config import Settings
from cicosts.errors import BadGateway, BadRequest

MAX_PAGES = 10


@dataclass(frozen=True)
class GitHubUser:
    id: int
    login: str
    name: str | None
    email: str | None
    avatar_url: str | None


@dataclass(frozen=True)
class GitHubOrgMembership:
    id: int
    login: str
    role: str  # "admin" | "member"


class GitHubClient:
    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self.http = http
        self.settings = settings

    async def exchange_code(self, code: str, code_verifier: str, redirect_uri: str) -> str:
        response = await self._send(
            "POST",
            f"{self.settings.github_url}/login/oauth/access_token",
            data={
                "client_id": self.settings.github_client_id,
                "client_secret": self.settings.github_client_secret,
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            },
        )
        body = response.json()
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            reason = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
            raise BadRequest(f"GitHub refused the sign-in: {reason or 'no access token'}")
        return str(token)

    async def user(self, token: str) -> GitHubUser:
        data = (await self._api("GET", "/user", token)).json()
        email = data.get("email")
        if not email:
            emails = (await self._api("GET", "/user/emails", token)).json()
            email = next((e["email"] for e in emails if e.get("primary") and e.get("verified")), None)
        return GitHubUser(
            int(data["id"]), str(data["login"]), data.get("name"), email, data.get("avatar_url")
        )

    async def org_memberships(self, token: str) -> list[GitHubOrgMembership]:
        memberships: list[GitHubOrgMembership] = []
        url: str | None = f"{self.settings.github_api_url}/user/memberships/orgs?state=active&per_page=100"
        for _ in range(MAX_PAGES):
            if url is None:
                break
            response = await self._send("GET", url, headers=self._headers(token))
            for item in response.json():
                org = item["organization"]
                memberships.append(GitHubOrgMembership(int(org["id"]), str(org["login"]), str(item["role"])))
            url = response.links.get("next", {}).get("url")
        return memberships

    def _headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}

    async def _api(self, method: str, path: str, token: str) -> httpx.Response:
        return await self._send(method, f"{self.settings.github_api_url}{path}", headers=self._headers(token))

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("headers", {}).setdefault("Accept", "application/json")
        try:
            response = await self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise BadGateway(f"GitHub could not be reached: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise BadGateway(f"GitHub answered {response.status_code} to {method} {httpx.URL(url).path}")
        return response
