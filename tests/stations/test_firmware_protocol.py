"""Firmware updates over real OCPP frames: the UpdateFirmware a campaign sends, the station's
FirmwareStatusNotifications, the BootNotification that confirms (or fails) the update,
retries with backoff, and stations that go silent."""

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from stations import tasks
from stations.commands.catalog import CommandError, get_log, update_firmware, validate_params
from stations.firmware import rollout
from stations.firmware.models import CampaignStation, CampaignStatus, FirmwareCampaign, MemberState
from stations.models import ChargingStation
from stations.simulator import sim_firmware
from tests.conftest import adb
from tests.stations.asgi_transport import asgi_http
from tests.stations.firmware_fixtures import make_firmware, sign, signing_pair

pytestmark = pytest.mark.django_db(transaction=True)

KEY, PEM = signing_pair()
BOOT16 = {"chargePointVendor": "ChargeNet", "chargePointModel": "Simulator", "firmwareVersion": "sim-1.0"}


def boot201(version: str) -> dict:
    return {"reason": "FirmwareUpdate", "chargingStation": {"vendorName": "ChargeNet", "model": "Simulator",
                                                            "firmwareVersion": version}}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


async def member_of(campaign) -> CampaignStation:
    return await CampaignStation.objects.aget(campaign=campaign)


async def tick_and_expect(client, campaign, action="UpdateFirmware", answer=None) -> dict:
    """Run the campaign's tick (Celery task, eager) while the station answers its CALL."""
    ticking = asyncio.create_task(adb(tasks.advance_firmware_campaign)(campaign.pk))
    payload = await client.expect_call(action, answer=answer if answer is not None else {})
    await asyncio.wait_for(ticking, 30)
    return payload


async def test_16_update_goes_through_download_install_and_is_confirmed_by_the_boot(make_station, ocpp, settings):
    await adb(make_station)("CP-1")
    firmware = await adb(make_firmware)("2.4.1")
    async with ocpp("CP-1", version="1.6") as client:
        await client.result("BootNotification", BOOT16)
        campaign = await adb(rollout.create_campaign)(name="c", firmware=firmware, stations=["CP-1"], start=True)

        payload = await tick_and_expect(client, campaign)
        assert payload["location"].startswith(f"{settings.CHARGENET_PUBLIC_URL}/firmware/download/")
        assert "retrieveDate" in payload
        assert (await member_of(campaign)).state == MemberState.DOWNLOADING

        # The link serves the very file, with its checksum.
        status, body = await asgi_http("GET", payload["location"])
        assert status == 200 and body == sim_firmware("2.4.1") and len(body) == firmware.size_bytes

        for status_name, state in [("Downloading", "downloading"), ("Downloaded", "downloading"),
                                   ("Installing", "installing"), ("Installed", "installing")]:
            assert await client.result("FirmwareStatusNotification", {"status": status_name}) == {}
            member = await member_of(campaign)
            assert (member.state, member.station_status) == (state, status_name)
        station = await ChargingStation.objects.aget(station_id="CP-1")
        assert station.firmware_status == "Installed"

        await client.result("BootNotification", {**BOOT16, "firmwareVersion": "2.4.1"})
        member = await member_of(campaign)
        assert member.state == MemberState.INSTALLED and member.reported_version == "2.4.1"
        await adb(tasks.advance_firmware_campaign)(campaign.pk)
        assert (await FirmwareCampaign.objects.aget(pk=campaign.pk)).status == CampaignStatus.COMPLETED


async def test_download_link_refuses_a_forged_or_expired_token(make_station, settings):
    firmware = await adb(make_firmware)("2.4.1")
    from stations.firmware.catalog import download_url

    url = await adb(download_url)(firmware)
    assert (await asgi_http("GET", url))[0] == 200
    assert (await asgi_http("GET", url.replace("/download/", "/download/x")))[0] == 403
    settings.FIRMWARE_URL_MAX_AGE_S = -1
    assert (await asgi_http("GET", url))[0] == 403


async def test_201_signed_update_wrong_version_is_retried_with_backoff_then_fails_and_halts(make_station, ocpp):
    await adb(make_station)("CP-2")
    signature = sign(KEY, sim_firmware("3.0.0"))
    firmware = await adb(make_firmware)("3.0.0", signing_certificate=PEM, signature=signature)
    async with ocpp("CP-2", version="2.0.1") as client:
        await client.result("BootNotification", boot201("sim-1.0"))
        campaign = await adb(rollout.create_campaign)(
            name="signed", firmware=firmware, stations=["CP-2"], max_attempts=2, retry_backoff_s=600, start=True
        )
        payload = await tick_and_expect(client, campaign, answer={"status": "Accepted"})
        member = await member_of(campaign)
        assert payload["requestId"] == member.request_id
        assert payload["firmware"]["signingCertificate"] == PEM
        assert payload["firmware"]["signature"] == signature

        # A report about some other request does not move this update.
        await client.result("FirmwareStatusNotification", {"status": "Installing", "requestId": member.request_id + 1})
        assert (await member_of(campaign)).state == MemberState.DOWNLOADING
        for status_name in ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting"]:
            await client.result("FirmwareStatusNotification", {"status": status_name, "requestId": member.request_id})
        assert (await member_of(campaign)).state == MemberState.INSTALLING

        # It comes back with the old version: this attempt failed; the next waits for the backoff.
        await client.result("BootNotification", boot201("sim-1.0"))
        member = await member_of(campaign)
        assert member.state == MemberState.SCHEDULED and member.attempts == 1
        assert "booted with sim-1.0, expected 3.0.0" in member.error
        assert member.next_attempt_at - member.progress_at == timedelta(seconds=600)
        assert await adb(tasks.advance_firmware_campaign)(campaign.pk) == []  # not before the backoff

        # Time passes; the second attempt is refused by the station: out of attempts, the wave fails.
        past = timezone.now() - timedelta(seconds=1)
        await CampaignStation.objects.filter(pk=member.pk).aupdate(next_attempt_at=past)
        await tick_and_expect(client, campaign, answer={"status": "InvalidCertificate"})
        member = await member_of(campaign)
        assert member.state == MemberState.FAILED and member.attempts == 2
        await adb(tasks.advance_firmware_campaign)(campaign.pk)
        campaign = await FirmwareCampaign.objects.aget(pk=campaign.pk)
        assert campaign.status == CampaignStatus.HALTED and "1 of 1" in campaign.halted_reason


