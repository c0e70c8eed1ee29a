"""The operator console in a real browser against a real daphne: what each role does there
(owner resets a station and reads its answer, finance exports a month), and the pages that
once were broken (a command form nested in the change form, links a role may not follow,
API docs from a CDN)."""

import re

import pytest
from playwright.sync_api import expect

from stations.models import CommandLog
from tests.conftest import PASSWORD
from tests.portal.browser import SimulatedCharger
from tests.portal.test_browser import admin_login

pytestmark = [pytest.mark.live, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_owner_resets_a_station_from_its_page_and_sees_the_answer(network, live_server_process, open_page):
    server = live_server_process
    page = open_page()
    admin_login(page, server, "owner-a", "pw-owner-a")
    with SimulatedCharger(server.ws, "CP-A", PASSWORD):
        page.goto(f"{server.http}/admin/stations/chargingstation/{network.station_a.pk}/change/")
        expect(page.locator("#connection-state")).to_have_text("Online")
        page.get_by_role("link", name="Reset", exact=True).click()
        page.get_by_label("Type").select_option("soft")
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#answer-outcome")).to_have_text("Accepted")
        expect(page.locator("#answer-status")).to_have_text("Accepted")
        expect(page.locator("#answer-payload")).to_contain_text('"status": "Accepted"')
    log = CommandLog.objects.get(station=network.station_a)
    assert (log.command, log.outcome, log.requested_by.username) == ("reset", "accepted", "owner-a")
    assert log.ocpp_request == {"type": "Soft"}
    assert "changed successfully" not in page.content()
