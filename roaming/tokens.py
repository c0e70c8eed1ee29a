"""Tokens: what eMSPs push to us (we are the receiver) and real-time authorization.

Pushed tokens become the network's ``IdToken`` (value = the token's uid, what the RFID
reader or the app start sends) with a ``PartnerToken`` beside it naming the partner, so
OCPP authorisation finds them locally and their sessions and CDRs go to that partner.
A uid that already names a token of our own or another partner's is refused (2001).

Real-time authorization (``authorize_remotely``, the CHARGENET_EXTERNAL_AUTHORIZER):
asked by OCPP Authorize/Start for a token we do not know, and for a partner's token whose
whitelist is NEVER. Registered partners with ``realtime_authorization`` are asked in turn
(POST {tokens}/{uid}/authorize) until one knows the token, within OCPI_AUTHORIZE_TIMEOUT_S
in all. ALLOWED is remembered as a PartnerToken (so the session and CDR reach the partner).
Fallback: when no partner answers in time (down, slow, error), the token is refused
(Invalid) - nobody would pay for that charge. The station may retry; the driver sees a refusal.
"""

import logging
import time
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from roaming import client
from roaming.envelope import INVALID_PARAMETERS, OcpiError
from roaming.models import Partner, PartnerRole, PartnerStatus, PartnerToken
from roaming.partners import registered_partners
from stations.models import IdToken, IdTokenStatus, IdTokenType
from stations.services.authorization import Authorization

log = logging.getLogger(__name__)

TOKEN_TYPES = {"AD_HOC_USER", "APP_USER", "OTHER", "RFID"}
WHITELIST = {"ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER"}
REQUIRED = ("country_code", "party_id", "uid", "type", "contract_id", "issuer", "valid", "whitelist")
_OCPP_TYPE = {"RFID": IdTokenType.ISO14443, "APP_USER": IdTokenType.CENTRAL, "AD_HOC_USER": IdTokenType.CENTRAL,
              "OTHER": IdTokenType.CENTRAL}


def _check(token: dict, *, country_code: str, party_id: str, uid: str, type: str) -> dict:
    if not isinstance(token, dict):
        raise OcpiError("the body must be a Token object", status_code=INVALID_PARAMETERS)
    missing = [name for name in REQUIRED if token.get(name) in (None, "")]
    if missing:
        raise OcpiError(f"Token lacks {', '.join(missing)}", status_code=INVALID_PARAMETERS)
    if (token["country_code"], token["party_id"], token["uid"]) != (country_code, party_id, uid):
        raise OcpiError("country_code, party_id and uid must match the URL", status_code=INVALID_PARAMETERS)
    if token["type"] not in TOKEN_TYPES or token["type"] != type:
        raise OcpiError(f"type must be one of {sorted(TOKEN_TYPES)} and match ?type", status_code=INVALID_PARAMETERS)
    if token["whitelist"] not in WHITELIST or not isinstance(token["valid"], bool):
        raise OcpiError("whitelist or valid is not valid", status_code=INVALID_PARAMETERS)
    if len(str(token["uid"])) > 36 or len(str(token["contract_id"])) > 36:
        raise OcpiError("uid and contract_id hold at most 36 characters", status_code=INVALID_PARAMETERS)
    return token


def check_party(partner: Partner, country_code: str, party_id: str) -> None:
    if partner.role != PartnerRole.HUB and (country_code, party_id) != (partner.country_code, partner.party_id):
        raise OcpiError(f"you are {partner.country_code}*{partner.party_id}, not {country_code}*{party_id}",
                        status_code=INVALID_PARAMETERS)


def find_token(*, partner: Partner, country_code: str, party_id: str, uid: str, type: str) -> PartnerToken | None:
    return PartnerToken.objects.filter(partner=partner, country_code=country_code, party_id=party_id, uid=uid,
                                       type=type).select_related("id_token").first()


@transaction.atomic
def store_token(*, partner: Partner, token: dict, realtime: bool = False, authorization_reference: str = "",
                country_code: str | None = None, party_id: str | None = None, uid: str | None = None,
                type: str | None = None) -> PartnerToken:
    """PUT: create or replace a partner's token."""
    token = _check(token, country_code=country_code or token.get("country_code"),
                   party_id=party_id or token.get("party_id"), uid=uid or token.get("uid"),
                   type=type or token.get("type"))
    id_token = IdToken.objects.select_for_update().filter(value=token["uid"]).first()
    existing = getattr(id_token, "roaming", None) if id_token is not None else None
    if id_token is not None and (existing is None or existing.partner_id != partner.pk):
        raise OcpiError(f"token uid {token['uid']} is already in use on this network", status_code=INVALID_PARAMETERS)
    status = IdTokenStatus.ACCEPTED if token["valid"] else IdTokenStatus.BLOCKED
    if id_token is None:
        id_token = IdToken.objects.create(value=token["uid"], type=_OCPP_TYPE[token["type"]], status=status,
                                          group_id=str(token.get("group_id") or "")[:36])
    else:
        id_token.status, id_token.group_id = status, str(token.get("group_id") or "")[:36]
        id_token.save(update_fields=["status", "group_id"])
    last_updated = parse_datetime(str(token.get("last_updated") or "")) or timezone.now()
    if last_updated.tzinfo is None:
        last_updated = last_updated.replace(tzinfo=UTC)
    values = {"partner": partner, "country_code": token["country_code"], "party_id": token["party_id"],
              "uid": token["uid"], "type": token["type"], "contract_id": token["contract_id"], "data": token,
              "realtime": realtime, "last_updated": last_updated}
    if authorization_reference:
        values["authorization_reference"] = authorization_reference[:36]
    partner_token, _ = PartnerToken.objects.update_or_create(id_token=id_token, defaults=values)
    return partner_token


