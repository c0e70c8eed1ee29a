"""ISO 15118-20 contract installation: a -20 car's CertificateInstallationReq (CommonMessages
schema, secp521r1) reaches the built-in provider in Get15118EVCertificate from a 2.1 or a
2.0.1 station; the car checks the signed, encrypted answer on its own (``Ev20``) and charges
with the contract. Bad requests get Failed with a reason and leave nothing behind."""

import base64
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.x509.oid import NameOID

from pki.iso15118 import exi, security, security_20
from pki.iso15118.ev import Ev, Ev20, ResponseInvalid, make_certificate, make_certificate_20
from pki.models import CaRole, Certificate, CertificateKind, Vehicle
from pki.services.ca import ca_x509, import_ca_chain
from pki.services.vehicles import register_vehicle
from stations.models import Driver, IdToken, IdTokenType
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)

PCID = "WMI20V1234567890AB"  # 18 characters, as the AAD of [V2G20-2492] has it
ISO20 = "urn:iso:std:iso:15118:-20:CommonMessages"
ISO2 = "urn:iso:15118:2:2013:MsgDef"


def _request(exi_request: str, action: str = "Install", schema: str = ISO20) -> dict:
    return {"iso15118SchemaVersion": schema, "action": action, "exiRequest": exi_request}


class Oem:
    """A carmaker on ISO 15118-20: a secp521r1 root and sub-CA that issue provisioning certificates."""

    def __init__(self):
        self.root_key = ec.generate_private_key(ec.SECP521R1())
        self.root = make_certificate_20("Test OEM Root 20", self.root_key, "Test OEM Root 20", self.root_key, ca=True)
        self.sub_key = ec.generate_private_key(ec.SECP521R1())
        self.sub = make_certificate_20("Test OEM Sub-CA 20", self.sub_key, "Test OEM Root 20", self.root_key, ca=True)

    def car(self, v2g_root, pcid: str = PCID, key=None) -> Ev20:
        key = key or ec.generate_private_key(ec.SECP521R1())
        leaf = make_certificate_20(pcid, key, "Test OEM Sub-CA 20", self.sub_key, ca=False)
        return Ev20(provisioning_key=key, provisioning_certificate=leaf, sub_cas=[self.sub], trusted_roots=[v2g_root])


@pytest.fixture
def oem():
    return Oem()


@pytest.fixture
def driver(db):
    return Driver.objects.create(email="pnc20-driver@example.com")


@pytest.fixture
def car(hierarchy, oem, driver, make_station):
    """Our hierarchy, the carmaker's root imported, two stations and a registered -20 car."""
    import_ca_chain(pem=oem.root.public_bytes(serialization.Encoding.PEM).decode(), role=CaRole.OEM_ROOT,
                    name="Test OEM Root 20")
    make_station("CP-21")
    make_station("CP-201")
    register_vehicle(pcid=PCID, driver=driver, name="Test car 20")
    return oem.car(ca_x509(hierarchy[CaRole.V2G_ROOT]))


async def _boot(client):
    await client.result("BootNotification", {"chargingStation": {"vendorName": "V", "model": "M"},
                                              "reason": "PowerUp"})


async def test_a_20_car_installs_a_contract_through_a_21_station_and_charges_with_it(ocpp, car, hierarchy):
    async with ocpp("CP-21", version="2.1") as client:
        await _boot(client)
        # 2.1 repeats the EXI's MaximumContractCertificateChains (and PrioritizedEMAIDs) in the request.
        request = {**_request(await adb(car.installation_request)()), "maximumContractCertificateChains": 1}
        answer = await client.result("Get15118EVCertificate", request)
        assert answer["status"] == "Accepted", answer
        assert answer["remainingContracts"] == 0  # = the EXI's RemainingContractCertificateChains
        # The car's own checks: digest, CPS signature and chain, contract chain, key decrypted and matched.
        installed = await adb(car.accept)(answer["exiResponse"])
        authorized = await client.result("Authorize", {"idToken": {"idToken": installed.emaid, "type": "eMAID"},
                                                       "certificate": car.contract_chain_pem()})
    assert authorized["idTokenInfo"]["status"] == "Accepted" and authorized["certificateStatus"] == "Accepted"
    assert isinstance(installed.contract.public_key().curve, ec.SECP521R1)
    assert installed.emaid.startswith("ZZCNGC") and len(installed.emaid) == 14
    installed.contract.verify_directly_issued_by(await adb(ca_x509)(hierarchy[CaRole.MO_SUB_CA_2]))
    assert car.contract_key.public_key().public_numbers() == installed.contract.public_key().public_numbers()
    vehicle = await Vehicle.objects.aget(pcid=PCID)
    assert vehicle.emaid == installed.emaid and vehicle.last_provisioned_at is not None
    token = await IdToken.objects.select_related("driver").aget(value=installed.emaid)
    assert token.driver.email == "pnc20-driver@example.com"
    assert token.car_id == vehicle.car_id  # the contract charges the vehicle's car (V2X permission)


