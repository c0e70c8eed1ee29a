"""A driver in a real browser finds a partner charger (live availability, our price there),
starts it remotely, and sees the roaming session beside their home sessions once the
partner CPO reports it."""

import base64

import httpx
import pytest
from playwright.sync_api import expect

from roaming.credentials import register_with
from roaming.models import RemoteCommand
from tests.portal.test_browser import portal_login
from tests.roaming import ocpi_objects as ocpi
from tests.roaming.cpo import TestCpo

pytestmark = [pytest.mark.live, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def partner_cpo(network):
    cpo = TestCpo(locations=[ocpi.location("LOC1"), {**ocpi.location("LOC2"), "name": "Brugge Markt",
                                                      "city": "Brugge"}],
                  tariffs=[ocpi.tariff("T1", kwh_price=0.40)])
    partner = register_with(name="Flanders Charge", versions_url=cpo.versions_url, token_a=cpo.token_a)
    yield cpo, partner
    cpo.stop()


def test_a_driver_finds_a_partner_charger_starts_it_and_sees_the_roaming_session(network, partner_cpo,
                                                                                 live_server_process, open_page):
    server, (cpo, _) = live_server_process, partner_cpo
    page = open_page()
    portal_login(page, server, "driver-a", "pw-driver-a")
    page.get_by_role("link", name="Partner chargers").click()
    page.get_by_label("City or name").fill("Gent")
    page.get_by_role("button", name="Find").click()
    location = page.locator("section.partner-location")
    expect(location).to_have_count(1)
    expect(location.get_by_role("heading")).to_have_text("Gent Zuid LOC1")
    expect(location.locator(".availability")).to_have_text("1 of 1 available")
    expect(location.locator(".price")).to_have_text("0.46 EUR/kWh excl. VAT")  # 0.40 + 15 % margin

    location.get_by_role("button", name="Start charging at BE*CPO*E3102001").click()
    expect(page.get_by_text("Start requested at Gent Zuid LOC1")).to_be_visible()
    sent = cpo.requests_to("/commands/START_SESSION", "POST")
    assert len(sent) == 1 and sent[0]["body"]["token"]["uid"] == "TOKEN-A"
    assert RemoteCommand.objects.get().response == "ACCEPTED"

    # The partner's charger starts: the CPO reports the session to us (the daphne serving the portal).
    header = {"Authorization": "Token " + base64.b64encode(cpo.our_token.encode()).decode()}
    report = httpx.put(f"{server.http}/ocpi/2.2.1/emsp/sessions/NL/CPO/S1", headers=header, timeout=30,
                       json=ocpi.session("S1", "TOKEN-A", kwh=7.5, cost=3.00))
    assert report.json()["status_code"] == 1000, report.text
    page.reload()
    rows = page.locator("#roaming-sessions tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Flanders Charge, Gent Zuid LOC1")
    expect(rows.first).to_contain_text("7.500")
    expect(rows.first).to_contain_text("4.17 EUR")  # 3.63 incl. VAT at the partner + 15 %
    expect(rows.first).to_contain_text("ACTIVE")
    expect(page.get_by_role("heading", name="Your sessions")).to_be_visible()  # home sessions beside it

    page.get_by_role("link", name="ChargeNet").click()  # home: charging now, at the partner
    expect(page.locator("#roaming-sessions tbody tr").first).to_contain_text("Flanders Charge, Gent Zuid LOC1")
    page.get_by_role("link", name="Sessions", exact=True).click()
    rows.first.get_by_role("button", name="Stop").click()
    expect(page.get_by_text("Stop requested at Flanders Charge")).to_be_visible()
    assert [r["body"]["session_id"] for r in cpo.requests_to("/commands/STOP_SESSION", "POST")] == ["S1"]
