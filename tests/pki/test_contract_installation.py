"""Plug & Charge contract installation end to end: an EV's signed, EXI-encoded
CertificateInstallationReq / CertificateUpdateReq reaches the CSMS in Get15118EVCertificate
over a real OCPP 2.0.1 WebSocket; the EV gets a CPS-signed response it can verify, decrypts
its new contract key, and the contract then authorizes charging for the vehicle's driver."""

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

from pki.iso15118 import exi, security
from pki.models import CaRole, Certificate, CertificateKind, Vehicle
from pki.services.ca import ca_x509, import_ca_chain
from stations.models import Driver, IdToken
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)

PCID = "WMIV1234567890ABC"
SESSION_ID = "0A1B2C3D4E5F6071"
ISO2 = "urn:iso:15118:2:2013:MsgDef"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def _cert(subject_cn: str, key, issuer_cn: str, issuer_key, *, ca: bool) -> x509.Certificate:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


class Ev:
    """A car as ISO 15118-2 has it: an OEM provisioning key and certificate, trusted V2G roots."""

    def __init__(self, oem_root_key, v2g_root: x509.Certificate, pcid: str = PCID):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = _cert(pcid, self.key, "Test OEM Root", oem_root_key, ca=False)
        self.v2g_root = v2g_root
        self.contract_key = None

    def root_ids(self) -> dict:
        return {"RootCertificateID": [{"X509IssuerName": self.v2g_root.issuer.rfc4514_string(),
                                       "X509SerialNumber": self.v2g_root.serial_number}]}

    def installation_request(self, signing_key=None) -> str:
        request = {"Id": "id1", "OEMProvisioningCert": _b64(_der(self.certificate)),
                   "ListOfRootCertificateIDs": self.root_ids()}
        signature = security.sign({"CertificateInstallationReq": request}, signing_key or self.key)
        message = {"V2G_Message": {"Header": {"SessionID": SESSION_ID, "Signature": signature},
                                   "Body": {"CertificateInstallationReq": request}}}
        return _b64(exi.encode(message))

    def update_request(self, contract_chain: dict, emaid: str) -> str:
        request = {"Id": "id1", "ContractSignatureCertChain": contract_chain, "eMAID": emaid,
                   "ListOfRootCertificateIDs": self.root_ids()}
        signature = security.sign({"CertificateUpdateReq": request}, self.contract_key)
        message = {"V2G_Message": {"Header": {"SessionID": SESSION_ID, "Signature": signature},
                                   "Body": {"CertificateUpdateReq": request}}}
        return _b64(exi.encode(message))

    def accept(self, exi_response: str, name: str, decrypt_with) -> dict:
        """Check the response as the car does, without the CSMS's code for it: every
        reference's digest over its EXI fragment, the ECDSA signature over SignedInfo by the
        CPS certificate, the CPS chain to the V2G root; then decrypt the contract key."""
        message = exi.decode(base64.b64decode(exi_response))["V2G_Message"]
        assert message["Header"]["SessionID"] == SESSION_ID
        body = message["Body"][name]
        assert body["ResponseCode"] == "OK"
        signed_info = message["Header"]["Signature"]["SignedInfo"]
        digests = {r["URI"]: base64.b64decode(r["DigestValue"]) for r in signed_info["Reference"]}
        for element in ("ContractSignatureCertChain", "ContractSignatureEncryptedPrivateKey", "DHpublickey", "eMAID"):
            fragment = exi.encode({element: body[element]})
            assert digests["#" + body[element]["Id"]] == hashlib.sha256(fragment).digest(), element
        cps_chain = body["SAProvisioningCertificateChain"]
        cps = x509.load_der_x509_certificate(base64.b64decode(cps_chain["Certificate"]))
        raw = base64.b64decode(message["Header"]["Signature"]["SignatureValue"]["value"])
        cps.public_key().verify(
            encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
            exi.encode({"SignedInfo": signed_info}, exi.XMLDSIG), ec.ECDSA(hashes.SHA256()),
        )
        chain = [cps] + [x509.load_der_x509_certificate(base64.b64decode(c))
                         for c in cps_chain["SubCertificates"]["Certificate"]] + [self.v2g_root]
        for child, parent in zip(chain, chain[1:]):
            child.verify_directly_issued_by(parent)
        contract = x509.load_der_x509_certificate(base64.b64decode(body["ContractSignatureCertChain"]["Certificate"]))
        key = security.decrypt_private_key(
            base64.b64decode(body["ContractSignatureEncryptedPrivateKey"]["value"]),
            base64.b64decode(body["DHpublickey"]["value"]), decrypt_with,
        )
        assert key.public_key().public_numbers() == contract.public_key().public_numbers()
        self.contract_key = key
        return {"contract": contract, "body": body}


@pytest.fixture
def oem_root_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def pnc(hierarchy, oem_root_key, make_station):
    """Our hierarchy, the carmaker's root imported, a station and a registered car."""
    root = _cert("Test OEM Root", oem_root_key, "Test OEM Root", oem_root_key, ca=True)
    import_ca_chain(pem=_pem(root), role=CaRole.OEM_ROOT, name="Test OEM Root")
    make_station("CP-1")
    driver = Driver.objects.create(email="pnc-driver@example.com")
    Vehicle.objects.create(pcid=PCID, driver=driver, name="Test car")
    return Ev(oem_root_key, ca_x509(hierarchy[CaRole.V2G_ROOT]))


