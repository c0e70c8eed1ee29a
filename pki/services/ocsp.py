"""Our OCSP responder (RFC 6960) and the client that asks foreign responders.

Each of our CAs answers for the certificates it issued, signing the responses with its own
key (RFC 6960 §4.2.2.2: the CA itself is an authorised responder), so a relying party needs
no extra responder certificate. Requests for certificates of another issuer are answered
``unauthorized``; unknown serials of ours ``unknown``.
"""

import hashlib
import ipaddress
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID
from django.conf import settings

from pki.models import Certificate, CertificateAuthority, RevocationReason
from pki.services.ca import ca_private_key, ca_x509, signature_hash
from pki.services.certificates import HASH_ALGORITHMS, HashData, hash_data, public_key_bits, serial_hex

RESPONSE_VALIDITY = timedelta(hours=1)
OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = "application/ocsp-response"
_HASH_CLASSES = {"SHA1": hashes.SHA1, "SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}
_REASON_FLAGS = {
    RevocationReason.UNSPECIFIED: x509.ReasonFlags.unspecified,
    RevocationReason.KEY_COMPROMISE: x509.ReasonFlags.key_compromise,
    RevocationReason.CA_COMPROMISE: x509.ReasonFlags.ca_compromise,
    RevocationReason.AFFILIATION_CHANGED: x509.ReasonFlags.affiliation_changed,
    RevocationReason.SUPERSEDED: x509.ReasonFlags.superseded,
    RevocationReason.CESSATION_OF_OPERATION: x509.ReasonFlags.cessation_of_operation,
    RevocationReason.CERTIFICATE_HOLD: x509.ReasonFlags.certificate_hold,
    RevocationReason.PRIVILEGE_WITHDRAWN: x509.ReasonFlags.privilege_withdrawn,
}


class OcspUnavailable(Exception):
    """A foreign responder could not be asked or gave no usable answer."""


def reason_flag(reason: str) -> x509.ReasonFlags:
    return _REASON_FLAGS.get(reason, x509.ReasonFlags.unspecified)


def _ca_hash_data(ca: CertificateAuthority, algorithm_name: str) -> tuple[str, str]:
    ca_cert = ca_x509(ca)
    digest = {"SHA1": hashlib.sha1, **HASH_ALGORITHMS}[algorithm_name]
    return digest(ca_cert.subject.public_bytes()).hexdigest(), digest(public_key_bits(ca_cert)).hexdigest()


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


def respond(*, ca: CertificateAuthority, request_der: bytes) -> bytes:
    """The DER OCSPResponse this CA gives to ``request_der``."""
    try:
        request = ocsp.load_der_ocsp_request(request_der)
    except ValueError:
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    algorithm_name = request.hash_algorithm.name.upper().replace("-", "")
    if algorithm_name not in _HASH_CLASSES or not ca.has_private_key:
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    name_hash, key_hash = _ca_hash_data(ca, algorithm_name)
    if request.issuer_name_hash.hex() != name_hash or request.issuer_key_hash.hex() != key_hash:
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    certificate = Certificate.objects.filter(issuer_ca=ca, serial_number=serial_hex(request.serial_number)).first()
    nonce = None
    try:
        nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        pass
    response = build_response(
        ca=ca,
        issuer_name_hash=request.issuer_name_hash,
        issuer_key_hash=request.issuer_key_hash,
        serial_number=request.serial_number,
        algorithm=_HASH_CLASSES[algorithm_name](),
        certificate=certificate,
        nonce=nonce,
    )
    return response.public_bytes(serialization.Encoding.DER)


def build_response(
    *, ca, issuer_name_hash: bytes, issuer_key_hash: bytes, serial_number: int, algorithm, certificate, nonce=None
) -> ocsp.OCSPResponse:
    now = datetime.now(UTC).replace(microsecond=0)
    if certificate is None:
        status, revoked_at, reason = ocsp.OCSPCertStatus.UNKNOWN, None, None
    elif certificate.revoked_at is not None:
        status, revoked_at, reason = (
            ocsp.OCSPCertStatus.REVOKED, certificate.revoked_at, reason_flag(certificate.revocation_reason)
        )
    else:
        status, revoked_at, reason = ocsp.OCSPCertStatus.GOOD, None, None
    signer = ca_private_key(ca)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=issuer_name_hash,
            issuer_key_hash=issuer_key_hash,
            serial_number=serial_number,
            algorithm=algorithm,
            cert_status=status,
            this_update=now,
            next_update=now + RESPONSE_VALIDITY,
            revocation_time=revoked_at,
            revocation_reason=reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, ca_x509(ca))
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.sign(signer, signature_hash(signer))


def our_ca_for(data: HashData) -> CertificateAuthority | None:
    """The CA of ours (with a key) whose name and key hash these are."""
    for ca in CertificateAuthority.objects.exclude(encrypted_private_key=None).select_related("certificate"):
        if _ca_hash_data(ca, data.hash_algorithm) == (data.issuer_name_hash, data.issuer_key_hash):
            return ca
    return None


