"""What contract installation over ISO 15118-2 (``provisioning``) and -20 (``provisioning_20``)
share: the refusal and the result, the checks both requests need, the eMAID and the CPS signer."""

import secrets
import string
from dataclasses import dataclass
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.utils import timezone

from pki import keys
from pki.iso15118 import security
from pki.models import CaRole, Certificate, CertificateKind, Vehicle
from pki.services.ca import CaError, chain_of, issue_leaf, issuing_ca
from stations.models import IdToken, IdTokenStatus

CPS_VALIDITY = timedelta(days=90)
CPS_RENEW_BEFORE = timedelta(days=7)
EMAID_ALPHABET = string.ascii_uppercase + string.digits


class ProvisioningRefused(Exception):
    """The request cannot be answered with a contract; the message says why."""


@dataclass(frozen=True)
class Provisioned:
    exi_response: str  # base64
    emaid: str
    certificate_pk: int
    remaining_contracts: int | None = None  # ISO 15118-20's RemainingContractCertificateChains


def load_certificate(data: str, what: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(security.unb64(data))
    except (ValueError, TypeError):
        raise ProvisioningRefused(f"the {what} is not a DER certificate") from None


def check_trusted_root(element: dict) -> None:
    """The EV lists the V2G roots it trusts; it can only check our CPS signature under ours."""
    listed = (element.get("ListOfRootCertificateIDs") or {}).get("RootCertificateID") or []
    ours = x509.load_pem_x509_certificate(issuing_ca(CaRole.V2G_ROOT).certificate.pem.encode()).serial_number
    if not any(_as_int(entry.get("X509SerialNumber")) == ours for entry in listed):
        raise ProvisioningRefused("the EV does not list our V2G root among its trusted roots")


def _as_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def check_not_cancelled(emaid: str) -> None:
    """A blocked eMAID is a cancelled contract: issuing would re-open it."""
    status = IdToken.objects.filter(value=emaid).values_list("status", flat=True).first()
    if status not in (None, IdTokenStatus.ACCEPTED):
        raise ProvisioningRefused(f"contract {emaid} is {status.lower()}")


def der_b64(cert: x509.Certificate) -> str:
    return security.b64(cert.public_bytes(serialization.Encoding.DER))


def cps_signer(curve: ec.EllipticCurve | None = None) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate,
                                                                list[x509.Certificate]]:
    """The CPS signing key on ``curve`` (secp256r1 for ISO 15118-2, secp521r1 for -20), its
    certificate and sub-CAs (leaf side first); a new signer is issued from CPS sub-CA 2 when
    none on that curve is valid for another week."""
    curve = curve or ec.SECP256R1()
    try:
        ca = issuing_ca(CaRole.CPS_SUB_CA_2)
    except CaError as error:
        raise ProvisioningRefused(str(error)) from None
    candidates = (
        Certificate.objects.filter(kind=CertificateKind.CPS_SIGNER, issuer_ca=ca, revoked_at=None,
                                   not_after__gt=timezone.now() + CPS_RENEW_BEFORE)
        .exclude(encrypted_private_key=None).order_by("-not_after")
    )
    for record in candidates[:10]:
        certificate = x509.load_pem_x509_certificate(record.pem.encode())
        if isinstance(getattr(certificate.public_key(), "curve", None), type(curve)):
            key = keys.open_private_key(bytes(record.encrypted_private_key), bound_to=record.sha256_fingerprint)
            return key, certificate, chain_of(ca)
    key = ec.generate_private_key(curve)
    record = issue_leaf(ca=ca, kind=CertificateKind.CPS_SIGNER, public_key=key.public_key(),
                        common_name=f"{settings.PKI_ORGANIZATION} CPS", validity=CPS_VALIDITY)
    record.encrypted_private_key = keys.seal_private_key(key, bound_to=record.sha256_fingerprint)
    record.save(update_fields=["encrypted_private_key"])
    return key, x509.load_pem_x509_certificate(record.pem.encode()), chain_of(ca)


def new_emaid() -> str:
    prefix = settings.PKI_EMAID_PREFIX.upper()
    for _ in range(10):
        emaid = f"{prefix}C{''.join(secrets.choice(EMAID_ALPHABET) for _ in range(8))}"
        if not Vehicle.objects.filter(emaid=emaid).exists() and not IdToken.objects.filter(value=emaid).exists():
            return emaid
    raise ProvisioningRefused("no free eMAID")  # pragma: no cover - 36^8 values
