"""Operators run firmware from the admin: catalog upload, campaigns with a progress bar and
per-station state, pause/resume/cancel, one-click diagnostics and the uploaded files."""

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from stations.firmware.models import DiagnosticsRequest, FirmwareCampaign, FirmwareImage
from stations.models import ChargingStation, Site
from stations.services.registry import register_station
from stations.simulator import sim_firmware

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    site = Site.objects.create(name="Depot", time_zone="Europe/Berlin")
    for n in (1, 2, 3):
        register_station(station_id=f"AD-{n}", password="p" * 20, site=site)
    ChargingStation.objects.update(vendor="ChargeNet", model="Simulator", firmware_version="sim-1.0")
    client = Client()
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "x"))
    return client


def add_firmware_through_admin(client, version="2.4.1"):
    return client.post("/admin/stations/firmwareimage/add/", {
        "version": version, "vendor": "ChargeNet", "station_models_text": "Simulator",
        "file": SimpleUploadedFile("fw.bin", sim_firmware(version)), "signing_certificate": "", "signature": "",
        "notes": "",
    })


def test_operator_uploads_firmware_and_runs_a_campaign_from_the_admin(ops):
    assert add_firmware_through_admin(ops).status_code == 302
    image = FirmwareImage.objects.get()
    assert image.station_models == ["Simulator"] and image.size_bytes == len(sim_firmware("2.4.1"))
    duplicate = add_firmware_through_admin(ops)
    assert duplicate.status_code == 200 and "already in the catalog" in duplicate.content.decode()

    response = ops.post("/admin/stations/firmwarecampaign/add/", {
        "name": "night", "firmware": image.pk, "station_models": "Simulator", "current_versions": "", "stations": "",
        "canary_percent": 33, "wave_size": 2, "window_start": "01:00", "window_end": "05:00", "max_concurrent": 5,
        "failure_threshold_percent": 10, "max_attempts": 3, "retry_backoff_s": 300, "station_timeout_s": 3600,
        "start_now": "on",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    campaign = FirmwareCampaign.objects.get()
    assert campaign.status == "running" and campaign.members.count() == 3
    assert sorted(campaign.members.values_list("wave", flat=True)) == [0, 1, 1]

    listing = ops.get("/admin/stations/firmwarecampaign/").content.decode()
    assert "scheduled 3 · downloading 0 · installing 0 · installed 0 · failed 0 · skipped 0" in listing
    assert 'title="scheduled: 3" style="width:100.0%' in listing
    detail = ops.get(f"/admin/stations/firmwarecampaign/{campaign.pk}/change/").content.decode()
    assert "AD-1" in detail and "AD-3" in detail

    ops.post("/admin/stations/firmwarecampaign/", {"action": "pause_campaigns", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    ops.post("/admin/stations/firmwarecampaign/", {"action": "cancel_campaigns", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert campaign.status == "cancelled" and set(campaign.members.values_list("state", flat=True)) == {"skipped"}


def test_campaign_form_refuses_targets_that_match_nothing(ops):
    add_firmware_through_admin(ops)
    response = ops.post("/admin/stations/firmwarecampaign/add/", {
        "name": "none", "firmware": FirmwareImage.objects.get().pk, "stations": "NOPE-1", "canary_percent": 5,
        "wave_size": 50, "max_concurrent": 5, "failure_threshold_percent": 10, "max_attempts": 3,
        "retry_backoff_s": 300, "station_timeout_s": 3600,
    })
    assert response.status_code == 200 and "unknown stations: NOPE-1" in response.content.decode()
    assert not FirmwareCampaign.objects.exists()


def test_one_click_diagnostics_and_file_download(ops):
    station = ChargingStation.objects.get(station_id="AD-1")
    page = ops.post("/admin/stations/chargingstation/", {"action": "request_diagnostics",
                                                         "_selected_action": [station.pk]}, follow=True)
    assert "AD-1: diagnostics offline" in page.content.decode()
    request = DiagnosticsRequest.objects.get(station=station)
    assert request.outcome == "offline"

    request.file.save("x.log", ContentFile(b"lines"), save=False)
    request.file_name = "x.log"
    request.save()
    listing = ops.get("/admin/stations/diagnosticsrequest/").content.decode()
    assert f"/admin/stations/diagnosticsrequest/{request.pk}/download/" in listing
    download = ops.get(f"/admin/stations/diagnosticsrequest/{request.pk}/download/")
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"lines"
