"""FOCUS decimal amounts as integer billionths of their currency: exact, rounded only past nine decimals.

FOCUS allows any number of decimals (the public sample has eleven). A value with at most nine, or whose
digits past the ninth are zeros, converts exactly. Otherwise it is rounded half to even to the nanodollar,
and the importer keeps the exact text beside the row (`unrounded`), so nothing is lost and the stored
integers add up exactly to the sum of the rounded values.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

NANO_PLACES = 9
MAX_NANOS = 2**63 - 1  # BIGINT: about 9.2 billion units of a currency in one row
_ONE = Decimal(1)
_DIGITS = frozenset("0123456789")


class NotAnAmount(ValueError):
    """The value is not a finite decimal number (or is too large for one row)."""


def nanos_of(value: Any) -> tuple[int, bool]:
    """`value` (decimal text, Decimal, int or float) in billionths, and whether that is exact."""
    if isinstance(value, str):
        return _text_nanos(value)
    if isinstance(value, bool):
        raise NotAnAmount(f"{value!r} is not a number")
    if isinstance(value, int):
        return _checked(value * 10**NANO_PLACES), True
    if isinstance(value, float):
        # repr: the shortest decimal that reads back as the same float, i.e. what the writer meant
        return _decimal_nanos(Decimal(repr(value)))
    if isinstance(value, Decimal):
        return _decimal_nanos(value)
    raise NotAnAmount(f"{value!r} is not a number")


def _text_nanos(text: str) -> tuple[int, bool]:
    """Plain decimal text by string arithmetic (most values); anything else through Decimal."""
    digits = text.strip()
    negative = digits.startswith("-")
    if negative or digits.startswith("+"):
        digits = digits[1:]
    whole, _, fraction = digits.partition(".")
    if (whole or fraction) and _DIGITS.issuperset(whole) and _DIGITS.issuperset(fraction):
        exact = len(fraction) <= NANO_PLACES or not fraction[NANO_PLACES:].strip("0")
        if exact:
            nanos = int(whole or "0") * 10**NANO_PLACES + int(fraction[:NANO_PLACES].ljust(NANO_PLACES, "0"))
            return _checked(-nanos if negative else nanos), True
    return _decimal_nanos(_decimal(text))


def _decimal(text: str) -> Decimal:
    """Decimal text in ASCII (Decimal itself would also take other scripts' digits)."""
    try:
        if not text.isascii():
            raise InvalidOperation
        return Decimal(text.strip())
    except InvalidOperation:
        raise NotAnAmount(f"{text!r} is not a number") from None


def _decimal_nanos(number: Decimal) -> tuple[int, bool]:
    if not number.is_finite():
        raise NotAnAmount(f"{number} is not a finite number")
    scaled = number.scaleb(NANO_PLACES)
    if scaled.adjusted() > 18:  # more digits than a BIGINT holds (and than quantize may produce)
        raise NotAnAmount("out of range (more than 9.2 billion in one row)")
    rounded = scaled.quantize(_ONE, rounding=ROUND_HALF_EVEN)
    return _checked(int(rounded)), rounded == scaled


def _checked(nanos: int) -> int:
    if abs(nanos) > MAX_NANOS:
        raise NotAnAmount("out of range (more than 9.2 billion in one row)")
    return nanos


def decimal_text(value: Any) -> str:
    """A quantity or unit price as exact decimal text (never rounded: it is kept, not summed)."""
    if isinstance(value, str):
        text = value.strip()
        number = _decimal(text)
    elif isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        number = Decimal(value)
        text = str(number)
    elif isinstance(value, float):
        text = repr(value)
        number = Decimal(text)
    else:
        raise NotAnAmount(f"{value!r} is not a number")
    if not number.is_finite():
        raise NotAnAmount(f"{value!r} is not a finite number")
    return text
