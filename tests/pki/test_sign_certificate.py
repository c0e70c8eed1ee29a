"""SignCertificate → CSR checks → CertificateSigned, over the real WebSocket (OCPP 2.0.1)."""

import asyncio
import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa

from pki.models import CaRole, SigningRequest, SigningRequestStatus
from pki.services.ca import ca_x509
from pki.services.signing import approve_signing_request, deliver_signed_certificate
from pki.services.validation import verify_chain
from tests.conftest import adb
from tests.pki.conftest import make_csr

pytestmark = pytest.mark.django_db(transaction=True)


async def _boot(client):
    await client.result("BootNotification", {"chargingStation": {"vendorName": "V", "model": "M"},
                                              "reason": "PowerUp"})


async def test_station_csr_is_signed_and_the_chain_verifies(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")
    key, csr = make_csr("CP-1")
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await client.result("SignCertificate", {"csr": csr, "certificateType": "V2GCertificate"})
        assert answer["status"] == "Accepted"
        call = await client.expect_call("CertificateSigned", {"status": "Accepted"})
    assert call["certificateType"] == "V2GCertificate"
    chain = x509.load_pem_x509_certificates(call["certificateChain"].encode())
    leaf = chain[0]
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
    assert leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "CP-1"
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    verified = await adb(verify_chain)(leaf, chain[1:])
    assert verified[-1] == await adb(lambda: ca_x509(hierarchy[CaRole.V2G_ROOT]))()
    request = await SigningRequest.objects.aget()
    assert request.status == SigningRequestStatus.DELIVERED


async def test_charging_station_certificate_comes_from_the_csms_root(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")
    _, csr = make_csr("CP-1")
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        assert (await client.result("SignCertificate", {"csr": csr}))["status"] == "Accepted"
        call = await client.expect_call("CertificateSigned", {"status": "Accepted"})
    chain = x509.load_pem_x509_certificates(call["certificateChain"].encode())
    verified = await adb(verify_chain)(chain[0], chain[1:])
    assert verified[-1] == await adb(lambda: ca_x509(hierarchy[CaRole.CSMS_ROOT]))()
    eku = chain[0].extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in eku


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda: make_csr("CP-2"), "does not name this station"),
        (lambda: make_csr("CP-1", organization="Someone Else"), "is not the operator"),
        (lambda: make_csr("CP-1", key=ec.generate_private_key(ec.SECP224R1())), "curve"),
        (lambda: make_csr("CP-1", key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
         "elliptic-curve"),
        (lambda: (None, "-----BEGIN CERTIFICATE REQUEST-----\nnonsense\n-----END CERTIFICATE REQUEST-----\n"),
         "not a PEM"),
    ],
)
async def test_bad_csrs_are_rejected_with_a_reason(ocpp, make_station, hierarchy, make, reason):
    await adb(make_station)("CP-1")
    _, csr = make()
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await client.result("SignCertificate", {"csr": csr, "certificateType": "V2GCertificate"})
        assert answer["status"] == "Rejected"
        assert reason in answer["statusInfo"]["additionalInfo"]
        # nothing is sent afterwards: the next frame answers our Heartbeat
        assert "currentTime" in await client.result("Heartbeat", {})
    request = await SigningRequest.objects.aget()
    assert request.status == SigningRequestStatus.REJECTED and request.certificate_id is None


async def test_a_tampered_csr_signature_is_rejected(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")
    _, csr = make_csr("CP-1")
    der_a = x509.load_pem_x509_csr(csr.encode())
    raw = bytearray(der_a.public_bytes(serialization.Encoding.DER))
    raw[-5] ^= 0x01  # flip a bit inside the signature
    pem = ("-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(raw)).decode()
           + "-----END CERTIFICATE REQUEST-----\n")
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await client.result("SignCertificate", {"csr": pem, "certificateType": "V2GCertificate"})
    assert answer["status"] == "Rejected"


async def test_with_approval_policy_the_csr_waits_for_an_operator(ocpp, make_station, hierarchy, settings):
    settings.PKI_SIGNING_POLICY = "approve"
    await adb(make_station)("CP-1")
    _, csr = make_csr("CP-1")
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await client.result("SignCertificate", {"csr": csr, "certificateType": "V2GCertificate"})
        assert answer["status"] == "Accepted"
        request = await SigningRequest.objects.aget()
        assert request.status == SigningRequestStatus.PENDING and request.certificate_id is None
        await adb(approve_signing_request)(request_pk=request.pk)
        delivery = asyncio.create_task(deliver_signed_certificate(request_pk=request.pk))
        call = await client.expect_call("CertificateSigned", {"status": "Rejected"})
        assert await delivery == "rejected"
    assert x509.load_pem_x509_certificates(call["certificateChain"].encode())
    request = await SigningRequest.objects.aget()
    assert request.status == SigningRequestStatus.DELIVERY_FAILED


@pytest.mark.parametrize("certificate_type, key", [
    ("V2GCertificate", ec.generate_private_key(ec.SECP521R1())),  # ISO 15118-20
    ("V2GCertificate", ed448.Ed448PrivateKey.generate()),  # ISO 15118-20
    ("ChargingStationCertificate", rsa.generate_private_key(public_exponent=65537, key_size=2048)),  # TLS
])
async def test_iso_15118_20_curves_and_rsa_tls_keys_are_signed(ocpp, make_station, hierarchy, certificate_type, key):
    await adb(make_station)("CP-1")
    _, csr = make_csr("CP-1", key=key)
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await client.result("SignCertificate", {"csr": csr, "certificateType": certificate_type})
        assert answer["status"] == "Accepted"
        call = await client.expect_call("CertificateSigned", {"status": "Accepted"})
    leaf = x509.load_pem_x509_certificates(call["certificateChain"].encode())[0]
    assert leaf.public_key() == key.public_key()
