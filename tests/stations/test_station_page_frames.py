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
