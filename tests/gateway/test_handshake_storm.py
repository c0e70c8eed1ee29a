"""Handshakes under a reconnect storm: cached credentials, batched presence, admission."""

import asyncio
import time

import pytest

from gateway import admission as admission_module
from gateway import presence as presence_module
from gateway import station_cache
from stations.models import ChargingStation
from stations.services.registry import register_station
from tests.conftest import PASSWORD, adb, ocpp_connection

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "a-new-password-9876543210"


def _count_calls(monkeypatch, module, name):
    calls = []
    original = getattr(module, name)

    def counting(**kwargs):
        calls.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


async def _storm(station_ids, password=PASSWORD):
    """Open all connections at once; return whether each handshake succeeded."""
    opened = []

    async def one(station_id):
        context = ocpp_connection(station_id, password)
        connected, client = await context.__aenter__()
        opened.append(context)
        return connected

    try:
        return await asyncio.gather(*(one(station_id) for station_id in station_ids))
    finally:
        for context in opened:
            await context.__aexit__(None, None, None)


async def test_a_storm_reads_credentials_and_writes_presence_in_a_few_batches(make_station, monkeypatch):
    ids = [f"STORM-{n}" for n in range(40)]
    for station_id in ids:
        await adb(make_station)(station_id)
    lookups = _count_calls(monkeypatch, station_cache, "stations_for_handshakes")
    writes = _count_calls(monkeypatch, presence_module, "mark_connected_many")
    leaves = _count_calls(monkeypatch, presence_module, "mark_disconnected_many")

    opened = []
    try:
        for station_id in ids:
            context = ocpp_connection(station_id, PASSWORD)
            opened.append(context)
        results = await asyncio.gather(*(context.__aenter__() for context in opened))
        assert all(connected for connected, _ in results)
        assert await ChargingStation.objects.filter(station_id__in=ids, is_online=True).acount() == 40
    finally:
        await asyncio.gather(*(context.__aexit__(None, None, None) for context in opened))

    assert await ChargingStation.objects.filter(station_id__in=ids, is_online=True).acount() == 0
    assert sum(len(call["connections"]) for call in leaves) == 40
    assert len(leaves) < 10, "the disconnects of one moment share a transaction"
    assert sum(len(call["station_ids"]) for call in lookups) == 40
    assert len(lookups) < 10, "lookups of one moment share a query"
    assert sum(len(call["connections"]) for call in writes) == 40
    assert len(writes) < 10, "connected rows of one moment share an UPDATE"

    # Reconnecting within the cache's lifetime reads no credentials at all.
    lookups.clear()
    assert all(await _storm(ids[:10]))
    assert lookups == []


async def test_a_changed_password_counts_at_once(make_station):
    await adb(make_station)("CP-1")
    async with ocpp_connection("CP-1", PASSWORD) as (connected, _):
        assert connected  # the station is now cached
    await adb(register_station)(station_id="CP-1", password=NEW_PASSWORD)
    async with ocpp_connection("CP-1", PASSWORD) as (connected, _):
        assert not connected
    async with ocpp_connection("CP-1", NEW_PASSWORD) as (connected, _):
        assert connected


async def test_a_password_changed_by_another_process_is_accepted_at_once(make_station):
    """An UPDATE that sends no signal (another process, a bulk update) leaves the cache
    stale; a refusal is decided only on a freshly read row, so the new password works."""
    await adb(make_station)("CP-1")
    async with ocpp_connection("CP-1", PASSWORD) as (connected, _):
        assert connected
    from stations import credentials

    new_hash = credentials.hash_password(NEW_PASSWORD)
    await ChargingStation.objects.filter(station_id="CP-1").aupdate(password_hash=new_hash)
    async with ocpp_connection("CP-1", NEW_PASSWORD) as (connected, _):
        assert connected


async def test_a_raised_security_profile_counts_at_once(make_station):
    station = await adb(make_station)("CP-1")
    async with ocpp_connection("CP-1", PASSWORD) as (connected, _):
        assert connected
    station.security_profile = 2
    await adb(station.save)()
    async with ocpp_connection("CP-1", PASSWORD) as (connected, _):
        assert not connected  # profile 2 needs TLS


async def test_overload_delays_a_handshake_instead_of_refusing_it(make_station, settings):
    settings.OCPP_HANDSHAKE_CONCURRENCY = 1
    settings.OCPP_HANDSHAKE_WAIT = 5
    await adb(make_station)("CP-1")
    gate = admission_module.admission()
    async with gate.slot():  # the process is busy with another handshake
        attempt = asyncio.ensure_future(_storm(["CP-1"]))
        await asyncio.sleep(0.3)
        assert not attempt.done() and gate.waiting == 1
    assert await attempt == [True]


async def test_a_handshake_that_cannot_be_served_in_time_is_refused_cleanly(make_station, settings):
    settings.OCPP_HANDSHAKE_CONCURRENCY = 1
    settings.OCPP_HANDSHAKE_WAIT = 0.3
    await adb(make_station)("CP-1")
    gate = admission_module.admission()
    async with gate.slot():
        started = time.monotonic()
        async with ocpp_connection("CP-1", PASSWORD) as (connected, _):
            assert not connected
        assert time.monotonic() - started < 2
    assert gate.refused == 1
    station = await ChargingStation.objects.aget(station_id="CP-1")
    assert not station.is_online


async def test_only_a_station_held_elsewhere_is_told_to_step_aside(make_station, monkeypatch):
    """After a clean restart nobody holds the stations: their handshakes skip the
    "replaced" notice (a channel-layer round trip each); a takeover still sends it."""
    from channels.layers import get_channel_layer

    await adb(make_station)("CP-1")
    layer = get_channel_layer()
    notices = []
    original = layer.group_send

    async def counting(group, message):
        if message["type"] == "station.replaced":
            notices.append(group)
        return await original(group, message)

    monkeypatch.setattr(layer, "group_send", counting)
    async with ocpp_connection("CP-1", PASSWORD) as (connected, first):
        assert connected and notices == []
        async with ocpp_connection("CP-1", PASSWORD) as (connected, _):
            assert connected and len(notices) == 1
            assert (await first.communicator.receive_output(timeout=2))["code"] == 4000