async def test_a_201_station_forwards_the_20_request_as_well(ocpp, car):
    async with ocpp("CP-201", version="2.0.1") as client:
        await _boot(client)
        answer = await client.result("Get15118EVCertificate", _request(await adb(car.installation_request)()))
    assert answer["status"] == "Accepted", answer
    assert "remainingContracts" not in answer  # not a 2.0.1 field
    installed = await adb(car.accept)(answer["exiResponse"])
    assert installed.emaid == (await Vehicle.objects.aget(pcid=PCID)).emaid


async def test_a_16_station_forwards_the_20_request_in_the_pnc_data_transfer(ocpp, car):
    data = json.dumps(_request(await adb(car.installation_request)()))
    async with ocpp("CP-21") as client:
        answer = await client.result("DataTransfer", {"vendorId": "org.openchargealliance.iso15118pnc",
                                                      "messageId": "Get15118EVCertificate", "data": data})
    assert answer["status"] == "Accepted"
    inner = json.loads(answer["data"])  # a 2.0.1 Get15118EVCertificateResponse
    assert inner["status"] == "Accepted" and "remainingContracts" not in inner
    assert (await adb(car.accept)(inner["exiResponse"])).emaid == (await Vehicle.objects.aget(pcid=PCID)).emaid


def test_the_answer_has_the_20_layout_and_the_2_path_keeps_its_own_signer(car, hierarchy, oem):
    from pki.services.provisioning import answer

    provisioned = answer(action="Install", schema_version=ISO20, exi_request=car.installation_request())
    body = exi.decode(base64.b64decode(provisioned.exi_response), ISO20)["CertificateInstallationRes"]
    data = body["SignedInstallationData"]
    assert (body["ResponseCode"], body["EVSEProcessing"], body["RemainingContractCertificateChains"]) == \
        ("OK", "Finished", 0)
    assert data["ECDHCurve"] == "SECP521" and "X448_EncryptedPrivateKey" not in data
    assert len(base64.b64decode(data["DHPublicKey"])) == 133 and base64.b64decode(data["DHPublicKey"])[0] == 4
    assert len(base64.b64decode(data["SECP521_EncryptedPrivateKey"])) == 94  # IV 12 + key 66 + tag 16
    assert len(data["ContractCertificateChain"]["SubCertificates"]["Certificate"]) == 2  # MO sub-CA 2 and 1
    cps = x509.load_der_x509_certificate(base64.b64decode(body["CPSCertificateChain"]["Certificate"]))
    assert isinstance(cps.public_key().curve, ec.SECP521R1)
    assert body["Header"]["Signature"]["SignedInfo"]["SignatureMethod"]["Algorithm"] == security_20.ECDSA_SHA512
    assert body["Header"]["SessionID"] == car.session_id
    car.accept(provisioned.exi_response)

    # An ISO 15118-2 car afterwards still gets a secp256r1 CPS signature it can check.
    key = ec.generate_private_key(ec.SECP256R1())
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = make_certificate("Test OEM Root", root_key, "Test OEM Root", root_key, ca=True)
    import_ca_chain(pem=root.public_bytes(serialization.Encoding.PEM).decode(), role=CaRole.OEM_ROOT,
                    name="Test OEM Root")
    register_vehicle(pcid="WMIV1234567890ABC", driver=Driver.objects.create(email="d2@example.com"))
    car2 = Ev(provisioning_key=key, trusted_roots=car.trusted_roots,
              provisioning_certificate=make_certificate("WMIV1234567890ABC", key, "Test OEM Root", root_key, ca=False))
    car2.accept(answer(action="Install", schema_version=ISO2, exi_request=car2.installation_request()).exi_response)


