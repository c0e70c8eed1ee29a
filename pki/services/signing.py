"""Station certificate signing requests: validate, sign (at once or after approval), deliver.

A station sends SignCertificate with a PKCS#10 CSR. We check the request's own signature,
the key (ISO 15118-2's secp256r1; -20's secp521r1 and Ed448 too; RSA ≥ 2048 only for the
TLS client certificate, as OCPP's security profile 3 allows), and that the subject names
this station (CN) and our operator (O). Depending on ``PKI_SIGNING_POLICY`` the request is
signed at once or waits for an operator. Delivery (CertificateSigned) is a separate call
made after the station has its SignCertificate answer.
"""

import logging
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from pki.models import CaRole, CertificateKind, SigningRequest, SigningRequestStatus
from pki.services.ca import CaError, chain_of, issue_leaf, issuing_ca
from pki.services.certificates import CertificateError, common_name, organization, to_pem
from stations.models import ChargingStation, DeviceModelVariable

logger = logging.getLogger(__name__)

CHARGING_STATION_CERTIFICATE = "ChargingStationCertificate"
V2G_CERTIFICATE = "V2GCertificate"
CERTIFICATE_TYPES = (CHARGING_STATION_CERTIFICATE, V2G_CERTIFICATE)
ACCEPTED_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
MAX_CSR_CHARS = 5500

# Which CA signs which request, and what kind of certificate it becomes.
ISSUERS = {
    CHARGING_STATION_CERTIFICATE: (CaRole.CSMS_ROOT, CertificateKind.CHARGING_STATION),
    V2G_CERTIFICATE: (CaRole.CPO_SUB_CA_2, CertificateKind.V2G),
}


class CsrRejected(ValueError):
    """The CSR cannot be signed; the message says why (sent back as statusInfo)."""


@dataclass(frozen=True)
class SignOutcome:
    accepted: bool
    request_pk: int | None
    deliver: bool  # signed now: send CertificateSigned after answering
    reason: str = ""


def allowed_common_names(station: ChargingStation) -> set[str]:
    """The station's identity, serial number and the SECC ids it reported (ISO15118Ctrlr.SeccId)."""
    names = {station.station_id}
    if station.serial_number:
        names.add(station.serial_number)
    names.update(
        DeviceModelVariable.objects.filter(station=station, component="ISO15118Ctrlr", variable="SeccId")
        .exclude(value="")
        .values_list("value", flat=True)
    )
    return names


def validate_csr(*, csr_pem: str, station: ChargingStation, certificate_type: str) -> x509.CertificateSigningRequest:
    if len(csr_pem) > MAX_CSR_CHARS:
        raise CsrRejected("CSR longer than 5500 characters")
    try:
        csr = x509.load_pem_x509_csr(csr_pem.strip().encode())
    except ValueError:
        raise CsrRejected("not a PEM PKCS#10 certificate signing request") from None
    if not csr.is_signature_valid:
        raise CsrRejected("the CSR's signature does not verify")
    key = csr.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ACCEPTED_CURVES):
            raise CsrRejected(f"curve {key.curve.name} not accepted (secp256r1, secp384r1, secp521r1)")
    elif isinstance(key, ed448.Ed448PublicKey):
        pass
    elif isinstance(key, rsa.RSAPublicKey):
        if certificate_type != CHARGING_STATION_CERTIFICATE:
            raise CsrRejected("ISO 15118 certificates need an elliptic-curve key")
        if key.key_size < 2048:
            raise CsrRejected("RSA keys need at least 2048 bits")
    else:
        raise CsrRejected(f"key type {type(key).__name__} not accepted")
    cn = common_name(csr.subject)
    if cn not in allowed_common_names(station):
        raise CsrRejected(f"subject CN {cn!r} does not name this station ({station.station_id})")
    org = organization(csr.subject)
    if org != settings.PKI_ORGANIZATION:
        raise CsrRejected(f"subject O {org!r} is not the operator {settings.PKI_ORGANIZATION!r}")
    return csr


