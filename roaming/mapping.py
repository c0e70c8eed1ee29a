"""Our network as OCPI 2.2.1 objects: Location/EVSE/Connector, Session, CDR, Tariff.

Decisions:
- A Site is a Location (id: the site's primary key). Stations without a site are not
  published: OCPI needs an address and coordinates, which only sites have.
- An EVSE's uid is ``<station_id>-<evse number>`` (``EVSE-<pk>`` when that would pass OCPI's
  36 characters); its evse_id is eMI3: ``<CC>*<PARTY>*E<station id, alphanumeric>*<evse number>``.
- Connector standard: as stored, IEC_62196_T2 when unknown; format CABLE for DC standards
  (CCS, CHAdeMO), SOCKET otherwise; power DC for those, AC_3_PHASE otherwise; max_voltage
  line-to-neutral 230 V (AC) or 920 V (DC); max_amperage derived from max_power_w (22 kW AC /
  50 kW DC assumed when not known).
- EVSE status: the most telling of its connectors' OCPP statuses; an offline station is UNKNOWN.
"""

import math
import re
from decimal import Decimal
from typing import Any

import pycountry
from django.conf import settings
from django.db.models import Max
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing.models import ChargeDetailRecord, Tariff
from billing.prices import published_tariff, running_cost
from billing.tariffs import _resolve
from roaming.envelope import ocpi_datetime
from stations.models import ChargingSession, ChargingStation, Connector, Evse, SessionStatus, Site

DC_STANDARDS = {"IEC_62196_T1_COMBO", "IEC_62196_T2_COMBO", "CHADEMO", "GBT_DC", "CHAOJI", "TESLA_S"}
_STATUS = {
    "Available": "AVAILABLE",
    "Preparing": "CHARGING",
    "Charging": "CHARGING",
    "SuspendedEV": "CHARGING",
    "SuspendedEVSE": "CHARGING",
    "Finishing": "CHARGING",
    "Occupied": "CHARGING",
    "Reserved": "RESERVED",
    "Unavailable": "INOPERATIVE",
    "Faulted": "OUTOFORDER",
    "Unknown": "UNKNOWN",
}
# When connectors of one EVSE disagree, the first of these that any of them has wins.
_PRECEDENCE = ["CHARGING", "RESERVED", "OUTOFORDER", "INOPERATIVE", "AVAILABLE", "UNKNOWN"]


def cc() -> str:
    return settings.OCPI_COUNTRY_CODE


def party() -> str:
    return settings.OCPI_PARTY_ID


# --- locations -------------------------------------------------------------------------


def published_sites():
    """Sites with at least one accepted station, annotated with their last change."""
    return (
        Site.objects.filter(stations__registration_status="Accepted")
        .distinct()
        .annotate(ocpi_last_updated=Coalesce(Max("stations__evses__connectors__status_at"),
                                             Max("stations__created_at")))
    )


def location_id(site: Site) -> str:
    return str(site.pk)


def evse_uid(evse: Evse) -> str:
    uid = f"{evse.station.station_id}-{evse.evse_id}"
    return uid if len(uid) <= 36 else f"EVSE-{evse.pk}"


def emi3_evse_id(evse: Evse) -> str:
    station = re.sub(r"[^A-Za-z0-9]", "", evse.station.station_id).upper()
    return f"{cc()}*{party()}*E{station[:24]}*{evse.evse_id}"


def country_alpha3(alpha2: str) -> str:
    country = pycountry.countries.get(alpha_2=(alpha2 or cc()).upper())
    return country.alpha_3 if country is not None else (alpha2 or "").upper()


def evse_status(evse: Evse) -> str:
    if not evse.station.is_online:
        return "UNKNOWN"
    if evse.station.status in ("Unavailable", "Faulted"):  # the whole station (1.6 connector 0)
        return _STATUS[evse.station.status]
    statuses = {_STATUS.get(c.status, "UNKNOWN") for c in evse.connectors.all()}
    return next((s for s in _PRECEDENCE if s in statuses), "UNKNOWN")


def _connector_physics(connector: Connector) -> dict[str, Any]:
    standard = connector.standard or "IEC_62196_T2"
    dc = standard in DC_STANDARDS
    power_w = connector.max_power_w or (50000 if dc else 22000)
    if dc:
        voltage, amperage = 920, math.ceil(power_w / 920)
    else:
        voltage, amperage = 230, math.ceil(power_w / (3 * 230))
    return {
        "standard": standard,
        "format": "CABLE" if dc else "SOCKET",
        "power_type": "DC" if dc else "AC_3_PHASE",
        "max_voltage": voltage,
        "max_amperage": amperage,
        "max_electric_power": power_w,
    }


