"""Portal details a driver meets: plain words, own cards unblocked (only blocked ones),
no power shown for an ended session, station ids in any case, times in the driver's zone."""

import pytest
from django.test import Client

from portal import live, services
from stations.models import CommandLog, IdTokenStatus, Measurand, MeterSample

pytestmark = pytest.mark.django_db


def driver_client(username="driver-a") -> Client:
    client = Client()
    assert client.login(username=username, password=f"pw-{username}")
    return client


def test_cards_in_plain_words_and_only_a_blocked_one_can_be_unblocked(network):
    page = driver_client().get("/portal/tokens/").content.decode()
    assert "RFID card" in page and ">ISO14443<" not in page
    network.token_a.status = IdTokenStatus.EXPIRED
    network.token_a.save()
    response = driver_client().post(f"/portal/tokens/{network.token_a.pk}/unblock/", follow=True)
    assert "is not blocked" in response.content.decode()
    network.token_a.refresh_from_db()
    assert network.token_a.status == IdTokenStatus.EXPIRED
    assert driver_client().post(f"/portal/tokens/{network.token_b.pk}/unblock/").status_code == 404  # not theirs


def test_an_ended_session_shows_no_power(network):
    MeterSample.objects.create(session=network.session_a, station=network.station_a, evse_id=1, value=7400,
                               timestamp=network.session_a.stopped_at, measurand=Measurand.POWER_ACTIVE_IMPORT)
    assert live.session_event(network.session_a)["power_w"] is None
    page = driver_client().get(f"/portal/sessions/{network.session_a.pk}/").content.decode()
    assert '<strong id="power-kw">-</strong>' in page


def test_station_ids_are_found_in_any_case(network):
    result = services.remote_start(user=network.driver_a, driver=network.driver_a.driver, station_id=" cp-a ",
                                   evse_id=None, token_pk=network.token_a.pk)
    assert result.outcome == "offline"  # found (and offline here)
    assert CommandLog.objects.get(pk=result.log_id).station == network.station_a


def test_portal_times_follow_the_driver_zone_and_name_it(network):
    client = driver_client()
    assert client.post("/portal/profile/", {"name": "A", "time_zone": "Asia/Tokyo"}).status_code == 302
    page = client.get(f"/portal/sessions/{network.session_a.pk}/").content.decode()
    assert "Started 2026-11-02 19:00" in page and 'id="time-zone">Asia/Tokyo<' in page
    refused = client.post("/portal/profile/", {"name": "A", "time_zone": "Mars/Olympus"})
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()


def test_session_charts_speak_kw_and_kwh(network):
    from datetime import timedelta

    session = network.session_a
    for minute, energy, power in [(0, 0, 11000), (30, 5500, 11000)]:
        at = session.started_at + timedelta(minutes=minute)
        MeterSample.objects.create(session=session, station=session.station, evse_id=1, timestamp=at,
                                   measurand=Measurand.ENERGY_ACTIVE_IMPORT_REGISTER, value=energy)
        MeterSample.objects.create(session=session, station=session.station, evse_id=1, timestamp=at,
                                   measurand=Measurand.POWER_ACTIVE_IMPORT, value=power)
    page = driver_client().get(f"/portal/sessions/{session.pk}/").content.decode()
    assert "Power (kW) over time" in page and "Energy delivered (kWh) over time" in page
    assert 'class="unit">kW<' in page and 'class="unit">kWh<' in page
    assert 'class="tick">20</text>' in page  # 11 kW on a 0..20 kW axis, not 0..20000 W
