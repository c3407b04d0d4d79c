"""Exact money: USD as :class:`~decimal.Decimal`, stored as integer pico-dollars.

Money never passes through float arithmetic inside gw. Prices and costs are
``Decimal``; the SQLite store keeps integers of 1e-12 USD ("units"); PostgreSQL
keeps ``NUMERIC``. Floats appear only at the JSON edge (``to_json``), where a
client expects a number.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

#: Money is quantised to 12 decimal places (one pico-dollar).
QUANTUM = Decimal("0.000000000001")
UNITS_PER_USD = 10**12
ZERO = Decimal(0)


def quantize(amount: Decimal) -> Decimal:
    """Round to the pico-dollar, half to even (the only rounding gw does)."""
    return amount.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


def to_units(amount: Decimal) -> int:
    """USD Decimal -> integer pico-dollars (exact after :func:`quantize`)."""
    return int(quantize(amount) * UNITS_PER_USD)


def from_units(units: int) -> Decimal:
    """Integer pico-dollars -> USD Decimal with 12 places."""
    return quantize(Decimal(units) / UNITS_PER_USD)


def parse_usd(value: object) -> Decimal:
    """Read a USD amount from config or JSON (int, float or string) exactly.

    A float is read through its shortest ``repr`` (``0.1`` -> ``Decimal('0.1')``),
    never through its binary value. Raises ``ValueError`` on anything that is not a
    finite number (bools, NaN, infinity, garbage).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError("not a number")
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not amount.is_finite():
        raise ValueError("not a finite number")
    return amount


def to_json(amount: Decimal | None) -> float | None:
    """The JSON edge: a float for clients (None stays None)."""
    return None if amount is None else float(amount)


def cost_of(prompt_tokens: int, completion_tokens: int,
            input_price: Decimal, output_price: Decimal) -> Decimal:
    """Exact cost of a call: tokens times per-token prices, quantised once."""
    return quantize(prompt_tokens * input_price + completion_tokens * output_price)
