"""Diagnostics (1.6 GetDiagnostics) and logs (2.0.1 GetLog): the request, the station's
status reports, and the file it uploads.

Each request gets its own upload link, signed and timestamped: the token names the request,
so a station can upload for that request only, and only until the link expires.
"""

import random

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import get_valid_filename

from stations.firmware.models import DiagnosticsKind, DiagnosticsRequest
from stations.models import ChargingStation

UPLOAD_SALT = "chargenet.diagnostics.upload"
FINAL_STATUSES = {"Uploaded", "UploadFailed", "BadMessage", "NotSupportedOperation", "PermissionDenied",
                  "AcceptedCanceled"}


class UploadRefused(Exception):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def upload_url(request: DiagnosticsRequest) -> str:
    token = signing.TimestampSigner(salt=UPLOAD_SALT).sign(str(request.pk))
    return f"{settings.CHARGENET_PUBLIC_URL}{reverse('diagnostics-upload', kwargs={'token': token})}"


def request_for_token(token: str) -> DiagnosticsRequest | None:
    try:
        pk = signing.TimestampSigner(salt=UPLOAD_SALT).unsign(token, max_age=settings.DIAGNOSTICS_UPLOAD_MAX_AGE_S)
    except signing.BadSignature:
        return None
    return DiagnosticsRequest.objects.select_related("station").filter(pk=int(pk)).first()


@transaction.atomic
def _create_request(*, station: ChargingStation, log_type: str, requested_by) -> DiagnosticsRequest:
    return DiagnosticsRequest.objects.create(
        station=station, log_type=log_type, request_id=random.randint(1, 2**31 - 1),
        requested_by=requested_by if getattr(requested_by, "is_authenticated", False) else None,
    )


def request_diagnostics(
    *, station: ChargingStation, log_type: str = DiagnosticsKind.DIAGNOSTICS, requested_by=None,
    oldest_at=None, latest_at=None,
) -> DiagnosticsRequest:
    """Ask the station for its diagnostics / log; the file arrives later at the upload link.
    Raises CommandError for a request the station's version cannot express."""
    from stations.commands.catalog import validate_params
    from stations.commands.service import send_command

    params = {"location": "https://placeholder.invalid/", "log_type": log_type}
    validate_params("get_log", params)  # a bad log type fails before anything is written
    request = _create_request(station=station, log_type=log_type, requested_by=requested_by)
    params = {"location": upload_url(request), "log_type": log_type, "request_id": request.request_id}
    if oldest_at is not None:
        params["oldest_at"] = oldest_at
    if latest_at is not None:
        params["latest_at"] = latest_at
    try:
        result = send_command(station_id=station.station_id, command="get_log", params=params,
                              requested_by=requested_by, source="diagnostics")
    except Exception:
        request.delete()
        raise
    request.outcome = result.outcome
    if result.response and isinstance(result.response.get("filename") or result.response.get("fileName"), str):
        request.file_name = (result.response.get("filename") or result.response.get("fileName"))[:255]
    request.save(update_fields=["outcome", "file_name"])
    return request


@transaction.atomic
def record_status(*, station_pk: int, status: str, request_id: int | None = None) -> None:
    """1.6 DiagnosticsStatusNotification / 2.0.1 LogStatusNotification."""
    now = timezone.now()
    ChargingStation.objects.filter(pk=station_pk).update(diagnostics_status=status[:40], diagnostics_status_at=now)
    requests = DiagnosticsRequest.objects.filter(station_id=station_pk)
    if request_id is not None:
        requests = requests.filter(request_id=request_id)
    else:
        requests = requests.exclude(status__in=FINAL_STATUSES)
    requests.filter(pk__in=requests.order_by("-requested_at").values("pk")[:1]).update(status=status[:40])


def store_upload(*, request: DiagnosticsRequest, file_name: str, content: bytes) -> DiagnosticsRequest:
    """Keep the uploaded file (default storage); one upload per request."""
    if len(content) > settings.DIAGNOSTICS_UPLOAD_MAX_BYTES:
        raise UploadRefused("file too large", 413)
    name = get_valid_filename(file_name or request.file_name or f"{request.log_type}-{request.request_id}.log")
    with transaction.atomic():
        locked = DiagnosticsRequest.objects.select_for_update().get(pk=request.pk)
        if locked.file:
            raise UploadRefused("this request already has its file", 409)
        locked.file.save(f"{locked.station.station_id}-{locked.request_id}-{name}", ContentFile(content), save=False)
        locked.file_name = name[:255]
        locked.size_bytes = len(content)
        locked.uploaded_at = timezone.now()
        locked.save(update_fields=["file", "file_name", "size_bytes", "uploaded_at"])
    return locked
