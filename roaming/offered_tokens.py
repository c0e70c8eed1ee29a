"""ChargeNet as eMSP, the Tokens sender: our drivers' tokens offered to CPO partners.

Which tokens: every token of ours that belongs to a driver (partners' tokens, kept here as
CPO, are theirs, not ours). CPOs pull them (GET, paginated), get them pushed when one is
created or changes (PUT through the outbox), and ask in real time (POST {uid}/authorize),
answered from our token database: ALLOWED, BLOCKED, EXPIRED or NOT_ALLOWED (a token without a
driver, or a location we closed to our drivers), with the location restriction echoed back.
"""

import uuid

from django.conf import settings
from django.utils import timezone

from roaming.envelope import UNKNOWN_TOKEN, OcpiError, ocpi_datetime
from roaming.models import Partner, RoamingLocation
from roaming.outbox import queue
from roaming.partners import receivers_of
from stations.models import IdToken, IdTokenStatus, IdTokenType

_RFID_TYPES = {IdTokenType.ISO14443, IdTokenType.ISO15693}


def offered_tokens():
    return IdToken.objects.filter(driver__isnull=False, roaming__isnull=True).select_related("driver")


def ocpi_type(token: IdToken) -> str:
    return "RFID" if token.type in _RFID_TYPES else "APP_USER" if token.type == IdTokenType.CENTRAL else "OTHER"


def contract_id(token: IdToken) -> str:
    if token.type == IdTokenType.EMAID:
        return token.value[:36]
    return f"{settings.OCPI_COUNTRY_CODE}-{settings.OCPI_PARTY_ID}-C{token.pk:08d}"


def _valid(token: IdToken) -> bool:
    return token.status == IdTokenStatus.ACCEPTED and (token.expires_at is None or token.expires_at > timezone.now())


def token_to_ocpi(token: IdToken, *, last_updated=None) -> dict:
    return {
        "country_code": settings.OCPI_COUNTRY_CODE, "party_id": settings.OCPI_PARTY_ID, "uid": token.value[:36],
        "type": ocpi_type(token), "contract_id": contract_id(token), "issuer": settings.OCPI_BUSINESS_NAME,
        "group_id": token.group_id or None, "valid": _valid(token), "whitelist": "ALLOWED",
        "last_updated": ocpi_datetime(last_updated or token.created_at),
    }


def find(uid: str, type_: str | None) -> IdToken | None:
    token = offered_tokens().filter(value=uid).first()
    if token is None or (type_ and ocpi_type(token) != type_):
        return None
    return token


def _allowed(token: IdToken) -> str:
    if token.status == IdTokenStatus.BLOCKED:
        return "BLOCKED"
    if token.status == IdTokenStatus.EXPIRED or (token.expires_at is not None and token.expires_at <= timezone.now()):
        return "EXPIRED"
    if token.status != IdTokenStatus.ACCEPTED:
        return "NOT_ALLOWED"
    return "ALLOWED"


def authorize(*, partner: Partner, uid: str, type_: str | None, location_refs) -> dict:
    """AuthorizationInfo for a CPO's real-time authorization request."""
    token = find(uid, type_)
    if token is None:
        raise OcpiError("unknown token", status_code=UNKNOWN_TOKEN, http_status=404)
    allowed = _allowed(token)
    info = {"allowed": allowed, "token": token_to_ocpi(token), "authorization_reference": uuid.uuid4().hex[:36]}
    if isinstance(location_refs, dict) and location_refs.get("location_id"):
        closed = RoamingLocation.objects.filter(partner=partner, ocpi_id=str(location_refs["location_id"]),
                                                roaming_allowed=False).exists()
        if closed and allowed == "ALLOWED":
            info["allowed"] = "NOT_ALLOWED"
            info["info"] = {"language": "en", "text": "our drivers cannot charge at this location"}
        elif info["allowed"] == "ALLOWED":
            info["location"] = {"location_id": str(location_refs["location_id"]),
                                **({"evse_uids": location_refs["evse_uids"]}
                                   if isinstance(location_refs.get("evse_uids"), list) else {})}
    return info


def push_token(*, token: IdToken) -> int:
    """PUT the token to every CPO partner that takes tokens. Returns the entries queued."""
    if token.driver_id is None or getattr(token, "roaming", None) is not None:
        return 0
    partners = receivers_of("tokens")
    payload = token_to_ocpi(token, last_updated=timezone.now())
    path = f"/{payload['country_code']}/{payload['party_id']}/{payload['uid']}?type={payload['type']}"
    for partner in partners:
        queue(partner, module="tokens", method="PUT", path=path, object_key=f"token:{token.pk}", payload=payload)
    return len(partners)
