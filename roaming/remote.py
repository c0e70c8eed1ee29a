"""ChargeNet as eMSP, the Commands and ChargingProfiles sender: our driver starts or stops a
session on a partner CPO's charger (portal or API), or we limit one of our driver's sessions
there. The CPO answers at once (CommandResponse / ChargingProfileResponse); the outcome comes
later as a POST to our response_url, which names the RemoteCommand's uid.

Sent directly, not through the outbox: the driver is waiting for the answer, and a command
retried an hour later would surprise them."""

import uuid

from django.conf import settings
from django.urls import reverse

from roaming import client
from roaming.envelope import INVALID_PARAMETERS, OcpiError
from roaming.models import HubClient, Partner, RemoteCommand, RoamingLocation, RoamingSession
from roaming.offered_tokens import token_to_ocpi
from stations.models import Driver

COMMAND_RESULTS = {"ACCEPTED", "CANCELED_RESERVATION", "EVSE_OCCUPIED", "EVSE_INOPERATIVE", "FAILED",
                   "NOT_SUPPORTED", "REJECTED", "TIMEOUT", "UNKNOWN_RESERVATION"}
PROFILE_RESULTS = {"ACCEPTED", "REJECTED", "UNKNOWN"}


class RemoteError(Exception):
    """The partner could not be asked or refused; the message is for the driver."""


def _response_url(kind: str, uid: str) -> str:
    return settings.OCPI_BASE_URL.rstrip("/") + reverse("ocpi-emsp-results", args=[kind, uid])


def _reachable(partner: Partner, country_code: str, party_id: str) -> None:
    """Through a hub: a party the hub told us is not connected cannot be reached."""
    if partner.is_hub:
        known = HubClient.objects.filter(hub=partner, country_code=country_code, party_id=party_id).first()
        if known is not None and known.status != "CONNECTED":
            raise RemoteError(f"{country_code}*{party_id} is {known.status.lower()} at the hub")


def _send(partner: Partner, *, module: str, command: str, method: str, url: str, payload: dict, driver: Driver,
          to_party: tuple[str, str]) -> RemoteCommand:
    record = RemoteCommand.objects.create(uid=payload["_uid"], partner=partner, module=module, command=command,
                                          driver=driver, request={})
    payload = {k: v for k, v in payload.items() if k != "_uid"}
    record.request = payload
    try:
        answer = client.call(partner, method, url, payload=payload if method != "DELETE" else None,
                             to_party=to_party).get("data") or {}
    except client.PartnerError as error:
        record.response = "FAILED"
        record.save(update_fields=["request", "response", "updated_at"])
        raise RemoteError(f"{partner.name} did not take the command: {error}") from None
    record.response = str(answer.get("result") or "")[:20]
    record.save(update_fields=["request", "response", "updated_at"])
    if record.response != "ACCEPTED":
        raise RemoteError(f"{partner.name} answered {record.response or 'nothing'}")
    return record


def start_session(*, driver: Driver, location: RoamingLocation, evse_uid: str | None = None) -> RemoteCommand:
    """START_SESSION on a partner's charger with the driver's first valid token."""
    token = driver.id_tokens.filter(roaming__isnull=True, status="Accepted").order_by("pk").first()
    if token is None:
        raise RemoteError("you have no valid charging card")
    if evse_uid and not any(e.get("uid") == evse_uid for e in location.data.get("evses") or []):
        raise RemoteError("unknown charge point at this location")
    partner = location.partner
    _reachable(partner, location.country_code, location.party_id)
    url = partner.endpoint("commands", "RECEIVER")
    if not url:
        raise RemoteError(f"{partner.name} takes no commands")
    uid = uuid.uuid4().hex
    payload = {"_uid": uid, "response_url": _response_url("commands", uid), "token": token_to_ocpi(token),
               "location_id": location.ocpi_id, "authorization_reference": uid[:36]}
    if evse_uid:
        payload["evse_uid"] = evse_uid
    return _send(partner, module="commands", command="START_SESSION", method="POST",
                 url=f"{url.rstrip('/')}/START_SESSION", payload=payload, driver=driver,
                 to_party=(location.country_code, location.party_id))


def stop_session(*, driver: Driver, session: RoamingSession) -> RemoteCommand:
    if session.driver_id != driver.pk:
        raise RemoteError("not your session")
    partner = session.partner
    url = partner.endpoint("commands", "RECEIVER")
    if not url:
        raise RemoteError(f"{partner.name} takes no commands")
    uid = uuid.uuid4().hex
    payload = {"_uid": uid, "response_url": _response_url("commands", uid), "session_id": session.ocpi_id}
    return _send(partner, module="commands", command="STOP_SESSION", method="POST",
                 url=f"{url.rstrip('/')}/STOP_SESSION", payload=payload, driver=driver,
                 to_party=(session.country_code, session.party_id))


def set_charging_profile(*, session: RoamingSession, limit_w: float) -> RemoteCommand:
    """Limit one of our driver's sessions at a smart-charging partner (PUT chargingprofiles)."""
    partner = session.partner
    url = partner.endpoint("chargingprofiles", "RECEIVER")
    if not url:
        raise RemoteError(f"{partner.name} takes no charging profiles")
    if limit_w < 0:
        raise RemoteError("the limit must not be negative")
    uid = uuid.uuid4().hex
    payload = {"_uid": uid, "response_url": _response_url("chargingprofiles", uid),
               "charging_profile": {"charging_rate_unit": "W",
                                    "charging_profile_period": [{"start_period": 0, "limit": limit_w}]}}
    return _send(partner, module="chargingprofiles", command="SET_PROFILE", method="PUT",
                 url=f"{url.rstrip('/')}/{session.ocpi_id}", payload=payload, driver=session.driver,
                 to_party=(session.country_code, session.party_id))


def receive_result(*, partner: Partner, kind: str, uid: str, body) -> RemoteCommand:
    """POST to our response_url: CommandResult or a charging-profile result."""
    record = RemoteCommand.objects.filter(uid=uid, partner=partner, module=kind).first()
    if record is None:
        raise OcpiError("unknown command", status_code=INVALID_PARAMETERS, http_status=404)
    allowed = COMMAND_RESULTS if kind == "commands" else PROFILE_RESULTS
    if not isinstance(body, dict) or body.get("result") not in allowed:
        raise OcpiError(f"result must be one of {sorted(allowed)}", status_code=INVALID_PARAMETERS)
    record.result, record.result_data = body["result"], body
    record.save(update_fields=["result", "result_data", "updated_at"])
    return record
