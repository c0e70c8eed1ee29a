"""ISO 15118-20 message security: xmldsig signatures over -20 EXI and the contract key's encryption.

Signatures: the signed element carries an ``Id`` (in CertificateInstallationReq the
``OEMProvisioningCertificateChain``, in CertificateInstallationRes the
``SignedInstallationData``); the header's ``Signature`` has a ``Reference`` to it whose digest is
taken over the element's EXI encoding in the CommonMessages grammar, and the ``SignatureValue``
is over the EXI of ``SignedInfo`` (xmldsig grammar). -20 signs with ECDSA on secp521r1 and
SHA-512 ([V2G20-2673], [V2G20-2674]; the value is r ‖ s, 66 bytes each) or with Ed448 and
SHAKE256 ([V2G20-2318], [V2G20-2319]; the 114-byte EdDSA signature).

The contract private key travels encrypted to the EV (7.9.2.5.2, EVCC without TPM): ECDH
between a fresh secp521r1 key pair and the OEM provisioning key gives a shared secret; a
256-bit session key is derived from it (see ``KDF_*`` below); AES-GCM-256 with a random
96-bit IV and the AAD of [V2G20-2492] (the PCID, then the contract certificate's SKI as
capital hex) encrypts the 521-bit private value padded to 66 bytes ([V2G20-2497]); sent as
IV ‖ ciphertext ‖ 128-bit tag = 94 bytes in SECP521_EncryptedPrivateKey ([V2G20-2499]), the
ephemeral public key as the 133-byte uncompressed point in DHPublicKey ([V2G20-2489]).
"""

import hashlib
import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash

from pki.iso15118 import exi
from pki.iso15118.security import CANONICAL_EXI, SignatureInvalid, b64, unb64

ECDSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
EDDSA_ED448 = "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed448"
SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
SHAKE256 = "http://www.w3.org/2007/05/xmldsig-more#shake256"
P521_BYTES = 66
# The session key's derivation (7.9.2.5.4). The public excerpts of ISO 15118-20 we could check
# fix ECDHE, AES-GCM-256, the IV, the AAD and the layout, but not the KDF's parameters; we use
# the -2 construction ([V2G2-818]: NIST SP 800-56A concatenation KDF, OtherInfo = 0x01 ‖ "U" ‖ "V")
# with -20's hash (SHA-512) and a 256-bit output. The car in ``ev.py`` states the same.
KDF_HASH = hashes.SHA512
KDF_OTHER_INFO = b"\x01" + b"U" + b"V"
SESSION_KEY_BYTES = 32
IV_BYTES = 12
TAG_BYTES = 16


class KeyNotSupported(ValueError):
    """A key ISO 15118-20 does not sign or encrypt with (or not here: X448, see the README)."""


def is_p521(key) -> bool:
    return (isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey)
            and isinstance(key.curve, ec.SECP521R1))


def _methods(key) -> tuple[str, str]:
    """(SignatureMethod, DigestMethod) for a -20 signer's key."""
    if is_p521(key):
        return ECDSA_SHA512, SHA512
    if isinstance(key, ed448.Ed448PublicKey | ed448.Ed448PrivateKey):
        return EDDSA_ED448, SHAKE256
    raise KeyNotSupported("ISO 15118-20 signs with secp521r1 (ECDSA, SHA-512) or Ed448 keys only")


def digest(method: str, data: bytes) -> bytes:
    if method == SHA512:
        return hashlib.sha512(data).digest()
    if method == SHAKE256:
        return hashlib.shake_256(data).digest(64)
    raise SignatureInvalid(f"unsupported digest method {method!r}")


def element_digest(name: str, content: dict, method: str) -> bytes:
    return digest(method, exi.encode({name: content}, exi.COMMON_MESSAGES))


def sign(elements: dict[str, dict], private_key) -> dict:
    """The header's ``Signature`` over the named -20 elements (each with its ``Id``)."""
    signature_method, digest_method = _methods(private_key)
    signed_info = {
        "CanonicalizationMethod": {"Algorithm": CANONICAL_EXI},
        "SignatureMethod": {"Algorithm": signature_method},
        "Reference": [
            {"URI": f"#{content['Id']}", "Transforms": {"Transform": [{"Algorithm": CANONICAL_EXI}]},
             "DigestMethod": {"Algorithm": digest_method},
             "DigestValue": b64(element_digest(name, content, digest_method))}
            for name, content in elements.items()
        ],
    }
    data = exi.encode({"SignedInfo": signed_info}, exi.XMLDSIG)
    if signature_method == EDDSA_ED448:
        value = private_key.sign(data)
    else:
        r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(hashes.SHA512())))
        value = r.to_bytes(P521_BYTES, "big") + s.to_bytes(P521_BYTES, "big")
    return {"SignedInfo": signed_info, "SignatureValue": {"value": b64(value)}}


