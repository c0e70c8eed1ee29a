"""The station page's message log reads as what happened: action, answer status, error code."""

from datetime import UTC, datetime

from stations.admin import readable_frames


def test_frames_say_what_they_are():
    frames = readable_frames([
        {"at": "2026-12-06T10:00:00.123Z", "direction": "in", "frame": '[2,"1","BootNotification",{}]'},
        {"at": "2026-12-06T10:00:00.200Z", "direction": "out", "frame": '[3,"1",{"status":"Accepted"}]'},
        {"at": "2026-12-06T10:00:01Z", "direction": "out", "frame": '[3,"2",{"idTagInfo":{"status":"Blocked"}}]'},
        {"at": "2026-12-06T10:00:02Z", "direction": "out", "frame": '[4,"3","FormationViolation","bad",{}]'},
        {"at": "2026-12-06T10:00:03Z", "direction": "in", "frame": "not json"},
    ])
    assert [(f["kind"], f["summary"]) for f in frames] == [
        ("call", "BootNotification"), ("answer", "Accepted"), ("answer", "Blocked"),
        ("error", "FormationViolation: bad"), ("unreadable", ""),
    ]
    assert frames[0]["at"] == datetime(2026, 12, 6, 10, 0, 0, 123000, tzinfo=UTC)
    assert readable_frames(None) is None


def test_station_and_site_pages_show_times_in_the_sites_zone(db, make_station):
    from django.contrib.auth.models import User
    from django.test import Client

    from stations.models import ChargingStation, Site

    site = Site.objects.create(name="Berlin", time_zone="Europe/Berlin")
    station = make_station("CP-Z", site=site)
    ChargingStation.objects.filter(pk=station.pk).update(last_seen=datetime(2026, 7, 1, 10, 0, tzinfo=UTC))
    client = Client()
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "x"))
    page = client.get(f"/admin/stations/chargingstation/{station.pk}/change/").content.decode()
    assert "times in <span class=\"time-zone\">Europe/Berlin</span>" in page
    assert "July 1, 2026, noon" in page and "10 a.m." not in page  # 10:00 UTC is 12:00 in Berlin (summer)
    site_page = client.get(f"/admin/stations/site/{site.pk}/change/").content.decode()
    assert "(Europe/Berlin)" in site_page


def test_site_power_page_shows_the_chart_and_each_sessions_share(db, make_station):
    from django.contrib.auth.models import User
    from django.test import Client
    from django.utils import timezone

    from stations.models import ChargingSession, Evse, Measurand, MeterSample, Site

    site = Site.objects.create(name="Depot", time_zone="Europe/Berlin")
    for station_id, power in (("P-1", 7400), ("P-2", 3700)):
        station = make_station(station_id, site=site)
        evse = Evse.objects.create(station=station, evse_id=1)
        session = ChargingSession.objects.create(station=station, evse=evse, transaction_id="1", status="Active",
                                                 started_at=timezone.now(), energy_wh=1234)
        MeterSample.objects.create(session=session, station=station, evse_id=1, timestamp=timezone.now(),
                                   measurand=Measurand.POWER_ACTIVE_IMPORT, value=power)
    client = Client()
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "x"))
    assert f"/admin/stations/site/{site.pk}/power/" in client.get(
        f"/admin/stations/site/{site.pk}/change/").content.decode()
    page = client.get(f"/admin/stations/site/{site.pk}/power/?hours=24").content.decode()
    assert "<svg" in page and "no data yet" in page
    rows = page[page.index('id="power-shares"'):]
    assert rows.index("P-1") < rows.index("P-2")  # largest first
    assert "<td>7.4</td>" in rows and "66.7 %" in rows and "33.3 %" in rows and "<td>1.23</td>" in rows

    # A third car feeds the site (V2X): its power shows below zero, its share of what the cars draw is 0.
    station = make_station("P-3", site=site)
    session = ChargingSession.objects.create(station=station, evse=Evse.objects.create(station=station, evse_id=1),
                                             transaction_id="3", status="Active", started_at=timezone.now())
    for measurand, value in ((Measurand.POWER_ACTIVE_IMPORT, 0), (Measurand.POWER_ACTIVE_EXPORT, 5000)):
        MeterSample.objects.create(session=session, station=station, evse_id=1, timestamp=timezone.now(),
                                   measurand=measurand, value=value)
    rows = client.get(f"/admin/stations/site/{site.pk}/power/?hours=24").content.decode()
    rows = rows[rows.index('id="power-shares"'):]
    assert rows.index("P-2") < rows.index("P-3")
    assert "<td>-5.0</td>" in rows and "66.7 %" in rows and "0.0 %" in rows
