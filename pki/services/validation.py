"""Chain validation with ``cryptography``'s verifier against the trust anchors we hold.

The web-PKI rules (SAN required, EKU serverAuth/clientAuth) do not fit ISO 15118 chains,
so the extension policies are relaxed to: CAs must carry basicConstraints CA:true (path
lengths are enforced by the verifier), leaves anything. Names, signatures, validity and
path building are the verifier's.
"""

from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509 import verification

from pki.models import CertificateAuthority

MAX_CHAIN_DEPTH = 4  # leaf + two sub-CAs + root (ISO 15118-2)


class ChainInvalid(ValueError):
    """``code`` is the OCPP AuthorizeCertificateStatus that fits."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def trust_anchors(roles: list[str] | None = None) -> list[x509.Certificate]:
    anchors = CertificateAuthority.objects.filter(is_trust_anchor=True).select_related("certificate")
    if roles:
        anchors = anchors.filter(role__in=roles)
    return [x509.load_pem_x509_certificate(ca.certificate.pem.encode()) for ca in anchors]


def known_intermediates() -> list[x509.Certificate]:
    cas = CertificateAuthority.objects.filter(is_trust_anchor=False).select_related("certificate")
    return [x509.load_pem_x509_certificate(ca.certificate.pem.encode()) for ca in cas]


def _verifier(anchors: list[x509.Certificate], at: datetime):
    ca_policy = verification.ExtensionPolicy.permit_all().require_present(
        x509.BasicConstraints, verification.Criticality.AGNOSTIC, None
    )
    return (
        verification.PolicyBuilder()
        .store(verification.Store(anchors))
        .time(at)
        .max_chain_depth(MAX_CHAIN_DEPTH)
        .extension_policies(ca_policy=ca_policy, ee_policy=verification.ExtensionPolicy.permit_all())
        .build_client_verifier()
    )


def verify_chain(
    leaf: x509.Certificate, intermediates: list[x509.Certificate], *, roles: list[str] | None = None,
    at: datetime | None = None,
) -> list[x509.Certificate]:
    """The verified chain, leaf first and the trust anchor last; or ChainInvalid."""
    at = at or datetime.now(UTC)
    if leaf.not_valid_after_utc < at:
        raise ChainInvalid("CertificateExpired", f"expired on {leaf.not_valid_after_utc.isoformat()}")
    if leaf.not_valid_before_utc > at:
        raise ChainInvalid("CertChainError", "not valid yet")
    anchors = trust_anchors(roles)
    if not anchors:
        raise ChainInvalid("CertChainError", "no trust anchor configured")
    pool = list(intermediates) + [c for c in known_intermediates() if c not in intermediates]
    try:
        return list(_verifier(anchors, at).verify(leaf, pool).chain)
    except verification.VerificationError as error:
        # A certificate whose named issuer is at hand but whose signature fails was tampered with.
        for candidate in pool + anchors:
            if candidate.subject == leaf.issuer:
                try:
                    leaf.verify_directly_issued_by(candidate)
                except InvalidSignature:
                    raise ChainInvalid("SignatureError", "the certificate's signature does not verify") from None
                except (ValueError, TypeError):
                    pass
        raise ChainInvalid("CertChainError", f"no valid chain to a trusted root: {error}") from None
