"""Money is integer nanodollars (1 USD = 10**9); USD appears only at the edges."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

NANOS_PER_USD = 10**9
JSON_USD_PLACES = Decimal("0.000001")
MICROS_PER_USD = 10**6
NANOS_PER_MICRO_USD = NANOS_PER_USD // MICROS_PER_USD


def usd_to_nanos(usd: Decimal | str | int) -> int:
    """Exact conversion; a rate finer than a nanodollar is a data error, not something to round away."""
    nanos = Decimal(usd) * NANOS_PER_USD
    if nanos != nanos.to_integral_value():
        raise ValueError(f"{usd} USD is not a whole number of nanodollars")
    return int(nanos)


def nanos_to_decimal(nanos: int) -> Decimal:
    return Decimal(nanos) / NANOS_PER_USD


def nanos_to_json_usd(nanos: int) -> float:
    """USD for a JSON number: rounded to 6 places, since one LLM call can cost a millionth of a dollar."""
    return float(nanos_to_decimal(nanos).quantize(JSON_USD_PLACES, rounding=ROUND_HALF_EVEN))


def change_percent(current: int, previous: int) -> float | None:
    """Change against the previous period; None when there is nothing to compare with."""
    if previous == 0:
        return 0.0 if current == 0 else None
    return round((current - previous) * 100 / previous, 1)


def format_usd(nanos: int) -> str:
    """Dollars to the micro-dollar as the API's JSON has them ("$1,234.567890"), half to even, in integers."""
    micros, remainder = divmod(abs(nanos), NANOS_PER_MICRO_USD)
    if 2 * remainder > NANOS_PER_MICRO_USD or (2 * remainder == NANOS_PER_MICRO_USD and micros % 2):
        micros += 1
    whole, fraction = divmod(micros, MICROS_PER_USD)
    sign = "-" if nanos < 0 and micros else ""
    return f"{sign}${whole:,}.{fraction:06d}"
