"""V2X consent in a real browser: a driver ticks "Allow my cars to discharge" on the Cars page
and saves; the load manager sees the permission, and unticking takes it back."""

import pytest
from playwright.sync_api import expect

from stations.models import Driver
from tests.portal.test_browser import portal_login

pytestmark = [pytest.mark.live, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_driver_allows_discharge_on_the_cars_page(network, live_server_process, open_page):
    server = live_server_process
    page = open_page()
    portal_login(page, server, "driver-a", "pw-driver-a")
    page.goto(f"{server.http}/portal/vehicles/")
    consent = page.get_by_label("Allow my cars to discharge")
    expect(consent).not_to_be_checked()
    consent.check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your cars may now feed the site")).to_be_visible()
    expect(page.get_by_label("Allow my cars to discharge")).to_be_checked()
    assert Driver.objects.get(email="driver-a@example.com").allow_discharge is True
    assert Driver.objects.get(email="driver-b@example.com").allow_discharge is False

    page.get_by_label("Allow my cars to discharge").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your cars will only charge.")).to_be_visible()
    assert Driver.objects.get(email="driver-a@example.com").allow_discharge is False
