"""Plug & Charge Authorize (OCPP 2.0.1): contract certificate → chain, OCSP, eMAID → driver."""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pki.models import CaRole
from pki.services.ca import ca_private_key, ca_x509, chain_of
from pki.services.certificates import hash_data
from pki.services.contract_certificates import issue_contract_certificate
from pki.services.revocation import revoke_certificate
from stations.models import ChargingSession, IdToken, IdTokenStatus
from tests.conftest import adb
from tests.pki.test_ocsp_crl import ForeignPki

pytestmark = pytest.mark.django_db(transaction=True)

EMAID = "DECNTC0000001A"


def _pem(*certs):
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def _contract(hierarchy, emaid=EMAID, driver="ev-driver@example.com"):
    key = ec.generate_private_key(ec.SECP256R1())
    record = issue_contract_certificate(emaid=emaid, public_key=key.public_key(), driver_email=driver)
    leaf = x509.load_pem_x509_certificate(record.pem.encode())
    return record, leaf, _pem(leaf, *chain_of(hierarchy[CaRole.MO_SUB_CA_2]))


async def _boot(client):
    await client.result("BootNotification", {"chargingStation": {"vendorName": "V", "model": "M"},
                                              "reason": "PowerUp"})


async def _authorize(client, payload):
    return await client.result("Authorize", payload)


async def test_a_valid_contract_is_accepted_and_its_session_belongs_to_the_driver(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")
    _, _, chain = await adb(_contract)(hierarchy)
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await _authorize(client, {"idToken": {"idToken": EMAID, "type": "eMAID"}, "certificate": chain})
        assert answer["idTokenInfo"]["status"] == "Accepted"
        assert answer["certificateStatus"] == "Accepted"
        await client.result("TransactionEvent", {
            "eventType": "Started", "timestamp": datetime.now(UTC).isoformat(), "triggerReason": "Authorized",
            "seqNo": 0, "transactionInfo": {"transactionId": "T-PNC-1"}, "evse": {"id": 1, "connectorId": 1},
            "idToken": {"idToken": EMAID, "type": "eMAID"},
        })
    session = await ChargingSession.objects.select_related("driver").aget(transaction_id="T-PNC-1")
    assert session.driver.email == "ev-driver@example.com"
    token = await IdToken.objects.aget(value=EMAID)
    assert token.type == "eMAID"


async def test_a_revoked_contract_is_rejected(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")
    record, _, chain = await adb(_contract)(hierarchy)
    await adb(revoke_certificate)(certificate_pk=record.pk, reason="key_compromise")
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await _authorize(client, {"idToken": {"idToken": EMAID, "type": "eMAID"}, "certificate": chain})
    assert answer["idTokenInfo"]["status"] != "Accepted"
    assert answer["certificateStatus"] == "CertificateRevoked"


async def test_a_revoked_sub_ca_rejects_its_contracts(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")
    _, _, chain = await adb(_contract)(hierarchy)
    await adb(revoke_certificate)(certificate_pk=hierarchy[CaRole.MO_SUB_CA_2].certificate_id)
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await _authorize(client, {"idToken": {"idToken": EMAID, "type": "eMAID"}, "certificate": chain})
    assert answer["certificateStatus"] == "CertificateRevoked"


async def test_a_contract_of_a_foreign_untrusted_root_is_rejected(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")
    foreign = ForeignPki()
    try:
        async with ocpp("CP-1", version="2.0.1") as client:
            await _boot(client)
            answer = await _authorize(client, {"idToken": {"idToken": "DEFORC00000001", "type": "eMAID"},
                                               "certificate": _pem(foreign.leaf, foreign.root)})
    finally:
        foreign.close()
    assert answer["idTokenInfo"]["status"] == "Invalid"
    assert answer["certificateStatus"] == "CertChainError"


async def test_a_contract_whose_cn_is_not_the_emaid_is_rejected(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")
    await adb(_contract)(hierarchy)
    _, _, other_chain = await adb(_contract)(hierarchy, emaid="DECNTC0000002B", driver="other@example.com")
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await _authorize(client, {"idToken": {"idToken": EMAID, "type": "eMAID"},
                                           "certificate": other_chain})
    assert answer["idTokenInfo"]["status"] == "Invalid"
    assert answer["certificateStatus"] == "CertChainError"


async def test_an_expired_contract_is_rejected_as_expired(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")

    def expired_chain():
        ca = hierarchy[CaRole.MO_SUB_CA_2]
        issuer = ca_x509(ca)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME,
                                                                                       EMAID)]))
                .issuer_name(issuer.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=10)).not_valid_after(now - timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(ca_private_key(ca), hashes.SHA256()))
        return _pem(leaf, *chain_of(ca))

    chain = await adb(expired_chain)()
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await _authorize(client, {"idToken": {"idToken": EMAID, "type": "eMAID"}, "certificate": chain})
    assert answer["idTokenInfo"]["status"] == "Expired"
    assert answer["certificateStatus"] == "CertificateExpired"


async def test_a_forged_contract_signature_is_a_signature_error(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")

    def forged_chain():
        ca = hierarchy[CaRole.MO_SUB_CA_2]
        issuer = ca_x509(ca)
        forger = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME,
                                                                                       EMAID)]))
                .issuer_name(issuer.subject).public_key(forger.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=10))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(forger, hashes.SHA256()))
        return _pem(leaf, *chain_of(ca))

    chain = await adb(forged_chain)()
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await _authorize(client, {"idToken": {"idToken": EMAID, "type": "eMAID"}, "certificate": chain})
    assert answer["certificateStatus"] == "SignatureError"


