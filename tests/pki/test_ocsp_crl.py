"""The OCSP responder and CRLs over HTTP, and GetCertificateStatus over OCPP 2.0.1."""

import base64
import http.server
import socket
import threading
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from django.test import Client

from pki.models import CaRole, CertificateKind
from pki.services.ca import ca_x509, issue_leaf
from pki.services.certificates import hash_data
from pki.services.revocation import revoke_certificate
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)


def _issue(hierarchy, role=CaRole.CPO_SUB_CA_2, kind=CertificateKind.V2G, cn="CP-1"):
    ca = hierarchy[role]
    key = ec.generate_private_key(ec.SECP256R1())
    record = issue_leaf(ca=ca, kind=kind, public_key=key.public_key(), common_name=cn)
    return record, x509.load_pem_x509_certificate(record.pem.encode()), ca_x509(ca)


def _ask(ca_pk, cert, issuer, nonce=None):
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    body = builder.build().public_bytes(serialization.Encoding.DER)
    response = Client().post(f"/pki/ocsp/{ca_pk}", data=body, content_type="application/ocsp-request")
    assert response.status_code == 200 and response["Content-Type"] == "application/ocsp-response"
    return ocsp.load_der_ocsp_response(response.content)


def _verify_response_signature(response, issuer):
    issuer.public_key().verify(response.signature, response.tbs_response_bytes,
                               ec.ECDSA(response.signature_hash_algorithm))


def test_ocsp_says_good_then_revoked_after_revocation(hierarchy):
    record, cert, issuer = _issue(hierarchy)
    ca_pk = hierarchy[CaRole.CPO_SUB_CA_2].pk
    good = _ask(ca_pk, cert, issuer, nonce=b"0123456789abcdef")
    assert good.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert good.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert good.serial_number == cert.serial_number
    assert good.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"0123456789abcdef"
    _verify_response_signature(good, issuer)

    revoke_certificate(certificate_pk=record.pk, reason="key_compromise")
    revoked = _ask(ca_pk, cert, issuer)
    assert revoked.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason == x509.ReasonFlags.key_compromise
    assert revoked.revocation_time_utc is not None
    _verify_response_signature(revoked, issuer)


def test_ocsp_answers_unknown_serials_unknown_and_other_issuers_unauthorized(hierarchy):
    record, cert, issuer = _issue(hierarchy)
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        bytes.fromhex(record.issuer_name_hash), bytes.fromhex(record.issuer_key_hash), 12345, hashes.SHA256())
    body = builder.build().public_bytes(serialization.Encoding.DER)
    response = Client().post(f"/pki/ocsp/{hierarchy[CaRole.CPO_SUB_CA_2].pk}", data=body,
                             content_type="application/ocsp-request")
    assert ocsp.load_der_ocsp_response(response.content).certificate_status == ocsp.OCSPCertStatus.UNKNOWN
    wrong_ca = _ask(hierarchy[CaRole.MO_SUB_CA_2].pk, cert, issuer)
    assert wrong_ca.response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_ocsp_refuses_malformed_requests_and_unknown_cas(hierarchy):
    client = Client()
    malformed = client.post(f"/pki/ocsp/{hierarchy[CaRole.CPO_SUB_CA_2].pk}", data=b"garbage",
                            content_type="application/ocsp-request")
    assert ocsp.load_der_ocsp_response(malformed.content).response_status == \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert client.post("/pki/ocsp/99999", data=b"x", content_type="application/ocsp-request").status_code == 404
    assert client.get(f"/pki/ocsp/{hierarchy[CaRole.CPO_SUB_CA_2].pk}").status_code == 405


def test_issued_certificates_point_at_our_responder(hierarchy, settings):
    _, cert, _ = _issue(hierarchy)
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert aia[0].access_location.value == f"{settings.PKI_BASE_URL}/pki/ocsp/{hierarchy[CaRole.CPO_SUB_CA_2].pk}"


