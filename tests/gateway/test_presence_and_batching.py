"""Presence leases and batched meter values: the machinery behind thousands of stations."""

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from stations.models import ChargingSession, ChargingStation, MeterSample
from gateway import batcher as batcher_module
from gateway.presence import renew_leases
from stations.services import meter_batch
from tests.conftest import PASSWORD, adb, ocpp_connection

pytestmark = pytest.mark.django_db(transaction=True)


def test_lease_renewal_refreshes_own_stations_and_expires_orphans(make_station):
    mine = make_station("MINE-1")
    ghost = make_station("GHOST-1")
    long_ago = timezone.now() - timedelta(minutes=10)
    ChargingStation.objects.filter(pk__in=[mine.pk, ghost.pk]).update(is_online=True, last_seen=long_ago)
    expired = renew_leases(station_pks=[mine.pk], expire_before=timezone.now() - timedelta(seconds=90))
    assert expired == 1
    mine.refresh_from_db()
    ghost.refresh_from_db()
    assert mine.is_online and mine.last_seen > long_ago
    assert not ghost.is_online


async def test_a_running_server_expires_a_station_no_process_holds(make_station, settings):
    """A crashed process left GHOST-1 'online'; the live process renews its own and expires it."""
    settings.OCPP_LAST_SEEN_WRITE_INTERVAL = 0.2
    await adb(make_station)("CP-1")
    ghost = await adb(make_station)("GHOST-1")
    await ChargingStation.objects.filter(pk=ghost.pk).aupdate(
        is_online=True, last_seen=timezone.now() - timedelta(minutes=5)
    )
    from gateway import presence as presence_module

    presence_module.presence.reset()
    async with ocpp_connection("CP-1", PASSWORD) as (connected, client):
        assert connected
        connected_at = (await ChargingStation.objects.aget(station_id="CP-1")).last_seen
        await asyncio.sleep(1.0)
        cp1 = await ChargingStation.objects.aget(station_id="CP-1")
        assert cp1.is_online and cp1.last_seen > connected_at
    assert not (await ChargingStation.objects.aget(pk=ghost.pk)).is_online
    presence_module.presence.reset()


async def test_meter_values_of_many_stations_share_batches_and_count_right(make_station, make_token, ocpp):
    stations = [await adb(make_station)(f"CP-{n}") for n in range(1, 9)]
    await adb(make_token)("TOKEN-1")
    written = []
    original = meter_batch.write_batch

    def spy(writes):
        written.append(len(writes))
        return original(writes)

    batcher_module.reset()
    meter_batch_write = batcher_module.write_batch
    batcher_module.write_batch = spy
    try:
        async def charge(station):
            async with ocpp(station.station_id) as cp:
                start = await cp.result("StartTransaction", {
                    "connectorId": 1, "idTag": "TOKEN-1", "meterStart": 1000, "timestamp": "2026-11-27T10:00:00Z",
                })
                tx = start["transactionId"]
                for minute in range(1, 6):
                    await cp.result("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [{
                        "timestamp": f"2026-11-27T10:0{minute}:00Z",
                        "sampledValue": [{"value": str(1000 + minute * 200)}],
                    }]})
                return tx

        txs = await asyncio.gather(*(charge(s) for s in stations))
    finally:
        batcher_module.write_batch = meter_batch_write
        batcher_module.reset()
    assert sum(written) == 8 * 5 and max(written) > 1, written  # frames of different stations shared batches
    for station, tx in zip(stations, txs, strict=True):
        session = await ChargingSession.objects.aget(station=station, transaction_id=str(tx))
        assert session.energy_wh == 1000 and session.meter_last_wh == 2000
        assert await MeterSample.objects.filter(session=session).acount() == 5


async def test_a_failing_batch_falls_back_to_per_frame_writes(make_station, make_token, ocpp, monkeypatch):
    await adb(make_station)("CP-1")
    await adb(make_token)("TOKEN-1")

    def broken(writes):
        raise RuntimeError("database hiccup")

    batcher_module.reset()
    monkeypatch.setattr(batcher_module, "write_batch", broken)
    async with ocpp("CP-1") as cp:
        tx = (await cp.result("StartTransaction", {
            "connectorId": 1, "idTag": "TOKEN-1", "meterStart": 0, "timestamp": "2026-11-27T10:00:00Z",
        }))["transactionId"]
        await cp.result("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [{
            "timestamp": "2026-11-27T10:05:00Z", "sampledValue": [{"value": "750"}],
        }]})
    batcher_module.reset()
    session = await ChargingSession.objects.aget(transaction_id=str(tx))
    assert session.energy_wh == 750


