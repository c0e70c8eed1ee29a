"""Certificate commands reach the station in its version's words; installed certificates are kept in sync."""

import asyncio
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from pki.models import CaRole, CertificateKind, InstalledCertificate
from pki.services.ca import ca_x509, issue_leaf
from pki.services.certificates import hash_data
from stations.commands.service import send_command_async
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)
PNC = "org.openchargealliance.iso15118pnc"
HASH = {"hashAlgorithm": "SHA256", "issuerNameHash": "aa" * 32, "issuerKeyHash": "bb" * 32, "serialNumber": "1f"}
HASH_PARAMS = {"issuer_name_hash": "aa" * 32, "issuer_key_hash": "bb" * 32, "serial_number": "1f"}


async def _run(client, command, params, action, answer):
    sending = asyncio.create_task(send_command_async(station_id="CP-1", command=command, params=params))
    received = await client.expect_call(action, answer)
    return received, await sending


@pytest.mark.parametrize("version, params, action, payload", [
    ("2.0.1", {"certificate_type": "V2GRootCertificate", "certificate": "PEM"}, "InstallCertificate",
     {"certificateType": "V2GRootCertificate", "certificate": "PEM"}),
    ("1.6", {"certificate_type": "CSMSRootCertificate", "certificate": "PEM"}, "InstallCertificate",
     {"certificateType": "CentralSystemRootCertificate", "certificate": "PEM"}),
    ("1.6", {"certificate_type": "MORootCertificate", "certificate": "PEM"}, "DataTransfer",
     {"vendorId": PNC, "messageId": "InstallCertificate",
      "data": json.dumps({"certificateType": "MORootCertificate", "certificate": "PEM"})}),
])
async def test_install_certificate_is_translated(ocpp, make_station, version, params, action, payload):
    await adb(make_station)("CP-1")
    answer = {"status": "Accepted"} if action != "DataTransfer" else {
        "status": "Accepted", "data": json.dumps({"status": "Rejected"})}
    async with ocpp("CP-1", version=version) as client:
        received, result = await _run(client, "install_certificate", params, action, answer)
    assert received == payload
    # 1.6 PnC: the inner 2.0.1 answer decides
    assert result.outcome == ("rejected" if action == "DataTransfer" else "accepted")


async def test_installed_certificates_are_kept_per_station_201(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")

    def known_root_hash():
        root = ca_x509(hierarchy[CaRole.V2G_ROOT])
        return hash_data(root, root).as_ocpp()

    root_hash = await adb(known_root_hash)()
    answer = {"status": "Accepted", "certificateHashDataChain": [
        {"certificateType": "V2GRootCertificate", "certificateHashData": root_hash},
        {"certificateType": "MORootCertificate", "certificateHashData": HASH},
    ]}
    async with ocpp("CP-1", version="2.0.1") as client:
        received, result = await _run(client, "get_installed_certificate_ids", {}, "GetInstalledCertificateIds",
                                      answer)
        assert received == {} and result.outcome == "accepted"
        installed = InstalledCertificate.objects.select_related("certificate").order_by("certificate_type")
        rows = [r async for r in installed]
        assert [(r.certificate_type, r.serial_number) for r in rows] == [
            ("MORootCertificate", "1f"), ("V2GRootCertificate", root_hash["serialNumber"])]
        assert rows[1].certificate.kind == CertificateKind.CA and rows[0].certificate is None

        # the MO root is deleted; a new listing of MO roots says NotFound
        _, deleted = await _run(client, "delete_certificate", HASH_PARAMS, "DeleteCertificate", {"status": "Accepted"})
        assert deleted.outcome == "accepted"
        assert not await InstalledCertificate.objects.filter(certificate_type="MORootCertificate").aexists()
        await _run(client, "get_installed_certificate_ids", {"certificate_types": ["V2GRootCertificate"]},
                   "GetInstalledCertificateIds", {"status": "NotFound"})
    assert not await InstalledCertificate.objects.aexists()


async def test_installed_certificates_are_kept_per_station_16(ocpp, make_station):
    await adb(make_station)("CP-1")
    async with ocpp("CP-1", version="1.6") as client:
        received, _ = await _run(client, "get_installed_certificate_ids", {}, "GetInstalledCertificateIds",
                                 {"status": "Accepted", "certificateHashData": [HASH]})
    assert received == {"certificateType": "CentralSystemRootCertificate"}
    row = await InstalledCertificate.objects.aget()
    assert (row.certificate_type, row.issuer_name_hash) == ("CSMSRootCertificate", "aa" * 32)


@pytest.mark.parametrize("version, certificate_type, action, payload", [
    ("2.0.1", "V2GCertificate", "TriggerMessage", {"requestedMessage": "SignV2GCertificate"}),
    ("2.0.1", "ChargingStationCertificate", "TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"}),
    ("1.6", "ChargingStationCertificate", "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}),
    ("1.6", "V2GCertificate", "DataTransfer", {"vendorId": PNC, "messageId": "TriggerMessage",
                                               "data": json.dumps({"requestedMessage": "SignV2GCertificate"})}),
])
async def test_trigger_certificate_signing_is_translated(ocpp, make_station, version, certificate_type, action,
                                                         payload):
    await adb(make_station)("CP-1")
    async with ocpp("CP-1", version=version) as client:
        received, result = await _run(client, "trigger_certificate_signing", {"certificate_type": certificate_type},
                                      action, {"status": "Accepted"})
    assert received == payload and result.outcome == "accepted"


async def test_certificate_commands_work_through_the_rest_api(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")
    admin = await adb(User.objects.create_superuser)("op", "op@example.com", "pw")

    def issued_chain():
        key = ec.generate_private_key(ec.SECP256R1())
        return issue_leaf(ca=hierarchy[CaRole.CPO_SUB_CA_2], kind=CertificateKind.V2G, public_key=key.public_key(),
                          common_name="CP-1").pem

    chain = await adb(issued_chain)()

    def post():
        api = APIClient()
        api.force_authenticate(admin)
        return api.post("/api/v1/stations/CP-1/commands/", {
            "command": "certificate_signed", "certificate_chain": chain, "certificate_type": "V2GCertificate"},
            format="json")

    async with ocpp("CP-1", version="2.0.1") as client:
        sending = asyncio.create_task(adb(post)())
        received = await client.expect_call("CertificateSigned", {"status": "Accepted"})
        response = await sending
    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "accepted"
    assert x509.load_pem_x509_certificates(received["certificateChain"].encode())


@pytest.mark.parametrize("version, action", [("1.6", "SignedUpdateFirmware"), ("2.0.1", "UpdateFirmware")])
async def test_signed_update_firmware_carries_the_signing_certificate(ocpp, make_station, version, action):
    await adb(make_station)("CP-1")
    params = {"location": "https://fw.example.com/image.bin", "retrieve_at": "2026-12-01T10:00:00Z",
              "signing_certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
              "signature": "c2lnbmF0dXJl", "request_id": 7}
    async with ocpp("CP-1", version=version) as client:
        received, result = await _run(client, "signed_update_firmware", params, action, {"status": "Accepted"})
    assert received == {"requestId": 7, "firmware": {
        "location": "https://fw.example.com/image.bin", "retrieveDateTime": "2026-12-01T10:00:00Z",
        "signingCertificate": params["signing_certificate"], "signature": "c2lnbmF0dXJl"}}
    assert result.outcome == "accepted"
