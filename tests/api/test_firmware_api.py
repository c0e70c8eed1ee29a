"""The REST API for firmware: catalog uploads, campaigns with progress and their controls,
diagnostics requests and downloads; operators write, site owners see only their stations."""

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from stations.firmware.models import DiagnosticsRequest, FirmwareCampaign, FirmwareImage
from stations.models import ChargingStation, Organization, Site
from stations.selectors import OPERATORS_GROUP
from stations.services.registry import register_station
from stations.simulator import sim_firmware
from tests.stations.firmware_fixtures import sign, signing_pair

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def roles(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    acme = Organization.objects.create(name="Acme")
    other = Organization.objects.create(name="Other")
    for org, name in [(acme, "ACME"), (other, "OTHER")]:
        site = Site.objects.create(organization=org, name=f"{name} Yard", time_zone="Europe/Berlin")
        for i in (1, 2):
            register_station(station_id=f"{name}-{i}", password="p" * 20, site=site)
    ChargingStation.objects.update(vendor="ChargeNet", model="Simulator", firmware_version="sim-1.0")
    operator = User.objects.create_user("op")
    operator.groups.add(Group.objects.get_or_create(name=OPERATORS_GROUP)[0])
    owner = User.objects.create_user("owner")
    acme.members.add(owner)
    return {"operator": client_for(operator), "owner": client_for(owner),
            "driver": client_for(User.objects.create_user("alice"))}


def upload(client, version="2.4.1", **extra):
    return client.post("/api/v1/firmware/", {
        "version": version, "vendor": "ChargeNet", "station_models": ["Simulator"],
        "file": SimpleUploadedFile(f"fw-{version}.bin", sim_firmware(version)), **extra,
    }, format="multipart")


def test_operator_uploads_firmware_with_checksum_and_size(roles):
    response = upload(roles["operator"])
    assert response.status_code == 201, response.content
    body = response.json()
    import hashlib

    assert body["sha256"] == hashlib.sha256(sim_firmware("2.4.1")).hexdigest()
    assert body["size_bytes"] == len(sim_firmware("2.4.1")) and body["is_signed"] is False
    assert "file" not in body
    again = upload(roles["operator"])
    assert again.status_code == 400 and "already in the catalog" in again.json()["detail"]
    half_signed = upload(roles["operator"], version="2.4.2", signature="c2ln")
    assert half_signed.status_code == 400 and "both" in half_signed.json()["detail"]


def test_signed_firmware_is_checked_against_its_certificate(roles):
    key, pem = signing_pair()
    good = upload(roles["operator"], version="3.0.0", signing_certificate=pem,
                  signature=sign(key, sim_firmware("3.0.0")))
    assert good.status_code == 201 and good.json()["is_signed"] is True
    other_file = upload(roles["operator"], version="3.0.1", signing_certificate=pem,
                        signature=sign(key, sim_firmware("3.0.0")))
    assert other_file.status_code == 400 and "does not match" in other_file.json()["detail"]
    not_pem = upload(roles["operator"], version="3.0.2", signing_certificate="hello", signature="c2ln")
    assert not_pem.status_code == 400 and "PEM X.509" in not_pem.json()["detail"]
    assert FirmwareImage.objects.count() == 1


def test_only_operators_upload_firmware(roles):
    assert upload(roles["owner"]).status_code == 403
    assert upload(roles["driver"]).status_code == 403
    assert roles["driver"].get("/api/v1/firmware/").json()["count"] == 0


def test_campaign_is_created_listed_with_progress_and_controlled(roles):
    firmware_id = upload(roles["operator"]).json()["id"]
    response = roles["operator"].post("/api/v1/firmware-campaigns/", {
        "name": "2.4.1 at night", "firmware": firmware_id, "models": ["Simulator"], "canary_percent": 25,
        "wave_size": 2, "window_start": "01:00", "window_end": "05:00",
    }, format="json")
    assert response.status_code == 201, response.content
    campaign = response.json()
    assert campaign["status"] == "draft" and campaign["target"]["models"] == ["Simulator"]
    assert campaign["progress"] == {"scheduled": 4, "downloading": 0, "installing": 0, "installed": 0,
                                    "failed": 0, "skipped": 0, "total": 4}
    url = f"/api/v1/firmware-campaigns/{campaign['id']}/"
    assert roles["operator"].post(url + "start/").json()["status"] == "running"
    assert roles["operator"].post(url + "pause/").json()["status"] == "paused"
    assert roles["operator"].post(url + "pause/").status_code == 409
    assert roles["operator"].post(url + "resume/").json()["status"] == "running"
    cancelled = roles["operator"].post(url + "cancel/").json()
    assert cancelled["status"] == "cancelled" and cancelled["progress"]["skipped"] == 4
    assert {m["state"] for m in cancelled["members"]} == {"skipped"}


def test_site_owner_sees_only_their_stations_in_a_campaign_and_cannot_steer_it(roles):
    firmware_id = upload(roles["operator"]).json()["id"]
    campaign = roles["operator"].post("/api/v1/firmware-campaigns/", {
        "name": "all", "firmware": firmware_id, "models": ["Simulator"], "start": True}, format="json").json()
    detail = roles["owner"].get(f"/api/v1/firmware-campaigns/{campaign['id']}/").json()
    assert sorted(m["station"] for m in detail["members"]) == ["ACME-1", "ACME-2"]
    assert roles["owner"].post(f"/api/v1/firmware-campaigns/{campaign['id']}/pause/").status_code == 403
    forbidden = roles["owner"].post("/api/v1/firmware-campaigns/",
                                    {"name": "x", "firmware": firmware_id, "models": ["Simulator"]}, format="json")
    assert forbidden.status_code == 403
    assert roles["driver"].get("/api/v1/firmware-campaigns/").json()["count"] == 0


def test_bad_campaigns_are_refused_with_a_reason_and_nothing_written(roles):
    firmware_id = upload(roles["operator"]).json()["id"]
    cases = [
        ({"firmware": firmware_id}, "choose the targets"),
        ({"firmware": firmware_id, "stations": ["NOPE"]}, "unknown stations: NOPE"),
        ({"firmware": firmware_id, "models": ["Other"]}, "no station matches"),
        ({"firmware": firmware_id, "models": ["Simulator"], "window_start": "01:00"}, "both a start and an end"),
    ]
    for body, message in cases:
        response = roles["operator"].post("/api/v1/firmware-campaigns/", {"name": "bad", **body}, format="json")
        assert response.status_code == 400 and message in response.json()["detail"], response.content
    assert not FirmwareCampaign.objects.exists()


def test_diagnostics_request_for_an_offline_station_is_409_and_files_download_by_scope(roles):
    response = roles["operator"].post("/api/v1/diagnostics/", {"station": "ACME-1"}, format="json")
    assert response.status_code == 409 and response.json()["outcome"] == "offline"
    assert roles["owner"].post("/api/v1/diagnostics/", {"station": "ACME-1"}, format="json").status_code == 403

    uploaded = DiagnosticsRequest.objects.create(station=ChargingStation.objects.get(station_id="ACME-2"),
                                                 request_id=3, file_name="d.log")
    uploaded.file.save("d.log", ContentFile(b"diag"), save=True)
    hidden = DiagnosticsRequest.objects.create(station=ChargingStation.objects.get(station_id="OTHER-1"),
                                               request_id=4)
    file_response = roles["owner"].get(f"/api/v1/diagnostics/{uploaded.pk}/file/")
    assert file_response.status_code == 200 and b"".join(file_response.streaming_content) == b"diag"
    assert roles["owner"].get(f"/api/v1/diagnostics/{hidden.pk}/file/").status_code == 404
    listed = {d["station"] for d in roles["owner"].get("/api/v1/diagnostics/").json()["results"]}
    assert listed == {"ACME-1", "ACME-2"}  # the offline request was kept, with its outcome


def test_firmware_endpoints_are_in_the_openapi_schema():
    import io
    import json

    from django.core.management import call_command

    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    paths = set(json.loads(out.getvalue())["paths"])
    assert {"/api/v1/firmware/", "/api/v1/firmware-campaigns/{id}/", "/api/v1/firmware-campaigns/{id}/pause/",
            "/api/v1/firmware-campaigns/{id}/resume/", "/api/v1/firmware-campaigns/{id}/cancel/",
            "/api/v1/diagnostics/", "/api/v1/diagnostics/{id}/file/"} <= paths
