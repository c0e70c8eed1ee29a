"""The portals in a real browser (Debian's Chromium through Playwright) against a real daphne:
each role logs in, the dashboard follows a station live, a driver watches energy rise and is
refused another driver's session."""

import re

import pytest
from playwright.sync_api import expect

from stations.models import ChargingSession
from tests.conftest import PASSWORD
from tests.portal.browser import TIMEOUT_MS, Station

pytestmark = [pytest.mark.live, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def admin_login(page, server, username, password):
    page.goto(f"{server.http}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def portal_login(page, server, username, password):
    page.goto(f"{server.http}/portal/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_each_role_lands_where_it_belongs(network, live_server_process, open_page):
    server = live_server_process

    operator = open_page()
    admin_login(operator, server, "ops", "pw-ops")
    operator.goto(f"{server.http}/admin/dashboard/")
    expect(operator.locator('[data-station="CP-A"]')).to_be_visible()
    expect(operator.locator('[data-station="CP-B"]')).to_be_visible()

    owner = open_page()
    admin_login(owner, server, "owner-a", "pw-owner-a")
    owner.goto(f"{server.http}/admin/dashboard/")
    expect(owner.locator('[data-station="CP-A"]')).to_be_visible()
    expect(owner.locator('[data-station="CP-B"]')).to_have_count(0)
    expect(owner.locator("svg#energy-per-day")).to_be_visible()

    finance = open_page()
    admin_login(finance, server, "fin", "pw-fin")
    expect(finance.get_by_role("link", name="Invoices")).to_be_visible()
    expect(finance.get_by_role("link", name="Charging stations")).to_have_count(0)
    assert finance.goto(f"{server.http}/admin/stations/chargingstation/").status == 403

    driver = open_page()
    admin_login(driver, server, "driver-a", "pw-driver-a")
    expect(driver.get_by_text("Please enter the correct")).to_be_visible()
    portal_login(driver, server, "driver-a", "pw-driver-a")
    expect(driver.get_by_role("heading", name="Hello Driver-A")).to_be_visible()


def test_dashboard_follows_a_station_live(network, live_server_process, open_page, make_station):
    server = live_server_process
    make_station("CP-A2", site=network.site_a)
    page = open_page()
    admin_login(page, server, "owner-a", "pw-owner-a")
    page.goto(f"{server.http}/admin/dashboard/")
    expect(page.locator("#live-mode")).to_have_text("live")
    row = page.locator('[data-station="CP-A"]')
    first_row = page.locator("#stations tbody tr").first
    expect(row).to_have_attribute("data-online", "false")
    expect(first_row).to_have_attribute("data-station", "CP-A")  # both offline: by id

    with Station(server.ws, "CP-A", PASSWORD) as station:
        station.call("BootNotification", {"chargePointVendor": "Test", "chargePointModel": "Browser"})
        expect(row).to_have_attribute("data-online", "true")
        expect(first_row).to_have_attribute("data-station", "CP-A2")  # offline ones first
        station.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
        connector = page.locator('[data-connector="CP-A/1/1"]')
        expect(connector).to_have_attribute("data-status", "Available")
        station.call("StatusNotification", {"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted"})
        expect(connector).to_have_attribute("data-status", "Faulted")
        expect(connector).to_contain_text("GroundFailure")
        expect(connector).to_have_class(re.compile(r"status-Faulted"))
        expect(first_row).to_have_attribute("data-station", "CP-A")  # faulted ones before all
    expect(row).to_have_attribute("data-online", "false")


def test_driver_watches_energy_rise_and_is_refused_another_drivers_session(network, live_server_process,
                                                                           open_page):
    server = live_server_process
    with Station(server.ws, "CP-A", PASSWORD) as station:
        station.call("BootNotification", {"chargePointVendor": "Test", "chargePointModel": "Browser"})
        started = station.call("StartTransaction", {"connectorId": 1, "idTag": "TOKEN-A", "meterStart": 10000,
                                                    "timestamp": "2026-11-27T10:00:00Z"})
        session = ChargingSession.objects.get(station__station_id="CP-A",
                                              transaction_id=str(started["transactionId"]))

        page = open_page()
        portal_login(page, server, "driver-a", "pw-driver-a")
        page.goto(f"{server.http}/portal/sessions/{session.pk}/")
        expect(page.locator("#session-status")).to_have_text("Active")
        expect(page.locator("#live-mode")).to_have_text(re.compile("live|polling"), timeout=TIMEOUT_MS)
        energy = page.locator("#energy-kwh")
        expect(page.locator("#energy-chart polyline")).to_have_count(0)
        for minute, register, shown in [(1, 11500, "1.50"), (2, 13250, "3.25")]:
            station.call("MeterValues", {"connectorId": 1, "transactionId": started["transactionId"], "meterValue": [
                {"timestamp": f"2026-11-27T10:0{minute}:00Z", "sampledValue": [
                    {"value": str(register), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "10500", "measurand": "Power.Active.Import", "unit": "W"}]}]})
            expect(energy).to_have_text(shown)
        expect(page.locator("#power-kw")).to_have_text("10.5")
        expect(page.locator("#energy-chart polyline")).to_have_count(1)  # the curve is redrawn too

        refused = page.goto(f"{server.http}/portal/sessions/{network.session_b.pk}/")
        assert refused.status == 404


def test_driver_sees_the_price_before_starting_then_the_running_cost_then_the_final_cost(
        network, live_server_process, open_page):
    from billing.tariffs import assign_tariff
    from tests.billing.tariff_data import component, make_tariff

    server = live_server_process
    assign_tariff(tariff=make_tariff("PUB", {"price_components": [component("ENERGY", 0.327731, vat=19)]}),
                  place=network.site_a)
    page = open_page()
    portal_login(page, server, "driver-a", "pw-driver-a")
    page.goto(f"{server.http}/portal/start/")
    page.get_by_label("Station").fill("CP-A")
    expect(page.locator("#station-price")).to_have_text("Price at CP-A: 0.39 EUR/kWh", timeout=TIMEOUT_MS)

    with Station(server.ws, "CP-A", PASSWORD) as station:
        station.call("BootNotification", {"chargePointVendor": "Test", "chargePointModel": "Browser"})
        started = station.call("StartTransaction", {"connectorId": 1, "idTag": "TOKEN-A", "meterStart": 10000,
                                                    "timestamp": "2026-11-27T10:00:00Z"})
        session = ChargingSession.objects.get(station__station_id="CP-A",
                                              transaction_id=str(started["transactionId"]))
        page.goto(f"{server.http}/portal/sessions/{session.pk}/")
        expect(page.locator("#live-mode")).to_have_text(re.compile("live|polling"), timeout=TIMEOUT_MS)
        expect(page.locator("#session-cost")).to_have_text("0.00 EUR")
        expect(page.locator("#cost-label")).to_have_text("Cost so far")
        # 10 kWh x 0.327731 = 3.28 + 0.62 VAT; 20 kWh: 6.55 + 1.24 VAT
        for minute, register, shown in [(1, 20000, "3.90 EUR"), (2, 30000, "7.79 EUR")]:
            station.call("MeterValues", {"connectorId": 1, "transactionId": started["transactionId"], "meterValue": [
                {"timestamp": f"2026-11-27T10:0{minute}:00Z", "sampledValue": [
                    {"value": str(register), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]})
            expect(page.locator("#session-cost")).to_have_text(shown, timeout=TIMEOUT_MS)
        page.get_by_role("button", name="Stop charging").wait_for()
        station.call("StopTransaction", {"transactionId": started["transactionId"], "meterStop": 30000,
                                         "timestamp": "2026-11-27T10:03:00Z", "reason": "Local"})

    page.reload()
    expect(page.locator("#cost-label")).to_have_text("Cost")
    expect(page.locator("#cost-total")).to_have_text("7.79 EUR")
    expect(page.locator("#cost-breakdown tr[data-component=ENERGY] td").nth(1)).to_have_text("20.000 kWh")
    from billing.models import ChargeDetailRecord

    assert str(ChargeDetailRecord.objects.get(session=session).total_cost_incl_vat) == "7.79"
