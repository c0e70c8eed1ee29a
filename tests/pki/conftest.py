"""PKI fixtures: our CA hierarchy, and a station's key pair and CSR made as a charger would."""

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pki.models import CaRole, CertificateAuthority
from pki.services.ca import ensure_hierarchy


@pytest.fixture
def exi_codec():
    """The EXI codec's JVM up and its ISO 15118-2 grammar used once before the test's clock runs,
    as a server has it after its start-up warm-up (chargenet/asgi.py): a cold JVM in a busy
    test process can take longer than an EV's 5 s for the first certificate installation."""
    from pki.iso15118 import exi

    message = {"V2G_Message": {"Header": {"SessionID": "0A1B2C3D4E5F6071"},
                               "Body": {"SessionStopReq": {"ChargingSession": "Terminate"}}}}
    assert exi.decode(exi.encode(message)) == message
    exi.encode({"eMAID": {"Id": "id1", "value": "ZZCNGC00000000"}})
    return exi


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
