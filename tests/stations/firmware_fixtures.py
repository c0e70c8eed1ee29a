"""Small builders for firmware tests."""

import base64
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.files.base import ContentFile

from stations.firmware.catalog import add_firmware
from stations.simulator import MODEL, VENDOR, sim_firmware


def make_firmware(version: str = "2.4.1", *, vendor: str = VENDOR, models=(MODEL,), **kwargs):
    return add_firmware(version=version, vendor=vendor, station_models=list(models),
                        file=ContentFile(sim_firmware(version), name=f"fw-{version}.bin"), **kwargs)


def signing_pair() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A firmware signing key and its self-signed certificate (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ChargeNet firmware signing (test)")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    return key, certificate.public_bytes(serialization.Encoding.PEM).decode()


def sign(key: ec.EllipticCurvePrivateKey, content: bytes) -> str:
    return base64.b64encode(key.sign(content, ec.ECDSA(hashes.SHA256()))).decode()