@transaction.atomic
def receive_signing_request(*, station_pk: int, csr_pem: str, certificate_type: str | None) -> SignOutcome:
    """SignCertificate: record the request, sign it when policy allows; Accepted or Rejected."""
    station = ChargingStation.objects.get(pk=station_pk)
    certificate_type = certificate_type or CHARGING_STATION_CERTIFICATE
    request = SigningRequest.objects.create(
        station=station, certificate_type=certificate_type, csr_pem=csr_pem[:MAX_CSR_CHARS]
    )
    try:
        if certificate_type not in CERTIFICATE_TYPES:
            raise CsrRejected(f"unknown certificate type {certificate_type!r}")
        csr = validate_csr(csr_pem=csr_pem, station=station, certificate_type=certificate_type)
        issuing_ca(ISSUERS[certificate_type][0])  # fail now, not at delivery, when no CA can sign
    except (CsrRejected, CaError) as error:
        _decide(request, SigningRequestStatus.REJECTED, reason=str(error))
        logger.info("%s: CSR rejected: %s", station.station_id, error)
        return SignOutcome(accepted=False, request_pk=request.pk, deliver=False, reason=str(error))
    request.common_name = common_name(csr.subject)[:200]
    request.organization = organization(csr.subject)[:200]
    request.save(update_fields=["common_name", "organization"])
    if settings.PKI_SIGNING_POLICY == "auto":
        _sign(request, csr)
        return SignOutcome(accepted=True, request_pk=request.pk, deliver=True)
    return SignOutcome(accepted=True, request_pk=request.pk, deliver=False)


def _decide(request: SigningRequest, status: str, *, reason: str = "", by=None) -> None:
    request.status = status
    request.reason = reason[:500]
    request.decided_at = timezone.now()
    request.decided_by = by if getattr(by, "is_authenticated", False) else None
    request.save(update_fields=["status", "reason", "decided_at", "decided_by"])


def _sign(request: SigningRequest, csr: x509.CertificateSigningRequest, by=None) -> None:
    role, kind = ISSUERS[request.certificate_type]
    ca = issuing_ca(role)
    certificate = issue_leaf(
        ca=ca,
        kind=kind,
        public_key=csr.public_key(),
        common_name=common_name(csr.subject),
        organization=organization(csr.subject),
        station=request.station,
    )
    request.certificate = certificate
    request.save(update_fields=["certificate"])
    _decide(request, SigningRequestStatus.SIGNED, by=by)


@transaction.atomic
def approve_signing_request(*, request_pk: int, approved_by=None) -> SigningRequest:
    request = SigningRequest.objects.select_for_update().select_related("station").get(pk=request_pk)
    if request.status != SigningRequestStatus.PENDING:
        raise CsrRejected(f"request is {request.status}, not pending")
    try:
        csr = validate_csr(csr_pem=request.csr_pem, station=request.station, certificate_type=request.certificate_type)
    except CsrRejected as error:
        _decide(request, SigningRequestStatus.REJECTED, reason=str(error), by=approved_by)
        raise
    _sign(request, csr, by=approved_by)
    return request


@transaction.atomic
def reject_signing_request(*, request_pk: int, reason: str, rejected_by=None) -> SigningRequest:
    request = SigningRequest.objects.select_for_update().get(pk=request_pk)
    if request.status != SigningRequestStatus.PENDING:
        raise CsrRejected(f"request is {request.status}, not pending")
    _decide(request, SigningRequestStatus.REJECTED, reason=reason or "rejected by an operator", by=rejected_by)
    return request


def certificate_chain_pem(request: SigningRequest) -> str:
    """Leaf first, then the sub-CAs up to (not including) the root, as CertificateSigned wants."""
    if request.certificate is None:
        raise CertificateError("the request has no certificate yet")
    leaf = request.certificate
    return leaf.pem + "".join(to_pem(c) for c in chain_of(leaf.issuer_ca))


@transaction.atomic
def record_delivery(*, request_pk: int, accepted: bool, detail: str = "") -> None:
    status = SigningRequestStatus.DELIVERED if accepted else SigningRequestStatus.DELIVERY_FAILED
    SigningRequest.objects.filter(pk=request_pk).update(status=status, reason=detail[:500])


async def deliver_signed_certificate(*, request_pk: int) -> str:
    """Send CertificateSigned through the command service and record what the station said."""
    from asgiref.sync import sync_to_async

    from stations.commands.service import send_command_async

    def load():
        request = SigningRequest.objects.select_related("station", "certificate__issuer_ca").get(pk=request_pk)
        return request.station.station_id, request.certificate_type, certificate_chain_pem(request)

    station_id, certificate_type, chain = await sync_to_async(load)()
    result = await send_command_async(
        station_id=station_id,
        command="certificate_signed",
        params={"certificate_chain": chain, "certificate_type": certificate_type},
        source="pki",
    )
    await sync_to_async(record_delivery)(
        request_pk=request_pk,
        accepted=result.outcome == "accepted",
        detail="" if result.outcome == "accepted" else f"{result.outcome}: {result.status or result.error}",
    )
    return result.outcome


def deliver_signed_certificate_sync(*, request_pk: int) -> str:
    from asgiref.sync import async_to_sync

    return async_to_sync(deliver_signed_certificate)(request_pk=request_pk)
