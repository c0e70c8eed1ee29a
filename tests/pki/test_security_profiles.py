"""Security profiles 2 and 3, enforced per station at the handshake (through the ASGI stack).

Real TLS connections are in test_tls_live.py; here the transport facts come as a TLS
proxy or a daphne ssl: endpoint would present them (scope server port, proxy headers).
"""

from urllib.parse import quote

import pytest
from channels.testing import WebsocketCommunicator
from cryptography.hazmat.primitives.asymmetric import ec

from pki.models import CaRole, CertificateKind
from pki.services.ca import issue_leaf
from pki.services.revocation import revoke_certificate
from tests.conftest import PASSWORD, adb, basic_auth

pytestmark = pytest.mark.django_db(transaction=True)
PROXY = "10.0.0.5"


@pytest.fixture(autouse=True)
def _transport_settings(settings):
    settings.PKI_TRUSTED_PROXIES = [PROXY]
    settings.OCPP_TLS_PORTS = {8443}


async def _connect(station_id, *, client_ip="192.0.2.10", server_port=8000, headers=()):
    from chargenet.asgi import application

    communicator = WebsocketCommunicator(application, f"/ocpp/{station_id}", subprotocols=["ocpp2.0.1"],
                                         headers=list(headers))
    communicator.scope["client"] = (client_ip, 40000)
    communicator.scope["server"] = ("127.0.0.1", server_port)
    connected, _ = await communicator.connect(timeout=5)
    await communicator.disconnect()
    return connected


def _client_certificate(hierarchy, cn, role=CaRole.CSMS_ROOT, kind=CertificateKind.CHARGING_STATION):
    key = ec.generate_private_key(ec.SECP256R1())
    return issue_leaf(ca=hierarchy[role], kind=kind, public_key=key.public_key(), common_name=cn)


async def test_profile_2_needs_tls_and_its_password(make_station):
    await adb(make_station)("CP-2", security_profile=2)
    auth = (b"authorization", basic_auth("CP-2", PASSWORD))
    assert not await _connect("CP-2", headers=[auth])  # plain ws
    assert await _connect("CP-2", server_port=8443, headers=[auth])  # daphne's TLS port
    assert not await _connect("CP-2", server_port=8443)  # TLS without the password
    assert await _connect("CP-2", client_ip=PROXY, headers=[auth, (b"x-forwarded-proto", b"https")])


async def test_forwarded_headers_count_only_from_the_trusted_proxy(make_station):
    await adb(make_station)("CP-2", security_profile=2)
    auth = (b"authorization", basic_auth("CP-2", PASSWORD))
    assert not await _connect("CP-2", client_ip="192.0.2.99", headers=[auth, (b"x-forwarded-proto", b"https")])


async def test_profile_1_still_connects_over_plain_ws(make_station):
    await adb(make_station)("CP-1", security_profile=1)
    assert await _connect("CP-1", headers=[(b"authorization", basic_auth("CP-1", PASSWORD))])


async def test_profile_3_accepts_the_stations_own_certificate_from_the_proxy(make_station, hierarchy):
    await adb(make_station)("CP-3", password=None, security_profile=3)
    own = await adb(_client_certificate)(hierarchy, "CP-3")
    other = await adb(_client_certificate)(hierarchy, "CP-4")
    v2g = await adb(_client_certificate)(hierarchy, "CP-3", role=CaRole.CPO_SUB_CA_2, kind=CertificateKind.V2G)

    def via_proxy(pem, proto=b"https", client_ip=PROXY):
        headers = [(b"x-forwarded-proto", proto)]
        if pem is not None:
            headers.append((b"x-ssl-client-cert", quote(pem).encode()))
        return _connect("CP-3", client_ip=client_ip, headers=headers)

    assert await via_proxy(own.pem)
    assert not await via_proxy(other.pem)  # another station's certificate
    assert not await via_proxy(v2g.pem)  # not from the CSMS root that issues client certificates
    assert not await via_proxy(None)  # no certificate
    assert not await via_proxy(own.pem, client_ip="192.0.2.99")  # header from anyone but the proxy
    await adb(revoke_certificate)(certificate_pk=own.pk)
    assert not await via_proxy(own.pem)
