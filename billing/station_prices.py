"""Prices and costs on the charger's own display (OCPP 2.0.1 block I, OCA California Pricing for 1.6).

The gateway asks here, per station, whether it shows prices and costs and what to show:
- 2.0.1: the device model's ``TariffCostCtrlr.Enabled`` (instance ``Tariff`` / ``Cost``) as the
  station reported it (NotifyReport / GetVariables). Tariff: the price text goes out as the
  ``personalMessage`` of Authorize and TransactionEvent answers. Cost: the final cost is the
  Ended event's ``totalCost``, the running cost a ``CostUpdated`` every
  ``OCPP_COST_UPDATE_INTERVAL_S``.
- 1.6: the configuration key ``CustomDisplayCostAndPrice`` = true (the OCA "OCPP & California
  Pricing Requirements" customization, vendorId ``org.openchargealliance.costmsg``). The price
  text goes out as DataTransfer ``SetUserPrice`` after an accepted Authorize, the running cost
  as ``RunningCost`` at the same interval, the final cost as ``FinalCost`` once the CDR exists.

What a station supports is read at most every ``SUPPORT_CACHE_S`` per process: the per-frame
path costs no extra query. All amounts come from `billing.prices`, the CDR's own pricing.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from billing.models import SessionTariff
from billing.prices import quote, running_cost, session_cost
from billing.pricing import ENERGY, FLAT, TIME, prices_in_force
from stations.models import ChargingSession, ChargingStation, DeviceModelVariable, IdToken, SessionStatus

logger = logging.getLogger(__name__)

SUPPORT_CACHE_S = 30.0
COSTMSG_VENDOR_ID = "org.openchargealliance.costmsg"
CALIFORNIA_KEY = "CustomDisplayCostAndPrice"


@dataclass(frozen=True)
class DisplaySupport:
    tariff: bool = False  # shows a price text (2.0.1 Tariff enabled; 1.6 California)
    cost: bool = False  # shows running and final costs (2.0.1 Cost enabled; 1.6 California)
    california: bool = False  # 1.6: through the costmsg DataTransfer messages


_support: dict[int, tuple[float, DisplaySupport]] = {}


def forget_support(station_pk: int | None = None) -> None:
    """Drop cached support flags (after a device model report, and in tests)."""
    if station_pk is None:
        _support.clear()
    else:
        _support.pop(station_pk, None)


def cached_support(station_pk: int) -> DisplaySupport | None:
    """The cached flags if fresh, without touching the database (the gateway asks this first)."""
    cached = _support.get(station_pk)
    if cached is not None and time.monotonic() - cached[0] < SUPPORT_CACHE_S:
        return cached[1]
    return None


def display_support(station_pk: int) -> DisplaySupport:
    """What the station displays, from its reported device model or 1.6 configuration."""
    now = time.monotonic()
    cached = _support.get(station_pk)
    if cached is not None and now - cached[0] < SUPPORT_CACHE_S:
        return cached[1]
    rows = DeviceModelVariable.objects.filter(station_id=station_pk, attribute_type="Actual").filter(
        component__in=("TariffCostCtrlr", "OCPP16"), variable__in=("Enabled", CALIFORNIA_KEY)
    ).values_list("component", "variable", "variable_instance", "value")
    flags = {(c, v, i): value.strip().lower() == "true" for c, v, i, value in rows}
    california = flags.get(("OCPP16", CALIFORNIA_KEY, ""), False)
    support = DisplaySupport(
        tariff=flags.get(("TariffCostCtrlr", "Enabled", "Tariff"), False) or california,
        cost=flags.get(("TariffCostCtrlr", "Enabled", "Cost"), False) or california,
        california=california,
    )
    _support[station_pk] = (now, support)
    return support


def _language() -> str:
    return settings.LANGUAGE_CODE.split("-")[0]


def price_text_for(*, station_pk: int, id_token_value: str | None, evse_pk: int | None = None,
                   language: str | None = None) -> str | None:
    """The price text a driver with this id token sees here now; None: no tariff applies."""
    station = ChargingStation.objects.select_related("site").filter(pk=station_pk).first()
    if station is None:
        return None
    driver_pk = None
    if id_token_value:
        driver_pk = IdToken.objects.filter(value=id_token_value).values_list("driver_id", flat=True).first()
    evse = station.evses.filter(pk=evse_pk).first() if evse_pk else None
    found = quote(station=station, evse=evse, driver_pk=driver_pk, language=language or _language())
    return found.text if found is not None else None


def personal_message(*, station_pk: int, id_token_value: str | None) -> dict[str, Any] | None:
    """2.0.1 MessageContentType with the price text, for a station that shows tariffs."""
    if not display_support(station_pk).tariff:
        return None
    text = price_text_for(station_pk=station_pk, id_token_value=id_token_value)
    if text is None:
        return None
    return {"format": "UTF8", "language": _language(), "content": text[:512]}


def final_total_cost(*, station_pk: int, transaction_id: str) -> float | None:
    """2.0.1 TransactionEvent Ended ``totalCost`` (incl. VAT) for a station that shows costs:
    the CDR's total, or (the CDR still queued) the same pricing up to the stop."""
    if not display_support(station_pk).cost:
        return None
    session = ChargingSession.objects.select_related("station__site").filter(
        station_id=station_pk, transaction_id=transaction_id).first()
    if session is None:
        return None
    cost = session_cost(session=session)
    return float(cost.total_incl_vat) if cost is not None else None


