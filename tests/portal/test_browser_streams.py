"""The admin shows a station's periodic event streams (OCPP 2.1) and their latest values, in a
real browser against a real daphne: the open streams on the station's page, each stream's
recent values one click further."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from stations.models import PeriodicEventStream
from stations.streams.services import StreamWrite, open_stream, write_batch
from tests.portal.test_browser import admin_login

pytestmark = [pytest.mark.live, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

T0 = datetime(2026, 12, 1, 10, tzinfo=UTC)


def test_operator_sees_a_stations_streams_and_their_latest_values(network, live_server_process, open_page):
    station = network.station_a
    assert open_stream(station_pk=station.pk, stream_id=4, variable_monitoring_id=17, interval_s=60, values=10,
                       now=T0) is None
    open_stream(station_pk=station.pk, stream_id=5, variable_monitoring_id=18, interval_s=60, values=10, now=T0)
    PeriodicEventStream.objects.filter(stream_id=5).update(closed_at=T0 + timedelta(minutes=5))
    write_batch([StreamWrite(station_pk=station.pk, stream_id=4, basetime=T0,
                             data=[(0, "229.9"), (60, "230.4"), (120, "231.2")])])

    server = live_server_process
    page = open_page()
    admin_login(page, server, "ops", "pw-ops")
    page.goto(f"{server.http}/admin/stations/chargingstation/{station.pk}/change/")
    streams = page.get_by_role("group", name="Periodic event streams (open)")
    expect(streams).to_contain_text("17")  # the variable monitor
    expect(streams).to_contain_text("231.2")  # the latest value
    expect(streams).not_to_contain_text("18")  # closed streams are not listed here
    streams.get_by_role("link", name="Change").first.click()
    expect(page.locator("body")).to_contain_text("Latest 20 values")
    values = page.locator("div.field-recent_values")
    expect(values).to_contain_text("231.2")
    expect(values).to_contain_text("229.9")

    page.goto(f"{server.http}/admin/stations/periodiceventstream/?open=no")
    expect(page.locator("#result_list")).to_contain_text("18")
    expect(page.locator("#result_list")).not_to_contain_text("231.2")
