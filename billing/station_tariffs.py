"""OCPP 2.1 tariffs on the stations that calculate cost themselves (2.1 functional block I).

A 2.1 station whose device model reports ``TariffCostCtrlr.Enabled[Tariff]`` = true takes
tariffs (TariffType) and prices its sessions locally, reporting the result as the
TransactionEvent ``costDetails``. ChargeNet stays the one that bills (the CDR), so:

- the four 2.1 tariff commands (``set_default_tariff``, ``get_tariffs``, ``clear_tariffs``,
  ``change_transaction_tariff``) send ChargeNet's OCPI tariffs converted by
  `billing.tariffs_v21.ocpi_to_v21`; they refuse stations that speak 1.6 or 2.0.1;
- `default_tariff_commands` works out what such a station should hold (the tariff that applies
  at the station, plus EVSEs whose own tariff differs); billing's receivers send it when a
  tariff changes or is (re)assigned, the gateway once a station's NotifyReport is complete,
  off the OCPP frame path (`station_prices.send_soon`:
  the server loop, or a Celery task in a worker);
- `compare_station_cost` checks the station's cost against ChargeNet's pricing of the same
  session and flags a difference above one cent on the session's `SessionTariff`.

2.1 forbids a tariffId to change content (a station may answer DuplicateTariffId), so the id
sent is the OCPI id plus the tariff's last change (``T-1.20260101T120000000000``, at most 58 chars).
Market-price tariffs are refused: their price moves every interval and a station could not be
kept in step. ``change_transaction_tariff`` does not reprice ChargeNet's side: the CDR keeps
the tariff snapshot taken at the start (a difference is then flagged by the cost comparison).
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from rest_framework import serializers

from billing.models import SessionTariff, Tariff
from billing.prices import session_cost
from billing.tariffs import tariff_at, tariff_to_ocpi
from billing.tariffs_v21 import TariffConversionError, ocpi_to_v21
from stations.commands.catalog import V21, CommandError, CommandSpec, register
from stations.models import ChargingSession, ChargingStation, DeviceModelVariable

logger = logging.getLogger(__name__)

ONE_CENT = Decimal("0.01")


# --------------------------------------------------------------------------------------------
# Which stations calculate cost locally


def local_cost_station_pks(*, station_pks: list[int] | None = None) -> set[int]:
    """2.1 stations reporting ``TariffCostCtrlr.Enabled[Tariff]`` = true (one query)."""
    rows = DeviceModelVariable.objects.filter(
        station__ocpp_version=V21, component="TariffCostCtrlr", variable="Enabled", variable_instance="Tariff",
        attribute_type="Actual",
    )
    if station_pks is not None:
        rows = rows.filter(station_id__in=station_pks)
    return {pk for pk, value in rows.values_list("station_id", "value") if value.strip().lower() == "true"}


# --------------------------------------------------------------------------------------------
# The tariff as a station gets it


def station_tariff_id(tariff: Tariff) -> str:
    """The 2.1 tariffId of this content of the tariff (a new id for every change)."""
    return f"{tariff.tariff_id}.{tariff.last_updated.strftime('%Y%m%dT%H%M%S%f')}"


def tariff_type(tariff: Tariff) -> dict[str, Any]:
    """The 2.1 TariffType of a ChargeNet tariff; CommandError when 2.1 cannot say it."""
    if tariff.market_feed_id is not None:
        raise CommandError(f"tariff {tariff.tariff_id} follows market prices; 2.1 stations cannot be kept in step")
    try:
        converted = ocpi_to_v21(tariff_to_ocpi(tariff))
    except (TariffConversionError, ValueError) as error:
        raise CommandError(f"tariff {tariff.tariff_id} cannot be sent to an OCPP 2.1 station: {error}") from None
    for warning in converted.warnings:
        logger.info("tariff %s to OCPP 2.1: %s", tariff.tariff_id, warning)
    return {**converted.tariff, "tariffId": station_tariff_id(tariff)}


def _tariff_named(tariff_id: str) -> Tariff:
    found = list(Tariff.objects.filter(tariff_id=tariff_id)[:2])
    if not found:
        raise CommandError(f"no tariff {tariff_id!r}")
    if len(found) > 1:
        raise CommandError(f"more than one tariff is called {tariff_id!r}")
    return found[0]


# --------------------------------------------------------------------------------------------
# The commands


class SetDefaultTariffParams(serializers.Serializer):
    tariff = serializers.CharField(max_length=36, required=False,
                                   help_text="ChargeNet tariff id; default: the tariff that applies there now")
    evse_id = serializers.IntegerField(min_value=0, default=0, help_text="0: all EVSEs")


class GetTariffsParams(serializers.Serializer):
    evse_id = serializers.IntegerField(min_value=0, default=0, help_text="0: all EVSEs")


class ClearTariffsParams(serializers.Serializer):
    tariff_ids = serializers.ListField(child=serializers.CharField(max_length=60), required=False,
                                       allow_empty=False, help_text="station tariff ids; default: all")
    evse_id = serializers.IntegerField(min_value=0, required=False)


class ChangeTransactionTariffParams(serializers.Serializer):
    transaction_id = serializers.CharField(max_length=36)
    tariff = serializers.CharField(max_length=36, help_text="ChargeNet tariff id")


def _only_21(version: str, action: str) -> None:
    if version != V21:
        raise CommandError(f"{action} is OCPP 2.1; this station speaks {version}")


def _prepare_default_tariff(params: dict, station: ChargingStation) -> dict:
    if "tariff" in params:
        tariff = _tariff_named(params["tariff"])
    else:
        evse = station.evses.filter(evse_id=params["evse_id"]).first() if params["evse_id"] else None
        tariff = tariff_at(station=station, evse=evse)
        if tariff is None:
            raise CommandError("no tariff applies at this station; name one")
    return {**params, "tariff": tariff.tariff_id, "tariff_v21": tariff_type(tariff)}


def _prepare_transaction_tariff(params: dict, station: ChargingStation) -> dict:
    if not ChargingSession.objects.filter(station=station, transaction_id=params["transaction_id"]).exists():
        raise CommandError(f"no session {params['transaction_id']!r} at this station")
    return {**params, "tariff_v21": tariff_type(_tariff_named(params["tariff"]))}


def set_default_tariff(p: dict, version: str) -> tuple[str, dict]:
    _only_21(version, "SetDefaultTariff")
    return "SetDefaultTariff", {"evseId": p["evse_id"], "tariff": p["tariff_v21"]}


def get_tariffs(p: dict, version: str) -> tuple[str, dict]:
    _only_21(version, "GetTariffs")
    return "GetTariffs", {"evseId": p["evse_id"]}


def clear_tariffs(p: dict, version: str) -> tuple[str, dict]:
    _only_21(version, "ClearTariffs")
    payload: dict[str, Any] = {}
    if "tariff_ids" in p:
        payload["tariffIds"] = p["tariff_ids"]
    if "evse_id" in p:
        payload["evseId"] = p["evse_id"]
    return "ClearTariffs", payload


def change_transaction_tariff(p: dict, version: str) -> tuple[str, dict]:
    _only_21(version, "ChangeTransactionTariff")
    return "ChangeTransactionTariff", {"transactionId": p["transaction_id"], "tariff": p["tariff_v21"]}


def register_commands() -> None:
    register(CommandSpec("set_default_tariff", SetDefaultTariffParams, set_default_tariff,
                         "SetDefaultTariff (2.1): a ChargeNet tariff for local cost calculation",
                         prepare=_prepare_default_tariff))
    register(CommandSpec("get_tariffs", GetTariffsParams, get_tariffs, "GetTariffs (2.1)"))
    register(CommandSpec("clear_tariffs", ClearTariffsParams, clear_tariffs, "ClearTariffs (2.1)"))
    register(CommandSpec("change_transaction_tariff", ChangeTransactionTariffParams, change_transaction_tariff,
                         "ChangeTransactionTariff (2.1): another tariff for a running session",
                         prepare=_prepare_transaction_tariff))


# --------------------------------------------------------------------------------------------
# Keeping stations in sync


def default_tariff_commands(*, station_pks: list[int] | None = None,
                            tariff_pk: int | None = None) -> list[tuple[str, str, dict]]:
    """(station id, command, params) that put on each local-cost 2.1 station (of ``station_pks``)
    the tariff that applies there now: station-wide, and per EVSE whose own tariff differs. With
    ``tariff_pk``: only stations where that tariff applies (a tariff's content changed)."""
    commands = []
    local = local_cost_station_pks(station_pks=station_pks)
    for station in ChargingStation.objects.filter(pk__in=local, is_online=True).select_related("site"):
        wanted = [(0, tariff_at(station=station))]
        wanted += [(evse.evse_id, tariff_at(station=station, evse=evse)) for evse in station.evses.all()]
        differing = [(evse_id, t) for evse_id, t in wanted if evse_id == 0 or t != wanted[0][1]]
        if tariff_pk is not None and not any(t is not None and t.pk == tariff_pk for _, t in differing):
            continue
        for evse_id, tariff in differing:
            if tariff is None:
                if evse_id == 0:
                    commands.append((station.station_id, "clear_tariffs", {}))
                continue
            commands.append((station.station_id, "set_default_tariff", {"tariff": tariff.tariff_id,
                                                                         "evse_id": evse_id}))
    return commands


def push_default_tariffs(*, station_pks: list[int] | None = None, tariff_pk: int | None = None) -> int:
    """Send `default_tariff_commands` in the background; how many went out."""
    from billing.station_prices import send_soon

    sent = 0
    for command in default_tariff_commands(station_pks=station_pks, tariff_pk=tariff_pk):
        sent += send_soon(command, name=f"{command[1]} to {command[0]}")
    return sent


# --------------------------------------------------------------------------------------------
# The station's own cost against ChargeNet's


def _station_total(cost_details: dict) -> tuple[Decimal | None, bool, str]:
    """(total, incl. tax?, currency) from a 2.1 CostDetailsType."""
    total_cost = cost_details.get("totalCost") or {}
    total = total_cost.get("total") or {}
    if total.get("inclTax") is not None:
        return Decimal(str(total["inclTax"])), True, total_cost.get("currency", "")
    if total.get("exclTax") is not None:
        return Decimal(str(total["exclTax"])), False, total_cost.get("currency", "")
    return None, True, total_cost.get("currency", "")


@transaction.atomic
def compare_station_cost(*, station_pk: int, transaction_id: str, cost_details: dict,
                         at: datetime) -> SessionTariff | None:
    """Store the station's reported cost on the session and flag it when it differs from
    ChargeNet's (the CDR's pricing up to ``at``) by more than one cent or in currency. None: the
    session is unknown or has no tariff, or the station failed to calculate (ours stands)."""
    session = ChargingSession.objects.select_related("station__site").filter(
        station_id=station_pk, transaction_id=transaction_id).first()
    snapshot = SessionTariff.objects.select_for_update().filter(session=session).first() if session else None
    if snapshot is None or cost_details.get("failureToCalculate"):
        return None
    station_total, incl_tax, currency = _station_total(cost_details)
    ours = session_cost(session=session, at=at)
    if station_total is None or ours is None:
        return None
    our_total = ours.total_incl_vat if incl_tax else ours.total_excl_vat
    snapshot.station_cost = station_total
    snapshot.station_cost_at = at
    snapshot.cost_difference = station_total - our_total
    snapshot.cost_mismatch = abs(snapshot.cost_difference) > ONE_CENT or bool(currency and currency != ours.currency)
    snapshot.save(update_fields=["station_cost", "station_cost_at", "cost_difference", "cost_mismatch"])
    if snapshot.cost_mismatch:
        logger.warning("session %s: station cost %s %s, ChargeNet %s %s", session.pk, station_total, currency,
                       our_total, ours.currency)
    return snapshot
