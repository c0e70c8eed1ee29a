"""The OCPI credentials handshake, both ways.

As server (a partner registers with us): the operator creates the partner with
``ocpi_add_partner`` and hands its token A over out of band. The partner fetches our
versions with A and POSTs its credentials (its token B, its versions URL); we fetch its
versions and endpoints with B, answer with our credentials carrying a new token C, and A
is dead. PUT renews (new B from them, new C from us); DELETE unregisters. POST when
registered, PUT/DELETE when not: 405.

As client (we register with a partner, ``ocpi_register URL TOKEN_A``): we fetch its
versions with A, issue our token B (stored before we POST: the partner calls our
versions with it while handling the POST), POST our credentials and keep its token C.

Token storage: see roaming.models (ours as a digest, theirs as given).
"""

import logging

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from roaming import client, jobs
from roaming.auth import new_token
from roaming.envelope import (
    NO_MATCHING_ENDPOINTS,
    UNABLE_TO_USE_CLIENT_API,
    UNSUPPORTED_VERSION,
    OcpiError,
)
from roaming.models import Partner, PartnerRole, PartnerStatus, token_digest

log = logging.getLogger(__name__)

VERSION = "2.2.1"
# Modules we offer per role of ours (settings.OCPI_ROLES): (identifier, interface role, URL name).
COMMON_ENDPOINTS = [
    ("credentials", "SENDER", "ocpi-credentials"),
    ("credentials", "RECEIVER", "ocpi-credentials"),
    ("hubclientinfo", "RECEIVER", "ocpi-hubclientinfo"),
]
CPO_ENDPOINTS = [
    ("locations", "SENDER", "ocpi-locations"),
    ("sessions", "SENDER", "ocpi-sessions"),
    ("cdrs", "SENDER", "ocpi-cdrs"),
    ("tariffs", "SENDER", "ocpi-tariffs"),
    ("tokens", "RECEIVER", "ocpi-tokens"),
    ("commands", "RECEIVER", "ocpi-commands"),
    ("chargingprofiles", "RECEIVER", "ocpi-chargingprofiles"),
]
EMSP_ENDPOINTS = [
    ("locations", "RECEIVER", "ocpi-emsp-locations"),
    ("sessions", "RECEIVER", "ocpi-emsp-sessions"),
    ("cdrs", "RECEIVER", "ocpi-emsp-cdrs"),
    ("tariffs", "RECEIVER", "ocpi-emsp-tariffs"),
    ("tokens", "SENDER", "ocpi-emsp-tokens"),
    ("commands", "SENDER", "ocpi-emsp-commands"),
    ("chargingprofiles", "SENDER", "ocpi-emsp-chargingprofiles"),
]


def our_roles() -> list[str]:
    return [role for role in ("CPO", "EMSP") if role in settings.OCPI_ROLES]


def our_endpoints() -> list[tuple[str, str, str]]:
    roles = our_roles()
    return (COMMON_ENDPOINTS + (CPO_ENDPOINTS if "CPO" in roles else [])
            + (EMSP_ENDPOINTS if "EMSP" in roles else []))


def base_url() -> str:
    return settings.OCPI_BASE_URL.rstrip("/")


def versions_url() -> str:
    return base_url() + reverse("ocpi-versions")


def version_details() -> dict:
    return {
        "version": VERSION,
        "endpoints": [
            {"identifier": identifier, "role": role, "url": base_url() + reverse(name)}
            for identifier, role, name in our_endpoints()
        ],
    }


def our_credentials(token: str) -> dict:
    return {
        "token": token,
        "url": versions_url(),
        "roles": [{
            "role": role,
            "party_id": settings.OCPI_PARTY_ID,
            "country_code": settings.OCPI_COUNTRY_CODE,
            "business_details": {"name": settings.OCPI_BUSINESS_NAME},
        } for role in our_roles()],
    }


# --- setting a partner up ---------------------------------------------------------------


@transaction.atomic
def add_partner(*, name: str, role: str = PartnerRole.EMSP) -> tuple[Partner, str]:
    """A partner that may register with us: (partner, token A to hand over)."""
    token_a = new_token()
    partner = Partner.objects.create(name=name, role=role, status=PartnerStatus.PENDING,
                                     incoming_token_digest=token_digest(token_a))
    return partner, token_a


def _discover(partner: Partner) -> None:
    """Fetch the partner's versions, pick 2.2.1 and store its endpoints (not saved)."""
    try:
        versions = client.call(partner, "GET", partner.versions_url).get("data") or []
    except client.PartnerError as error:
        raise OcpiError(f"cannot read your versions at {partner.versions_url}: {error}",
                        status_code=UNABLE_TO_USE_CLIENT_API)
    match = next((v for v in versions if isinstance(v, dict) and v.get("version") == VERSION), None)
    if match is None:
        raise OcpiError(f"no common version: we speak {VERSION}", status_code=UNSUPPORTED_VERSION)
    try:
        details = client.call(partner, "GET", match["url"]).get("data") or {}
    except client.PartnerError as error:
        raise OcpiError(f"cannot read your version details: {error}", status_code=UNABLE_TO_USE_CLIENT_API)
    endpoints = [e for e in details.get("endpoints", []) if isinstance(e, dict) and e.get("url")]
    if not any(e.get("identifier") == "credentials" for e in endpoints):
        raise OcpiError("your version details list no credentials endpoint", status_code=NO_MATCHING_ENDPOINTS)
    partner.version, partner.endpoints = VERSION, endpoints


