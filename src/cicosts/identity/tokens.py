"""Short-lived access tokens (HS256 JWTs) for users."""

from __future__ import annotations

from datetime import timedelta

import jwt

from cicosts.config import Settings
from cicosts.errors import Unauthorized
from cicosts.kit.periods import utc_now

ALGORITHM = "HS256"
AUDIENCE = "cicosts"


def create_access_token(user_id: int, settings: Settings, lifetime: timedelta | None = None) -> str:
    now = utc_now()
    expires = now + (lifetime or timedelta(minutes=settings.jwt_access_token_minutes))
    claims = {"sub": str(user_id), "aud": AUDIENCE, "iat": now, "exp": expires, "type": "access"}
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


def user_id_from_access_token(token: str, settings: Settings) -> int:
    try:
        claims = jwt.decode(token, settings.jwt_secret, algorithms=[ALGORITHM], audience=AUDIENCE)
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("Access token has expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("Access token is invalid") from exc
    if claims.get("type") != "access" or not str(claims.get("sub", "")).isdigit():
        raise Unauthorized("Access token is invalid")
    return int(claims["sub"])
