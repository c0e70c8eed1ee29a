"""Certificate revocation lists, one per CA, built on request from the database."""

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pki.models import Certificate, CertificateAuthority
from pki.services.ca import ca_private_key, ca_x509, signature_hash
from pki.services.ocsp import reason_flag

CRL_VALIDITY = timedelta(days=1)


def build_crl(*, ca: CertificateAuthority) -> bytes:
    """The DER CRL of ``ca``: every unexpired certificate it issued that is revoked."""
    now = datetime.now(UTC).replace(microsecond=0)
    ca_cert = ca_x509(ca)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now)
        .next_update(now + CRL_VALIDITY)
        .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)
    )
    revoked = Certificate.objects.filter(issuer_ca=ca, revoked_at__isnull=False, not_after__gt=now).exclude(
        pk=ca.certificate_id
    )
    for certificate in revoked.order_by("revoked_at"):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(int(certificate.serial_number, 16))
            .revocation_date(certificate.revoked_at)
            .add_extension(x509.CRLReason(reason_flag(certificate.revocation_reason)), critical=False)
            .build()
        )
    signer = ca_private_key(ca)
    return builder.sign(signer, signature_hash(signer)).public_bytes(serialization.Encoding.DER)