def role_of(roles: list) -> str | None:
    """The partner's role to us from its credentials roles: a hub is a hub; CPO and eMSP
    together are both."""
    named = {r.get("role") for r in roles if isinstance(r, dict)}
    if "HUB" in named:
        return PartnerRole.HUB
    if {"CPO", "EMSP"} <= named:
        return PartnerRole.CPO_EMSP
    return next((role for role in ("CPO", "EMSP", "NSP", "OTHER") if role in named), None)


def _take_roles(partner: Partner, credentials: dict) -> None:
    roles = credentials.get("roles") or []
    partner.roles = roles
    first = next((r for r in roles if isinstance(r, dict)), None)
    if first is not None:
        partner.country_code = str(first.get("country_code", ""))[:2]
        partner.party_id = str(first.get("party_id", ""))[:3]
    role = role_of(roles)
    if role is not None:
        partner.role = role


def _check_credentials(data) -> dict:
    if not isinstance(data, dict) or not isinstance(data.get("token"), str) or not data["token"] \
            or not isinstance(data.get("url"), str) or not isinstance(data.get("roles"), list) or not data["roles"]:
        raise OcpiError("credentials need token, url and roles", status_code=2001)
    return data


# --- as server ----------------------------------------------------------------------------


def accept_registration(*, partner: Partner, credentials: dict) -> dict:
    """POST /credentials with token A (or a renewal via PUT): our credentials with a new token C."""
    credentials = _check_credentials(credentials)
    partner.outgoing_token = credentials["token"]
    partner.versions_url = credentials["url"]
    _discover(partner)  # HTTP: outside any transaction
    _take_roles(partner, credentials)
    token_c = new_token()
    with transaction.atomic():
        partner.incoming_token_digest = token_digest(token_c)
        partner.status = PartnerStatus.REGISTERED
        partner.save()
    log.info("partner %s registered (%s*%s)", partner.name, partner.country_code, partner.party_id)
    # No pull here: the partner does not know token C until we answer. Beat's hourly pull (or
    # the admin's "pull now") fetches its locations.
    return our_credentials(token_c)


def _pull_soon(partner: Partner) -> None:
    """A CPO partner's locations and tariffs, pulled once we registered with it."""
    if "EMSP" in our_roles() and partner.endpoint("locations", "SENDER"):
        transaction.on_commit(lambda: jobs.enqueue("pull_partner", partner.pk))


def unregister(*, partner: Partner) -> None:
    """DELETE /credentials: the partner's token stops working, nothing more is pushed."""
    with transaction.atomic():
        partner.status = PartnerStatus.UNREGISTERED
        partner.incoming_token_digest = None
        partner.save(update_fields=["status", "incoming_token_digest", "updated_at"])


# --- as client ----------------------------------------------------------------------------


def register_with(*, name: str, versions_url: str, token_a: str, token_base64: bool = True) -> Partner:
    """We register with a partner that gave us its versions URL and a token A."""
    partner = Partner.objects.filter(name=name).first() or Partner(name=name)
    if partner.status == PartnerStatus.REGISTERED and partner.pk:
        raise OcpiError(f"{name} is registered already; update or unregister instead", http_status=405)
    partner.versions_url, partner.outgoing_token, partner.token_base64 = versions_url, token_a, token_base64
    partner.status = PartnerStatus.PENDING
    partner.save()  # the request log of the discovery belongs to it
    _discover(partner)
    token_b = new_token()
    partner.incoming_token_digest = token_digest(token_b)
    partner.save()  # committed before the POST: the partner fetches our versions with B meanwhile
    return _post_credentials(partner, token_b, "POST")


def update_with(*, partner: Partner) -> Partner:
    """Renew our token at a registered partner (PUT): new B from us, new C from them."""
    if partner.status != PartnerStatus.REGISTERED:
        raise OcpiError(f"{partner.name} is not registered", http_status=405)
    token_b = new_token()
    old_digest = partner.incoming_token_digest
    partner.incoming_token_digest = token_digest(token_b)
    partner.save(update_fields=["incoming_token_digest", "updated_at"])
    try:
        return _post_credentials(partner, token_b, "PUT")
    except Exception:
        Partner.objects.filter(pk=partner.pk).update(incoming_token_digest=old_digest)
        raise


def unregister_with(*, partner: Partner) -> None:
    url = partner.endpoint("credentials")
    if url:
        client.call(partner, "DELETE", url)
    unregister(partner=partner)


def _post_credentials(partner: Partner, token_b: str, method: str) -> Partner:
    url = partner.endpoint("credentials")
    try:
        answer = client.call(partner, method, url, payload=our_credentials(token_b)).get("data")
    except client.PartnerError as error:
        raise OcpiError(f"{partner.name} refused our credentials: {error}", status_code=UNABLE_TO_USE_CLIENT_API)
    answer = _check_credentials(answer)
    with transaction.atomic():
        partner.outgoing_token = answer["token"]
        _take_roles(partner, answer)
        if answer["url"] != partner.versions_url:
            partner.versions_url = answer["url"]
        partner.status = PartnerStatus.REGISTERED
        partner.save()
    _pull_soon(partner)
    return partner
