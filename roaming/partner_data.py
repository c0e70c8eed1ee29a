"""ChargeNet as eMSP, receiving: what CPO partners push (or we pull) about their network.

Locations (with EVSEs and connectors, whole or in parts, PUT or PATCH), Tariffs, and the
Sessions of our drivers at their chargers. Each object is kept whole as last received
(``data``) beside the fields we query, keyed by the owning party (country code, party id)
and its id. A partner writes only its own party's objects; a hub any party's.

Malformed objects are refused with 2001 (OcpiError) and nothing is written.
"""

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils.dateparse import parse_datetime

from roaming.envelope import INVALID_PARAMETERS, UNKNOWN_LOCATION, OcpiError
from roaming.models import Partner, PartnerRole, RoamingLocation, RoamingSession, RoamingTariff
from stations.models import IdToken

EVSE_STATUSES = {"AVAILABLE", "BLOCKED", "CHARGING", "INOPERATIVE", "OUTOFORDER", "PLANNED", "REMOVED",
                 "RESERVED", "UNKNOWN"}
SESSION_STATUSES = {"ACTIVE", "COMPLETED", "INVALID", "PENDING", "RESERVATION"}


def _bad(message: str) -> OcpiError:
    return OcpiError(message, status_code=INVALID_PARAMETERS)