def test_the_ev_gets_the_first_prioritized_emaid_its_driver_holds(car, driver):
    from pki.services.provisioning import answer

    other = Driver.objects.create(email="someone-else@example.com")
    IdToken.objects.create(value="ZZCNGCOTHER0001", type=IdTokenType.EMAID, driver=other)
    IdToken.objects.create(value="ZZCNGCMINE00002", type=IdTokenType.EMAID, driver=driver)
    request = car.installation_request(prioritized_emaids=["ZZCNGCOTHER0001", "ZZCNGCUNKNOWN03", "ZZCNGCMINE00002"])
    provisioned = answer(action="Install", schema_version=ISO20, exi_request=request)
    assert provisioned.emaid == "ZZCNGCMINE00002"
    assert car.accept(provisioned.exi_response).emaid == "ZZCNGCMINE00002"
    # Nobody else's eMAID is handed out: without a match the vehicle keeps its own.
    again = answer(action="Install", schema_version=ISO20,
                   exi_request=car.installation_request(prioritized_emaids=["ZZCNGCOTHER0001"]))
    assert again.emaid == "ZZCNGCMINE00002" == Vehicle.objects.get(pcid=PCID).emaid


def _resigned(car: Ev20, *, mutate) -> str:
    """A request signed properly, then altered by ``mutate`` before it is encoded."""
    body = car.request_body()
    signature = security_20.sign({"OEMProvisioningCertificateChain": dict(body["OEMProvisioningCertificateChain"])},
                                 car.key)
    mutate(body)
    header = {"SessionID": car.session_id, "TimeStamp": 1, "Signature": signature}
    return security.b64(exi.encode({"CertificateInstallationReq": {"Header": header, **body}}, ISO20))


async def test_bad_20_requests_get_failed_with_a_reason_and_nothing_is_issued(ocpp, car, oem, hierarchy):
    v2g_root = car.trusted_roots[0]
    foreign = Oem()  # a carmaker whose root we never imported
    p256_key = ec.generate_private_key(ec.SECP256R1())
    p256_car = Ev20(provisioning_key=p256_key, trusted_roots=[v2g_root],
                    provisioning_certificate=make_certificate(PCID, p256_key, "Test OEM Sub-CA 20", oem.sub_key,
                                                              ca=False))
    ed_key = ed448.Ed448PrivateKey.generate()
    ed_car = Ev20(provisioning_key=ed_key, trusted_roots=[v2g_root], sub_cas=[oem.sub],
                  provisioning_certificate=make_certificate_20(PCID, ed_key, "Test OEM Sub-CA 20", oem.sub_key,
                                                               ca=False))
    other_root_key = ec.generate_private_key(ec.SECP521R1())
    other_v2g = make_certificate_20("Other V2G", other_root_key, "Other V2G", other_root_key, ca=True)

    def drop_sub_cas(body):
        body["OEMProvisioningCertificateChain"].pop("SubCertificates")

    def rename_id(body):
        body["OEMProvisioningCertificateChain"]["Id"] = "id9"

    cases = {
        "not an ISO 15118-20 message": base64.b64encode(b"\x80\x98\x02garbage").decode(),
        "empty EXI stream": "",
        "exiRequest is not base64": "%%%",
        "no ISO 15118-20 CertificateInstallationReq": await adb(
            lambda: security.b64(exi.encode({"SessionSetupReq": {
                "Header": {"SessionID": car.session_id, "TimeStamp": 1}, "EVCCID": "WMI"}}, ISO20)))(),
        "does not verify": await adb(car.installation_request)(signing_key=ec.generate_private_key(ec.SECP521R1())),
        "is not signed": await adb(_resigned)(car, mutate=rename_id),
        "no valid chain to a trusted root": await adb(foreign.car(v2g_root).installation_request)(),
        "OEM provisioning certificate: ": await adb(_resigned)(car, mutate=drop_sub_cas),
        # (-20 has no secp256r1 signature to sign it with: the key is refused before any signature check)
        "not secp521r1 or Ed448": await adb(p256_car.installation_request)(
            signing_key=ec.generate_private_key(ec.SECP521R1())),
        "X448 contract key encryption": await adb(ed_car.installation_request)(),
        "does not list our V2G root": await adb(oem.car(other_v2g).installation_request)(),
        "MaximumContractCertificateChains is 0": await adb(car.installation_request)(maximum_chains=0),
        "vehicle WMI20V0000000000ZZ is not registered": await adb(
            oem.car(v2g_root, pcid="WMI20V0000000000ZZ").installation_request)(),
    }
    answers = {}
    async with ocpp("CP-21", version="2.1") as client:
        await _boot(client)
        for reason, exi_request in cases.items():
            answers[reason] = await client.result("Get15118EVCertificate", _request(exi_request))
        update = await client.result("Get15118EVCertificate",
                                     _request(await adb(car.installation_request)(), action="Update"))
        iso2_message = {"V2G_Message": {"Header": {"SessionID": "0A1B2C3D4E5F6071"},
                                        "Body": {"SessionStopReq": {"ChargingSession": "Terminate"}}}}
        iso2_bytes = await client.result("Get15118EVCertificate", _request(await adb(
            lambda: security.b64(exi.encode(iso2_message)))()))
        unknown_schema = await client.result("Get15118EVCertificate",
                                             _request(cases["does not verify"], schema="urn:iso:15118:3:2099"))
    for reason, answer in answers.items():
        info = answer["statusInfo"]["additionalInfo"]
        assert answer["status"] == "Failed" and reason in info and "provider error" not in info, (reason, answer)
    assert update["status"] == "Failed" and "no request for action Update" in update["statusInfo"]["additionalInfo"]
    assert iso2_bytes["status"] == "Failed" and "provider error" not in iso2_bytes["statusInfo"]["additionalInfo"]
    assert unknown_schema["status"] == "Failed" and "not supported" in unknown_schema["statusInfo"]["additionalInfo"]
    assert await Certificate.objects.filter(kind=CertificateKind.CONTRACT).acount() == 0
    assert (await Vehicle.objects.aget(pcid=PCID)).emaid == ""


