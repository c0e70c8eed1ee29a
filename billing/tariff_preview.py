"""What a session would cost under a tariff being edited: the tariff editor's live preview.

The same ``price_session`` that prices real sessions, on a made-up session: it starts at a
given local time, charges a given energy evenly over its charging minutes, then stays
plugged in (parking) for the rest. So the preview shows exactly what the CDR would say.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from billing.pricing import PricingError, Reading, SessionTimeline, price_session


class PreviewError(ValueError):
    """The preview's inputs or the tariff cannot be priced; the message says why."""


@dataclass(frozen=True)
class PreviewSession:
    start_local: datetime  # naive, wall-clock time in ``time_zone``
    time_zone: str
    energy_kwh: Decimal
    charging_minutes: int
    parking_minutes: int = 0


def preview_cost(*, tariff: dict, session: PreviewSession) -> dict:
    """The price breakdown (``PriceBreakdown.as_dict()``) of ``session`` under ``tariff``."""
    try:
        zone = ZoneInfo(session.time_zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise PreviewError(f"unknown time zone {session.time_zone!r}") from error
    if session.energy_kwh < 0 or session.charging_minutes < 0 or session.parking_minutes < 0:
        raise PreviewError("energy and minutes cannot be negative")
    start = session.start_local.replace(tzinfo=zone)
    charged = start + timedelta(minutes=session.charging_minutes)
    end = charged + timedelta(minutes=session.parking_minutes)
    timeline = SessionTimeline(start=start, end=end, readings=[
        Reading(timestamp=start, energy_wh=0),
        Reading(timestamp=charged, energy_wh=session.energy_kwh * 1000),
    ])
    try:
        return price_session(tariff=tariff, timeline=timeline, time_zone=session.time_zone).as_dict()
    except PricingError as error:
        raise PreviewError(str(error)) from error
