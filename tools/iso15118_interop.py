#!/usr/bin/env python
"""Interoperability check of contract installation against EcoG's `iso15118` library.

`iso15118` pins old cryptography and pydantic, so it runs in its own virtualenv:

    python3 -m venv /tmp/isovenv && /tmp/isovenv/bin/pip install iso15118==0.31.2
    .venv/bin/python tools/iso15118_interop.py dump /tmp/interop     # our EV request and CSMS response
    /tmp/isovenv/bin/python tools/iso15118_interop.py check /tmp/interop

`dump` (scratch SQLite, never your database) makes a car, registers it and has the built-in
provider answer its CertificateInstallationReq. `check` parses both messages into
iso15118's models and checks them with its functions: the request's signature, the
response's signature and CPS chain to our V2G root, and the decryption of the contract key.
"""

import base64
import os
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def dump(out: Path) -> None:
    sys.path.insert(0, str(REPO_ROOT))
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/interop.sqlite3"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargenet.settings")
    import django

    django.setup()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from django.core.management import call_command

    from pki.iso15118.ev import Ev, make_certificate
    from pki.models import CaRole
    from pki.services.ca import ca_x509, import_ca_chain, issuing_ca
    from pki.services.provisioning import answer
    from pki.services.vehicles import register_vehicle
    from stations.models import Driver

    call_command("migrate", verbosity=0)
    call_command("pki_init", verbosity=0)
    oem_root_key = ec.generate_private_key(ec.SECP256R1())
    root = make_certificate("OEM Root", oem_root_key, "OEM Root", oem_root_key, ca=True)
    import_ca_chain(pem=root.public_bytes(serialization.Encoding.PEM).decode(), role=CaRole.OEM_ROOT,
                    name="OEM Root")
    key = ec.generate_private_key(ec.SECP256R1())
    v2g_root = ca_x509(issuing_ca(CaRole.V2G_ROOT))
    ev = Ev(provisioning_key=key, trusted_roots=[v2g_root],
            provisioning_certificate=make_certificate("WMIV1234567890ABC", key, "OEM Root", oem_root_key, ca=False))
    register_vehicle(pcid="WMIV1234567890ABC", driver=Driver.objects.create(email="interop@example.com"))
    request = ev.installation_request()
    response = answer(action="Install", schema_version="urn:iso:15118:2:2013:MsgDef", exi_request=request)
    out.mkdir(parents=True, exist_ok=True)
    (out / "request.b64").write_text(request)
    (out / "response.b64").write_text(response.exi_response)
    (out / "oem_key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    (out / "v2g_root.der").write_bytes(v2g_root.public_bytes(serialization.Encoding.DER))
    print(f"request and response for {response.emaid} in {out}")


def check(folder: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from iso15118.shared.exi_codec import EXI
    from iso15118.shared.exificient_exi_codec import ExificientEXICodec
    from iso15118.shared.messages.enums import Namespace
    from iso15118.shared.security import decrypt_priv_key, verify_signature
    from iso15118.shared.settings import SettingKey, shared_settings

    shared_settings[SettingKey.MESSAGE_LOG_EXI] = shared_settings[SettingKey.MESSAGE_LOG_JSON] = False
    EXI().set_exi_codec(ExificientEXICodec())
    ns = Namespace.ISO_V2_MSG_DEF
    request = EXI().from_exi(base64.b64decode((folder / "request.b64").read_text()), ns)
    req = request.body.certificate_installation_req
    request_ok = verify_signature(signature=request.header.signature, leaf_cert=req.oem_provisioning_cert,
                                  elements_to_sign=[(req.id, EXI().to_exi(req, ns))])
    response = EXI().from_exi(base64.b64decode((folder / "response.b64").read_text()), ns)
    res = response.body.certificate_installation_res
    signed = [res.contract_cert_chain, res.encrypted_private_key, res.dh_public_key, res.emaid]
    response_ok = verify_signature(
        signature=response.header.signature, elements_to_sign=[(e.id, EXI().to_exi(e, ns)) for e in signed],
        leaf_cert=res.cps_cert_chain.certificate, sub_ca_certs=res.cps_cert_chain.sub_certificates.certificates,
        root_ca_cert=(folder / "v2g_root.der").read_bytes(),
    )
    oem_key = serialization.load_pem_private_key((folder / "oem_key.pem").read_bytes(), None)
    dh_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), res.dh_public_key.value)
    secret = decrypt_priv_key(res.encrypted_private_key.value, oem_key, dh_public)
    contract = x509.load_der_x509_certificate(res.contract_cert_chain.certificate)
    key_ok = (ec.derive_private_key(int.from_bytes(secret, "big"), ec.SECP256R1()).public_key().public_numbers()
              == contract.public_key().public_numbers())
    print(f"request signature (iso15118 verify_signature): {'ok' if request_ok else 'FAILED'}")
    print(f"response signature and CPS chain to the V2G root: {'ok' if response_ok else 'FAILED'}")
    print(f"contract key decrypted (iso15118 decrypt_priv_key) and matching: {'ok' if key_ok else 'FAILED'}")
    sys.exit(0 if request_ok and response_ok and key_ok else 1)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in {"dump", "check"}:
        sys.exit(__doc__)
    (dump if sys.argv[1] == "dump" else check)(Path(sys.argv[2]))
