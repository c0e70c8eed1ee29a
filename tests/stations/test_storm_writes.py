"""What a reconnect storm writes and reads must not grow with the fleet: a batch of first
status reports creates its EVSEs and connectors together, and the load manager's receivers
find every station's managed site with one query."""

from datetime import UTC, datetime

import pytest
from django.db.models.signals import post_save

from stations.models import ChargingStation, Connector, ConnectorStatusChange, Evse, Site
from stations.services.status import StatusReport, record_statuses
from stations.smart_charging import receivers
from stations.smart_charging.models import SiteLoadLimit

pytestmark = pytest.mark.django_db

AT = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def reports_of(stations, evse_id=1, status="Available"):
    return [StatusReport(station_pk=s.pk, evse_id=evse_id, connector_id=c, status=status, timestamp=AT)
            for s in stations for c in (1, 2)]


def test_first_reports_of_many_stations_create_their_connectors_in_a_few_queries(
    make_station, django_assert_max_num_queries
):
    stations = [make_station(f"CP-{n}") for n in range(40)]
    heard_of = []

    def heard(sender, instance, created: bool, **kwargs):
        if created:
            heard_of.append((instance.evse.station_id, instance.connector_id))

    post_save.connect(heard, sender=Connector)
    try:
        with django_assert_max_num_queries(12):  # 80 connectors one by one took over 300
            assert record_statuses(reports_of(stations)) == [True] * 80
    finally:
        post_save.disconnect(heard, sender=Connector)

    assert Evse.objects.filter(station__in=stations).count() == 40
    assert Connector.objects.filter(evse__station__in=stations, status="Available").count() == 80
    assert ConnectorStatusChange.objects.count() == 80
    # Receivers of a new connector (roaming publishes its EVSE) heard each one once.
    assert sorted(heard_of) == sorted((s.pk, c) for s in stations for c in (1, 2))

    # The next reports find them: nothing is created twice.
    record_statuses(reports_of(stations, status="Occupied"))
    assert Connector.objects.filter(evse__station__in=stations).count() == 80
    assert Connector.objects.filter(evse__station__in=stations, status="Occupied").count() == 80


def test_a_batch_mixing_known_and_new_connectors_keeps_the_known_ones(make_station):
    old, new = make_station("CP-OLD"), make_station("CP-NEW")
    record_statuses(reports_of([old]))
    known = set(Connector.objects.filter(evse__station=old).values_list("pk", flat=True))
    record_statuses(reports_of([old, new], status="Faulted"))
    assert set(Connector.objects.filter(evse__station=old).values_list("pk", flat=True)) == known
    assert Connector.objects.filter(status="Faulted").count() == 4


def test_managed_sites_of_a_whole_fleet_are_read_once(make_station, django_assert_num_queries):
    site = Site.objects.create(name="Depot")
    SiteLoadLimit.objects.create(site=site, max_power_w=100_000)
    managed = [make_station(f"CP-{n}", site=site) for n in range(20)]
    elsewhere = [make_station(f"FREE-{n}") for n in range(20)]
    receivers.forget_sites()
    with django_assert_num_queries(1):
        assert {receivers.managed_site(s.pk)[0] for s in managed} == {site.pk}
        assert {receivers.managed_site(s.pk)[0] for s in elsewhere} == {None}


def test_a_station_moved_onto_a_managed_site_is_managed_at_once(make_station):
    station = make_station("CP-1")
    assert receivers.managed_site(station.pk) == (None, 0.0)
    site = Site.objects.create(name="Depot")
    SiteLoadLimit.objects.create(site=site, max_power_w=100_000, meter_rebalance_interval_s=15)
    station = ChargingStation.objects.get(pk=station.pk)
    station.site = site
    station.save(update_fields=["site"])
    assert receivers.managed_site(station.pk) == (site.pk, 15.0)

    site.load_limit.enabled = False
    site.load_limit.save()
    assert receivers.managed_site(station.pk) == (None, 0.0)