def public_tariff_ids(evse: Evse) -> list[str]:
    station = evse.station
    tariff = _resolve(station_pk=station.pk, site_pk=station.site_id, evse_pk=evse.pk, driver_pk=None,
                      at=timezone.now())
    return [tariff.tariff_id] if tariff is not None else []


def connector_to_ocpi(connector: Connector, tariff_ids: list[str]) -> dict[str, Any]:
    return {
        "id": str(connector.connector_id),
        **_connector_physics(connector),
        "tariff_ids": tariff_ids,
        "last_updated": ocpi_datetime(connector.status_at or connector.evse.station.created_at),
    }


def evse_to_ocpi(evse: Evse) -> dict[str, Any]:
    connectors = list(evse.connectors.all())
    tariff_ids = public_tariff_ids(evse)
    changed = [c.status_at for c in connectors if c.status_at] or [evse.station.created_at]
    site = evse.station.site
    data = {
        "uid": evse_uid(evse),
        "evse_id": emi3_evse_id(evse),
        "status": evse_status(evse),
        "capabilities": ["REMOTE_START_STOP_CAPABLE", "RESERVABLE", "UNLOCK_CAPABLE", "RFID_READER"],
        "connectors": [connector_to_ocpi(c, tariff_ids) for c in connectors],
        "last_updated": ocpi_datetime(max(changed)),
    }
    if site is not None and site.latitude is not None and site.longitude is not None:
        data["coordinates"] = _coordinates(site)
    return data


def _coordinates(site: Site) -> dict[str, str]:
    return {"latitude": f"{site.latitude:.6f}", "longitude": f"{site.longitude:.6f}"}


def location_to_ocpi(site: Site) -> dict[str, Any]:
    evses = (
        Evse.objects.filter(station__site=site, station__registration_status="Accepted", connectors__isnull=False)
        .distinct()
        .select_related("station__site")
        .prefetch_related("connectors")
        .order_by("station__station_id", "evse_id")
    )
    last = getattr(site, "ocpi_last_updated", None) or timezone.now()
    return {
        "country_code": cc(),
        "party_id": party(),
        "id": location_id(site),
        "publish": True,
        "name": site.name,
        "address": site.address or site.name,
        "city": site.city or "-",
        "postal_code": site.postal_code or None,
        "country": country_alpha3(site.country),
        "coordinates": _coordinates(site) if site.latitude is not None and site.longitude is not None
        else {"latitude": "0.000000", "longitude": "0.000000"},
        "evses": [evse_to_ocpi(evse) for evse in evses],
        "operator": {"name": settings.OCPI_BUSINESS_NAME},
        "time_zone": site.time_zone or "UTC",
        "last_updated": ocpi_datetime(last),
    }


def find_evse(*, location: str, uid: str) -> Evse | None:
    for evse in Evse.objects.filter(station__site_id=location).select_related("station__site"):
        if evse_uid(evse) == uid:
            return evse
    return None


# --- sessions and CDRs -------------------------------------------------------------------


def cdr_token(session_or_cdr_token_value: str, partner_token) -> dict[str, Any]:
    if partner_token is not None:
        return {"country_code": partner_token.country_code, "party_id": partner_token.party_id,
                "uid": partner_token.uid, "type": partner_token.type, "contract_id": partner_token.contract_id}
    return {"country_code": cc(), "party_id": party(), "uid": session_or_cdr_token_value or "UNKNOWN",
            "type": "OTHER", "contract_id": session_or_cdr_token_value or "UNKNOWN"}


def _partner_token(session: ChargingSession):
    token = session.id_token
    return getattr(token, "roaming", None) if token is not None else None


def _auth_method(session: ChargingSession, partner_token) -> str:
    if session.remote_start_id is not None:
        return "COMMAND"
    if partner_token is not None and partner_token.realtime:
        return "AUTH_REQUEST"
    return "WHITELIST"


def session_to_ocpi(session: ChargingSession) -> dict[str, Any]:
    partner_token = _partner_token(session)
    station: ChargingStation = session.station
    evse = session.evse
    cdr = getattr(session, "cdr", None) if session.status == SessionStatus.COMPLETED else None
    currency = cdr.currency if cdr is not None else _currency_of(session)
    data = {
        "country_code": cc(),
        "party_id": party(),
        "id": str(session.pk),
        "start_date_time": ocpi_datetime(session.started_at or session.created_at),
        "end_date_time": ocpi_datetime(session.stopped_at),
        "kwh": float(Decimal(session.energy_wh) / 1000),
        "cdr_token": cdr_token(session.id_token_value, partner_token),
        "auth_method": _auth_method(session, partner_token),
        "authorization_reference": (partner_token.authorization_reference or None) if partner_token else None,
        "location_id": str(station.site_id) if station.site_id else "",
        "evse_uid": evse_uid(evse) if evse is not None else "",
        "connector_id": str(session.connector.connector_id) if session.connector_id else "1",
        "currency": currency,
        "status": "COMPLETED" if session.status == SessionStatus.COMPLETED else "ACTIVE",
        "last_updated": ocpi_datetime(session.updated_at),
    }
    if cdr is not None:
        data["total_cost"] = {"excl_vat": float(cdr.total_cost_excl_vat), "incl_vat": float(cdr.total_cost_incl_vat)}
    elif session.status != SessionStatus.COMPLETED:
        # The running cost as of the last meter reading (the same instant as ``kwh``), priced
        # as the CDR will be.
        cost = running_cost(session=session, at=session.meter_last_at or session.started_at)
        if cost is not None:
            data["currency"] = cost.currency
            data["total_cost"] = {"excl_vat": float(cost.total_excl_vat), "incl_vat": float(cost.total_incl_vat)}
    return data