# --------------------------------------------------------------------------------------------
# What goes out as commands (running costs at an interval, 1.6 user price and final cost)


def _charging_price(session: ChargingSession, at: datetime) -> dict[str, float]:
    """California ``chargingPrice`` of the session's tariff at ``at``."""
    from billing.cdrs import session_tariff

    tariff, time_zone, _feed = session_tariff(session)
    return charging_price(tariff, time_zone, at) if tariff is not None else {}


def charging_price(tariff: dict, time_zone: str, at: datetime) -> dict[str, float]:
    """California ``chargingPrice`` (incl. VAT) of what applies at ``at`` without conditions:
    kWhPrice, hourPrice, flatFee."""
    keys = {ENERGY: "kWhPrice", TIME: "hourPrice", FLAT: "flatFee"}
    price: dict[str, float] = {}
    for offered in prices_in_force(tariff=tariff, at=at, time_zone=time_zone):
        key = keys.get(offered.dimension)
        if key and key not in price and not offered.conditions:
            gross = offered.price * (1 + (offered.vat_rate or Decimal(0)) / 100)
            price[key] = float(gross.quantize(Decimal("0.0001")))
    return price


def default_price_command(*, station_pk: int) -> tuple[str, str, dict] | None:
    """1.6 California: the station's public price as its ``DefaultPrice`` configuration key (what
    it shows before a driver is known, and offline): (station id, command, params)."""
    if not display_support(station_pk).california:
        return None
    station = ChargingStation.objects.select_related("site").filter(pk=station_pk).first()
    found = quote(station=station, language=_language()) if station is not None else None
    if found is None:
        return None
    value = {"priceText": found.text, "priceTextOffline": found.text,
             "chargingPrice": charging_price(found.ocpi, found.time_zone, timezone.now())}
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if len(text) > 500:  # a 1.6 configuration value holds 500 characters
        value.pop("priceTextOffline")
        value["priceText"] = found.text[:400]
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return station.station_id, "set_configuration", {"key": "DefaultPrice", "value": text}


def running_cost_commands(*, now: datetime | None = None, station_pk: int | None = None,
                          session_pks: list[int] | None = None) -> list[tuple[str, str, dict]]:
    """(station id, command, params) of a running-cost update for every active session at a
    station that shows costs and whose last update is at least OCPP_COST_UPDATE_INTERVAL_S old
    (``station_pk``/``session_pks``: only those). The sessions are marked as sent at once, in
    one UPDATE, so the meter-value path and the beat sweep never both send one."""
    interval = settings.OCPP_COST_UPDATE_INTERVAL_S
    if interval <= 0:
        return []
    now = now or timezone.now()
    due = Q(tariff_snapshot__cost_sent_at__isnull=True) | Q(tariff_snapshot__cost_sent_at__lte=now - timedelta(
        seconds=interval))
    sessions = ChargingSession.objects.filter(due, status=SessionStatus.ACTIVE, station__is_online=True,
                                              started_at__isnull=False, tariff_snapshot__isnull=False)
    if station_pk is not None:
        sessions = sessions.filter(station_id=station_pk)
    if session_pks is not None:
        sessions = sessions.filter(pk__in=session_pks)
    commands, sent = [], []
    for session in sessions.select_related("station__site"):
        support = display_support(session.station_id)
        if not support.cost:
            continue
        cost = running_cost(session=session, at=now)
        if cost is None:
            continue
        params: dict[str, Any] = {"transaction_id": session.transaction_id, "total_cost": float(cost.total_incl_vat)}
        if support.california:
            params.update({
                "timestamp": now, "meter_wh": int(session.meter_last_wh or session.meter_start_wh or 0),
                "state": "Charging" if session.charging_state in ("", "Charging") else "Idle",
                "charging_price": _charging_price(session, now),
            })
        commands.append((session.station.station_id, "cost_updated", params))
        sent.append(session.pk)
    SessionTariff.objects.filter(session_id__in=sent).update(cost_sent_at=now)
    return commands


