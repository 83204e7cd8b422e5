"""How JSON columns are written, on every backend alike.

Python's JSON reader accepts NaN and Infinity, which JSON cannot express (PostgreSQL refuses them), so they
are written as null. pydantic-core's encoder also writes metadata four times faster than `json.dumps`.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_json


def json_text(value: Any) -> str:
    return to_json(value, inf_nan_mode="null").decode()
