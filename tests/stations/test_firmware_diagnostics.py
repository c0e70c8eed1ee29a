"""Diagnostics (1.6 GetDiagnostics) and logs (2.0.1 GetLog): the request over real frames,
the station's status reports, the upload link and the stored file."""

import asyncio

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from stations.firmware import diagnostics
from stations.firmware.models import DiagnosticsRequest
from stations.models import ChargingStation
from tests.conftest import adb
from tests.stations.asgi_transport import asgi_http

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


async def requested(client, action: str, answer: dict, **kwargs) -> tuple[DiagnosticsRequest, dict]:
    station = await ChargingStation.objects.aget(station_id="CP-1")
    asking = asyncio.create_task(adb(diagnostics.request_diagnostics)(station=station, **kwargs))
    payload = await client.expect_call(action, answer=answer)
    return await asyncio.wait_for(asking, 30), payload


async def test_16_diagnostics_are_requested_uploaded_and_stored(make_station, ocpp, settings):
    await adb(make_station)("CP-1")
    async with ocpp("CP-1", version="1.6") as client:
        request, payload = await requested(client, "GetDiagnostics", {"fileName": "cp1-diag.tar.gz"})
        assert request.outcome == "accepted" and request.file_name == "cp1-diag.tar.gz"
        assert payload["location"].startswith(f"{settings.CHARGENET_PUBLIC_URL}/diagnostics/upload/")

        await client.result("DiagnosticsStatusNotification", {"status": "Uploading"})
        status, _ = await asgi_http("PUT", payload["location"] + "cp1-diag.tar.gz", b"log line 1\nlog line 2\n")
        assert status == 201
        await client.result("DiagnosticsStatusNotification", {"status": "Uploaded"})

    request = await DiagnosticsRequest.objects.aget(pk=request.pk)
    assert request.status == "Uploaded" and request.size_bytes == 22
    assert await adb(lambda: request.file.open("rb").read())() == b"log line 1\nlog line 2\n"
    assert (await ChargingStation.objects.aget(station_id="CP-1")).diagnostics_status == "Uploaded"
    # One file per request; a second upload is refused and the first kept.
    assert (await asgi_http("PUT", payload["location"] + "again.txt", b"other"))[0] == 409
    assert request.file_name == "cp1-diag.tar.gz"


async def test_201_get_log_reports_by_request_id(make_station, ocpp):
    await adb(make_station)("CP-1")
    async with ocpp("CP-1", version="2.0.1") as client:
        request, payload = await requested(client, "GetLog", {"status": "Accepted", "filename": "security.log"},
                                           log_type="SecurityLog")
        assert payload["logType"] == "SecurityLog" and payload["requestId"] == request.request_id
        await client.result("LogStatusNotification", {"status": "Uploading", "requestId": request.request_id})
        await client.result("LogStatusNotification", {"status": "UploadFailure", "requestId": request.request_id})
    assert (await DiagnosticsRequest.objects.aget(pk=request.pk)).status == "UploadFailure"


async def test_station_refusing_the_request_is_recorded(make_station, ocpp):
    await adb(make_station)("CP-1")
    async with ocpp("CP-1", version="2.0.1") as client:
        request, _ = await requested(client, "GetLog", {"status": "Rejected"})
    assert request.outcome == "rejected"


def test_upload_link_is_per_request_and_expires(make_station, settings):
    station = make_station("CP-1")
    request = DiagnosticsRequest.objects.create(station=station, request_id=5)
    url = diagnostics.upload_url(request)
    path = url.removeprefix(settings.CHARGENET_PUBLIC_URL)
    http = Client()
    assert http.get(path).status_code == 405
    assert http.put(path.replace("/upload/", "/upload/9"), b"x").status_code == 403
    assert http.put(path, b"").status_code == 400
    settings.DIAGNOSTICS_UPLOAD_MAX_BYTES = 3
    assert http.put(path, b"toolarge").status_code == 413
    settings.DIAGNOSTICS_UPLOAD_MAX_BYTES = 1000
    settings.DIAGNOSTICS_UPLOAD_MAX_AGE_S = -1
    assert http.put(path, b"late").status_code == 403
    settings.DIAGNOSTICS_UPLOAD_MAX_AGE_S = 3600
    # Multipart POST works too.
    response = http.post(path, {"file": SimpleUploadedFile("diag.zip", b"PK\x03\x04zip")})
    assert response.status_code == 201, response.content
    request.refresh_from_db()
    assert request.file_name == "diag.zip" and request.file.read() == b"PK\x03\x04zip"
