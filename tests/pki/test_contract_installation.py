"""Plug & Charge contract installation end to end: an EV's signed, EXI-encoded
CertificateInstallationReq / CertificateUpdateReq reaches the CSMS in Get15118EVCertificate
over a real OCPP WebSocket; the EV gets a CPS-signed response it verifies, decrypts its new
contract key, and the contract then authorizes charging for the vehicle's driver."""

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pki.iso15118 import exi, security
from pki.iso15118.ev import Ev, ResponseInvalid, make_certificate
from pki.models import CaRole, Certificate, CertificateKind, Vehicle
from pki.services.ca import ca_x509, import_ca_chain
from pki.services.vehicles import register_vehicle
from stations.models import Driver, IdToken
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)

PCID = "WMIV1234567890ABC"
ISO2 = "urn:iso:15118:2:2013:MsgDef"


def _request(action: str, exi_request: str) -> dict:
    return {"iso15118SchemaVersion": ISO2, "action": action, "exiRequest": exi_request}


def _car(oem_root_key, v2g_root, pcid: str = PCID) -> Ev:
    key = ec.generate_private_key(ec.SECP256R1())
    return Ev(provisioning_key=key, trusted_roots=[v2g_root],
              provisioning_certificate=make_certificate(pcid, key, "Test OEM Root", oem_root_key, ca=False))


@pytest.fixture
def oem_root_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def car(hierarchy, oem_root_key, make_station, exi_codec):
    """Our hierarchy, the carmaker's root imported, a station and a registered car."""
    root = make_certificate("Test OEM Root", oem_root_key, "Test OEM Root", oem_root_key, ca=True)
    import_ca_chain(pem=root.public_bytes(serialization.Encoding.PEM).decode(), role=CaRole.OEM_ROOT,
                    name="Test OEM Root")
    make_station("CP-1")
    driver = Driver.objects.create(email="pnc-driver@example.com")
    register_vehicle(pcid=PCID, driver=driver, name="Test car")
    return _car(oem_root_key, ca_x509(hierarchy[CaRole.V2G_ROOT]))


async def _boot(client):
    await client.result("BootNotification", {"chargingStation": {"vendorName": "V", "model": "M"},
                                              "reason": "PowerUp"})


async def test_an_ev_installs_a_contract_and_charges_with_it(ocpp, car, hierarchy):
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await client.result("Get15118EVCertificate", _request("Install", await adb(car.installation_request)()))
        assert answer["status"] == "Accepted", answer
        installed = await adb(car.accept)(answer["exiResponse"])  # digests, CPS signature and chain, key
        emaid = installed.emaid
        assert installed.contract.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == emaid
        assert emaid.startswith("ZZCNGC") and len(emaid) == 14
        installed.contract.verify_directly_issued_by(await adb(ca_x509)(hierarchy[CaRole.MO_SUB_CA_2]))
        # The station presents the contract chain at plug-in: it authorizes the vehicle's driver.
        authorized = await client.result("Authorize", {"idToken": {"idToken": emaid, "type": "eMAID"},
                                                       "certificate": car.contract_chain_pem()})
    assert authorized["idTokenInfo"]["status"] == "Accepted" and authorized["certificateStatus"] == "Accepted"
    token = await IdToken.objects.select_related("driver").aget(value=emaid)
    assert token.driver.email == "pnc-driver@example.com"
    vehicle = await Vehicle.objects.aget(pcid=PCID)
    assert vehicle.emaid == emaid and vehicle.last_provisioned_at is not None


async def test_a_contract_is_renewed_with_the_same_emaid(ocpp, car):
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        first = await client.result("Get15118EVCertificate", _request("Install", await adb(car.installation_request)()))
        installed = await adb(car.accept)(first["exiResponse"])
        answer = await client.result("Get15118EVCertificate", _request("Update", await adb(car.update_request)()))
        assert answer["status"] == "Accepted", answer
        # Decrypted with the old contract key, as ISO 15118-2 has it for updates.
        renewed = await adb(car.accept)(answer["exiResponse"], "CertificateUpdateRes")
    assert renewed.emaid == installed.emaid
    assert renewed.contract.serial_number != installed.contract.serial_number
    assert await Certificate.objects.filter(kind=CertificateKind.CONTRACT, emaid=installed.emaid).acount() == 2