def patch_token(*, partner_token: PartnerToken, changes: dict) -> PartnerToken:
    """PATCH: change some fields; last_updated is required."""
    if not isinstance(changes, dict) or not changes.get("last_updated"):
        raise OcpiError("a PATCH must carry last_updated", status_code=INVALID_PARAMETERS)
    if any(key in changes and changes[key] != getattr(partner_token, key)
           for key in ("country_code", "party_id", "uid")):
        raise OcpiError("country_code, party_id and uid cannot change", status_code=INVALID_PARAMETERS)
    merged = {**partner_token.data, **changes}
    return store_token(partner=partner_token.partner, token=merged, realtime=partner_token.realtime)


# --- real-time authorization -----------------------------------------------------------------

_ALLOWED_TO_STATUS = {"ALLOWED": IdTokenStatus.ACCEPTED, "BLOCKED": IdTokenStatus.BLOCKED,
                      "EXPIRED": IdTokenStatus.EXPIRED, "NO_CREDIT": IdTokenStatus.BLOCKED,
                      "NOT_ALLOWED": IdTokenStatus.INVALID}


def _ocpi_type(ocpp_type: str | None) -> str:
    return "APP_USER" if ocpp_type in (IdTokenType.CENTRAL, IdTokenType.EMAID) else "RFID"


def authorize_remotely(*, value: str, type: str | None, token: IdToken | None) -> Authorization | None:
    """The external authorizer: None leaves the local answer standing."""
    if not registered_partners():
        return None  # no roaming partners: nothing to ask, nothing to look up
    if token is not None:
        known = PartnerToken.objects.filter(id_token=token).select_related("partner").first()
        if known is None or known.data.get("whitelist") != "NEVER":
            return None
        partners = [known.partner]
        ocpi_type = known.type
    else:
        partners = list(Partner.objects.filter(status=PartnerStatus.REGISTERED, realtime_authorization=True))
        ocpi_type = _ocpi_type(type)
    deadline = time.monotonic() + settings.OCPI_AUTHORIZE_TIMEOUT_S
    for partner in partners:
        url = partner.endpoint("tokens", "SENDER") or partner.endpoint("tokens")
        remaining = deadline - time.monotonic()
        if not url or remaining <= 0:
            continue
        try:
            info = client.call(partner, "POST", f"{url.rstrip('/')}/{value}/authorize?type={ocpi_type}",
                               timeout=remaining).get("data") or {}
        except client.PartnerError as error:
            if error.ocpi_status != 2004:
                log.warning("real-time authorization of %s at %s failed: %s", value, partner, error)
            continue
        return _remember(partner, value, ocpi_type, info)
    if token is not None:
        return Authorization(status=IdTokenStatus.INVALID, token=token)
    return None


def _remember(partner: Partner, value: str, ocpi_type: str, info: dict) -> Authorization:
    allowed = info.get("allowed")
    status = _ALLOWED_TO_STATUS.get(allowed, IdTokenStatus.INVALID)
    if status != IdTokenStatus.ACCEPTED:
        return Authorization(status=status)
    token = info.get("token") if isinstance(info.get("token"), dict) else {}
    token = {
        "country_code": partner.country_code, "party_id": partner.party_id, "uid": value, "type": ocpi_type,
        "contract_id": value, "issuer": partner.name, "valid": True, "whitelist": "ALLOWED",
        "last_updated": datetime.now(UTC).isoformat(), **token,
    }
    token["uid"], token["valid"] = value, True
    try:
        stored = store_token(partner=partner, token=token, realtime=True,
                             authorization_reference=str(info.get("authorization_reference") or ""))
    except OcpiError as error:
        log.warning("token %s allowed by %s but not usable here: %s", value, partner, error)
        return Authorization(status=IdTokenStatus.INVALID)
    return Authorization(status=IdTokenStatus.ACCEPTED, token=stored.id_token, group_id=stored.id_token.group_id)