def test_the_20_car_catches_a_tampered_answer(car):
    from pki.services.provisioning import answer

    response = answer(action="Install", schema_version=ISO20, exi_request=car.installation_request()).exi_response
    message = exi.decode(base64.b64decode(response), ISO20)
    data = message["CertificateInstallationRes"]["SignedInstallationData"]
    encrypted = bytearray(base64.b64decode(data["SECP521_EncryptedPrivateKey"]))
    encrypted[20] ^= 1
    data["SECP521_EncryptedPrivateKey"] = base64.b64encode(bytes(encrypted)).decode()
    with pytest.raises(ResponseInvalid, match="SignedInstallationData: digest mismatch"):
        car.accept(security.b64(exi.encode(message, ISO20)))
    # The same alteration with the digest fixed up is caught by the CPS signature.
    signed_info = message["CertificateInstallationRes"]["Header"]["Signature"]["SignedInfo"]
    signed_info["Reference"][0]["DigestValue"] = security.b64(
        security_20.element_digest("SignedInstallationData", data, security_20.SHA512))
    with pytest.raises(ResponseInvalid, match="CPS signature does not verify"):
        car.accept(security.b64(exi.encode(message, ISO20)))


def test_ed448_signatures_over_20_elements_verify_and_catch_changes(db):
    key = ed448.Ed448PrivateKey.generate()
    element = {"Id": "id1", "Certificate": security.b64(b"\x30" * 64)}
    signature = security_20.sign({"OEMProvisioningCertificateChain": element}, key)
    assert signature["SignedInfo"]["SignatureMethod"]["Algorithm"] == security_20.EDDSA_ED448
    assert signature["SignedInfo"]["Reference"][0]["DigestMethod"]["Algorithm"] == security_20.SHAKE256
    security_20.verify(signature, {"OEMProvisioningCertificateChain": element}, key.public_key())
    with pytest.raises(security.SignatureInvalid, match="altered after signing"):
        security_20.verify(signature, {"OEMProvisioningCertificateChain": {**element, "Certificate": "MDA="}},
                           key.public_key())
    with pytest.raises(security.SignatureInvalid, match="signature method"):
        security_20.verify(signature, {"OEMProvisioningCertificateChain": element},
                           ec.generate_private_key(ec.SECP521R1()).public_key())


def test_the_contract_certificate_cn_is_the_emaid(car):
    from pki.services.provisioning import answer

    installed = car.accept(answer(action="Install", schema_version=ISO20,
                                  exi_request=car.installation_request()).exi_response)
    assert installed.contract.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == installed.emaid


def test_a_garbled_20_request_is_refused_never_a_crash(car):
    """Bit flips and cuts anywhere in a genuine request: ProvisioningRefused with a reason, or
    (where the flip lands outside what is signed) a normal answer; never another exception."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from pki.services.provisioning import ProvisioningRefused, answer

    genuine = base64.b64decode(car.installation_request())

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.integers(0, len(genuine) - 1), st.integers(0, 7)), min_size=1, max_size=4),
           st.integers(1, len(genuine)))
    def garble(flips, cut):
        data = bytearray(genuine[:cut])
        for position, bit in flips:
            if position < len(data):
                data[position] ^= 1 << bit
        try:
            answer(action="Install", schema_version=ISO20, exi_request=base64.b64encode(bytes(data)).decode())
        except ProvisioningRefused as refused:
            assert str(refused)

    garble()
