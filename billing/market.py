"""Market (day-ahead) prices: importing a feed's curve and pricing with it.

Import: a feed is a CSV file (path or URL) or an HTTP JSON document with one row per price
point (start, optional end, price). Points are stored per feed with their validity; an import
replaces the stored points its time span covers, in one transaction, so a corrected day-ahead
publication wins and a failed import leaves the old curve intact.

Pricing: a dynamic tariff is an ordinary OCPI tariff with a feed. Before the pricing engine
sees it, `follow_market` puts one ENERGY element per price point in front of the tariff's own
elements, restricted to the point's local date and wall-clock window (OCPI restrictions are
local to the Location). The engine already cuts a session at every restriction boundary, so a
price change during a session prices each part at its own price, with the same step_size,
VAT and rounding rules as every other tariff, and the CDR embeds the prices it used.
**Decision:** in the repeated hour of an autumn clock change a local window happens twice;
both occurrences are priced at the first one's price (OCPI restrictions cannot tell them apart).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from django.db import transaction
from django.utils import timezone

from billing.models import MarketPrice, MarketPriceFeed
from billing.signals import market_prices_imported

logger = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 20.0
_MWH = Decimal(1000)


class MarketImportError(ValueError):
    """The feed could not be read or a row is unusable; nothing was stored."""


@dataclass(frozen=True)
class PricePoint:
    starts_at: datetime
    ends_at: datetime
    price_per_kwh: Decimal  # the market price, before margin and VAT


# --------------------------------------------------------------------------------------------
# Import


def _instant(value: Any, what: str) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise MarketImportError(f"{what}: expected an ISO 8601 date-time, got {value!r}")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MarketImportError(f"{what}: expected an ISO 8601 date-time, got {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _price(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise MarketImportError(f"{what}: expected a number, got {value!r}")
    text = str(value).strip()
    if "," in text and "." not in text:
        text = text.replace(",", ".")  # 84,50 in European CSV files
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise MarketImportError(f"{what}: expected a number, got {value!r}") from None
    if not number.is_finite():
        raise MarketImportError(f"{what}: expected a finite number, got {value!r}")
    return number


def parse_points(feed: MarketPriceFeed, rows: Iterable[Mapping[str, Any]]) -> list[PricePoint]:
    """Rows (dicts keyed by the feed's field names) as price points per kWh, sorted, checked
    for overlaps. A row without an end lasts the feed's resolution."""
    points = []
    step = timedelta(minutes=feed.resolution_minutes)
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise MarketImportError(f"row {n}: expected an object, got {row!r}")
        start = _instant(row.get(feed.start_field), f"row {n} {feed.start_field}")
        raw_end = row.get(feed.end_field) if feed.end_field else None
        end = _instant(raw_end, f"row {n} {feed.end_field}") if raw_end not in (None, "") else start + step
        if end <= start:
            raise MarketImportError(f"row {n}: ends at {end.isoformat()}, not after its start {start.isoformat()}")
        price = _price(row.get(feed.price_field), f"row {n} {feed.price_field}")
        if feed.unit == MarketPriceFeed.Unit.MWH:
            price /= _MWH
        points.append(PricePoint(start, end, price.quantize(Decimal("0.000001"))))
    points.sort(key=lambda p: p.starts_at)
    for before, after in zip(points, points[1:], strict=False):
        if after.starts_at < before.ends_at:
            raise MarketImportError(f"price points overlap at {after.starts_at.isoformat()}")
    if not points:
        raise MarketImportError("the feed has no price points")
    return points


def _rows_of_csv(text: str) -> list[dict[str, str]]:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return list(csv.DictReader(io.StringIO(text), dialect=dialect))


def _rows_of_json(feed: MarketPriceFeed, text: str) -> Any:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise MarketImportError(f"not JSON: {error}") from None
    for key in filter(None, feed.json_items.split(".")):
        if not isinstance(document, Mapping) or key not in document:
            raise MarketImportError(f"the JSON document has no {feed.json_items!r}")
        document = document[key]
    if not isinstance(document, list):
        where = f" at {feed.json_items!r}" if feed.json_items else ""
        raise MarketImportError(f"expected a list of price points{where}")
    return document


def fetch(feed: MarketPriceFeed, *, transport: httpx.BaseTransport | None = None) -> str:
    """The feed's document: an HTTP(S) GET, or a local file for CSV feeds."""
    if feed.source.startswith(("http://", "https://")):
        try:
            with httpx.Client(timeout=FETCH_TIMEOUT_S, transport=transport, follow_redirects=True) as client:
                response = client.get(feed.source)
                response.raise_for_status()
                return response.text
        except httpx.HTTPError as error:
            raise MarketImportError(f"fetching {feed.source} failed: {error}") from None
    if feed.kind != MarketPriceFeed.Kind.CSV:
        raise MarketImportError("a JSON feed needs an http(s) URL")
    try:
        return Path(feed.source).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise MarketImportError(f"reading {feed.source} failed: {error}") from None


def import_feed(*, feed: MarketPriceFeed, text: str | None = None,
                transport: httpx.BaseTransport | None = None) -> int:
    """Fetch (unless ``text`` is given), parse and store a feed's points; returns how many.

    Stored points overlapping the imported span are replaced. On error nothing changes except
    ``last_error``, and `MarketImportError` is raised."""
    try:
        text = fetch(feed, transport=transport) if text is None else text
        rows = _rows_of_csv(text) if feed.kind == MarketPriceFeed.Kind.CSV else _rows_of_json(feed, text)
        points = parse_points(feed, rows)
    except MarketImportError as error:
        MarketPriceFeed.objects.filter(pk=feed.pk).update(last_error=str(error)[:2000])
        raise
    _store(feed, points)
    transaction.on_commit(lambda: market_prices_imported.send(sender=MarketPriceFeed, feed_pk=feed.pk))
    return len(points)


@transaction.atomic
def _store(feed: MarketPriceFeed, points: list[PricePoint]) -> None:
    MarketPriceFeed.objects.select_for_update().filter(pk=feed.pk).first()  # one import per feed at a time
    MarketPrice.objects.filter(
        feed=feed, starts_at__lt=points[-1].ends_at, ends_at__gt=points[0].starts_at
    ).delete()
    MarketPrice.objects.bulk_create(
        MarketPrice(feed=feed, starts_at=p.starts_at, ends_at=p.ends_at, price_per_kwh=p.price_per_kwh)
        for p in points
    )
    feed.last_imported_at, feed.last_error = timezone.now(), ""
    MarketPriceFeed.objects.filter(pk=feed.pk).update(last_imported_at=feed.last_imported_at, last_error="")


def import_enabled_feeds() -> dict[str, Any]:
    """What the Celery beat entry runs: every enabled feed; one failing does not stop the others."""
    result: dict[str, Any] = {}
    for feed in MarketPriceFeed.objects.filter(enabled=True).order_by("name"):
        try:
            result[feed.name] = import_feed(feed=feed)
        except MarketImportError as error:
            logger.warning("market price feed %s: %s", feed.name, error)
            result[feed.name] = f"error: {error}"
    return result


# --------------------------------------------------------------------------------------------
# Pricing with the curve


def end_customer_price(feed: MarketPriceFeed, market_price: Decimal) -> Decimal:
    """Market price + margin, excl. VAT (the OCPI price of the energy component)."""
    return market_price + feed.margin_per_kwh


def points_between(feed_pk: int, start: datetime, end: datetime) -> list[PricePoint]:
    rows = MarketPrice.objects.filter(feed_id=feed_pk, starts_at__lt=end, ends_at__gt=start).order_by("starts_at")
    return [PricePoint(r.starts_at, r.ends_at, r.price_per_kwh) for r in rows]


def follow_market(tariff: Mapping[str, Any], *, feed: MarketPriceFeed, points: list[PricePoint],
                  time_zone: str) -> dict[str, Any]:
    """The OCPI tariff with one ENERGY element per price point in front of its own elements.

    Each element's price is market + margin (excl. VAT, never below 0: OCPI prices are not
    negative), its VAT the feed's, its step_size that of the tariff's first ENERGY component
    (1 Wh without one). The tariff's own ENERGY prices apply where no point is stored."""
    zone = ZoneInfo(time_zone)
    step, seen, market_elements = _energy_step(tariff), set(), []
    vat = None if feed.vat is None else float(feed.vat)
    for point in points:
        # Wall-clock window: local start + the point's length, so that a point in the autumn
        # fold (02:45 CEST to 02:00 CET) stays 02:45-03:00 and never wraps around the day.
        local_start = point.starts_at.astimezone(zone).replace(tzinfo=None)
        local_end = local_start + (point.ends_at - point.starts_at)
        if (local_start.date(), local_start.time()) in seen:
            continue  # the repeated hour of an autumn clock change (see the module's Decision)
        seen.add((local_start.date(), local_start.time()))
        price = float(max(end_customer_price(feed, point.price_per_kwh), Decimal(0)))  # OCPI: a JSON number
        day, midnight = local_start.date(), datetime.combine(local_start.date() + timedelta(days=1), time())
        windows = [(day, local_start, min(local_end, midnight))]
        while local_end > midnight:  # a point across midnight: one element per local date
            day, start = midnight.date(), midnight
            midnight += timedelta(days=1)
            windows.append((day, start, min(local_end, midnight)))
        for day, start, end in windows:
            market_elements.append({
                "price_components": [{"type": "ENERGY", "price": price, "vat": vat, "step_size": step}],
                "restrictions": {
                    "start_date": day.isoformat(),
                    "end_date": (day + timedelta(days=1)).isoformat(),
                    "start_time": start.strftime("%H:%M"),
                    "end_time": end.strftime("%H:%M"),
                },
            })
    return {**tariff, "elements": [*market_elements, *tariff["elements"]]}


def _energy_step(tariff: Mapping[str, Any]) -> int:
    for element in tariff.get("elements") or []:
        for component in element.get("price_components") or []:
            if component.get("type") == "ENERGY":
                return component.get("step_size") or 1
    return 1


def load_manager_curve(feed: MarketPriceFeed, *, since: datetime) -> list[list[Any]]:
    """The curve as the load manager takes it: ``[[iso start, price per kWh incl. margin and
    VAT], ...]`` from the point valid at ``since`` on (a step curve: each value holds until
    the next start)."""
    rows = MarketPrice.objects.filter(feed=feed, ends_at__gt=since).order_by("starts_at")
    factor = 1 + (feed.vat or Decimal(0)) / 100
    return [
        [r.starts_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
         float((end_customer_price(feed, r.price_per_kwh) * factor).quantize(Decimal("0.00001")))]
        for r in rows
    ]
