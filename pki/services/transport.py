"""Security profiles 2 and 3: is the station's connection TLS, and whose client certificate?

daphne serves TLS itself (``ssl:`` endpoints) but puts no sign of it in the WebSocket scope,
so the ports it serves TLS on are named in ``OCPP_TLS_PORTS``. Behind a TLS-terminating
proxy, the proxy says so with ``X-Forwarded-Proto`` and forwards the client certificate it
verified in ``PKI_CLIENT_CERT_HEADER`` (URL-encoded PEM, nginx's ``$ssl_client_escaped_cert``).
Those headers are believed only from the addresses in ``PKI_TRUSTED_PROXIES``.
"""

from dataclasses import dataclass
from urllib.parse import unquote

from django.conf import settings

from pki.models import CaRole, Certificate
from pki.services.certificates import CertificateError, common_name, fingerprint, load_pem_chain
from pki.services.validation import ChainInvalid, verify_chain

CLIENT_CERTIFICATE_ROLES = [CaRole.CSMS_ROOT]


@dataclass(frozen=True)
class Transport:
    secure: bool = False
    client_certificate_pem: str | None = None


def transport_of(scope: dict) -> Transport:
    headers = {}
    for name, value in scope.get("headers", []):
        headers.setdefault(name.lower(), value.decode("latin-1"))
    server = scope.get("server") or (None, None)
    client = scope.get("client") or (None, None)
    secure = server[1] is not None and int(server[1]) in settings.OCPP_TLS_PORTS
    certificate = None
    if client[0] is not None and client[0] in settings.PKI_TRUSTED_PROXIES:
        if headers.get(b"x-forwarded-proto", "").strip().lower() in ("https", "wss"):
            secure = True
        raw = headers.get(settings.PKI_CLIENT_CERT_HEADER.lower().encode(), "").strip()
        if raw:
            certificate = unquote(raw)
    return Transport(secure=secure, client_certificate_pem=certificate)


def refusal_for(*, station, transport: Transport | None) -> str | None:
    """Why this station may not connect over this transport, or None."""
    transport = transport or Transport()
    profile = station.security_profile
    if profile >= 2 and not transport.secure:
        return f"security profile {profile} requires TLS"
    if profile == 3:
        return _client_certificate_refusal(station, transport.client_certificate_pem)
    return None


def _client_certificate_refusal(station, pem: str | None) -> str | None:
    if not pem:
        return "security profile 3 requires a client certificate"
    try:
        chain = load_pem_chain(pem)
    except CertificateError as error:
        return f"client certificate: {error}"
    leaf = chain[0]
    try:
        verify_chain(leaf, chain[1:], roles=CLIENT_CERTIFICATE_ROLES)
    except ChainInvalid as error:
        return f"client certificate: {error}"
    names = {station.station_id, station.serial_number} - {""}
    if common_name(leaf.subject) not in names:
        return f"client certificate CN {common_name(leaf.subject)!r} is not this station"
    if Certificate.objects.filter(sha256_fingerprint=fingerprint(leaf), revoked_at__isnull=False).exists():
        return "client certificate is revoked"
    return None
