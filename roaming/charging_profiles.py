"""Charging profiles from eMSPs (OCPI 2.2.1 module ``chargingprofiles``, we are the receiver).

A partner may limit its own driver's session: PUT a ChargingProfile, GET the profile in
force (the station's composite schedule), DELETE its limit. Each is answered at once with a
ChargingProfileResponse and carried out in a Celery task, whose result is POSTed (through
the outbox) to the partner's response_url.

On a site with load management the partner's profile cannot override the site's share (a
TxProfile at a higher stack level would): there its lowest limit caps the session's demand
and the load manager's next TxProfile carries it. Elsewhere it goes to the station as a
TxProfile of its own.
"""

import logging

from django.db import transaction

from roaming import jobs, push
from roaming.envelope import INVALID_PARAMETERS, OcpiError
from roaming.models import Partner
from stations.commands.service import CommandError, send_command
from stations.models import (
    ChargingSession,
    CommandOutcome,
    SessionLoadState,
    SessionStatus,
    SiteLoadLimit,
)

log = logging.getLogger(__name__)

TIMEOUT_S = 60
PARTNER_PROFILE_ID = 200_000  # + EVSE id
PARTNER_STACK_LEVEL = 2
NOMINAL_VOLTAGE_V = 230.0


def _session(partner: Partner, session_id: str) -> ChargingSession | None:
    if not str(session_id).isdigit():
        return None
    return (
        ChargingSession.objects.filter(pk=int(session_id), id_token__roaming__partner=partner,
                                       status=SessionStatus.ACTIVE)
        .select_related("station__site", "evse")
        .first()
    )


def _response_url(value) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise OcpiError("response_url must be an http(s) URL", status_code=INVALID_PARAMETERS)
    return value


def _profile(value) -> dict:
    """Check an OCPI ChargingProfile: unit, periods that start at 0 and increase, limits >= 0."""
    if not isinstance(value, dict) or value.get("charging_rate_unit") not in ("W", "A"):
        raise OcpiError("charging_profile needs charging_rate_unit W or A", status_code=INVALID_PARAMETERS)
    periods = value.get("charging_profile_period") or []
    starts = [p.get("start_period") for p in periods if isinstance(p, dict)]
    if (not periods or len(starts) != len(periods) or not all(isinstance(s, int) for s in starts)
            or starts[0] != 0 or starts != sorted(set(starts))):
        raise OcpiError("charging_profile_period: periods starting at 0, increasing", status_code=INVALID_PARAMETERS)
    if not all(isinstance(p.get("limit"), int | float) and p["limit"] >= 0 for p in periods):
        raise OcpiError("every period needs a limit >= 0", status_code=INVALID_PARAMETERS)
    return value


def accept(*, partner: Partner, method: str, session_id: str, body, query) -> dict:
    """Check the request and queue it; the ChargingProfileResponse to answer with."""
    if method == "PUT":
        if not isinstance(body, dict):
            raise OcpiError("the body must be a SetChargingProfile object", status_code=INVALID_PARAMETERS)
        response_url = _response_url(body.get("response_url"))
        profile = _profile(body.get("charging_profile"))
    else:
        response_url = _response_url(query.get("response_url"))
        profile = None
        if method == "GET" and not str(query.get("duration", "")).isdigit():
            raise OcpiError("duration (seconds) is required", status_code=INVALID_PARAMETERS)
    session = _session(partner, session_id)
    if session is None or session.evse_id is None:
        return {"result": "UNKNOWN_SESSION", "timeout": 0}
    duration = int(query.get("duration", 0) or 0)
    transaction.on_commit(lambda: jobs.enqueue(
        "run_charging_profile", partner.pk, session.pk, method, profile, response_url, duration
    ))
    return {"result": "ACCEPTED", "timeout": TIMEOUT_S}


def execute(*, partner_pk: int, session_pk: int, method: str, profile: dict | None, response_url: str,
            duration: int) -> str:
    partner = Partner.objects.get(pk=partner_pk)
    session = ChargingSession.objects.select_related("station__site", "evse").get(pk=session_pk)
    if method == "GET":
        payload = _active_profile(session, duration)
    elif method == "PUT":
        payload = {"result": _set(session, profile)}
    else:
        payload = {"result": _clear(session)}
    push.push_result(partner=partner, module="chargingprofiles", response_url=response_url, payload=payload)
    return payload["result"]


