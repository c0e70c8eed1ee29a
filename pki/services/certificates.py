"""Reading certificates: PEM chains, fingerprints, OCPP/OCSP hash data, and recording them."""

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from pki.models import Certificate

HASH_ALGORITHMS = {"SHA256": hashlib.sha256, "SHA384": hashlib.sha384, "SHA512": hashlib.sha512}


class CertificateError(ValueError):
    """A certificate or request that cannot be used; the message says why."""


@dataclass(frozen=True)
class HashData:
    """RFC 6960 CertID as OCPP's CertificateHashData carries it."""

    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str

    def as_ocpp(self) -> dict:
        return {
            "hashAlgorithm": self.hash_algorithm,
            "issuerNameHash": self.issuer_name_hash,
            "issuerKeyHash": self.issuer_key_hash,
            "serialNumber": self.serial_number,
        }

    @classmethod
    def from_ocpp(cls, data: dict) -> "HashData":
        """From camelCase (raw payload) or snake_case (the ``ocpp`` package's kwargs)."""

        def get(camel, snake):
            value = data.get(camel, data.get(snake))
            if not isinstance(value, str) or not value:
                raise CertificateError(f"certificate hash data lacks {camel}")
            return value

        algorithm = get("hashAlgorithm", "hash_algorithm")
        if algorithm not in HASH_ALGORITHMS:
            raise CertificateError(f"unsupported hash algorithm {algorithm!r}")
        return cls(
            hash_algorithm=algorithm,
            issuer_name_hash=get("issuerNameHash", "issuer_name_hash").lower(),
            issuer_key_hash=get("issuerKeyHash", "issuer_key_hash").lower(),
            serial_number=serial_hex(int(get("serialNumber", "serial_number"), 16)),
        )


def serial_hex(serial: int) -> str:
    return format(serial, "x")


def load_pem_chain(pem: str | bytes) -> list[x509.Certificate]:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise CertificateError(f"not a PEM certificate chain: {error}") from None
    if not chain:
        raise CertificateError("no certificate in the PEM data")
    return chain


def to_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def public_key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's value (RFC 6960's issuerKeyHash input), not the SPKI DER."""
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    raise CertificateError(f"unsupported public key type {type(key).__name__}")


def hash_data(cert: x509.Certificate, issuer: x509.Certificate, algorithm: str = "SHA256") -> HashData:
    digest = HASH_ALGORITHMS[algorithm]
    return HashData(
        hash_algorithm=algorithm,
        issuer_name_hash=digest(issuer.subject.public_bytes()).hexdigest(),
        issuer_key_hash=digest(public_key_bits(issuer)).hexdigest(),
        serial_number=serial_hex(cert.serial_number),
    )


def common_name(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def organization(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(values[0].value) if values else ""


def record_certificate(
    cert: x509.Certificate,
    *,
    kind: str,
    issuer_cert: x509.Certificate | None,
    issuer_ca=None,
    station=None,
    emaid: str = "",
) -> Certificate:
    """Store a certificate (or return the stored one with the same fingerprint).

    Without the issuer's certificate (a foreign leaf) the hash data are left empty; a
    self-signed certificate is its own issuer.
    """
    existing = Certificate.objects.filter(sha256_fingerprint=fingerprint(cert)).first()
    if existing is not None:
        return existing
    ids = hash_data(cert, issuer_cert) if issuer_cert is not None else None
    return Certificate.objects.create(
        kind=kind,
        pem=to_pem(cert),
        subject=cert.subject.rfc4514_string()[:500],
        common_name=common_name(cert.subject)[:200],
        issuer=cert.issuer.rfc4514_string()[:500],
        serial_number=serial_hex(cert.serial_number),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256_fingerprint=fingerprint(cert),
        issuer_name_hash=ids.issuer_name_hash if ids else "",
        issuer_key_hash=ids.issuer_key_hash if ids else "",
        issuer_ca=issuer_ca,
        station=station,
        emaid=emaid,
    )


def find_by_hash_data(data: HashData) -> Certificate | None:
    """The stored certificate these hash data name (any of OCPP's hash algorithms)."""
    if data.hash_algorithm == "SHA256":
        return (
            Certificate.objects.filter(
                issuer_name_hash=data.issuer_name_hash,
                issuer_key_hash=data.issuer_key_hash,
                serial_number=data.serial_number,
            )
            .select_related("issuer_ca__certificate")
            .first()
        )
    for candidate in Certificate.objects.filter(serial_number=data.serial_number).select_related(
        "issuer_ca__certificate"
    ):
        if candidate.issuer_ca is None:
            continue
        issuer = x509.load_pem_x509_certificate(candidate.issuer_ca.certificate.pem.encode())
        cert = x509.load_pem_x509_certificate(candidate.pem.encode())
        if hash_data(cert, issuer, data.hash_algorithm) == data:
            return candidate
    return None