def test_crl_lists_revoked_certificates_and_is_signed_by_the_ca(hierarchy):
    record, cert, issuer = _issue(hierarchy)
    _, other, _ = _issue(hierarchy, cn="CP-2")
    revoke_certificate(certificate_pk=record.pk, reason="superseded")
    response = Client().get(f"/pki/crl/{hierarchy[CaRole.CPO_SUB_CA_2].pk}.crl")
    assert response.status_code == 200 and response["Content-Type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(response.content)
    assert crl.is_signature_valid(issuer.public_key())
    assert crl.issuer == issuer.subject
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.superseded
    assert crl.get_revoked_certificate_by_serial_number(other.serial_number) is None


# --- GetCertificateStatus -----------------------------------------------------------------


async def _boot(client):
    await client.result("BootNotification", {"chargingStation": {"vendorName": "V", "model": "M"},
                                              "reason": "PowerUp"})


def _request_data(cert, issuer, url):
    return {**hash_data(cert, issuer).as_ocpp(), "responderURL": url}


async def test_get_certificate_status_for_our_certificate_comes_from_our_responder(ocpp, make_station, hierarchy):
    await adb(make_station)("CP-1")
    record, cert, issuer = await adb(_issue)(hierarchy, role=CaRole.MO_SUB_CA_2, kind=CertificateKind.CONTRACT,
                                             cn="DEXYZC00000001")
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        data = _request_data(cert, issuer, "http://unused.invalid/ocsp")
        good = await client.result("GetCertificateStatus", {"ocspRequestData": data})
        await adb(revoke_certificate)(certificate_pk=record.pk)
        revoked = await client.result("GetCertificateStatus", {"ocspRequestData": data})
    assert good["status"] == revoked["status"] == "Accepted"
    parsed = ocsp.load_der_ocsp_response(base64.b64decode(good["ocspResult"]))
    assert parsed.certificate_status == ocsp.OCSPCertStatus.GOOD and parsed.serial_number == cert.serial_number
    parsed = ocsp.load_der_ocsp_response(base64.b64decode(revoked["ocspResult"]))
    assert parsed.certificate_status == ocsp.OCSPCertStatus.REVOKED


class ForeignPki:
    """Another MO's root, a contract it issued, and its OCSP responder on a local port."""

    def __init__(self, revoked=False):
        now = datetime.now(UTC)
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Foreign MO Root")])
        self.root = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.revoked = revoked
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ocsp"
        self.leaf_key = ec.generate_private_key(ec.SECP256R1())
        self.leaf = (x509.CertificateBuilder()
                     .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "DEFORC00000001")]))
                     .issuer_name(name).public_key(self.leaf_key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                     .add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                         x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(self.url))]),
                         critical=False)
                     .sign(self.key, hashes.SHA256()))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self):
        pki = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                request = ocsp.load_der_ocsp_request(self.rfile.read(int(self.headers["Content-Length"])))
                now = datetime.now(UTC)
                status = ocsp.OCSPCertStatus.REVOKED if pki.revoked else ocsp.OCSPCertStatus.GOOD
                body = (ocsp.OCSPResponseBuilder()
                        .add_response_by_hash(request.issuer_name_hash, request.issuer_key_hash,
                                              request.serial_number, hashes.SHA256(), status, now, None,
                                              now if pki.revoked else None, None)
                        .responder_id(ocsp.OCSPResponderEncoding.HASH, pki.root)
                        .sign(pki.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
                self.send_response(200)
                self.send_header("Content-Type", "application/ocsp-response")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def foreign_pki(settings):
    settings.PKI_OCSP_FORWARD_ALLOW_PRIVATE = True  # the test responders listen on loopback
    pkis = []

    def make(**kwargs):
        pkis.append(ForeignPki(**kwargs))
        return pkis[-1]

    yield make
    for pki in pkis:
        pki.close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/ocsp"


async def test_foreign_certificates_are_forwarded_to_their_responder(ocpp, make_station, hierarchy, foreign_pki):
    await adb(make_station)("CP-1")
    foreign = foreign_pki(revoked=True)
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await client.result(
            "GetCertificateStatus", {"ocspRequestData": _request_data(foreign.leaf, foreign.root, foreign.url)})
    assert answer["status"] == "Accepted"
    parsed = ocsp.load_der_ocsp_response(base64.b64decode(answer["ocspResult"]))
    assert parsed.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert parsed.serial_number == foreign.leaf.serial_number


async def test_an_unreachable_foreign_responder_gives_a_clear_failed(ocpp, make_station, hierarchy, foreign_pki):
    await adb(make_station)("CP-1")
    foreign = foreign_pki()
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await client.result(
            "GetCertificateStatus", {"ocspRequestData": _request_data(foreign.leaf, foreign.root, closed_port_url())})
    assert answer["status"] == "Failed"
    assert "unreachable" in answer["statusInfo"]["additionalInfo"]
    assert "ocspResult" not in answer


async def test_responder_urls_on_internal_addresses_are_not_forwarded(ocpp, make_station, hierarchy, foreign_pki,
                                                                     settings):
    await adb(make_station)("CP-1")
    foreign = foreign_pki()
    settings.PKI_OCSP_FORWARD_ALLOW_PRIVATE = False
    async with ocpp("CP-1", version="2.0.1") as client:
        await _boot(client)
        answer = await client.result(
            "GetCertificateStatus", {"ocspRequestData": _request_data(foreign.leaf, foreign.root, foreign.url)})
    assert answer["status"] == "Failed"
    assert "internal address" in answer["statusInfo"]["additionalInfo"]