async def test_201_failure_statuses_fail_the_attempt(make_station, ocpp):
    await adb(make_station)("CP-3")
    firmware = await adb(make_firmware)("3.0.0")
    async with ocpp("CP-3", version="2.0.1") as client:
        await client.result("BootNotification", boot201("sim-1.0"))
        campaign = await adb(rollout.create_campaign)(name="c", firmware=firmware, stations=["CP-3"],
                                                      max_attempts=1, start=True)
        await tick_and_expect(client, campaign, answer={"status": "Accepted"})
        member = await member_of(campaign)
        await client.result("FirmwareStatusNotification",
                            {"status": "InvalidSignature", "requestId": member.request_id})
        member = await member_of(campaign)
        assert member.state == MemberState.FAILED and member.error == "station reported InvalidSignature"


async def test_silent_station_times_out(make_station, ocpp):
    await adb(make_station)("CP-4")
    firmware = await adb(make_firmware)("2.4.1")
    async with ocpp("CP-4", version="1.6") as client:
        await client.result("BootNotification", BOOT16)
        campaign = await adb(rollout.create_campaign)(name="c", firmware=firmware, stations=["CP-4"],
                                                      max_attempts=1, station_timeout_s=900, start=True)
        await tick_and_expect(client, campaign)
        # Nothing more from the station. Within the timeout it stays in flight ...
        later = timezone.now() + timedelta(seconds=600)
        await adb(rollout.advance_campaign)(campaign_id=campaign.pk, now=later)
        assert (await member_of(campaign)).state == MemberState.DOWNLOADING
        # ... after it, the attempt has failed, and so has the (one-station) wave.
        much_later = timezone.now() + timedelta(seconds=901)
        await adb(rollout.advance_campaign)(campaign_id=campaign.pk, now=much_later)
        member = await member_of(campaign)
        assert member.state == MemberState.FAILED and "no report from the station for 900 s" in member.error
        assert (await FirmwareCampaign.objects.aget(pk=campaign.pk)).status == CampaignStatus.HALTED


async def test_offline_station_waits_and_is_not_sent_anything(make_station):
    await adb(make_station)("CP-5")
    await ChargingStation.objects.filter(station_id="CP-5").aupdate(vendor="ChargeNet", model="Simulator",
                                                                    firmware_version="sim-1.0")
    firmware = await adb(make_firmware)("2.4.1")
    campaign = await adb(rollout.create_campaign)(name="c", firmware=firmware, stations=["CP-5"], start=True)
    assert await adb(tasks.advance_firmware_campaign)(campaign.pk) == []
    member = await member_of(campaign)
    assert member.state == MemberState.SCHEDULED and member.waiting_reason == "station offline"
    assert member.attempts == 0


def test_update_firmware_command_per_version():
    params = validate_params("update_firmware", {"location": "https://fw.example/a.bin", "request_id": 7,
                                                 "signing_certificate": PEM, "signature": "c2ln", "retries": 2})
    action, payload = update_firmware(params, "2.0.1")
    assert action == "UpdateFirmware" and payload["requestId"] == 7 and payload["retries"] == 2
    assert payload["firmware"]["signingCertificate"] == PEM and payload["firmware"]["location"].endswith("a.bin")
    with pytest.raises(CommandError, match="1.6 UpdateFirmware has no signature"):
        update_firmware(params, "1.6")
    action, payload = update_firmware(validate_params("update_firmware", {"location": "https://fw.example/a"}), "1.6")
    assert action == "UpdateFirmware" and set(payload) == {"location", "retrieveDate"}


def test_get_log_command_per_version():
    params = validate_params("get_log", {"location": "https://up.example/x/", "request_id": 9})
    assert get_log(params, "2.0.1") == ("GetLog", {"logType": "DiagnosticsLog", "requestId": 9,
                                                   "log": {"remoteLocation": "https://up.example/x/"}})
    assert get_log(params, "1.6") == ("GetDiagnostics", {"location": "https://up.example/x/"})
    security = validate_params("get_diagnostics", {"location": "https://up.example/x/", "log_type": "SecurityLog"})
    with pytest.raises(CommandError, match="only the diagnostics log"):
        get_log(security, "1.6")
