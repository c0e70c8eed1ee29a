"""An operator puts a message on a site's station displays at once, with a start and end time."""

import asyncio

import pytest

from stations.models import ChargingStation, DisplayMessage, Site
from tests.conftest import adb
from tests.stations.test_admin import admin_client, in_request_thread, messages_of

pytestmark = pytest.mark.django_db(transaction=True)


def two_stations_and_an_old_one(make_station):
    site = Site.objects.create(name="Harbour")
    for station_id, version in (("CS-1", "2.0.1"), ("CS-2", "2.0.1"), ("OLD-1", "1.6")):
        make_station(station_id, site=site)
        ChargingStation.objects.filter(station_id=station_id).update(ocpp_version=version)
    make_station("ELSEWHERE", site=Site.objects.create(name="Elsewhere"))
    return site


async def test_a_message_goes_to_every_201_station_of_the_site_at_once(make_station, ocpp):
    site = await adb(two_stations_and_an_old_one)(make_station)
    client = await adb(admin_client)()
    form = await in_request_thread(client.post)("/admin/stations/site/", {
        "action": "put_display_message", "_selected_action": [site.pk]})
    assert form.status_code == 200 and "Put the message on the displays" in form.content.decode()
    async with ocpp("CS-1", version="2.0.1") as one, ocpp("CS-2", version="2.0.1") as two:
        posting = asyncio.create_task(in_request_thread(client.post)("/admin/stations/site/", {
            "action": "put_display_message", "_selected_action": [site.pk], "apply": "1",
            "message": "Charger at 11 kW until Friday", "priority": "InFront",
            "start_at": "2026-12-07 08:00", "end_at": "2026-12-11 18:00"}, follow=True))
        first, second = await asyncio.gather(one.expect_call("SetDisplayMessage", {"status": "Accepted"}),
                                             two.expect_call("SetDisplayMessage", {"status": "Rejected"}))
        page = await posting
    assert first["message"]["message"]["content"] == "Charger at 11 kW until Friday"
    assert first["message"]["priority"] == "InFront"
    assert first["message"]["startDateTime"].startswith("2026-12-07T08:00:00")
    assert first["message"]["endDateTime"].startswith("2026-12-11T18:00:00")
    shown = messages_of(page)
    assert "CS-1: set_display_message → accepted (Accepted)" in shown
    assert "CS-2: set_display_message → rejected (Rejected)" in shown
    assert "Skipped (OCPP 1.6 has no display messages): OLD-1" in shown
    assert "ELSEWHERE" not in shown
    assert [m async for m in DisplayMessage.objects.values_list("station__station_id", flat=True)] == ["CS-1"]


def test_an_end_before_the_start_is_refused_and_nothing_is_sent(make_station):
    site = two_stations_and_an_old_one(make_station)
    page = admin_client().post("/admin/stations/site/", {
        "action": "put_display_message", "_selected_action": [site.pk], "apply": "1", "message": "Hi",
        "priority": "NormalCycle", "start_at": "2026-12-07 08:00", "end_at": "2026-12-06 08:00"})
    assert page.status_code == 200 and "must be after the start" in page.content.decode()
    assert not DisplayMessage.objects.exists()
    from stations.models import CommandLog

    assert not CommandLog.objects.exists()
