"""OCPP 1.6: the security extension and Plug & Charge in DataTransfer (org.openchargealliance.iso15118pnc)."""

import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from pki.models import CaRole, SigningRequest, SigningRequestStatus
from pki.services.ca import ca_x509
from pki.services.contract_certificates import issue_contract_certificate
from pki.services.validation import verify_chain
from stations.models import StationEvent
from tests.conftest import adb
from tests.pki.conftest import make_csr
from tests.pki.test_pnc_authorize import EMAID, _contract

pytestmark = pytest.mark.django_db(transaction=True)
PNC = "org.openchargealliance.iso15118pnc"


async def _boot(client):
    await client.result("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})


async def test_16_sign_certificate_gets_a_charge_point_certificate(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")
    _, csr = make_csr("CP-1")
    async with ocpp("CP-1", version="1.6") as client:
        await _boot(client)
        assert (await client.result("SignCertificate", {"csr": csr})) == {"status": "Accepted"}
        call = await client.expect_call("CertificateSigned", {"status": "Accepted"})
    assert set(call) == {"certificateChain"}
    chain = x509.load_pem_x509_certificates(call["certificateChain"].encode())
    verified = await adb(verify_chain)(chain[0], chain[1:])
    assert verified[-1] == await adb(lambda: ca_x509(hierarchy[CaRole.CSMS_ROOT]))()
    assert (await SigningRequest.objects.aget()).status == SigningRequestStatus.DELIVERED


async def test_16_pnc_sign_certificate_is_answered_and_delivered_in_data_transfer(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")
    _, csr = make_csr("CP-1")
    async with ocpp("CP-1", version="1.6") as client:
        await _boot(client)
        answer = await client.result("DataTransfer", {
            "vendorId": PNC, "messageId": "SignCertificate",
            "data": json.dumps({"csr": csr, "certificateType": "V2GCertificate"})})
        assert answer["status"] == "Accepted" and json.loads(answer["data"]) == {"status": "Accepted"}
        accepted = {"status": "Accepted", "data": json.dumps({"status": "Accepted"})}
        call = await client.expect_call("DataTransfer", accepted)
    assert call["vendorId"] == PNC and call["messageId"] == "CertificateSigned"
    inner = json.loads(call["data"])
    assert inner["certificateType"] == "V2GCertificate"
    chain = x509.load_pem_x509_certificates(inner["certificateChain"].encode())
    verified = await adb(verify_chain)(chain[0], chain[1:])
    assert verified[-1] == await adb(lambda: ca_x509(hierarchy[CaRole.V2G_ROOT]))()
    assert (await SigningRequest.objects.aget()).status == SigningRequestStatus.DELIVERED


async def test_16_pnc_authorize_accepts_a_valid_contract_and_rejects_a_mismatch(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")
    _, _, chain = await adb(_contract)(hierarchy)
    async with ocpp("CP-1", version="1.6") as client:
        await _boot(client)
        ok = await client.result("DataTransfer", {"vendorId": PNC, "messageId": "Authorize", "data": json.dumps(
            {"idToken": {"idToken": EMAID, "type": "eMAID"}, "certificate": chain})})
        wrong = await client.result("DataTransfer", {"vendorId": PNC, "messageId": "Authorize", "data": json.dumps(
            {"idToken": {"idToken": "DECNTC9999999Z", "type": "eMAID"}, "certificate": chain})})
    assert json.loads(ok["data"]) == {"idTokenInfo": {"status": "Accepted"}, "certificateStatus": "Accepted"}
    wrong_data = json.loads(wrong["data"])
    assert wrong_data["idTokenInfo"]["status"] == "Invalid" and wrong_data["certificateStatus"] == "CertChainError"


async def test_16_pnc_get_certificate_status_answers_from_our_responder(ocpp, make_station, hierarchy):
    import base64

    from cryptography.x509 import ocsp

    from pki.services.certificates import hash_data

    await adb(make_station)("CP-1")

    def contract_hash():
        key = ec.generate_private_key(ec.SECP256R1())
        record = issue_contract_certificate(emaid=EMAID, public_key=key.public_key())
        leaf = x509.load_pem_x509_certificate(record.pem.encode())
        return hash_data(leaf, ca_x509(hierarchy[CaRole.MO_SUB_CA_2])).as_ocpp()

    data = {**await adb(contract_hash)(), "responderURL": "http://unused.invalid/"}
    async with ocpp("CP-1", version="1.6") as client:
        await _boot(client)
        answer = await client.result("DataTransfer", {"vendorId": PNC, "messageId": "GetCertificateStatus",
                                                      "data": json.dumps({"ocspRequestData": data})})
    inner = json.loads(answer["data"])
    assert inner["status"] == "Accepted"
    parsed = ocsp.load_der_ocsp_response(base64.b64decode(inner["ocspResult"]))
    assert parsed.certificate_status == ocsp.OCSPCertStatus.GOOD


@pytest.mark.parametrize("message_id, data, status", [
    ("Authorize", "not json", "Rejected"),
    ("Authorize", json.dumps({"idToken": {"idToken": "X"}}), "Rejected"),  # type missing: schema
    ("Heartbeat", json.dumps({}), "UnknownMessageId"),
])
async def test_16_pnc_bad_data_is_refused_and_recorded(ocpp, make_station, hierarchy, message_id, data, status):
    await adb(make_station)("CP-1")
    async with ocpp("CP-1", version="1.6") as client:
        await _boot(client)
        answer = await client.result("DataTransfer", {"vendorId": PNC, "messageId": message_id, "data": data})
    assert answer["status"] == status
    assert await StationEvent.objects.filter(summary__startswith=f"refused PnC {message_id}").aexists()


async def test_16_security_event_notification_is_recorded(ocpp, make_station):
    await adb(make_station)("CP-1")
    async with ocpp("CP-1", version="1.6") as client:
        await _boot(client)
        assert await client.result("SecurityEventNotification", {
            "type": "InvalidCentralSystemCertificate", "timestamp": "2026-11-27T10:00:00Z"}) == {}
    event = await StationEvent.objects.aget(kind=StationEvent.Kind.SECURITY_EVENT)
    assert event.summary == "InvalidCentralSystemCertificate"
