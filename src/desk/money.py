"""Money as desk stores it: whole cents, exact in sums, shown as Decimal amounts."""

from __future__ import annotations

from decimal import Decimal


def cents(amount: Decimal) -> int:
    """An amount of money as whole cents (half away from zero)."""
    return int((amount * 100).quantize(Decimal("1"), rounding="ROUND_HALF_UP"))


def from_cents(value: int) -> Decimal:
    """Whole cents as a Decimal amount."""
    return (Decimal(value) / 100).quantize(Decimal("0.01"))
