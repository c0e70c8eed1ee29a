"""Real TLS: a daphne process serving an ssl: endpoint with a server certificate from our CSMS
root (profile 2), and profile 3 behind a TLS-terminating proxy that verifies client
certificates and forwards them in a header (as nginx with ssl_verify_client does)."""

import asyncio
import base64
import json
import ssl
import subprocess
import sys
from urllib.parse import quote

import pytest
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pki.models import CaRole, CertificateKind
from pki.services.ca import ca_x509, issue_leaf
from tests.conftest import PASSWORD, adb
from tests.live.conftest import ROOT, child_env, free_port

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
CLIENT_CERT_HEADER = b"x-ssl-client-cert"


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def tls_files(hierarchy, tmp_path):
    """Server certificate (CN/SAN localhost) from the CSMS root, its key, and the root to trust."""
    ca = hierarchy[CaRole.CSMS_ROOT]
    key = ec.generate_private_key(ec.SECP256R1())
    server = issue_leaf(ca=ca, kind=CertificateKind.TLS_SERVER, public_key=key.public_key(), common_name="localhost",
                        dns_names=["localhost"])
    (tmp_path / "server.key").write_bytes(_pem_key(key))
    (tmp_path / "server.crt").write_text(server.pem)
    (tmp_path / "root.crt").write_bytes(_pem_cert(ca_x509(ca)))
    return tmp_path


@pytest.fixture
def tls_daphne(tls_files):
    """daphne with a plain and an ssl: endpoint; yields (plain port, TLS port)."""
    plain, tls = free_port(), free_port()
    key_file, cert_file = tls_files / "server.key", tls_files / "server.crt"
    log = open(tls_files / "daphne.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "--websocket_timeout", "-1",
         "-e", f"tcp:{plain}:interface=127.0.0.1",
         "-e", f"ssl:{tls}:interface=127.0.0.1:privateKey={key_file}:certKey={cert_file}",
         "chargenet.asgi:application"],
        cwd=ROOT, env=child_env(OCPP_TLS_PORTS=str(tls), PKI_TRUSTED_PROXIES="127.0.0.1"),
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_ports(process, [plain, tls], tls_files / "daphne.log")
        yield plain, tls
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_for_ports(process, ports, log_path, timeout_s=60):
    import socket
    import time

    deadline = time.monotonic() + timeout_s
    pending = list(ports)
    while pending and time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited: {log_path.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", pending[0]), timeout=0.2).close()
            pending.pop(0)
        except OSError:
            time.sleep(0.1)
    if pending:
        raise RuntimeError(f"daphne did not listen on {pending}")


def _client_context(root_path, cert_path=None, key_path=None):
    context = ssl.create_default_context(cafile=str(root_path))
    if cert_path:
        context.load_cert_chain(str(cert_path), str(key_path))
    return context


def _basic(station_id):
    return {"Authorization": "Basic " + base64.b64encode(f"{station_id}:{PASSWORD}".encode()).decode()}


async def _boot_over(uri, *, context=None, headers=None):
    async with websockets.connect(uri, ssl=context, subprotocols=["ocpp2.0.1"], additional_headers=headers or {},
                                  open_timeout=20) as ws:
        await ws.send(json.dumps([2, "1", "BootNotification",
                                  {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"}]))
        return json.loads(await asyncio.wait_for(ws.recv(), 20))


async def _refused(uri, **kwargs) -> bool:
    try:
        await _boot_over(uri, **kwargs)
    except websockets.exceptions.InvalidStatus as error:
        return error.response.status_code == 403
    return False


async def test_profile_2_station_connects_over_real_tls_and_is_refused_on_plain_ws(
    tls_daphne, tls_files, make_station
):
    plain, tls = tls_daphne
    await adb(make_station)("CP-TLS", security_profile=2)
    context = _client_context(tls_files / "root.crt")
    answer = await _boot_over(f"wss://localhost:{tls}/ocpp/CP-TLS", context=context, headers=_basic("CP-TLS"))
    assert answer[0] == 3 and answer[2]["status"] == "Accepted"
    assert await _refused(f"ws://127.0.0.1:{plain}/ocpp/CP-TLS", headers=_basic("CP-TLS"))


async def test_a_client_that_does_not_trust_our_root_cannot_connect(tls_daphne, make_station):
    _, tls = tls_daphne
    await adb(make_station)("CP-TLS", security_profile=2)
    with pytest.raises(ssl.SSLCertVerificationError):
        await _boot_over(f"wss://localhost:{tls}/ocpp/CP-TLS", context=ssl.create_default_context(),
                         headers=_basic("CP-TLS"))


class TlsProxy:
    """A TLS-terminating proxy that requires client certificates from our CSMS root and
    forwards the verified one URL-encoded in X-SSL-Client-Cert (clearing any sent by the client)."""

    def __init__(self, files, upstream_port):
        self.upstream_port = upstream_port
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(files / "root.crt"))
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.load_cert_chain(str(files / "server.crt"), str(files / "server.key"))
        self.server = None
        self.port = None

    async def start(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        from cryptography import x509

        pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()
        lines = head.split(b"\r\n")
        kept = [line for line in lines[1:] if line and not line.lower().startswith(
            (CLIENT_CERT_HEADER + b":", b"x-forwarded-proto:"))]
        forwarded = b"\r\n".join([lines[0], *kept, b"X-Forwarded-Proto: https",
                                  CLIENT_CERT_HEADER + b": " + quote(pem).encode(), b"", b""])
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        up_writer.write(forwarded)

        async def pipe(source, sink):
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def stop(self):
        self.server.close()


async def test_profile_3_station_authenticates_with_its_client_certificate_through_a_tls_proxy(
    tls_daphne, tls_files, make_station, hierarchy
):
    plain, _ = tls_daphne
    await adb(make_station)("CP-3", password=None, security_profile=3)

    def client_files(cn):
        key = ec.generate_private_key(ec.SECP256R1())
        record = issue_leaf(ca=hierarchy[CaRole.CSMS_ROOT], kind=CertificateKind.CHARGING_STATION,
                            public_key=key.public_key(), common_name=cn)
        (tls_files / f"{cn}.key").write_bytes(_pem_key(key))
        (tls_files / f"{cn}.crt").write_text(record.pem)
        return tls_files / f"{cn}.crt", tls_files / f"{cn}.key"

    paths = {cn: await adb(client_files)(cn) for cn in ("CP-3", "CP-OTHER")}
    proxy = TlsProxy(tls_files, plain)
    await proxy.start()
    try:
        uri = f"wss://localhost:{proxy.port}/ocpp/CP-3"
        own = _client_context(tls_files / "root.crt", *paths["CP-3"])
        answer = await _boot_over(uri, context=own)
        assert answer[0] == 3 and answer[2]["status"] == "Accepted"
        # another station's (valid) certificate does not open CP-3
        assert await _refused(uri, context=_client_context(tls_files / "root.crt", *paths["CP-OTHER"]))
        # and a forged header on the plain port is not believed from anyone but the proxy's TLS path
        assert await _refused(f"ws://127.0.0.1:{plain}/ocpp/CP-3")
    finally:
        await proxy.stop()
