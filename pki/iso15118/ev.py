"""The car's side of contract installation, for tests, the benchmark and trying it by hand.

An ``Ev`` holds an OEM provisioning key and certificate and the V2G roots it trusts. It
builds signed, EXI-encoded CertificateInstallationReq / CertificateUpdateReq messages as
a charger forwards them in Get15118EVCertificate, and checks a response as ISO 15118-2
has the car do: each reference's digest over its EXI fragment, the CPS signature over
SignedInfo, the CPS chain to a trusted V2G root; then it decrypts its new contract key.
"""

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

from pki.iso15118 import exi, security

SIGNED_ELEMENTS = ("ContractSignatureCertChain", "ContractSignatureEncryptedPrivateKey", "DHpublickey", "eMAID")


class ResponseInvalid(ValueError):
    pass


@dataclass
class Installed:
    contract: x509.Certificate
    sub_cas: list[x509.Certificate]
    emaid: str
    body: dict


def make_certificate(subject_cn: str, key, issuer_cn: str, issuer_key, *, ca: bool,
                     days: int = 30) -> x509.Certificate:
    """A minimal certificate (an OEM root or provisioning certificate in tests)."""
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def _der_b64(cert: x509.Certificate) -> str:
    return security.b64(cert.public_bytes(serialization.Encoding.DER))


class Ev:
    def __init__(self, *, provisioning_key, provisioning_certificate: x509.Certificate,
                 trusted_roots: list[x509.Certificate], session_id: str = "0A1B2C3D4E5F6071"):
        self.key = provisioning_key
        self.certificate = provisioning_certificate
        self.trusted_roots = trusted_roots
        self.session_id = session_id
        self.contract_key = None
        self.installed: Installed | None = None

    def _root_ids(self) -> dict:
        return {"RootCertificateID": [{"X509IssuerName": root.issuer.rfc4514_string(),
                                       "X509SerialNumber": root.serial_number} for root in self.trusted_roots]}

    def _message(self, name: str, request: dict, signing_key) -> str:
        signature = security.sign({name: request}, signing_key)
        message = {"V2G_Message": {"Header": {"SessionID": self.session_id, "Signature": signature},
                                   "Body": {name: request}}}
        return security.b64(exi.encode(message))

    def installation_request(self, signing_key=None) -> str:
        """Base64 EXI, as Get15118EVCertificate's exiRequest (action Install)."""
        request = {"Id": "id1", "OEMProvisioningCert": _der_b64(self.certificate),
                   "ListOfRootCertificateIDs": self._root_ids()}
        return self._message("CertificateInstallationReq", request, signing_key or self.key)

    def update_request(self) -> str:
        """Base64 EXI (action Update), signed with the installed contract's key."""
        if self.installed is None:
            raise ValueError("no contract installed to update")
        chain = {"Certificate": _der_b64(self.installed.contract),
                 "SubCertificates": {"Certificate": [_der_b64(c) for c in self.installed.sub_cas]}}
        request = {"Id": "id1", "ContractSignatureCertChain": chain, "eMAID": self.installed.emaid,
                   "ListOfRootCertificateIDs": self._root_ids()}
        return self._message("CertificateUpdateReq", request, self.contract_key)

    def accept(self, exi_response: str, name: str = "CertificateInstallationRes") -> Installed:
        """Check the response and install its contract; ResponseInvalid says what is wrong."""
        message = exi.decode(base64.b64decode(exi_response)).get("V2G_Message") or {}
        header, body = message.get("Header") or {}, (message.get("Body") or {}).get(name)
        if body is None:
            raise ResponseInvalid(f"no {name} in the response")
        if header.get("SessionID") != self.session_id:
            raise ResponseInvalid("the response is for another session")
        if body.get("ResponseCode") != "OK":
            raise ResponseInvalid(f"response code {body.get('ResponseCode')}")
        signed_info = header["Signature"]["SignedInfo"]
        digests = {r["URI"]: base64.b64decode(r["DigestValue"]) for r in signed_info["Reference"]}
        for element in SIGNED_ELEMENTS:
            if digests.get("#" + body[element]["Id"]) != hashlib.sha256(exi.encode({element: body[element]})).digest():
                raise ResponseInvalid(f"{element}: digest mismatch")
        cps_chain = body["SAProvisioningCertificateChain"]
        cps = x509.load_der_x509_certificate(base64.b64decode(cps_chain["Certificate"]))
        raw = base64.b64decode(header["Signature"]["SignatureValue"]["value"])
        cps.public_key().verify(
            encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
            exi.encode({"SignedInfo": signed_info}, exi.XMLDSIG), ec.ECDSA(hashes.SHA256()),
        )
        chain = [cps] + [x509.load_der_x509_certificate(base64.b64decode(c))
                         for c in (cps_chain.get("SubCertificates") or {}).get("Certificate", [])]
        root = next((r for r in self.trusted_roots if r.subject == chain[-1].issuer), None)
        if root is None:
            raise ResponseInvalid("the CPS chain does not end at a trusted V2G root")
        for child, parent in zip(chain + [root], chain[1:] + [root]):
            child.verify_directly_issued_by(parent)
        contract_chain = body["ContractSignatureCertChain"]
        contract = x509.load_der_x509_certificate(base64.b64decode(contract_chain["Certificate"]))
        decrypt_with = self.key if name == "CertificateInstallationRes" else self.contract_key
        key = security.decrypt_private_key(base64.b64decode(body["ContractSignatureEncryptedPrivateKey"]["value"]),
                                           base64.b64decode(body["DHpublickey"]["value"]), decrypt_with)
        if key.public_key().public_numbers() != contract.public_key().public_numbers():
            raise ResponseInvalid("the decrypted key does not belong to the contract certificate")
        self.contract_key = key
        self.installed = Installed(
            contract=contract,
            sub_cas=[x509.load_der_x509_certificate(base64.b64decode(c))
                     for c in (contract_chain.get("SubCertificates") or {}).get("Certificate", [])],
            emaid=body["eMAID"]["value"], body=body,
        )
        return self.installed

    def contract_chain_pem(self) -> str:
        """What the charger sends in Authorize's ``certificate``."""
        certs = [self.installed.contract, *self.installed.sub_cas]
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)