def moment(value, what: str) -> datetime:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise _bad(f"{what} must be an RFC 3339 date-time")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def decimal(value, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _bad(f"{what} must be a number")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise _bad(f"{what} must be a number") from None


def check_party(partner: Partner, country_code: str, party_id: str) -> None:
    """A partner speaks for its own party only; a hub for the parties behind it."""
    if partner.role == PartnerRole.HUB:
        return
    if (country_code.upper(), party_id.upper()) != (partner.country_code.upper(), partner.party_id.upper()):
        raise _bad(f"you are {partner.country_code}*{partner.party_id}, not {country_code}*{party_id}")


def as_object(body, what: str, **must_match) -> dict:
    if not isinstance(body, dict):
        raise _bad(f"the body must be a {what} object")
    for name, value in must_match.items():
        if name in body and str(body[name]) != str(value):
            raise _bad(f"{name} must match the URL")
    return body


def require(body: dict, *names: str) -> None:
    missing = [name for name in names if body.get(name) in (None, "")]
    if missing:
        raise _bad(f"missing {', '.join(missing)}")


# --- Locations ----------------------------------------------------------------------------------


def _check_evse(evse) -> dict:
    if not isinstance(evse, dict):
        raise _bad("an EVSE must be an object")
    require(evse, "uid", "status", "last_updated")
    if evse["status"] not in EVSE_STATUSES:
        raise _bad(f"unknown EVSE status {evse['status']}")
    moment(evse["last_updated"], "EVSE last_updated")
    connectors = evse.get("connectors", [])
    if not isinstance(connectors, list) or not all(isinstance(c, dict) and c.get("id") for c in connectors):
        raise _bad("connectors must be a list of objects with an id")
    return evse


def _check_location(body: dict) -> dict:
    require(body, "country_code", "party_id", "id", "address", "city", "country", "coordinates", "time_zone",
              "last_updated")
    coordinates = body["coordinates"]
    if not isinstance(coordinates, dict):
        raise _bad("coordinates must be an object")
    for axis in ("latitude", "longitude"):
        decimal(coordinates.get(axis), f"coordinates.{axis}")
    evses = body.get("evses", [])
    if not isinstance(evses, list):
        raise _bad("evses must be a list")
    for evse in evses:
        _check_evse(evse)
    return body


def _save_location(location: RoamingLocation, data: dict) -> RoamingLocation:
    location.data = data
    location.name = str(data.get("name") or "")[:255]
    location.city = str(data.get("city") or "")[:45]
    location.latitude = decimal(data["coordinates"]["latitude"], "latitude").quantize(Decimal("0.000001"))
    location.longitude = decimal(data["coordinates"]["longitude"], "longitude").quantize(Decimal("0.000001"))
    location.last_updated = moment(data["last_updated"], "last_updated")
    location.save()
    return location


def _find_location(partner: Partner, cc: str, party: str, location_id: str, *, lock=False) -> RoamingLocation | None:
    rows = RoamingLocation.objects.filter(partner=partner, country_code=cc, party_id=party, ocpi_id=location_id)
    return (rows.select_for_update() if lock else rows).first()


@transaction.atomic
def put_location(*, partner: Partner, country_code: str, party_id: str, location_id: str, body,
                 evse_uid: str | None = None, connector_id: str | None = None) -> RoamingLocation:
    """PUT a whole Location, or one EVSE (or connector) of a Location we have."""
    check_party(partner, country_code, party_id)
    if evse_uid is None:
        data = _check_location(as_object(body, "Location", country_code=country_code, party_id=party_id,
                                       id=location_id))
        location = _find_location(partner, country_code, party_id, location_id, lock=True) or RoamingLocation(
            partner=partner, country_code=country_code, party_id=party_id, ocpi_id=location_id)
        return _save_location(location, data)
    location = _find_location(partner, country_code, party_id, location_id, lock=True)
    if location is None:
        raise OcpiError("unknown location: PUT it first", status_code=UNKNOWN_LOCATION, http_status=404)
    data = dict(location.data)
    evses = list(data.get("evses") or [])
    if connector_id is None:
        evse = _check_evse(as_object(body, "EVSE", uid=evse_uid))
        evses = [e for e in evses if e.get("uid") != evse_uid] + [evse]
    else:
        connector = as_object(body, "Connector", id=connector_id)
        require(connector, "id", "standard", "format", "power_type", "last_updated")
        evse = _evse_of(evses, evse_uid)
        evse["connectors"] = [c for c in evse.get("connectors", []) if c.get("id") != connector_id] + [connector]
    data["evses"] = evses
    data["last_updated"] = body.get("last_updated") or data["last_updated"]
    return _save_location(location, data)


def _evse_of(evses: list, evse_uid: str) -> dict:
    for evse in evses:
        if evse.get("uid") == evse_uid:
            return evse
    raise OcpiError("unknown EVSE", status_code=UNKNOWN_LOCATION, http_status=404)


@transaction.atomic
def patch_location(*, partner: Partner, country_code: str, party_id: str, location_id: str, body,
                   evse_uid: str | None = None, connector_id: str | None = None) -> RoamingLocation:
    """PATCH some fields of a Location, EVSE or connector (a status change, mostly);
    ``last_updated`` is required."""
    check_party(partner, country_code, party_id)
    changes = as_object(body, "partial object")
    require(changes, "last_updated")
    moment(changes["last_updated"], "last_updated")
    if "status" in changes and changes["status"] not in EVSE_STATUSES:
        raise _bad(f"unknown EVSE status {changes['status']}")
    location = _find_location(partner, country_code, party_id, location_id, lock=True)
    if location is None:
        raise OcpiError("unknown location", status_code=UNKNOWN_LOCATION, http_status=404)
    data = dict(location.data)
    if evse_uid is None:
        data.update(changes)
        _check_location(data)
    else:
        evses = [dict(e) for e in data.get("evses") or []]
        evse = _evse_of(evses, evse_uid)
        if connector_id is None:
            evse.update(changes)
        else:
            connectors = [dict(c) for c in evse.get("connectors", [])]
            target = next((c for c in connectors if c.get("id") == connector_id), None)
            if target is None:
                raise OcpiError("unknown connector", status_code=UNKNOWN_LOCATION, http_status=404)
            target.update(changes)
            evse["connectors"] = connectors
        evse["last_updated"] = changes["last_updated"]
        data["evses"] = evses
        data["last_updated"] = changes["last_updated"]
    return _save_location(location, data)


def availability(location: RoamingLocation) -> dict:
    """EVSE counts by status, and how many are free now, for the portal."""
    counts: dict[str, int] = {}
    for evse in location.data.get("evses") or []:
        if evse.get("status") != "REMOVED":
            counts[evse.get("status", "UNKNOWN")] = counts.get(evse.get("status", "UNKNOWN"), 0) + 1
    return {"available": counts.get("AVAILABLE", 0), "total": sum(counts.values()), "by_status": counts}


# --- Tariffs --------------------------------------------------------------------------------------


@transaction.atomic
def put_tariff(*, partner: Partner, country_code: str, party_id: str, tariff_id: str, body) -> RoamingTariff:
    from billing.pricing import validate_tariff

    check_party(partner, country_code, party_id)
    data = as_object(body, "Tariff", country_code=country_code, party_id=party_id, id=tariff_id)
    require(data, "currency", "elements", "last_updated")
    try:
        validate_tariff(data)
    except ValueError as error:
        raise _bad(f"tariff not usable: {error}") from None
    tariff, _ = RoamingTariff.objects.update_or_create(
        partner=partner, country_code=country_code, party_id=party_id, ocpi_id=tariff_id,
        defaults={"data": data, "currency": str(data["currency"])[:3],
                  "last_updated": moment(data["last_updated"], "last_updated")},
    )
    return tariff


def delete_tariff(*, partner: Partner, country_code: str, party_id: str, tariff_id: str) -> None:
    check_party(partner, country_code, party_id)
    deleted, _ = RoamingTariff.objects.filter(partner=partner, country_code=country_code, party_id=party_id,
                                              ocpi_id=tariff_id).delete()
    if not deleted:
        raise OcpiError("unknown tariff", status_code=INVALID_PARAMETERS, http_status=404)


def tariff_for(partner: Partner, country_code: str, party_id: str, tariff_id: str) -> RoamingTariff | None:
    return RoamingTariff.objects.filter(partner=partner, country_code=country_code, party_id=party_id,
                                        ocpi_id=tariff_id).first()


def tariff_ids_at(location: RoamingLocation, evse_uid: str | None = None) -> list[str]:
    ids: list[str] = []
    for evse in location.data.get("evses") or []:
        if evse_uid and evse.get("uid") != evse_uid:
            continue
        for connector in evse.get("connectors") or []:
            ids += [t for t in connector.get("tariff_ids") or [] if t not in ids]
    return ids


# --- Sessions of our drivers --------------------------------------------------------------------


def our_token(cdr_token) -> IdToken | None:
    """The driver's token a CdrToken names: one of ours (a partner's own tokens are not)."""
    if not isinstance(cdr_token, dict) or not cdr_token.get("uid"):
        raise _bad("cdr_token with a uid is required")
    return IdToken.objects.filter(value=str(cdr_token["uid"]), roaming__isnull=True).select_related("driver").first()


def _session_fields(data: dict) -> dict:
    token = our_token(data.get("cdr_token"))
    total = data.get("total_cost") if isinstance(data.get("total_cost"), dict) else None
    return {
        "data": data, "status": data["status"], "id_token": token, "driver": token.driver if token else None,
        "start_date_time": moment(data["start_date_time"], "start_date_time"),
        "end_date_time": moment(data["end_date_time"], "end_date_time") if data.get("end_date_time") else None,
        "kwh": decimal(data["kwh"], "kwh"), "currency": str(data.get("currency") or "")[:3],
        "total_cost_incl_vat": decimal(total.get("incl_vat", total.get("excl_vat")), "total_cost")
        if total else None,
        "location_id": str(data.get("location_id") or "")[:36], "evse_uid": str(data.get("evse_uid") or "")[:36],
        "last_updated": moment(data["last_updated"], "last_updated"),
    }


def _check_session(data: dict) -> dict:
    require(data, "country_code", "party_id", "id", "start_date_time", "kwh", "cdr_token", "auth_method",
              "location_id", "evse_uid", "connector_id", "currency", "status", "last_updated")
    if data["status"] not in SESSION_STATUSES:
        raise _bad(f"unknown session status {data['status']}")
    return data


@transaction.atomic
def put_session(*, partner: Partner, country_code: str, party_id: str, session_id: str, body) -> RoamingSession:
    check_party(partner, country_code, party_id)
    data = _check_session(as_object(body, "Session", country_code=country_code, party_id=party_id, id=session_id))
    fields = _session_fields(data)
    if fields["id_token"] is None:
        raise OcpiError(f"token {data['cdr_token'].get('uid')} is not one of ours", status_code=2004,
                        http_status=404)
    session, _ = RoamingSession.objects.update_or_create(
        partner=partner, country_code=country_code, party_id=party_id, ocpi_id=session_id, defaults=fields)
    return session


@transaction.atomic
def patch_session(*, partner: Partner, country_code: str, party_id: str, session_id: str, body) -> RoamingSession:
    check_party(partner, country_code, party_id)
    changes = as_object(body, "partial Session")
    require(changes, "last_updated")
    session = RoamingSession.objects.select_for_update().filter(
        partner=partner, country_code=country_code, party_id=party_id, ocpi_id=session_id).first()
    if session is None:
        raise OcpiError("unknown session: PUT it first", status_code=INVALID_PARAMETERS, http_status=404)
    data = _check_session({**session.data, **changes})
    for name, value in _session_fields(data).items():
        setattr(session, name, value)
    session.save()
    return session
