"""The CA hierarchy: ISO 15118-2 profiles, sealed keys, pki_init, importing external chains."""

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from pki import keys
from pki.models import CaRole, CertificateAuthority, CertificateKind
from pki.services.ca import CaError, ca_private_key, ca_x509, chain_of, import_ca_chain, issue_leaf
from pki.services.certificates import hash_data
from pki.services.validation import ChainInvalid, verify_chain

pytestmark = pytest.mark.django_db


def test_pki_init_creates_the_hierarchy_once(capsys):
    call_command("pki_init")
    first = set(CertificateAuthority.objects.values_list("role", flat=True))
    assert first == {CaRole.V2G_ROOT, CaRole.CPO_SUB_CA_1, CaRole.CPO_SUB_CA_2, CaRole.MO_ROOT, CaRole.MO_SUB_CA_1,
                     CaRole.MO_SUB_CA_2, CaRole.CSMS_ROOT, CaRole.CPS_SUB_CA_1, CaRole.CPS_SUB_CA_2}
    call_command("pki_init")
    assert CertificateAuthority.objects.count() == 9
    assert "nothing created" in capsys.readouterr().out


def test_ca_profiles_follow_iso_15118_2(hierarchy):
    root = ca_x509(hierarchy[CaRole.V2G_ROOT])
    sub1 = ca_x509(hierarchy[CaRole.CPO_SUB_CA_1])
    sub2 = ca_x509(hierarchy[CaRole.CPO_SUB_CA_2])
    for cert, path_length in ((sub1, 1), (sub2, 0)):
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert constraints.critical and constraints.value.ca and constraints.value.path_length == path_length
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
        assert isinstance(cert.public_key().curve, ec.SECP256R1)
        assert cert.signature_hash_algorithm.name == "sha256"
    assert root.issuer == root.subject
    sub1.verify_directly_issued_by(root)
    sub2.verify_directly_issued_by(sub1)
    assert sub2.subject.get_attributes_for_oid(x509.NameOID.DOMAIN_COMPONENT)[0].value == "CPO"


def test_private_keys_are_sealed_and_bound_to_their_ca(hierarchy):
    ca = hierarchy[CaRole.CPO_SUB_CA_2]
    blob = bytes(ca.encrypted_private_key)
    key = ca_private_key(ca)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    assert der not in blob and b"PRIVATE KEY" not in blob
    assert key.public_key().public_numbers() == ca_x509(ca).public_key().public_numbers()
    with pytest.raises(Exception):  # noqa: B017 - AES-GCM refuses another binding
        keys.open_private_key(blob, bound_to=hierarchy[CaRole.MO_ROOT].certificate.sha256_fingerprint)


def test_keys_are_refused_in_production_without_a_key_encryption_key(hierarchy, settings):
    settings.PKI_DEVELOPMENT_KEY_ALLOWED = False
    settings.PKI_KEY_ENCRYPTION_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="PKI_KEY_ENCRYPTION_KEY"):
        ca_private_key(hierarchy[CaRole.CPO_SUB_CA_2])


def test_a_configured_key_encryption_key_is_used(hierarchy, settings):
    settings.PKI_KEY_ENCRYPTION_KEY = "another-long-random-key-encryption-key"
    with pytest.raises(Exception):  # noqa: B017 - sealed under the development key, cannot open
        ca_private_key(hierarchy[CaRole.CPO_SUB_CA_2])


def test_hash_data_are_rfc6960_cert_ids(hierarchy):
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509 import ocsp

    ca = hierarchy[CaRole.CPO_SUB_CA_2]
    key = ec.generate_private_key(ec.SECP256R1())
    record = issue_leaf(ca=ca, kind=CertificateKind.V2G, public_key=key.public_key(), common_name="CP-1")
    leaf = x509.load_pem_x509_certificate(record.pem.encode())
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, ca_x509(ca), hashes.SHA256()).build()
    data = hash_data(leaf, ca_x509(ca))
    assert data.issuer_name_hash == request.issuer_name_hash.hex() == record.issuer_name_hash
    assert data.issuer_key_hash == request.issuer_key_hash.hex() == record.issuer_key_hash
    assert int(data.serial_number, 16) == request.serial_number


def _external_pki():
    """A root and a sub-CA made elsewhere (as a public V2G PKI would hand us)."""
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.now(UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (x509.CertificateBuilder().subject_name(name("External V2G Root")).issuer_name(name("External V2G Root"))
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(root_key, hashes.SHA256()))
    sub_key = ec.generate_private_key(ec.SECP256R1())
    sub = (x509.CertificateBuilder().subject_name(name("Our CPO Sub-CA by External")).issuer_name(root.subject)
           .public_key(sub_key.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1000))
           .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
           .sign(root_key, hashes.SHA256()))
    return root, sub, sub_key


def _pem(*certs):
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def test_an_external_chain_is_imported_and_its_sub_ca_signs_here(db):
    root, sub, sub_key = _external_pki()
    key_pem = sub_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    ca = import_ca_chain(pem=_pem(sub, root), role=CaRole.CPO_SUB_CA_2, name="External CPO", private_key_pem=key_pem)
    assert ca.has_private_key and ca.parent.is_trust_anchor and not ca.is_trust_anchor
    key = ec.generate_private_key(ec.SECP256R1())
    record = issue_leaf(ca=ca, kind=CertificateKind.V2G, public_key=key.public_key(), common_name="CP-9")
    leaf = x509.load_pem_x509_certificate(record.pem.encode())
    chain = verify_chain(leaf, chain_of(ca))
    assert chain[-1] == root


def test_import_refuses_a_key_of_another_certificate_and_non_ca_certificates(db, hierarchy):
    root, sub, _ = _external_pki()
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with pytest.raises(CaError, match="does not belong"):
        import_ca_chain(pem=_pem(sub, root), role=CaRole.CPO_SUB_CA_2, name="X", private_key_pem=other)
    assert not CertificateAuthority.objects.filter(name__startswith="X").exists()
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue_leaf(ca=hierarchy[CaRole.CPO_SUB_CA_2], kind=CertificateKind.V2G, public_key=key.public_key(),
                      common_name="CP-1")
    with pytest.raises(CaError, match="not a CA"):
        import_ca_chain(pem=leaf.pem, role=CaRole.OTHER, name="Leaf")


def test_a_chain_to_an_unknown_root_does_not_verify(hierarchy):
    root, sub, sub_key = _external_pki()
    with pytest.raises(ChainInvalid) as error:
        verify_chain(sub, [root])
    assert error.value.code == "CertChainError"


def test_deployment_check_demands_a_key_encryption_key_in_production(settings):
    from pki.checks import key_encryption_key_configured

    settings.PKI_DEVELOPMENT_KEY_ALLOWED = False
    settings.PKI_KEY_ENCRYPTION_KEY = ""
    assert [e.id for e in key_encryption_key_configured(None)] == ["pki.E001"]
    settings.PKI_KEY_ENCRYPTION_KEY = "x" * 40
    assert key_encryption_key_configured(None) == []
