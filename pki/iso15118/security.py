"""ISO 15118-2 message security: xmldsig signatures over EXI and the contract key's encryption.

Signatures (ISO 15118-2 §7.9.2.4, Annex J): each signed body element carries an ``Id``;
the header's ``Signature`` has one ``Reference`` per element whose digest is SHA-256 over
the element's EXI fragment encoding; the ``SignatureValue`` is ECDSA (secp256r1, SHA-256)
over the EXI fragment of ``SignedInfo``, sent as the raw r‖s (64 bytes), not DER.

The contract private key travels encrypted to the EV (§7.9.2.3, [V2G2-818]): ECDH between
a fresh key pair and the EV's key (the OEM provisioning certificate on installation, the
old contract certificate on update), the concatenation KDF of NIST SP 800-56A with
SHA-256 and OtherInfo = AlgorithmID 0x01 ‖ PartyUInfo "U" ‖ PartyVInfo "V" gives a 128-bit
key; AES-128-CBC with a random IV encrypts the 32-byte private value; sent as IV ‖ cipher.
"""

import base64
import hashlib
import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash

from pki.iso15118 import exi

CANONICAL_EXI = "http://www.w3.org/TR/canonical-exi/"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
KDF_OTHER_INFO = b"\x01" + b"U" + b"V"


class SignatureInvalid(ValueError):
    pass


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def element_digest(name: str, content: dict) -> bytes:
    return hashlib.sha256(exi.encode({name: content})).digest()


def _signed_info(references: list[tuple[str, bytes]]) -> dict:
    return {
        "CanonicalizationMethod": {"Algorithm": CANONICAL_EXI},
        "SignatureMethod": {"Algorithm": ECDSA_SHA256},
        "Reference": [
            {
                "URI": f"#{element_id}",
                "Transforms": {"Transform": [{"Algorithm": CANONICAL_EXI}]},
                "DigestMethod": {"Algorithm": SHA256},
                "DigestValue": b64(digest),
            }
            for element_id, digest in references
        ],
    }


def sign(elements: dict[str, dict], private_key: ec.EllipticCurvePrivateKey) -> dict:
    """The header's ``Signature`` over the named body elements (each with its ``Id``)."""
    signed_info = _signed_info([(content["Id"], element_digest(name, content)) for name, content in elements.items()])
    der = private_key.sign(exi.encode({"SignedInfo": signed_info}, exi.XMLDSIG), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return {"SignedInfo": signed_info, "SignatureValue": {"value": b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))}}


def verify(signature: dict | None, elements: dict[str, dict], public_key) -> None:
    """SignatureInvalid unless ``signature`` covers every element and verifies with the key."""
    if not isinstance(signature, dict) or "SignedInfo" not in signature:
        raise SignatureInvalid("the message carries no signature")
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise SignatureInvalid("the signer's key is not an elliptic-curve key")
    signed_info = signature["SignedInfo"]
    if signed_info.get("SignatureMethod", {}).get("Algorithm") != ECDSA_SHA256:
        raise SignatureInvalid("unsupported signature method")
    digests = {}
    for reference in signed_info.get("Reference", []):
        if reference.get("DigestMethod", {}).get("Algorithm") != SHA256:
            raise SignatureInvalid("unsupported digest method")
        digests[reference.get("URI", "").removeprefix("#")] = unb64(reference["DigestValue"])
    for name, content in elements.items():
        expected = digests.get(content.get("Id"))
        if expected is None:
            raise SignatureInvalid(f"{name} is not signed")
        if expected != element_digest(name, content):
            raise SignatureInvalid(f"{name} was altered after signing")
    raw = unb64(signature["SignatureValue"]["value"])
    if len(raw) != 64:
        raise SignatureInvalid("the signature value is not 64 bytes")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public_key.verify(der, exi.encode({"SignedInfo": signed_info}, exi.XMLDSIG), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SignatureInvalid("the signature does not verify") from None


def _session_key(private_key: ec.EllipticCurvePrivateKey, peer: ec.EllipticCurvePublicKey) -> bytes:
    shared = private_key.exchange(ec.ECDH(), peer)
    return ConcatKDFHash(algorithm=hashes.SHA256(), length=16, otherinfo=KDF_OTHER_INFO).derive(shared)


def encrypt_private_key(
    secret: ec.EllipticCurvePrivateKey, recipient: ec.EllipticCurvePublicKey
) -> tuple[bytes, bytes]:
    """(DHpublickey as an uncompressed point, IV ‖ AES-128-CBC of the 32-byte private value)."""
    if not isinstance(recipient, ec.EllipticCurvePublicKey) or not isinstance(recipient.curve, ec.SECP256R1):
        raise ValueError("the EV's key is not a secp256r1 key")
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    key = _session_key(ephemeral, recipient)
    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    plain = secret.private_numbers().private_value.to_bytes(32, "big")
    dh_public = ephemeral.public_key().public_bytes(serialization.Encoding.X962,
                                                    serialization.PublicFormat.UncompressedPoint)
    return dh_public, iv + encryptor.update(plain) + encryptor.finalize()


def decrypt_private_key(
    encrypted: bytes, dh_public: bytes, own_key: ec.EllipticCurvePrivateKey
) -> ec.EllipticCurvePrivateKey:
    """What the EV does with ContractSignatureEncryptedPrivateKey."""
    if len(encrypted) != 48:
        raise ValueError("the encrypted private key is not 48 bytes")
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), dh_public)
    decryptor = Cipher(algorithms.AES(_session_key(own_key, peer)), modes.CBC(encrypted[:16])).decryptor()
    plain = decryptor.update(encrypted[16:]) + decryptor.finalize()
    return ec.derive_private_key(int.from_bytes(plain, "big"), ec.SECP256R1())
