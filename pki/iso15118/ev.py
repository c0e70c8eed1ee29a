"""The car's side of contract installation, for tests, the benchmark and trying it by hand.

``Ev20`` (below) is the same car on ISO 15118-20 (CommonMessages, secp521r1).

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
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
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


# --- ISO 15118-20 -------------------------------------------------------------------------

P521_BYTES = 66
P521_ORDER = int("01FF" + "FFFFFFFF" * 7
                 + "FFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409", 16)
# The car derives its session key on its own (7.9.2.5.4); see ``security_20`` for why these values.
KDF_OTHER_INFO_20 = b"\x01" + b"U" + b"V"
ECDSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"


def make_certificate_20(subject_cn: str, key, issuer_cn: str, issuer_key, *, ca: bool,
                        days: int = 30) -> x509.Certificate:
    """An OEM certificate as ISO 15118-20 has them: secp521r1 keys signed with SHA-512 (or Ed448)."""
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False), critical=True)
    return builder.sign(issuer_key, None if isinstance(issuer_key, ed448.Ed448PrivateKey) else hashes.SHA512())


class Ev20:
    """A car speaking ISO 15118-20: it signs its OEMProvisioningCertificateChain with its
    provisioning key and checks a CertificateInstallationRes on its own, as 7.9.2.5 has the EVCC
    do: the digest of SignedInstallationData, the CPS signature (ECDSA secp521r1, SHA-512) over
    SignedInfo, the CPS chain to a trusted V2G root, the contract chain, then it decrypts the
    SECP521_EncryptedPrivateKey (ECDH, session key, AES-GCM-256 with the PCID ‖ SKI AAD) and checks
    the key against the contract certificate ([V2G20-2678], [V2G20-2507])."""

    def __init__(self, *, provisioning_key, provisioning_certificate: x509.Certificate,
                 trusted_roots: list[x509.Certificate], sub_cas: list[x509.Certificate] = (),
                 session_id: str = "0A1B2C3D4E5F6071"):
        self.key = provisioning_key
        self.certificate = provisioning_certificate
        self.sub_cas = list(sub_cas)
        self.trusted_roots = trusted_roots
        self.session_id = session_id
        self.pcid = self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        self.contract_key = None
        self.installed: Installed | None = None

    def request_body(self, *, maximum_chains: int = 1, prioritized_emaids: list[str] | None = None) -> dict:
        chain = {"Id": "id1", "Certificate": _der_b64(self.certificate)}
        if self.sub_cas:
            chain["SubCertificates"] = {"Certificate": [_der_b64(c) for c in self.sub_cas]}
        body = {"OEMProvisioningCertificateChain": chain,
                "ListOfRootCertificateIDs": {"RootCertificateID": [
                    {"X509IssuerName": r.issuer.rfc4514_string(), "X509SerialNumber": r.serial_number}
                    for r in self.trusted_roots]},
                "MaximumContractCertificateChains": maximum_chains}
        if prioritized_emaids:
            body["PrioritizedEMAIDs"] = {"EMAID": list(prioritized_emaids)}
        return body

    def encode_request(self, body: dict, signing_key=None) -> str:
        """Sign ``body``'s OEMProvisioningCertificateChain and encode it: base64 EXI, as
        Get15118EVCertificate's exiRequest (schema urn:iso:std:iso:15118:-20:CommonMessages)."""
        from pki.iso15118 import security_20

        signature = security_20.sign({"OEMProvisioningCertificateChain": body["OEMProvisioningCertificateChain"]},
                                     signing_key or self.key)
        header = {"SessionID": self.session_id, "TimeStamp": int(datetime.now(UTC).timestamp()),
                  "Signature": signature}
        return security.b64(exi.encode({"CertificateInstallationReq": {"Header": header, **body}},
                                       exi.COMMON_MESSAGES))

    def installation_request(self, signing_key=None, **options) -> str:
        return self.encode_request(self.request_body(**options), signing_key)

    def accept(self, exi_response: str) -> Installed:
        """Check the response and install its contract; ResponseInvalid says what is wrong."""
        message = exi.decode(base64.b64decode(exi_response), exi.COMMON_MESSAGES)
        body = message.get("CertificateInstallationRes")
        if not isinstance(body, dict):
            raise ResponseInvalid("no CertificateInstallationRes in the response")
        header = body.get("Header") or {}
        if header.get("SessionID") != self.session_id:
            raise ResponseInvalid("the response is for another session")
        if body.get("ResponseCode") != "OK" or body.get("EVSEProcessing") != "Finished":
            raise ResponseInvalid(f"response code {body.get('ResponseCode')}, {body.get('EVSEProcessing')}")
        data = body["SignedInstallationData"]
        signed_info = header["Signature"]["SignedInfo"]
        if signed_info["SignatureMethod"]["Algorithm"] != ECDSA_SHA512:
            raise ResponseInvalid("the CPS did not sign with ECDSA-SHA512")
        references = {r["URI"]: r for r in signed_info["Reference"]}
        reference = references.get("#" + data["Id"])
        if reference is None or reference["DigestMethod"]["Algorithm"] != SHA512:
            raise ResponseInvalid("SignedInstallationData is not signed with a SHA-512 digest")
        if base64.b64decode(reference["DigestValue"]) != hashlib.sha512(
                exi.encode({"SignedInstallationData": data}, exi.COMMON_MESSAGES)).digest():
            raise ResponseInvalid("SignedInstallationData: digest mismatch")
        cps_chain = body["CPSCertificateChain"]
        cps = x509.load_der_x509_certificate(base64.b64decode(cps_chain["Certificate"]))
        raw = base64.b64decode(header["Signature"]["SignatureValue"]["value"])
        if len(raw) != 2 * P521_BYTES:
            raise ResponseInvalid("the CPS signature is not 132 bytes")
        try:
            cps.public_key().verify(
                encode_dss_signature(int.from_bytes(raw[:P521_BYTES], "big"), int.from_bytes(raw[P521_BYTES:], "big")),
                exi.encode({"SignedInfo": signed_info}, exi.XMLDSIG), ec.ECDSA(hashes.SHA512()))
        except InvalidSignature:
            raise ResponseInvalid("the CPS signature does not verify") from None
        self._check_chain([cps] + _certificates(cps_chain), "CPS", require_trusted_root=True)
        contract_chain = data["ContractCertificateChain"]
        contract = x509.load_der_x509_certificate(base64.b64decode(contract_chain["Certificate"]))
        sub_cas = _certificates(contract_chain)
        self._check_chain([contract] + sub_cas, "contract", require_trusted_root=False)
        key = self._decrypt(data, contract)
        self.contract_key = key
        emaid = contract.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        self.installed = Installed(contract=contract, sub_cas=sub_cas, emaid=emaid, body=body)
        return self.installed

    def _check_chain(self, chain: list[x509.Certificate], what: str, *, require_trusted_root: bool) -> None:
        try:
            for child, parent in zip(chain, chain[1:]):
                child.verify_directly_issued_by(parent)
            root = next((r for r in self.trusted_roots if r.subject == chain[-1].issuer), None)
            if root is not None:
                chain[-1].verify_directly_issued_by(root)
            elif require_trusted_root:
                raise ResponseInvalid(f"the {what} chain does not end at a trusted V2G root")
        except (InvalidSignature, ValueError, TypeError) as error:
            if isinstance(error, ResponseInvalid):
                raise
            raise ResponseInvalid(f"the {what} chain does not verify: {error}") from None

    def _decrypt(self, data: dict, contract: x509.Certificate):
        if data.get("ECDHCurve") != "SECP521" or "SECP521_EncryptedPrivateKey" not in data:
            raise ResponseInvalid(f"this car decrypts SECP521 keys, not {data.get('ECDHCurve')}")
        dh_public = base64.b64decode(data["DHPublicKey"])
        encrypted = base64.b64decode(data["SECP521_EncryptedPrivateKey"])
        if len(dh_public) != 133 or len(encrypted) != 94:
            raise ResponseInvalid("DHPublicKey must be 133 bytes and SECP521_EncryptedPrivateKey 94")
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP521R1(), dh_public)
        shared = self.key.exchange(ec.ECDH(), peer)
        session_key = ConcatKDFHash(algorithm=hashes.SHA512(), length=32, otherinfo=KDF_OTHER_INFO_20).derive(shared)
        ski = contract.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        aad = self.pcid.upper().encode() + ski.hex().upper().encode()
        try:
            plain = AESGCM(session_key).decrypt(encrypted[:12], encrypted[12:], aad)
        except InvalidTag:
            raise ResponseInvalid("the contract key does not decrypt (tag mismatch)") from None
        if plain[0] & 0xFE:
            raise ResponseInvalid("the decrypted key's 7 most significant bits are not zero")
        value = int.from_bytes(plain, "big")
        if not 0 < value < P521_ORDER:
            raise ResponseInvalid("the decrypted key is not a secp521r1 private key")
        key = ec.derive_private_key(value, ec.SECP521R1())
        if key.public_key().public_numbers() != contract.public_key().public_numbers():
            raise ResponseInvalid("the decrypted key does not belong to the contract certificate")
        return key

    def contract_chain_pem(self) -> str:
        certs = [self.installed.contract, *self.installed.sub_cas]
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def _certificates(chain: dict) -> list[x509.Certificate]:
    return [x509.load_der_x509_certificate(base64.b64decode(c))
            for c in (chain.get("SubCertificates") or {}).get("Certificate", [])]
