"""V2X: energy a car fed back during a session, credited on its CDR.

OCPI 2.2.1 tariffs price consumption only (prices are not negative), so the feed-in price is
a field of ChargeNet's tariff beside the OCPI object, snapshotted with it at session start.
The credit is one more line of the priced session, ``FEED_IN``: its volume the exported kWh,
its amount negative. **Decision:** the credit carries no VAT (a driver feeding back is not a
VAT-registered supplier); it lowers the session's total and sits in the "no VAT" group of
the VAT summary, so CDR and invoice show energy in (priced) and energy out (credited).
"""

from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal

from billing.pricing import PriceBreakdown, PriceLine, currency_exponent

FEED_IN = "FEED_IN"
_KWH = Decimal("0.001")


def credit_line(*, exported_wh: int, price_per_kwh: Decimal | None, currency: str) -> PriceLine | None:
    """The credit for ``exported_wh`` at ``price_per_kwh`` (excl. VAT), or None when nothing
    is credited (no export, no feed-in price)."""
    if price_per_kwh is None or exported_wh <= 0:
        return None
    kwh = (Decimal(exported_wh) / 1000).quantize(_KWH, ROUND_HALF_UP)
    q = Decimal(1).scaleb(-currency_exponent(currency))
    amount = -(kwh * price_per_kwh).quantize(q, ROUND_HALF_UP)
    return PriceLine(
        element_index=None, component=FEED_IN, volume=kwh, billed_volume=kwh, unit_price=-price_per_kwh,
        vat_rate=None, amount_excl_vat=amount, amount_incl_vat=amount,
    )


def with_credit(breakdown: PriceBreakdown, line: PriceLine | None) -> PriceBreakdown:
    """The breakdown with the credit line added to its lines, totals and VAT summary."""
    if line is None:
        return breakdown
    summary = dict(breakdown.vat_summary)
    base, vat = summary.get(None, (Decimal(0), Decimal(0)))
    summary[None] = (base + line.amount_excl_vat, vat)
    return replace(
        breakdown,
        lines=[*breakdown.lines, line],
        total_excl_vat=breakdown.total_excl_vat + line.amount_excl_vat,
        total_incl_vat=breakdown.total_incl_vat + line.amount_incl_vat,
        vat_summary=summary,
    )
