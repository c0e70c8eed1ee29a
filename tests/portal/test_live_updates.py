"""The live WebSocket: fed by the same services that handle OCPP, each user hears only
what they may see."""

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from stations.models import ChargingSession
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def open_live(path: str, user=None, origin: bytes = b"http://testserver"):
    from chargenet.asgi import application

    headers = [(b"origin", origin)]
    if user is not None:
        headers.append((b"cookie", await adb(session_cookie)(user)))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def test_site_owner_dashboard_hears_own_stations_status_and_not_others(network, ocpp):
    watcher, connected, _ = await open_live("/ws/dashboard/", network.owner_a)
    assert connected
    try:
        async with ocpp("CP-B") as station_b:
            await station_b.result("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                          "status": "Faulted"})
        async with ocpp("CP-A") as station_a:
            await station_a.result("StatusNotification", {"connectorId": 1, "errorCode": "GroundFailure",
                                                          "status": "Faulted"})
            events = []
            while not any(e.get("kind") == "connector" for e in events):
                events.append(await watcher.receive_json_from(timeout=10))
        assert all(e.get("station") == "CP-A" for e in events), events
        connector = next(e for e in events if e["kind"] == "connector")
        assert connector == {"kind": "connector", "station": "CP-A", "evse": 1, "connector": 1,
                             "status": "Faulted", "error_code": "GroundFailure"}
        assert {"kind": "presence", "station": "CP-A", "online": True} in events
    finally:
        await watcher.disconnect()


async def test_driver_watches_own_session_energy_rise(network, ocpp):
    async with ocpp("CP-A") as station:
        started = await station.result("StartTransaction", {"connectorId": 1, "idTag": "TOKEN-A", "meterStart": 1000,
                                                            "timestamp": "2026-11-27T10:00:00Z"})
        session = await ChargingSession.objects.aget(station__station_id="CP-A", transaction_id=str(
            started["transactionId"]))
        watcher, connected, _ = await open_live(f"/ws/sessions/{session.pk}/", network.driver_a)
        assert connected
        try:
            for minute, register in [(1, 1500), (2, 2300)]:
                await station.result("MeterValues", {
                    "connectorId": 1, "transactionId": started["transactionId"],
                    "meterValue": [{"timestamp": f"2026-11-27T10:0{minute}:00Z", "sampledValue": [
                        {"value": str(register), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                        {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"}]}]})
            # Both pushes arrive; they are sent from background threads and may arrive in either
            # order, so each names the meter value it shows (the page keeps the newest).
            seen = []
            while {e["energy_wh"] for e in seen} != {500, 1300}:
                seen.append(await watcher.receive_json_from(timeout=10))
            at = {e["energy_wh"]: e["meter_last_at"] for e in seen}
            assert at[500] < at[1300] and at[1300].startswith("2026-11-27T10:02:00")
            assert seen[-1]["power_w"] == 11000 and seen[-1]["status"] == "Active"
        finally:
            await watcher.disconnect()


async def test_another_driver_cannot_subscribe_to_a_session(network):
    _, connected, code = await open_live(f"/ws/sessions/{network.session_a.pk}/", network.driver_b)
    assert not connected and code == 4403
    _, connected, code = await open_live(f"/ws/sessions/{network.session_b.pk}/", network.owner_a)
    assert not connected and code == 4403


async def test_dashboard_refuses_drivers_finance_and_strangers(network):
    for user in (network.driver_a, network.finance):
        _, connected, code = await open_live("/ws/dashboard/", user)
        assert not connected and code == 4403
    _, connected, code = await open_live("/ws/dashboard/")
    assert not connected and code == 4401


async def test_live_socket_refuses_other_origins(network):
    _, connected, _ = await open_live("/ws/dashboard/", network.operator, origin=b"http://evil.example")
    assert not connected


def test_events_nobody_watches_cost_no_queries(network):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from portal import live

    live.unwatch(channel_name="nobody")  # fresh view of who watches
    with CaptureQueriesContext(connection) as first:
        live.on_meter_values(None, station_pk=network.station_a.pk, session_pks=[network.session_a.pk])
    with CaptureQueriesContext(connection) as next_batches:
        for _ in range(50):
            live.on_meter_values(None, station_pk=network.station_a.pk, session_pks=[network.session_a.pk])
    assert len(first) == 1  # who watches, asked once per couple of seconds per process
    assert len(next_batches) == 0
    with CaptureQueriesContext(connection) as status_changes:
        live.on_connector_status(None, station_pk=network.station_a.pk, evse_id=1, connector_id=1, status="Faulted")
        live.on_station_presence(None, station_pk=network.station_a.pk, online=False)
    assert len(status_changes) == 0

    live.watch(groups=[live.session_group(network.session_a.pk)], channel_name="page-1")
    assert live.watched_groups() == {live.session_group(network.session_a.pk)}
    live.unwatch(channel_name="page-1")
    assert live.watched_groups() == frozenset()


def test_a_page_that_subscribes_while_a_thread_reads_who_watches_is_not_hidden(network, monkeypatch):
    """A database thread read the watches just before a page subscribed: that read must not be
    kept for the next seconds, or the new page gets none of its updates meanwhile."""
    from portal import live
    from portal.models import LiveWatch

    live.unwatch(channel_name="nobody")
    group = live.session_group(network.session_a.pk)
    real_filter = LiveWatch.objects.filter

    def read_then_page_subscribes(*args, **kwargs):
        rows = list(real_filter(*args, **kwargs).values_list("group", flat=True))  # read before...
        monkeypatch.setattr(LiveWatch.objects, "filter", real_filter)
        live.watch(groups=[group], channel_name="page-1")  # ...the page subscribed
        return type("Rows", (), {"values_list": lambda self, *a, **k: rows})()

    monkeypatch.setattr(LiveWatch.objects, "filter", read_then_page_subscribes)
    assert live.watched_groups() == frozenset()  # the overtaken read, used once
    assert live.watched_groups() == {group}  # and not kept
