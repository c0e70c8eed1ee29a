"""PKI fixtures: our CA hierarchy, and a station's key pair and CSR made as a charger would."""

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pki.models import CaRole, CertificateAuthority
from pki.services.ca import ensure_hierarchy


@pytest.fixture
def hierarchy(db):
    ensure_hierarchy()
    return {ca.role: ca for ca in CertificateAuthority.objects.all()}


def make_csr(common_name: str, organization: str = "ChargeNet", key=None, domain: str | None = "CPO"):
    key = key or ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if domain:
        attributes.append(x509.NameAttribute(NameOID.DOMAIN_COMPONENT, domain))
    from cryptography.hazmat.primitives.asymmetric import ed448

    algorithm = None if isinstance(key, ed448.Ed448PrivateKey) else hashes.SHA256()
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes)).sign(key, algorithm)
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


__all__ = ["CaRole", "make_csr"]