async def test_requests_that_must_not_get_a_contract(ocpp, car, oem_root_key):
    stranger = _car(oem_root_key, car.trusted_roots[0], pcid="WMIV0000000000XYZ")  # genuine car, not registered
    foreign_key = ec.generate_private_key(ec.SECP256R1())
    counterfeit = _car(foreign_key, car.trusted_roots[0])  # registered PCID, not from a carmaker we trust
    other_v2g = make_certificate("Other V2G", foreign_key, "Other V2G", foreign_key, ca=True)
    untrusting = _car(oem_root_key, other_v2g)
    cases = {
        "not registered": await adb(stranger.installation_request)(),
        "does not verify": await adb(car.installation_request)(signing_key=foreign_key),
        "OEM provisioning certificate": await adb(counterfeit.installation_request)(),
        "does not list our V2G root": await adb(untrusting.installation_request)(),
        "not an ISO 15118-2 message": base64.b64encode(b"\x80\x98\x02garbage").decode(),
    }
    answers = {}
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        for reason, exi_request in cases.items():
            answers[reason] = await client.result("Get15118EVCertificate", _request("Install", exi_request))
        update_as_install = await client.result("Get15118EVCertificate", _request("Update", cases["not registered"]))
        schema_20 = await client.result("Get15118EVCertificate", {
            "iso15118SchemaVersion": "urn:iso:std:iso:15118:-20:CommonMessages", "action": "Install",
            "exiRequest": cases["not registered"]})
    for reason, answer in answers.items():
        assert answer["status"] == "Failed" and reason in answer["statusInfo"]["additionalInfo"], (reason, answer)
    assert update_as_install["status"] == "Failed"
    assert "no ISO 15118-2 CertificateUpdateReq" in update_as_install["statusInfo"]["additionalInfo"]
    # An ISO 15118-2 request under the -20 schema is not a -20 CertificateInstallationReq.
    assert schema_20["status"] == "Failed" and "ISO 15118-20" in schema_20["statusInfo"]["additionalInfo"]
    assert "provider error" not in schema_20["statusInfo"]["additionalInfo"]
    # Nothing was issued for any of them, and no eMAID handed out.
    assert await Certificate.objects.filter(kind=CertificateKind.CONTRACT).acount() == 0
    assert await Vehicle.objects.filter(emaid="").acount() == 1


async def test_an_inactive_vehicle_gets_no_contract(ocpp, car):
    await Vehicle.objects.filter(pcid=PCID).aupdate(active=False)
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await client.result("Get15118EVCertificate", _request("Install", await adb(car.installation_request)()))
    assert answer["status"] == "Failed" and "not registered" in answer["statusInfo"]["additionalInfo"]


async def test_a_16_charger_installs_the_contract_through_the_pnc_data_transfer(ocpp, car):
    """OCPP 1.6 carries the same request in DataTransfer (OCA's 1.6 PnC application note)."""
    data = json.dumps(_request("Install", await adb(car.installation_request)()))
    async with ocpp("CP-1") as client:
        answer = await client.result("DataTransfer", {"vendorId": "org.openchargealliance.iso15118pnc",
                                                      "messageId": "Get15118EVCertificate", "data": data})
    assert answer["status"] == "Accepted"
    inner = json.loads(answer["data"])
    assert inner["status"] == "Accepted"
    installed = await adb(car.accept)(inner["exiResponse"])
    assert installed.emaid == (await Vehicle.objects.aget(pcid=PCID)).emaid


def test_a_tampered_response_is_caught_by_the_car(car, db):
    """The car's checks are real: an altered eMAID or a foreign signer fails them."""
    from pki.services.provisioning import answer

    response = answer(action="Install", schema_version=ISO2, exi_request=car.installation_request()).exi_response
    message = exi.decode(base64.b64decode(response))
    message["V2G_Message"]["Body"]["CertificateInstallationRes"]["eMAID"]["value"] = "ZZCNGCXXXXXXXX"
    with pytest.raises(ResponseInvalid, match="eMAID: digest mismatch"):
        car.accept(security.b64(exi.encode(message)))


async def test_a_cancelled_contract_is_neither_renewed_nor_reissued(ocpp, car):
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        first = await client.result("Get15118EVCertificate", _request("Install", await adb(car.installation_request)()))
        installed = await adb(car.accept)(first["exiResponse"])
        await IdToken.objects.filter(value=installed.emaid).aupdate(status="Blocked")
        update = await client.result("Get15118EVCertificate", _request("Update", await adb(car.update_request)()))
        again = await client.result("Get15118EVCertificate", _request("Install", await adb(car.installation_request)()))
    for answer in (update, again):
        assert answer["status"] == "Failed" and "is blocked" in answer["statusInfo"]["additionalInfo"], answer
    assert (await IdToken.objects.aget(value=installed.emaid)).status == "Blocked"
    assert await Certificate.objects.filter(kind=CertificateKind.CONTRACT).acount() == 1


async def test_the_contract_charges_the_vehicles_car_and_2_1_authorize_follows_its_permission(ocpp, car):
    """The eMAID token of an installed contract is on the vehicle's car: a 2.1 Authorize with
    the contract offers bidirectional modes exactly while that car allows discharge."""
    from stations.services.cars import update_car

    async with ocpp("CP-1", version="2.1") as client:
        await _boot(client)
        request = await adb(car.installation_request)()
        answer = await client.result("Get15118EVCertificate", _request("Install", request))
        emaid = (await adb(car.accept)(answer["exiResponse"])).emaid
        plug_in = {"idToken": {"idToken": emaid, "type": "eMAID"}, "certificate": car.contract_chain_pem()}
        charging_only = await client.result("Authorize", plug_in)
        vehicle = await Vehicle.objects.select_related("car").aget(pcid=PCID)
        await adb(update_car)(car=vehicle.car, allow_discharge=True)
        bidirectional = await client.result("Authorize", plug_in)
    token = await IdToken.objects.aget(value=emaid)
    assert token.car_id == vehicle.car_id and vehicle.car.name == "Test car"
    assert charging_only["idTokenInfo"]["status"] == "Accepted" and "allowedEnergyTransfer" not in charging_only
    assert bidirectional["idTokenInfo"]["status"] == "Accepted"
    assert {"AC_BPT", "DC_BPT"} <= set(bidirectional["allowedEnergyTransfer"])