def _currency_of(session: ChargingSession) -> str:
    snapshot = getattr(session, "tariff_snapshot", None)
    if snapshot is not None:
        return snapshot.snapshot.get("currency", "EUR")
    return "EUR"


def cdr_to_ocpi(cdr: ChargeDetailRecord) -> dict[str, Any]:
    session = cdr.session
    partner_token = _partner_token(session)
    evse, connector = session.evse, session.connector
    site = session.station.site
    physics = _connector_physics(connector) if connector is not None else _connector_physics(Connector())
    breakdown = cdr.breakdown or {}

    def cost(component: str) -> dict[str, float] | None:
        lines = [line for line in breakdown.get("lines", []) if line.get("component") == component]
        if not lines:
            return None
        return {"excl_vat": float(sum(Decimal(line["amount_excl_vat"]) for line in lines)),
                "incl_vat": float(sum(Decimal(line["amount_incl_vat"]) for line in lines))}

    periods = [
        {
            "start_date_time": period["start_date_time"],
            "dimensions": [{"type": d["type"], "volume": float(Decimal(d["volume"]))} for d in period["dimensions"]],
            **({"tariff_id": period["tariff_id"]} if period.get("tariff_id") else {}),
        }
        for period in breakdown.get("charging_periods", [])
    ] or [{"start_date_time": ocpi_datetime(cdr.start_date_time),
           "dimensions": [{"type": "ENERGY", "volume": float(cdr.total_energy_kwh)}]}]
    return {
        "country_code": cc(),
        "party_id": party(),
        "id": cdr.cdr_id,
        "start_date_time": ocpi_datetime(cdr.start_date_time),
        "end_date_time": ocpi_datetime(cdr.end_date_time),
        "session_id": str(session.pk),
        "cdr_token": cdr_token(cdr.id_token_value, partner_token),
        "auth_method": _auth_method(session, partner_token),
        "authorization_reference": (partner_token.authorization_reference or None) if partner_token else None,
        "cdr_location": {
            "id": str(site.pk) if site else "",
            "name": cdr.site_name or None,
            "address": (site.address or site.name) if site else "-",
            "city": (site.city or "-") if site else "-",
            "postal_code": (site.postal_code or None) if site else None,
            "country": country_alpha3(site.country if site else ""),
            "coordinates": _coordinates(site) if site and site.latitude is not None and site.longitude is not None
            else {"latitude": "0.000000", "longitude": "0.000000"},
            "evse_uid": evse_uid(evse) if evse else "",
            "evse_id": emi3_evse_id(evse) if evse else "",
            "connector_id": str(connector.connector_id) if connector else "1",
            "connector_standard": physics["standard"],
            "connector_format": physics["format"],
            "connector_power_type": physics["power_type"],
        },
        "currency": cdr.currency,
        "tariffs": [cdr.tariff] if cdr.tariff else [],
        "charging_periods": periods,
        "total_cost": {"excl_vat": float(cdr.total_cost_excl_vat), "incl_vat": float(cdr.total_cost_incl_vat)},
        "total_fixed_cost": cost("FLAT"),
        "total_energy": float(cdr.total_energy_kwh),
        "total_energy_cost": cost("ENERGY"),
        "total_time": float(cdr.total_time_h),
        "total_time_cost": cost("TIME"),
        "total_parking_time": float(cdr.total_parking_time_h),
        "total_parking_cost": cost("PARKING_TIME"),
        "credit": False,
        "last_updated": ocpi_datetime(cdr.created_at),
    }


def tariff_ocpi(tariff: Tariff) -> dict[str, Any]:
    """Billing stores tariffs as OCPI Tariff objects: what it holds is what partners get (a
    dynamic tariff with its market prices from now on), published under our party (the CPO
    that owns them)."""
    return {**published_tariff(tariff), "country_code": cc(), "party_id": party()}