def _managed(session: ChargingSession) -> bool:
    return SiteLoadLimit.objects.filter(site_id=session.station.site_id, enabled=True).exists()


def _lowest_w(session: ChargingSession, profile: dict) -> int:
    lowest = min(p["limit"] for p in profile["charging_profile_period"])
    if profile["charging_rate_unit"] == "W":
        return int(lowest)
    return int(lowest * NOMINAL_VOLTAGE_V * session.evse.phases)


def _set(session: ChargingSession, profile: dict) -> str:
    if _managed(session):
        from stations.smart_charging.dispatch import request_rebalance

        SessionLoadState.objects.update_or_create(
            session=session, defaults={"partner_limit_w": _lowest_w(session, profile)}
        )
        request_rebalance(site_pk=session.station.site_id, reason="partner profile")
        return "ACCEPTED"
    params = {
        "evse_id": session.evse.evse_id,
        "purpose": "TxProfile",
        "stack_level": PARTNER_STACK_LEVEL,
        "kind": "Absolute" if profile.get("start_date_time") else "Relative",
        "charging_rate_unit": profile["charging_rate_unit"],
        "periods": [{"start_period_s": p["start_period"], "limit": p["limit"]}
                    for p in profile["charging_profile_period"]],
        "transaction_id": session.transaction_id,
        "profile_id": PARTNER_PROFILE_ID + session.evse.evse_id,
    }
    if profile.get("start_date_time"):
        params["start_schedule"] = profile["start_date_time"]
    if profile.get("duration"):
        params["duration_s"] = int(profile["duration"])
    if profile.get("min_charging_rate") is not None:
        params["min_charging_rate"] = profile["min_charging_rate"]
    return _run(session, "set_charging_profile", params)


def _clear(session: ChargingSession) -> str:
    if _managed(session):
        from stations.smart_charging.dispatch import request_rebalance

        SessionLoadState.objects.filter(session=session).update(partner_limit_w=None)
        request_rebalance(site_pk=session.station.site_id, reason="partner profile cleared")
        return "ACCEPTED"
    return _run(session, "clear_charging_profile", {"profile_id": PARTNER_PROFILE_ID + session.evse.evse_id})


def _run(session: ChargingSession, command: str, params: dict) -> str:
    try:
        result = send_command(station_id=session.station.station_id, command=command, params=params,
                              source="ocpi", timeout=TIMEOUT_S - 10)
    except CommandError as error:
        log.warning("partner profile for session %s refused: %s", session.pk, error)
        return "REJECTED"
    return {CommandOutcome.ACCEPTED: "ACCEPTED", CommandOutcome.REJECTED: "REJECTED"}.get(result.outcome, "UNKNOWN")


def _active_profile(session: ChargingSession, duration: int) -> dict:
    """ActiveChargingProfileResult from the station's composite schedule."""
    try:
        result = send_command(
            station_id=session.station.station_id, command="get_composite_schedule",
            params={"evse_id": session.evse.evse_id, "duration_s": max(1, duration)}, source="ocpi",
            timeout=TIMEOUT_S - 10,
        )
    except CommandError:
        return {"result": "REJECTED"}
    if result.outcome != CommandOutcome.ACCEPTED or not result.response:
        return {"result": "REJECTED" if result.outcome == CommandOutcome.REJECTED else "UNKNOWN"}
    answer = result.response
    schedule = answer.get("schedule") or answer.get("chargingSchedule") or {}
    start = schedule.get("scheduleStart") or answer.get("scheduleStart")
    unit = schedule.get("chargingRateUnit", "W")
    periods = [{"start_period": p["startPeriod"], "limit": p["limit"]}
               for p in schedule.get("chargingSchedulePeriod", [])]
    profile = {"charging_rate_unit": unit, "charging_profile_period": periods}
    if schedule.get("duration") is not None:
        profile["duration"] = schedule["duration"]
    return {"result": "ACCEPTED", "profile": {"start_date_time": start, "charging_profile": profile}}