async def _boot(client):
    await client.result("BootNotification", {"chargingStation": {"vendorName": "V", "model": "M"},
                                              "reason": "PowerUp"})


def _request(action: str, exi_request: str) -> dict:
    return {"iso15118SchemaVersion": ISO2, "action": action, "exiRequest": exi_request}


async def test_an_ev_installs_a_contract_and_charges_with_it(ocpp, pnc, hierarchy):
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await client.result("Get15118EVCertificate", _request("Install", await adb(pnc.installation_request)()))
        assert answer["status"] == "Accepted", answer
        got = await adb(pnc.accept)(answer["exiResponse"], "CertificateInstallationRes", pnc.key)
        emaid = got["body"]["eMAID"]["value"]
        contract = got["contract"]
        assert contract.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == emaid
        assert emaid.startswith("ZZCNGC") and len(emaid) == 14
        contract.verify_directly_issued_by(await adb(ca_x509)(hierarchy[CaRole.MO_SUB_CA_2]))
        sub_cas = got["body"]["ContractSignatureCertChain"]["SubCertificates"]["Certificate"]
        # The station presents the contract chain at plug-in: it authorizes the vehicle's driver.
        chain = _pem(contract, *[x509.load_der_x509_certificate(base64.b64decode(c)) for c in sub_cas])
        authorized = await client.result("Authorize", {"idToken": {"idToken": emaid, "type": "eMAID"},
                                                       "certificate": chain})
    assert authorized["idTokenInfo"]["status"] == "Accepted" and authorized["certificateStatus"] == "Accepted"
    token = await IdToken.objects.select_related("driver").aget(value=emaid)
    assert token.driver.email == "pnc-driver@example.com"
    vehicle = await Vehicle.objects.aget(pcid=PCID)
    assert vehicle.emaid == emaid and vehicle.last_provisioned_at is not None


async def test_a_contract_is_renewed_with_the_same_emaid(ocpp, pnc):
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        first = await client.result("Get15118EVCertificate", _request("Install", await adb(pnc.installation_request)()))
        installed = await adb(pnc.accept)(first["exiResponse"], "CertificateInstallationRes", pnc.key)
        old_key, emaid = pnc.contract_key, installed["body"]["eMAID"]["value"]
        chain = {k: v for k, v in installed["body"]["ContractSignatureCertChain"].items() if k != "Id"}
        answer = await client.result("Get15118EVCertificate",
                                     _request("Update", await adb(pnc.update_request)(chain, emaid)))
        assert answer["status"] == "Accepted", answer
        renewed = await adb(pnc.accept)(answer["exiResponse"], "CertificateUpdateRes", old_key)
    assert renewed["body"]["eMAID"]["value"] == emaid
    assert renewed["contract"].serial_number != installed["contract"].serial_number
    assert await Certificate.objects.filter(kind=CertificateKind.CONTRACT, emaid=emaid).acount() == 2


async def test_requests_that_must_not_get_a_contract(ocpp, pnc, oem_root_key):
    stranger = Ev(oem_root_key, pnc.v2g_root, pcid="WMIV0000000000XYZ")  # genuine car, not registered
    foreign_oem_key = ec.generate_private_key(ec.SECP256R1())
    counterfeit = Ev(foreign_oem_key, pnc.v2g_root)  # registered PCID, but not from a carmaker we trust
    untrusting = Ev(oem_root_key, await adb(_cert)("Other V2G", foreign_oem_key, "Other V2G", foreign_oem_key,
                                                   ca=True))
    await adb(lambda: Vehicle.objects.filter(pcid=PCID).update(pcid=PCID))()
    cases = {
        "not registered": await adb(stranger.installation_request)(),
        "does not verify": await adb(pnc.installation_request)(signing_key=foreign_oem_key),
        "OEM provisioning certificate": await adb(counterfeit.installation_request)(),
        "does not list our V2G root": await adb(untrusting.installation_request)(),
        "not an ISO 15118-2 message": _b64(b"\x80\x98\x02garbage"),
    }
    answers = {}
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        for reason, exi_request in cases.items():
            answers[reason] = await client.result("Get15118EVCertificate", _request("Install", exi_request))
        schema_20 = await client.result("Get15118EVCertificate", {
            "iso15118SchemaVersion": "urn:iso:std:iso:15118:-20:CommonMessages", "action": "Install",
            "exiRequest": cases["not registered"]})
    for reason, answer in answers.items():
        assert answer["status"] == "Failed" and reason in answer["statusInfo"]["additionalInfo"], (reason, answer)
    assert schema_20["status"] == "Failed" and "only ISO 15118-2" in schema_20["statusInfo"]["additionalInfo"]
    # Nothing was issued for any of them, and no eMAID handed out.
    assert await Certificate.objects.filter(kind=CertificateKind.CONTRACT).acount() == 0
    assert await Vehicle.objects.filter(emaid="").acount() == 1


async def test_an_inactive_vehicle_gets_no_contract(ocpp, pnc):
    await Vehicle.objects.filter(pcid=PCID).aupdate(active=False)
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await client.result("Get15118EVCertificate", _request("Install", await adb(pnc.installation_request)()))
    assert answer["status"] == "Failed" and "not registered" in answer["statusInfo"]["additionalInfo"]