def verify(signature: dict | None, elements: dict[str, dict], public_key) -> None:
    """SignatureInvalid unless ``signature`` covers every element with the digest and signature
    method of the signer's key, and verifies with it."""
    if not isinstance(signature, dict) or not isinstance(signature.get("SignedInfo"), dict):
        raise SignatureInvalid("the message carries no signature")
    try:
        expected_method, digest_method = _methods(public_key)
    except KeyNotSupported as error:
        raise SignatureInvalid(str(error)) from None
    signed_info = signature["SignedInfo"]
    if (signed_info.get("SignatureMethod") or {}).get("Algorithm") != expected_method:
        raise SignatureInvalid(f"the signature method is not {expected_method} for the signer's key")
    digests = {}
    for reference in signed_info.get("Reference") or []:
        if (reference.get("DigestMethod") or {}).get("Algorithm") != digest_method:
            raise SignatureInvalid(f"the digest method is not {digest_method}")
        try:
            digests[str(reference.get("URI", "")).removeprefix("#")] = unb64(reference["DigestValue"])
        except (KeyError, ValueError, TypeError):
            raise SignatureInvalid("a reference has no base64 digest") from None
    for name, content in elements.items():
        expected = digests.get(content.get("Id"))
        if expected is None:
            raise SignatureInvalid(f"{name} is not signed")
        if expected != element_digest(name, content, digest_method):
            raise SignatureInvalid(f"{name} was altered after signing")
    try:
        raw = unb64((signature.get("SignatureValue") or {}).get("value", ""))
    except (ValueError, TypeError):
        raise SignatureInvalid("the signature value is not base64") from None
    data = exi.encode({"SignedInfo": signed_info}, exi.XMLDSIG)
    try:
        if expected_method == EDDSA_ED448:
            public_key.verify(raw, data)
        else:
            if len(raw) != 2 * P521_BYTES:
                raise SignatureInvalid(f"the signature value is not {2 * P521_BYTES} bytes")
            der = encode_dss_signature(int.from_bytes(raw[:P521_BYTES], "big"), int.from_bytes(raw[P521_BYTES:], "big"))
            public_key.verify(der, data, ec.ECDSA(hashes.SHA512()))
    except InvalidSignature:
        raise SignatureInvalid("the signature does not verify") from None


def additional_data(*, pcid: str, subject_key_identifier: bytes) -> bytes:
    """[V2G20-2492]: the PCID in capitals without separators, then the contract certificate's
    SKI as capital hex."""
    return pcid.replace("-", "").upper().encode("ascii") + subject_key_identifier.hex().upper().encode("ascii")


def session_key(private_key: ec.EllipticCurvePrivateKey, peer: ec.EllipticCurvePublicKey) -> bytes:
    shared = private_key.exchange(ec.ECDH(), peer)
    return ConcatKDFHash(algorithm=KDF_HASH(), length=SESSION_KEY_BYTES, otherinfo=KDF_OTHER_INFO).derive(shared)


def encrypt_private_key(secret: ec.EllipticCurvePrivateKey, recipient, aad: bytes) -> tuple[bytes, bytes]:
    """(DHPublicKey, SECP521_EncryptedPrivateKey) for a secp521r1 contract key and EV key."""
    if not is_p521(recipient) or not is_p521(secret):
        raise KeyNotSupported("SECP521 key encryption needs secp521r1 keys on both sides")
    ephemeral = ec.generate_private_key(ec.SECP521R1())
    iv = os.urandom(IV_BYTES)
    plain = secret.private_numbers().private_value.to_bytes(P521_BYTES, "big")  # 521 bits, 7 zero bits first
    sealed = AESGCM(session_key(ephemeral, recipient)).encrypt(iv, plain, aad)  # ciphertext ‖ 16-byte tag
    dh_public = ephemeral.public_key().public_bytes(serialization.Encoding.X962,
                                                    serialization.PublicFormat.UncompressedPoint)
    return dh_public, iv + sealed
