"""The firmware catalog: files with their checksum and size, and the time-limited links
stations download them from.

A link carries a signed, timestamped token (``TimestampSigner``): no session, no password
on the station, and it stops working after ``FIRMWARE_URL_MAX_AGE_S``.
"""

import base64
import binascii
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from django.conf import settings
from django.core import signing
from django.core.files import File
from django.db import IntegrityError, transaction
from django.urls import reverse

from stations.firmware.models import FirmwareImage

DOWNLOAD_SALT = "chargenet.firmware.download"


class FirmwareError(ValueError):
    """The firmware cannot be added as given; the message says why."""


def verify_signature(*, sha256_hex: str, signing_certificate: str, signature: str) -> None:
    """The signature (base64) must be the certificate's key signing the file's SHA-256: a
    station would refuse it otherwise (InvalidSignature), so the catalog refuses it first."""
    try:
        certificate = x509.load_pem_x509_certificate(signing_certificate.encode())
    except ValueError:
        raise FirmwareError("the signing certificate is not a PEM X.509 certificate") from None
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise FirmwareError("the signature must be base64") from None
    key, digest, prehashed = certificate.public_key(), bytes.fromhex(sha256_hex), utils.Prehashed(hashes.SHA256())
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(raw, digest, ec.ECDSA(prehashed))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(raw, digest, padding.PKCS1v15(), prehashed)
        else:
            raise FirmwareError("the signing certificate's key must be RSA or EC")
    except InvalidSignature:
        raise FirmwareError("the signature does not match the file and the signing certificate") from None


def _digest(file: File) -> tuple[str, int]:
    sha256 = hashlib.sha256()
    size = 0
    file.seek(0)
    for chunk in file.chunks():
        sha256.update(chunk)
        size += len(chunk)
    file.seek(0)
    return sha256.hexdigest(), size


def add_firmware(
    *,
    version: str,
    vendor: str,
    file: File,
    station_models: list[str] | None = None,
    signing_certificate: str = "",
    signature: str = "",
    notes: str = "",
    uploaded_by=None,
) -> FirmwareImage:
    """Store the file (default storage) and its catalog entry; checksum and size computed here."""
    version, vendor = version.strip(), vendor.strip()
    if not version or not vendor:
        raise FirmwareError("version and vendor are required")
    if bool(signing_certificate) != bool(signature):
        raise FirmwareError("a signed firmware needs both the signing certificate and the signature")
    sha256, size = _digest(file)
    if size == 0:
        raise FirmwareError("the firmware file is empty")
    if signing_certificate:
        verify_signature(sha256_hex=sha256, signing_certificate=signing_certificate, signature=signature)
    image = FirmwareImage(
        version=version[:50], vendor=vendor[:50], station_models=sorted(set(station_models or [])),
        sha256=sha256, size_bytes=size, signing_certificate=signing_certificate, signature=signature,
        notes=notes, uploaded_by=uploaded_by if getattr(uploaded_by, "is_authenticated", False) else None,
    )
    try:
        with transaction.atomic():
            image.file.save(f"{vendor}-{version}-{file.name.rsplit('/', 1)[-1]}", file, save=False)
            image.save()
    except IntegrityError:
        image.file.delete(save=False)
        raise FirmwareError(f"{vendor} {version} is already in the catalog") from None
    return image


def download_token(image: FirmwareImage) -> str:
    return signing.TimestampSigner(salt=DOWNLOAD_SALT).sign(str(image.pk))


def download_url(image: FirmwareImage) -> str:
    """The absolute, time-limited URL a station fetches this firmware from."""
    name = image.file.name.rsplit("/", 1)[-1]
    path = reverse("firmware-download", kwargs={"token": download_token(image), "name": name})
    return f"{settings.CHARGENET_PUBLIC_URL}{path}"


def image_for_token(token: str) -> FirmwareImage | None:
    """The image a download token names, or None once it expired or was tampered with."""
    try:
        pk = signing.TimestampSigner(salt=DOWNLOAD_SALT).unsign(token, max_age=settings.FIRMWARE_URL_MAX_AGE_S)
    except signing.BadSignature:
        return None
    return FirmwareImage.objects.filter(pk=int(pk)).first()
