"""The CA hierarchy: creating roots and sub-CAs, importing external ones, issuing leaves.

Profiles follow ISO 15118-2: ECDSA on secp256r1 with SHA-256; roots and sub-CAs carry a
critical basicConstraints (sub-CA 1 pathLen 1, sub-CA 2 pathLen 0) and a critical keyUsage
keyCertSign + cRLSign; leaves are CA:false with the keyUsage of their kind. The name
carries a domainComponent naming the domain (V2G, CPO, MO) as the standard asks.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.db import transaction

from pki import keys
from pki.models import CaRole, Certificate, CertificateAuthority, CertificateKind
from pki.services.certificates import CertificateError, fingerprint, load_pem_chain, record_certificate

ROOT_VALIDITY = timedelta(days=365 * 40)
SUB_CA_VALIDITY = timedelta(days=365 * 4)
BACKDATE = timedelta(minutes=5)


@dataclass(frozen=True)
class HierarchySpec:
    name: str
    role: str
    parent: str | None
    path_length: int | None
    domain: str


# What ``pki_init`` creates: V2G root → CPO sub-CA 1 → CPO sub-CA 2 (signs SECC certificates),
# MO root → MO sub-CA 1 → MO sub-CA 2 (signs our contract certificates), a CSMS root for the
# OCPP TLS layer (station client certificates, the server certificate), and V2G root → CPS
# sub-CA 1 → CPS sub-CA 2, which certifies the signer of contract installations.
HIERARCHY = [
    HierarchySpec("V2G Root CA", CaRole.V2G_ROOT, None, None, "V2G"),
    HierarchySpec("CPO Sub-CA 1", CaRole.CPO_SUB_CA_1, "V2G Root CA", 1, "CPO"),
    HierarchySpec("CPO Sub-CA 2", CaRole.CPO_SUB_CA_2, "CPO Sub-CA 1", 0, "CPO"),
    HierarchySpec("MO Root CA", CaRole.MO_ROOT, None, None, "MO"),
    HierarchySpec("MO Sub-CA 1", CaRole.MO_SUB_CA_1, "MO Root CA", 1, "MO"),
    HierarchySpec("MO Sub-CA 2", CaRole.MO_SUB_CA_2, "MO Sub-CA 1", 0, "MO"),
    HierarchySpec("CSMS Root CA", CaRole.CSMS_ROOT, None, 0, "CPO"),
    HierarchySpec("CPS Sub-CA 1", CaRole.CPS_SUB_CA_1, "V2G Root CA", 1, "CPS"),
    HierarchySpec("CPS Sub-CA 2", CaRole.CPS_SUB_CA_2, "CPS Sub-CA 1", 0, "CPS"),
]


class CaError(ValueError):
    pass


def now() -> datetime:
    return datetime.now(UTC)


def signature_hash(private_key):
    if isinstance(private_key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and private_key.curve.key_size > 384:
        return hashes.SHA512()
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and private_key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def ca_private_key(ca: CertificateAuthority):
    if not ca.has_private_key:
        raise CaError(f"{ca.name} has no private key here (imported trust anchor): it cannot sign")
    return keys.open_private_key(ca.encrypted_private_key, bound_to=ca.certificate.sha256_fingerprint)


def ca_x509(ca: CertificateAuthority) -> x509.Certificate:
    return x509.load_pem_x509_certificate(ca.certificate.pem.encode())


def ocsp_url(ca: CertificateAuthority) -> str:
    return f"{settings.PKI_BASE_URL}/pki/ocsp/{ca.pk}"


def crl_url(ca: CertificateAuthority) -> str:
    return f"{settings.PKI_BASE_URL}/pki/crl/{ca.pk}.crl"


def make_name(*, common_name: str, domain: str | None, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if domain:
        attributes.append(x509.NameAttribute(NameOID.DOMAIN_COMPONENT, domain))
    return x509.Name(attributes)


def _issuer_extensions(builder: x509.CertificateBuilder, issuer: CertificateAuthority) -> x509.CertificateBuilder:
    issuer_cert = ca_x509(issuer)
    return (
        builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityInformationAccess(
                [x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(
                    ocsp_url(issuer)))]
            ),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url(issuer))], None, None, None)]
            ),
            critical=False,
        )
    )


CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
    key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
)


@transaction.atomic
def create_ca(
    *,
    name: str,
    role: str,
    parent: CertificateAuthority | None = None,
    path_length: int | None = None,
    domain: str | None = None,
    validity: timedelta | None = None,
) -> CertificateAuthority:
    """A new CA with a fresh secp256r1 key: self-signed without a parent."""
    if CertificateAuthority.objects.filter(name=name).exists():
        raise CaError(f"a CA named {name!r} exists")
    private_key = ec.generate_private_key(ec.SECP256R1())
    subject = make_name(common_name=f"{settings.PKI_ORGANIZATION} {name}", domain=domain,
                        organization=settings.PKI_ORGANIZATION)
    start = now() - BACKDATE
    end = start + (validity or (ROOT_VALIDITY if parent is None else SUB_CA_VALIDITY))
    if parent is not None:
        parent_cert = ca_x509(parent)
        end = min(end, parent_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if parent is None else ca_x509(parent).subject)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(private_key.public_key()), critical=False)
    )
    if parent is None:
        cert = builder.sign(private_key, signature_hash(private_key))
        record = record_certificate(cert, kind=CertificateKind.CA, issuer_cert=cert)
    else:
        builder = _issuer_extensions(builder, parent)
        signer = ca_private_key(parent)
        cert = builder.sign(signer, signature_hash(signer))
        record = record_certificate(cert, kind=CertificateKind.CA, issuer_cert=ca_x509(parent), issuer_ca=parent)
    ca = CertificateAuthority.objects.create(
        name=name,
        role=role,
        parent=parent,
        certificate=record,
        encrypted_private_key=keys.seal_private_key(private_key, bound_to=record.sha256_fingerprint),
        is_trust_anchor=parent is None,
    )
    if parent is None:
        Certificate.objects.filter(pk=record.pk).update(issuer_ca=ca)
    return ca


@transaction.atomic
def ensure_hierarchy() -> list[CertificateAuthority]:
    """Create the CAs of HIERARCHY that do not exist yet; returns the ones created."""
    created = []
    for spec in HIERARCHY:
        if CertificateAuthority.objects.filter(role=spec.role).exists():
            continue
        parent = None
        if spec.parent is not None:
            parent_role = next(s.role for s in HIERARCHY if s.name == spec.parent)
            parent = CertificateAuthority.objects.filter(role=parent_role, active=True).first()
            if parent is None or not parent.has_private_key:
                raise CaError(f"cannot create {spec.name}: no {spec.parent} with a private key")
        created.append(create_ca(name=spec.name, role=spec.role, parent=parent, path_length=spec.path_length,
                                 domain=spec.domain))
    return created


def issuing_ca(role: str) -> CertificateAuthority:
    ca = CertificateAuthority.objects.filter(role=role, active=True).select_related("certificate").first()
    if ca is None:
        raise CaError(f"no active {CaRole(role).label}: run `manage.py pki_init` or import one")
    return ca


def chain_of(ca: CertificateAuthority, *, include_root: bool = False) -> list[x509.Certificate]:
    """The CA's certificate and its parents' (leaf side first), roots left out unless asked."""
    chain = []
    current = ca
    while current is not None:
        if current.parent_id is not None or include_root:
            chain.append(ca_x509(current))
        current = current.parent
    return chain


# --- leaves ----------------------------------------------------------------------------

LEAF_KEY_USAGE = {
    CertificateKind.V2G: dict(digital_signature=True, key_agreement=True),
    CertificateKind.CHARGING_STATION: dict(digital_signature=True, key_agreement=True),
    CertificateKind.TLS_SERVER: dict(digital_signature=True, key_agreement=True),
    CertificateKind.CONTRACT: dict(digital_signature=True, content_commitment=True, key_encipherment=True,
                                   key_agreement=True),
}
LEAF_DOMAIN = {
    CertificateKind.V2G: "CPO",
    CertificateKind.CHARGING_STATION: "CPO",
    CertificateKind.TLS_SERVER: None,
    CertificateKind.CONTRACT: "MO",
    CertificateKind.CPS_SIGNER: "CPS",
}


def _key_usage(**flags) -> x509.KeyUsage:
    fields = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
              "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"]
    return x509.KeyUsage(**{f: flags.get(f, False) for f in fields})


def issue_leaf(
    *,
    ca: CertificateAuthority,
    kind: str,
    public_key,
    common_name: str,
    organization: str | None = None,
    validity: timedelta | None = None,
    dns_names: list[str] | None = None,
    station=None,
    emaid: str = "",
) -> Certificate:
    """Sign an end-entity certificate of ``kind`` for ``public_key`` and record it."""
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed448.Ed448PublicKey
                      | ed25519.Ed25519PublicKey):
        raise CertificateError("unsupported public key")
    issuer_cert = ca_x509(ca)
    start = now() - BACKDATE
    end = min(start + (validity or timedelta(days=settings.PKI_LEAF_VALIDITY_DAYS)), issuer_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(make_name(common_name=common_name, domain=LEAF_DOMAIN.get(kind),
                                organization=organization if organization is not None else settings.PKI_ORGANIZATION))
        .issuer_name(issuer_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(**LEAF_KEY_USAGE.get(kind, {"digital_signature": True})), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    builder = _issuer_extensions(builder, ca)
    if kind == CertificateKind.CHARGING_STATION:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    if kind == CertificateKind.TLS_SERVER:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
    signer = ca_private_key(ca)
    cert = builder.sign(signer, signature_hash(signer))
    return record_certificate(cert, kind=kind, issuer_cert=issuer_cert, issuer_ca=ca, station=station, emaid=emaid)


# --- import -------------------------------------------------------------------------------


@transaction.atomic
def import_ca_chain(
    *, pem: str, role: str, name: str, private_key_pem: str | None = None, trust_anchor: bool | None = None
) -> CertificateAuthority:
    """Import an externally issued CA certificate (the first in ``pem``) and its parents.

    Parents given after it in the PEM data are imported as "Other" CAs unless known. With
    ``private_key_pem`` (matching the certificate) the CA can sign here, e.g. a CPO sub-CA
    issued by a public V2G root. A self-signed certificate becomes a trust anchor.
    """
    from cryptography.hazmat.primitives import serialization

    chain = load_pem_chain(pem)
    for cert in chain:
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            raise CaError(f"{cert.subject.rfc4514_string()} has no basicConstraints: not a CA certificate") from None
        if not constraints.ca:
            raise CaError(f"{cert.subject.rfc4514_string()} is not a CA certificate (CA:false)")
    for child, parent in zip(chain, chain[1:], strict=False):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, Exception) as error:
            raise CaError(f"{child.subject.rfc4514_string()} is not signed by the next certificate: {error}") from None
    if CertificateAuthority.objects.filter(name=name).exists():
        raise CaError(f"a CA named {name!r} exists")

    # Import from the top of the given chain downwards, so each knows its parent.
    parent_ca = None
    for index, cert in enumerate(reversed(chain)):
        is_first = index == len(chain) - 1
        existing = CertificateAuthority.objects.filter(certificate__sha256_fingerprint=fingerprint(cert)).first()
        if existing is not None and not is_first:
            parent_ca = existing
            continue
        if existing is not None:
            raise CaError(f"{cert.subject.rfc4514_string()} is already imported as {existing.name}")
        self_signed = cert.issuer == cert.subject
        if self_signed:
            try:
                cert.verify_directly_issued_by(cert)
            except Exception:
                raise CaError("the self-signed certificate's signature does not verify") from None
        if parent_ca is None and not self_signed:
            parent_ca = _find_issuer_ca(cert)
        issuer_cert = cert if self_signed else (ca_x509(parent_ca) if parent_ca else None)
        record = record_certificate(cert, kind=CertificateKind.CA, issuer_cert=issuer_cert, issuer_ca=parent_ca)
        sealed = None
        if is_first and private_key_pem:
            try:
                private_key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
            except (ValueError, TypeError) as error:
                raise CaError(f"cannot read the private key: {error}") from None
            if _public_bits(private_key.public_key()) != _public_bits(cert.public_key()):
                raise CaError("the private key does not belong to the certificate")
            sealed = keys.seal_private_key(private_key, bound_to=record.sha256_fingerprint)
        ca = CertificateAuthority.objects.create(
            name=name if is_first else f"{name} (issuer {len(chain) - 1 - index})",
            role=role if is_first else CaRole.OTHER,
            parent=parent_ca,
            certificate=record,
            encrypted_private_key=sealed,
            is_trust_anchor=self_signed if (trust_anchor is None or not is_first) else trust_anchor,
            active=sealed is not None,
        )
        if self_signed:
            Certificate.objects.filter(pk=record.pk).update(issuer_ca=ca)
        parent_ca = ca
    return parent_ca


def _public_bits(public_key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _find_issuer_ca(cert: x509.Certificate) -> CertificateAuthority | None:
    for ca in CertificateAuthority.objects.select_related("certificate"):
        candidate = ca_x509(ca)
        if candidate.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(candidate)
        except Exception:
            continue
        return ca
    return None
