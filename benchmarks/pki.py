#!/usr/bin/env python
"""PKI speed: CSR signing, OCSP responses, contract authorisations and installations per second.

    python benchmarks/pki.py --n 200        # SQLite in a temporary file, never your database

Each figure is the service call as the OCPP handlers and the HTTP responder make it (database
included): receive_signing_request (CSR checks + signing), ocsp.respond (parse, look up, sign),
authorize_id_token with a contract chain (chain verification, revocation of each link, token),
and the built-in Get15118EVCertificate answer (EXI decode, request signature and OEM chain,
contract issuance, key encryption, CPS signature, EXI encode; the codec's JVM start is
timed separately).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="chargenet-bench-pki-")
    os.environ["DATABASE_URL"] = f"sqlite:///{scratch}/bench.sqlite3"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargenet.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("pki_init", verbosity=0)

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509 import ocsp
    from cryptography.x509.oid import NameOID

    from pki.models import CaRole, CertificateAuthority
    from pki.services import ocsp as ocsp_service
    from pki.services.ca import ca_x509, chain_of
    from pki.services.contract_certificates import issue_contract_certificate
    from pki.services.pnc import authorize_id_token
    from pki.services.signing import receive_signing_request
    from stations.services.registry import register_station

    station = register_station(station_id="BENCH-1", password="bench-password-0123456789").station
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "BENCH-1"),
                                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ChargeNet")]))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())

    def timed(label, func):
        started = time.perf_counter()
        for _ in range(args.n):
            func()
        elapsed = time.perf_counter() - started
        print(f"{label:<40} {args.n / elapsed:8.1f}/s  ({elapsed / args.n * 1000:.2f} ms each)")

    timed("SignCertificate (validate + sign)", lambda: receive_signing_request(
        station_pk=station.pk, csr_pem=csr, certificate_type="V2GCertificate"))

    sub2 = CertificateAuthority.objects.get(role=CaRole.MO_SUB_CA_2)
    contract = issue_contract_certificate(emaid="DECNTC0000001A", public_key=key.public_key())
    leaf = x509.load_pem_x509_certificate(contract.pem.encode())
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, ca_x509(sub2), hashes.SHA256()).build()
    request_der = request.public_bytes(serialization.Encoding.DER)
    timed("OCSP response", lambda: ocsp_service.respond(ca=sub2, request_der=request_der))

    chain = contract.pem + "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain_of(sub2))
    timed("PnC Authorize (chain + revocation)", lambda: authorize_id_token(
        id_token="DECNTC0000001A", id_token_type="eMAID", certificate=chain))

    from pki.iso15118 import exi
    from pki.iso15118.ev import Ev, make_certificate
    from pki.services.ca import import_ca_chain
    from pki.services.provisioning import answer
    from pki.services.vehicles import register_vehicle
    from stations.models import Driver

    started = time.perf_counter()
    exi.encode({"eMAID": {"Id": "id1", "value": "ZZCNGC00000000"}})
    print(f"{'EXI codec start (JVM, once per process)':<40} {time.perf_counter() - started:8.2f} s")
    oem_key = ec.generate_private_key(ec.SECP256R1())
    oem_root = make_certificate("Bench OEM Root", oem_key, "Bench OEM Root", oem_key, ca=True)
    import_ca_chain(pem=oem_root.public_bytes(serialization.Encoding.PEM).decode(), role=CaRole.OEM_ROOT,
                    name="Bench OEM Root")
    car_key = ec.generate_private_key(ec.SECP256R1())
    car = Ev(provisioning_key=car_key, trusted_roots=[ca_x509(CertificateAuthority.objects.get(role=CaRole.V2G_ROOT))],
             provisioning_certificate=make_certificate("WMIV1234567890ABC", car_key, "Bench OEM Root", oem_key,
                                                       ca=False))
    register_vehicle(pcid="WMIV1234567890ABC", driver=Driver.objects.create(email="bench@example.com"))
    exi_request = car.installation_request()
    timed("Get15118EVCertificate (install)", lambda: answer(
        action="Install", schema_version=exi.MSG_DEF, exi_request=exi_request))

    from pki.iso15118.ev import Ev20, make_certificate_20

    oem20_key = ec.generate_private_key(ec.SECP521R1())
    oem20_root = make_certificate_20("Bench OEM Root 20", oem20_key, "Bench OEM Root 20", oem20_key, ca=True)
    import_ca_chain(pem=oem20_root.public_bytes(serialization.Encoding.PEM).decode(), role=CaRole.OEM_ROOT,
                    name="Bench OEM Root 20")
    car20_key = ec.generate_private_key(ec.SECP521R1())
    car20 = Ev20(provisioning_key=car20_key, trusted_roots=car.trusted_roots,
                 provisioning_certificate=make_certificate_20("WMI20V1234567890AB", car20_key, "Bench OEM Root 20",
                                                              oem20_key, ca=False))
    register_vehicle(pcid="WMI20V1234567890AB", driver=Driver.objects.create(email="bench20@example.com"))
    exi_request_20 = car20.installation_request()
    timed("Get15118EVCertificate (ISO 15118-20)", lambda: answer(
        action="Install", schema_version=exi.COMMON_MESSAGES, exi_request=exi_request_20))


if __name__ == "__main__":
    main()
