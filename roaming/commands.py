"""Commands from eMSPs (we are the receiver): checked and answered at once with a
CommandResponse, carried out by the version-neutral command service in a Celery task, and
reported with a CommandResult POSTed (through the outbox) to the partner's response_url."""

import logging

from django.db import transaction

from roaming import jobs, mapping, push, tokens
from roaming.envelope import INVALID_PARAMETERS, UNKNOWN_LOCATION, OcpiError
from roaming.models import Partner, PartnerReservation
from stations.commands.service import CommandError, StationNotFound, send_command
from stations.models import ChargingSession, CommandLog, CommandOutcome, SessionStatus

log = logging.getLogger(__name__)

TIMEOUT_S = 60  # CommandResponse.timeout: how long the partner should wait for the result
COMMAND_TYPES = {"START_SESSION", "STOP_SESSION", "RESERVE_NOW", "CANCEL_RESERVATION", "UNLOCK_CONNECTOR"}


def require(body: dict, *names: str) -> None:
    missing = [name for name in names if body.get(name) in (None, "")]
    if missing:
        raise OcpiError(f"missing {', '.join(missing)}", status_code=INVALID_PARAMETERS)


def _evse(body: dict):
    evse = mapping.find_evse(location=str(body["location_id"]), uid=str(body.get("evse_uid") or "")) \
        if body.get("evse_uid") else None
    if body.get("evse_uid") and evse is None:
        raise OcpiError("unknown location or EVSE", status_code=UNKNOWN_LOCATION, http_status=404)
    return evse


def _station_of_location(location_id: str):
    from stations.models import ChargingStation

    station = ChargingStation.objects.filter(site_id=location_id if str(location_id).isdigit() else None).first()
    if station is None:
        raise OcpiError("unknown location", status_code=UNKNOWN_LOCATION, http_status=404)
    return station


def plan(command_type: str, body: dict, partner: Partner | None = None) -> tuple[str, str, dict]:
    """(station_id, version-neutral command, params) for an OCPI command, or OcpiError."""
    if command_type not in COMMAND_TYPES:
        raise OcpiError(f"unknown command {command_type}", status_code=INVALID_PARAMETERS, http_status=404)
    if not isinstance(body, dict):
        raise OcpiError("the body must be an object", status_code=INVALID_PARAMETERS)
    require(body, "response_url")
    if command_type == "START_SESSION":
        require(body, "token", "location_id")
        token = body["token"] if isinstance(body["token"], dict) else {}
        require(token, "uid")
        evse = _evse(body)
        station = evse.station if evse else _station_of_location(body["location_id"])
        params = {"id_token": token["uid"], "id_token_type": "Central"}
        if evse is not None:
            params["evse_id"] = evse.evse_id
        return station.station_id, "start_session", params
    if command_type == "STOP_SESSION":
        require(body, "session_id")
        session = ChargingSession.objects.filter(pk=int(body["session_id"]) if str(body["session_id"]).isdigit()
                                                 else None, status=SessionStatus.ACTIVE).select_related("station")\
            .first()
        if session is None:
            raise OcpiError("unknown session", status_code=INVALID_PARAMETERS, http_status=404)
        return session.station.station_id, "stop_session", {"transaction_id": session.transaction_id}
    if command_type == "RESERVE_NOW":
        require(body, "token", "location_id", "expiry_date", "reservation_id")
        token = body["token"] if isinstance(body["token"], dict) else {}
        require(token, "uid")
        evse = _evse(body)
        station = evse.station if evse else _station_of_location(body["location_id"])
        return station.station_id, "reserve_now", {"id_token": token["uid"], "evse_id": evse.evse_id if evse else 0,
                                                   "expires_at": body["expiry_date"]}
    if command_type == "CANCEL_RESERVATION":
        require(body, "reservation_id")
        from stations.models import Reservation

        reservation = Reservation.objects.filter(
            roaming_ids__partner=partner, roaming_ids__ocpi_id=str(body["reservation_id"])
        ).select_related("station").first()
        if reservation is None:
            raise OcpiError("unknown reservation", status_code=INVALID_PARAMETERS, http_status=404)
        return reservation.station.station_id, "cancel_reservation", {"reservation_id": reservation.pk}
    require(body, "location_id", "evse_uid", "connector_id")
    evse = _evse(body)
    return evse.station.station_id, "unlock_connector", {"evse_id": evse.evse_id,
                                                         "connector_id": int(body["connector_id"])}


def accept(*, partner: Partner, command_type: str, body: dict) -> dict:
    """Check the command and queue it; the CommandResponse to answer with."""
    station_id, command, params = plan(command_type, body, partner)
    if command in ("start_session", "reserve_now"):
        _remember_token(partner, body)
    response_url = body["response_url"]
    reservation_id = str(body.get("reservation_id") or "") if command == "reserve_now" else ""
    transaction.on_commit(lambda: jobs.enqueue("run_command", partner.pk, station_id, command, params, response_url,
                                                 reservation_id))
    return {"result": "ACCEPTED", "timeout": TIMEOUT_S}


def _remember_token(partner: Partner, body: dict) -> None:
    """The command carries the driver's whole Token: keep it, so the station's start is
    authorised locally and the session and CDR go to this partner."""
    token = body["token"]
    if not all(token.get(name) not in (None, "") for name in tokens.REQUIRED):
        return  # a partial token: real-time authorization will ask when the station starts
    tokens.store_token(partner=partner, token=token,
                       authorization_reference=str(body.get("authorization_reference") or ""))


_RESULT = {
    CommandOutcome.ACCEPTED: "ACCEPTED",
    CommandOutcome.REJECTED: "REJECTED",
    CommandOutcome.ERROR: "FAILED",
    CommandOutcome.TIMEOUT: "TIMEOUT",
    CommandOutcome.OFFLINE: "EVSE_INOPERATIVE",
}


def execute(*, partner_pk: int, station_id: str, command: str, params: dict, response_url: str,
            ocpi_reservation_id: str = "") -> str:
    partner = Partner.objects.get(pk=partner_pk)
    try:
        outcome = send_command(station_id=station_id, command=command, params=params, source="ocpi",
                               timeout=TIMEOUT_S - 10)
        result = _RESULT.get(outcome.outcome, "FAILED")
        message = "" if result == "ACCEPTED" else (outcome.error or outcome.status or "")
        if command == "reserve_now" and ocpi_reservation_id:
            reservation_pk = CommandLog.objects.get(pk=outcome.log_id).params.get("reservation_id")
            PartnerReservation.objects.update_or_create(partner=partner, ocpi_id=ocpi_reservation_id,
                                                        defaults={"reservation_id": reservation_pk})
    except (CommandError, StationNotFound) as error:
        result, message = "REJECTED", str(error)
    push.push_command_result(partner=partner, response_url=response_url, result=result, message=message)
    return result