async def send_running_costs(*, station_pk: int | None = None, session_pks: list[int] | None = None) -> dict[str, str]:
    """Send the due running-cost updates now, in parallel; {station/transaction: outcome}."""
    from stations.commands.service import send_command_async

    if station_pk is not None and not (cached_support(station_pk) or await sync_to_async(display_support)(station_pk)).cost:
        # A station that shows no cost needs no session query (and is known from now on:
        # the meter-value path then skips it without a database round trip).
        return {}
    commands = await sync_to_async(running_cost_commands)(station_pk=station_pk, session_pks=session_pks)

    async def one(station_id: str, command: str, params: dict) -> tuple[str, str]:
        try:
            result = await send_command_async(station_id=station_id, command=command, params=params, source="billing")
            return f"{station_id}/{params['transaction_id']}", result.outcome
        except Exception as error:  # one station failing never stops the others
            logger.warning("running cost to %s failed: %s", station_id, error)
            return f"{station_id}/{params['transaction_id']}", f"error: {error}"

    return dict(await asyncio.gather(*(one(*c) for c in commands)))


def user_price_command(*, station_pk: int, id_token_value: str) -> tuple[str, str, dict] | None:
    """1.6 California ``SetUserPrice`` after an accepted Authorize: (station id, command, params)."""
    if not display_support(station_pk).california:
        return None
    text = price_text_for(station_pk=station_pk, id_token_value=id_token_value)
    if text is None:
        return None
    station_id = ChargingStation.objects.values_list("station_id", flat=True).get(pk=station_pk)
    return station_id, "set_user_price", {"id_token": id_token_value, "price_text": text}


def final_cost_command(*, session_pk: int) -> tuple[str, str, dict] | None:
    """1.6 California ``FinalCost`` of a completed session (its CDR): (station id, command, params)."""
    session = ChargingSession.objects.select_related("station__site").filter(pk=session_pk).first()
    if session is None or session.status != SessionStatus.COMPLETED:
        return None
    if not display_support(session.station_id).california:
        return None
    cost = session_cost(session=session)
    if cost is None:
        return None
    text = f"{cost.total_incl_vat} {cost.currency}, {cost.energy_kwh.quantize(Decimal('0.01'))} kWh"
    # The QR code on the display leads the driver to the session (and its cost lines) in the portal.
    receipt = f"{settings.CHARGENET_PUBLIC_URL}/portal/sessions/{session.pk}/"
    return session.station.station_id, "final_cost", {
        "transaction_id": session.transaction_id, "total_cost": float(cost.total_incl_vat), "price_text": text,
        "qr_code_text": receipt,
    }


async def send_command_tuple(command: tuple[str, str, dict] | None) -> str | None:
    """Send one (station id, command, params); the outcome, or None when there was nothing to send."""
    from stations.commands.service import send_command_async

    if command is None:
        return None
    station_id, name, params = command
    result = await send_command_async(station_id=station_id, command=name, params=params, source="billing")
    return result.outcome


_tasks: set[asyncio.Task] = set()


def send_user_price_later(*, station_pk: int, id_token_value: str) -> None:
    """1.6 California ``SetUserPrice`` from its own task, after the Authorize answer went out
    (a handler must not wait for its own station's answer)."""

    async def send() -> None:
        try:
            command = await sync_to_async(user_price_command)(station_pk=station_pk, id_token_value=id_token_value)
            await send_command_tuple(command)
        except Exception:
            logger.exception("SetUserPrice to station %s failed", station_pk)

    task = asyncio.get_running_loop().create_task(send())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


def send_soon(command: tuple[str, str, dict] | None, *, name: str) -> bool:
    """Send a command from any thread on the server loop, in a fresh context: a receiver that
    runs inside a command's own answer handling (asgiref's sync thread) must not hand its
    context, and with it that busy thread, to the new task. Without a server loop (a Celery
    worker) it becomes a task. False: nothing to send."""
    from stations import background

    if command is None:
        return False
    loop = background.server_loop()
    if loop is None:  # a Celery worker (REDIS_URL set): a task of its own, off this thread (by name:
        from celery import current_app  # billing.tasks imports this module)

        station_id, name_, params = command
        current_app.send_task("billing.send_station_command",
                              args=(station_id, name_, json.loads(json.dumps(params, default=str))))
        return True
    context = contextvars.Context()

    async def send() -> None:
        try:
            await send_command_tuple(command)
        except Exception:
            logger.exception("%s failed", name)

    def start() -> None:
        task = loop.create_task(send(), context=context)
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)

    loop.call_soon_threadsafe(start, context=context)
    return True
