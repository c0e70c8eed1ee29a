"""The portal's session date filter counts days in the driver's zone, not UTC: a session
started at 00:30 in Berlin (23:30 UTC the day before) belongs to the Berlin day."""

from datetime import UTC, date, datetime

import pytest
from django.test import Client
from django.urls import reverse

from portal import selectors
from tests.portal.conftest import make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def berlin_midnight_session(network):
    driver = network.session_a.driver
    driver.time_zone = "Europe/Berlin"
    driver.save(update_fields=["time_zone"])
    session = make_session(network.station_b, driver, network.token_a, "90", energy_wh=7000)
    session.started_at = datetime(2026, 11, 9, 23, 30, tzinfo=UTC)  # 10 Nov, 00:30 in Berlin
    session.save()
    network.session_a.started_at = datetime(2026, 11, 9, 12, tzinfo=UTC)
    network.session_a.save()
    return session


def test_selector_counts_days_in_the_drivers_zone(network, berlin_midnight_session):
    driver = berlin_midnight_session.driver
    on_the_10th = selectors.driver_sessions(driver=driver, date_from=date(2026, 11, 10), date_to=date(2026, 11, 10))
    assert list(on_the_10th) == [berlin_midnight_session]
    on_the_9th = selectors.driver_sessions(driver=driver, date_from=date(2026, 11, 9), date_to=date(2026, 11, 9))
    assert list(on_the_9th) == [network.session_a]


def test_session_list_filter_names_the_zone_and_uses_it(network, berlin_midnight_session):
    client = Client()
    client.force_login(network.driver_a)
    url = reverse("portal:sessions")
    page = client.get(url, {"date_from": "2026-11-10", "date_to": "2026-11-10"}).text
    assert "CP-B" in page and "CP-A" not in page
    assert "day in Europe/Berlin" in page
    page = client.get(url, {"date_to": "2026-11-09"}).text
    assert "CP-A" in page and "CP-B" not in page