async def test_hash_data_are_checked_against_our_records(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")
    record, leaf, _ = await adb(_contract)(hierarchy)
    issuer = await adb(lambda: ca_x509(hierarchy[CaRole.MO_SUB_CA_2]))()
    entry = {**hash_data(leaf, issuer).as_ocpp(), "responderURL": "http://unused.invalid/"}
    payload = {"idToken": {"idToken": EMAID, "type": "eMAID"}, "iso15118CertificateHashData": [entry]}
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        accepted = await _authorize(client, payload)
        await adb(revoke_certificate)(certificate_pk=record.pk)
        revoked = await _authorize(client, payload)
    assert accepted["idTokenInfo"]["status"] == "Accepted" and accepted["certificateStatus"] == "Accepted"
    assert revoked["idTokenInfo"]["status"] == "Invalid" and revoked["certificateStatus"] == "CertificateRevoked"


async def test_a_blocked_contract_token_is_a_cancelled_contract(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")
    _, _, chain = await adb(_contract)(hierarchy)
    await IdToken.objects.filter(value=EMAID).aupdate(status=IdTokenStatus.BLOCKED)
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await _authorize(client, {"idToken": {"idToken": EMAID, "type": "eMAID"}, "certificate": chain})
    assert answer["idTokenInfo"]["status"] == "Blocked"
    assert answer["certificateStatus"] == "ContractCancelled"


async def test_get_15118_ev_certificate_goes_to_the_configured_provider(ocpp, make_station, hierarchy, settings):
    await adb(make_station)("CP-1")
    payload = {"iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef", "action": "Install", "exiRequest": "gAEC"}
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        builtin = await client.result("Get15118EVCertificate", payload)
        settings.PKI_CONTRACT_PROVIDER = "tests.pki.test_pnc_authorize.EchoProvider"
        provided = await client.result("Get15118EVCertificate", payload)
    # "gAEC" is no ISO 15118-2 message: the built-in provider says so.
    assert builtin["status"] == "Failed" and "ISO 15118-2" in builtin["statusInfo"]["additionalInfo"]
    assert provided == {"status": "Accepted", "exiResponse": "CP-1:Install:gAEC"}


class EchoProvider:
    """A stand-in contract-certificate pool: echoes what it was given."""

    def get_ev_certificate(self, request):
        from pki.services.contracts import EvCertificateAnswer

        return EvCertificateAnswer(status="Accepted",
                                   exi_response=f"{request.station_id}:{request.action}:{request.exi_request}")


async def test_a_certificate_from_the_csms_tls_root_is_no_contract(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")

    def tls_chain():
        from pki.models import CertificateKind
        from pki.services.ca import issue_leaf

        key = ec.generate_private_key(ec.SECP256R1())
        return issue_leaf(ca=hierarchy[CaRole.CSMS_ROOT], kind=CertificateKind.CHARGING_STATION,
                          public_key=key.public_key(), common_name=EMAID).pem

    chain = await adb(tls_chain)()
    await adb(lambda: IdToken.objects.create(value=EMAID, type="eMAID"))()
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await _authorize(client, {"idToken": {"idToken": EMAID, "type": "eMAID"}, "certificate": chain})
    assert answer["idTokenInfo"]["status"] == "Invalid"
    assert answer["certificateStatus"] == "CertChainError"
