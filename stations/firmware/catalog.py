"""The firmware catalog: files with their checksum and size, and the time-limited links
stations download them from.

A link carries a signed, timestamped token (``TimestampSigner``): no session, no password
on the station, and it stops working after ``FIRMWARE_URL_MAX_AGE_S``.
"""

import hashlib

from django.conf import settings
from django.core import signing
from django.core.files import File
from django.db import IntegrityError, transaction
from django.urls import reverse

from stations.firmware.models import FirmwareImage

DOWNLOAD_SALT = "chargenet.firmware.download"


class FirmwareError(ValueError):
    """The firmware cannot be added as given; the message says why."""


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
    if signing_certificate and "BEGIN CERTIFICATE" not in signing_certificate:
        raise FirmwareError("the signing certificate must be PEM")
    sha256, size = _digest(file)
    if size == 0:
        raise FirmwareError("the firmware file is empty")
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