async def test_meter_values_for_an_unknown_transaction_still_get_stored(make_station, ocpp):
    station = await adb(make_station)("CP-1")
    async with ocpp("CP-1") as cp:
        answer = await cp.result("MeterValues", {"connectorId": 1, "transactionId": 999, "meterValue": [{
            "timestamp": "2026-11-27T10:05:00Z", "sampledValue": [{"value": "750"}],
        }]})
    assert answer == {}
    assert await MeterSample.objects.filter(station=station, session__isnull=True).acount() == 1


async def test_status_notifications_of_many_stations_share_batches_and_an_older_report_only_joins_history(
    make_station, ocpp, monkeypatch
):
    from stations.models import Connector, ConnectorStatusChange
    from stations.services import status as status_service

    stations = [await adb(make_station)(f"CP-{n}") for n in range(1, 9)]
    batches = []
    original = status_service.record_statuses

    def spy(reports):
        batches.append(len(reports))
        return original(reports)

    batcher_module.reset()
    monkeypatch.setattr(batcher_module, "record_statuses", spy)

    async def report(station, version):
        async with ocpp(station.station_id, version=version) as cp:
            for status, at in (("Available", "10:00"), ("Occupied", "10:05"), ("Faulted", "09:00")):
                if version == "1.6":
                    payload = {"connectorId": 2, "errorCode": "NoError", "status": status if status != "Occupied"
                               else "Preparing", "timestamp": f"2026-11-27T{at}:00Z"}
                else:
                    payload = {"timestamp": f"2026-11-27T{at}:00Z", "connectorStatus": status, "evseId": 2,
                               "connectorId": 1}
                assert await cp.result("StatusNotification", payload) == {}

    await asyncio.gather(*(report(s, "1.6" if n % 2 else "2.0.1") for n, s in enumerate(stations)))
    batcher_module.reset()
    assert sum(batches) == 8 * 3 and max(batches) > 1, batches
    for station in stations:
        connector = await Connector.objects.aget(evse__station=station, evse__evse_id=2, connector_id=1)
        assert connector.status in ("Occupied", "Preparing")  # the 09:00 Faulted came late: history only
        history = [c.status async for c in ConnectorStatusChange.objects.filter(connector=connector)]
        assert len(history) == 3 and "Faulted" in history


async def test_a_failing_status_batch_falls_back_to_per_frame_writes(make_station, ocpp, monkeypatch):
    from stations.models import Connector

    station = await adb(make_station)("CP-1")

    def broken(reports):
        raise RuntimeError("database hiccup")

    batcher_module.reset()
    monkeypatch.setattr(batcher_module, "record_statuses", broken)
    async with ocpp("CP-1") as cp:
        await cp.result("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging",
                                               "timestamp": "2026-11-27T10:00:00Z"})
    batcher_module.reset()
    assert (await Connector.objects.aget(evse__station=station, evse__evse_id=1)).status == "Charging"


async def test_boots_of_many_stations_share_a_batch_and_each_gets_its_registration_status(
    make_station, ocpp, monkeypatch
):
    from stations.services import boot as boot_service

    accepted = [await adb(make_station)(f"CP-{n}") for n in range(1, 6)]
    pending = await adb(make_station)("CP-PENDING")
    await ChargingStation.objects.filter(pk=pending.pk).aupdate(registration_status="Pending")
    batches = []
    original = boot_service.record_boots

    def spy(reports):
        batches.append(len(reports))
        return original(reports)

    batcher_module.reset()
    monkeypatch.setattr(batcher_module, "record_boots", spy)

    async def boot(station):
        async with ocpp(station.station_id) as cp:
            return (await cp.result("BootNotification", {
                "chargePointVendor": "Acme", "chargePointModel": f"M-{station.station_id}",
                "firmwareVersion": "1.2.3",
            }))["status"]

    answers = await asyncio.gather(*(boot(s) for s in [*accepted, pending]))
    batcher_module.reset()
    assert answers == ["Accepted"] * 5 + ["Pending"]
    assert sum(batches) == 6 and max(batches) > 1, batches
    for station in [*accepted, pending]:
        stored = await ChargingStation.objects.aget(pk=station.pk)
        assert stored.model == f"M-{station.station_id}" and stored.firmware_version == "1.2.3"
        assert stored.last_boot_at is not None