def response_for_hash_data(data: HashData) -> bytes | None:
    """Our DER OCSP response for these hash data, or None when none of our CAs issued it."""
    ca = our_ca_for(data)
    if ca is None:
        return None
    certificate = Certificate.objects.filter(issuer_ca=ca, serial_number=data.serial_number).first()
    response = build_response(
        ca=ca,
        issuer_name_hash=bytes.fromhex(data.issuer_name_hash),
        issuer_key_hash=bytes.fromhex(data.issuer_key_hash),
        serial_number=int(data.serial_number, 16),
        algorithm=_HASH_CLASSES[data.hash_algorithm](),
        certificate=certificate,
    )
    return response.public_bytes(serialization.Encoding.DER)


# --- asking foreign responders -------------------------------------------------------------


@dataclass(frozen=True)
class RemoteStatus:
    status: str  # good | revoked | unknown
    response_der: bytes


def request_for_hash_data(data: HashData) -> bytes:
    request = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        bytes.fromhex(data.issuer_name_hash),
        bytes.fromhex(data.issuer_key_hash),
        int(data.serial_number, 16),
        _HASH_CLASSES[data.hash_algorithm](),
    ).build()
    return request.public_bytes(serialization.Encoding.DER)


def fetch(*, url: str, request_der: bytes, timeout: float) -> bytes:
    """POST an OCSP request to ``url``; the DER response, or OcspUnavailable."""
    if not url.lower().startswith(("http://", "https://")):
        raise OcspUnavailable(f"not an HTTP responder URL: {url!r}")
    _refuse_internal_addresses(url)
    http_request = urllib.request.Request(
        url, data=request_der, method="POST", headers={"Content-Type": OCSP_REQUEST, "Accept": OCSP_RESPONSE}
    )
    try:
        with urllib.request.urlopen(http_request, timeout=timeout) as http_response:  # noqa: S310 (http(s) only)
            body = http_response.read(65536)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise OcspUnavailable(f"responder {url} unreachable: {error}") from None
    try:
        ocsp.load_der_ocsp_response(body)
    except ValueError:
        raise OcspUnavailable(f"responder {url} sent no OCSP response") from None
    return body


def _refuse_internal_addresses(url: str) -> None:
    """Responder URLs come from stations and certificates: never let them aim our requests at
    loopback, private or link-local addresses (our own network), unless the operator allows it."""
    if settings.PKI_OCSP_FORWARD_ALLOW_PRIVATE:
        return
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (socket.gaierror, UnicodeError):
        raise OcspUnavailable(f"responder host {host!r} does not resolve") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast:
            raise OcspUnavailable(f"responder {host} is on an internal address ({ip}); not forwarded")


def parse_status(response_der: bytes, *, serial_number: int, issuer: x509.Certificate | None = None) -> str:
    """good | revoked | unknown from a DER response (signature checked when the issuer is known)."""
    response = ocsp.load_der_ocsp_response(response_der)
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise OcspUnavailable(f"responder answered {response.response_status.name}")
    if issuer is not None:
        _check_signature(response, issuer)
    for single in response.responses:
        if single.serial_number == serial_number:
            return single.certificate_status.name.lower()
    raise OcspUnavailable("the response is about another certificate")


def _check_signature(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    signer = issuer
    for candidate in response.certificates:  # a delegated responder, signed by the issuer
        try:
            candidate.verify_directly_issued_by(issuer)
            signer = candidate
        except Exception:
            continue
    key = signer.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(response.signature_hash_algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(response.signature, response.tbs_response_bytes, padding.PKCS1v15(),
                       response.signature_hash_algorithm)
        else:
            key.verify(response.signature, response.tbs_response_bytes)
    except Exception:
        raise OcspUnavailable("the OCSP response's signature does not verify") from None


def responder_url(cert: x509.Certificate) -> str | None:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None
    for description in aia:
        if description.access_method == AuthorityInformationAccessOID.OCSP:
            return description.access_location.value
    return None


def certificate_status(cert: x509.Certificate, issuer: x509.Certificate, *, timeout: float) -> str:
    """good | revoked | unknown for any certificate: ours from the database, foreign over OCSP."""
    data = hash_data(cert, issuer)
    ca = our_ca_for(data)
    if ca is not None:
        certificate = Certificate.objects.filter(issuer_ca=ca, serial_number=data.serial_number).first()
        if certificate is None:
            return "unknown"
        return "revoked" if certificate.revoked_at is not None else "good"
    url = responder_url(cert)
    if url is None:
        raise OcspUnavailable(f"{cert.subject.rfc4514_string()} names no OCSP responder")
    response = fetch(url=url, request_der=request_for_hash_data(data), timeout=timeout)
    return parse_status(response, serial_number=cert.serial_number, issuer=issuer)
