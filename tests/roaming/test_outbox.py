"""The outbox: nothing is lost while a partner is down, order is kept, refusals do not block."""

from datetime import timedelta

import pytest
from django.utils import timezone

from roaming import outbox, partners, push
from roaming.models import OutboxEntry, OutboxStatus
from roaming.tasks import deliver_all
from stations.models import ChargingStation, Connector, Evse, Site
from stations.services.status import record_status

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def station(make_station):
    """A station whose connector the partner knows already: its status changes are PATCHes."""
    station = make_station("CP-O1", site=Site.objects.create(name="Depot", country="DE"))
    Connector.objects.create(evse=Evse.objects.create(station=station, evse_id=1), connector_id=1)
    return station


def status(station, value):
    record_status(station_pk=station.pk, evse_id=1, connector_id=1, status=value, timestamp=timezone.now())


def make_due():
    OutboxEntry.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_pushes_wait_while_the_partner_is_down_and_arrive_in_order_later(station, registered_emsp):
    emsp, partner = registered_emsp
    emsp.down = True
    status(station, "Available")
    status(station, "Faulted")

    first, second = OutboxEntry.objects.order_by("id")
    assert (first.status, first.attempts, second.status, second.attempts) == ("pending", 1, "pending", 0)
    assert first.next_attempt_at > timezone.now() + timedelta(seconds=20)  # backing off
    assert "503" in first.last_error
    assert len(emsp.requests_to(r"/locations/")) == 1  # the second waited behind the first

    make_due()
    deliver_all()  # still down: tried again, backs off further
    first.refresh_from_db()
    assert first.attempts == 2 and first.next_attempt_at > timezone.now() + timedelta(seconds=50)

    emsp.down = False
    make_due()
    deliver_all()
    assert set(OutboxEntry.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}
    delivered = [r["body"]["status"] for r in emsp.requests_to(r"/locations/", "PATCH")]
    assert delivered[-2:] == ["UNKNOWN", "UNKNOWN"]  # the station is offline: its EVSE status is unknown
    assert partner.log.filter(direction="out", http_status=503).count() == 2  # one try, one retry


def test_an_entry_the_partner_refuses_fails_after_five_tries_and_the_rest_goes_on(station, registered_emsp):
    emsp, partner = registered_emsp
    emsp.valid_tokens.discard(partner.outgoing_token)  # the partner refuses us (401)
    push.push_command_result(partner=partner, response_url=f"{emsp.base}/nowhere", result="ACCEPTED")
    for _ in range(4):
        make_due()
        deliver_all()
    refused = OutboxEntry.objects.get()
    assert (refused.status, refused.attempts) == (OutboxStatus.FAILED, 5)

    emsp.valid_tokens.add(partner.outgoing_token)
    status(station, "Available")
    assert OutboxEntry.objects.filter(status=OutboxStatus.SENT).count() == 1
    assert outbox.requeue(OutboxEntry.objects.all()) == 1
    deliver_all()
    assert not OutboxEntry.objects.exclude(status=OutboxStatus.SENT).exists()


def test_backoff_doubles_up_to_an_hour():
    assert [outbox.backoff_s(n) for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]


def test_meter_values_look_at_a_session_at_most_once_per_update_interval(settings, station):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from roaming.receivers import session_updated

    settings.OCPI_SESSION_UPDATE_INTERVAL_S = 60
    partners.forget_partners()  # a fresh process: the first look costs queries
    with CaptureQueriesContext(connection) as first:
        session_updated(None, session_pks=[987654])
    with CaptureQueriesContext(connection) as again:
        for _ in range(20):
            session_updated(None, session_pks=[987654])
    assert len(first) >= 1 and len(again) == 0


def test_a_new_site_reaches_partners_as_a_whole_location_with_its_evses(registered_emsp, make_station):
    emsp, _ = registered_emsp
    site = Site.objects.create(name="New depot", country="DE", city="Köln")
    assert not emsp.requests_to(r"/locations/", "PUT")  # no accepted station: not published yet
    station = make_station("CP-NEW", site=site)
    ChargingStation.objects.filter(pk=station.pk).update(is_online=True)
    record_status(station_pk=station.pk, evse_id=1, connector_id=1, status="Available", timestamp=timezone.now())
    location = emsp.requests_to(rf"/locations/[A-Z]{{2}}/[A-Z0-9]{{3}}/{site.pk}$", "PUT")[-1]["body"]
    assert (location["id"], location["name"], location["city"], location["country"]) == (
        str(site.pk), "New depot", "Köln", "DEU")
    assert [(e["uid"], e["status"]) for e in location["evses"]] == [("CP-NEW-1", "AVAILABLE")]
    site.name = "Depot Köln-Süd"
    site.save()
    assert emsp.requests_to(rf"/locations/.*/{site.pk}$", "PUT")[-1]["body"]["name"] == "Depot Köln-Süd"
    assert set(OutboxEntry.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}
