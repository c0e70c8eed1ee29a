"""``Authorization: Token <base64 of the token>`` and the routing headers.

OCPI 2.2.1 sends the token base64-encoded; 2.1.1 peers send it plain. Incoming, both are
accepted (we try the decoded value, then the raw one); outgoing, the per-partner switch
``Partner.token_base64`` decides.
"""

import base64
import binascii
import secrets
import uuid

from roaming.models import Partner, PartnerStatus, token_digest


def new_token() -> str:
    """A random token that never starts with "-" (a command line would take it for an option:
    ``ocpi_register URL TOKEN_A``)."""
    while (token := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return token


def authorization_header(partner: Partner) -> str:
    token = partner.outgoing_token
    if partner.token_base64:
        token = base64.b64encode(token.encode()).decode()
    return f"Token {token}"


def _candidates(header: str) -> list[str]:
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value:
        return []
    found = []
    try:
        decoded = base64.b64decode(value, validate=True).decode()
        if decoded:
            found.append(decoded)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    found.append(value)
    return found


def partner_for(header: str | None) -> tuple[Partner, str] | None:
    """The partner whose token the header carries, and that token; None if nobody's.
    Unregistered and suspended partners have no access."""
    for token in _candidates(header or ""):
        partner = Partner.objects.filter(incoming_token_digest=token_digest(token)).first()
        if partner is not None and partner.status in (PartnerStatus.PENDING, PartnerStatus.REGISTERED):
            return partner, token
    return None


def request_headers(partner: Partner, *, correlation_id: str | None = None,
                    to_party: tuple[str, str] | None = None) -> dict[str, str]:
    """What every request to a partner carries: token, request ids, hub routing headers
    (to a hub: the party behind it the request is for, when known)."""
    from django.conf import settings

    headers = {
        "Authorization": authorization_header(partner),
        "X-Request-ID": str(uuid.uuid4()),
        "X-Correlation-ID": correlation_id or str(uuid.uuid4()),
        "OCPI-from-country-code": settings.OCPI_COUNTRY_CODE,
        "OCPI-from-party-id": settings.OCPI_PARTY_ID,
    }
    to_party = to_party or (partner.country_code, partner.party_id)
    if all(to_party):
        headers["OCPI-to-country-code"], headers["OCPI-to-party-id"] = to_party
    return headers
