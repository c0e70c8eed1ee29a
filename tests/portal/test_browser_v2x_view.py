"""V2X as people see it, in a real browser against a real daphne: an operator follows the
site page's link to its power chart and sees what the site fed back below zero, with the
export limit; the car's state of charge, sent by a station in meter values, shows live on the
operator's dashboard and on the driver's session page."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from stations.models import ChargingSession, Evse, SiteLoadLimit, SiteLoadSample
from tests.conftest import PASSWORD
from tests.portal.browser import Station
from tests.portal.test_browser import admin_login, portal_login

pytestmark = [pytest.mark.live, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_operator_sees_the_sites_export_on_its_power_chart(network, live_server_process, open_page):
    server = live_server_process
    site = network.site_a
    SiteLoadLimit.objects.create(site=site, max_power_w=22_000, max_export_power_w=7_000)
    now = timezone.now()
    for minutes_ago, measured, fed, setpoint in ((30, 11_000, 0, 0), (20, 4_000, 6_900, 7_000), (10, 0, 6_800, 7_000)):
        SiteLoadSample.objects.create(site=site, at=now - timedelta(minutes=minutes_ago), limit_w=22_000,
                                      allocated_w=measured, measured_w=measured, discharge_w=setpoint,
                                      measured_export_w=fed, export_limit_w=7_000, sessions=1)
    evse = Evse.objects.get(station=network.station_a, evse_id=1)
    ChargingSession.objects.create(station=network.station_a, evse=evse, transaction_id="V2G", status="Active",
                                   started_at=now - timedelta(minutes=40), energy_wh=3_000, energy_exported_wh=2_250,
                                   soc_percent=58, soc_at=now, operation_mode="CentralSetpoint")

    page = open_page()
    admin_login(page, server, "ops", "pw-ops")
    page.goto(f"{server.http}/admin/stations/site/{site.pk}/change/")
    page.get_by_role("link", name="Power chart and what each session draws").click()
    chart = page.locator("#site-power-chart svg")
    expect(chart.locator('polyline[data-series="measured_export_w"]')).to_be_attached()
    expect(chart.locator('polyline[data-series="export_limit_w"]')).to_be_attached()
    expect(chart.locator('polyline[data-series="measured_w"]')).to_be_attached()
    expect(chart.locator('[data-legend="measured_export_w"]')).to_have_text("fed back")
    expect(chart.get_by_text("-7 kW").or_(chart.get_by_text("-8 kW")).or_(chart.get_by_text("-10 kW"))).to_be_visible()
    # The export line lies below the zero line, the import line above it.
    zero_y = float(chart.locator("text", has_text=re.compile(r"^0 kW$")).get_attribute("y")) - 4
    export_ys = [float(point.split(",")[1]) for point in
                 chart.locator('polyline[data-series="measured_export_w"]').get_attribute("points").split()]
    assert max(export_ys) > zero_y + 1 and min(export_ys) >= zero_y - 0.5
    row = page.locator("#power-shares tbody tr", has_text="V2G")
    expect(row.locator(".soc")).to_have_text("58 %")
    expect(row).to_contain_text("CentralSetpoint")
    expect(row).to_contain_text("2.25")


def test_soc_from_a_station_shows_live_on_the_dashboard_and_the_drivers_session_page(
        network, live_server_process, open_page):
    server = live_server_process
    with Station(server.ws, "CP-A", PASSWORD) as station:
        station.call("BootNotification", {"chargePointVendor": "Test", "chargePointModel": "Browser"})
        started = station.call("StartTransaction", {"connectorId": 1, "idTag": "TOKEN-A", "meterStart": 10_000,
                                                    "timestamp": "2026-11-27T10:00:00Z"})
        tx = started["transactionId"]

        def report(minute: int, register: int, soc: str):
            station.call("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [
                {"timestamp": f"2026-11-27T10:0{minute}:00Z", "sampledValue": [
                    {"value": str(register), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": soc, "measurand": "SoC", "unit": "Percent", "location": "EV"}]}]})

        report(1, 11_000, "41.5")
        session = ChargingSession.objects.get(station__station_id="CP-A", transaction_id=str(tx))

        operator = open_page()
        admin_login(operator, server, "ops", "pw-ops")
        operator.goto(f"{server.http}/admin/dashboard/")
        expect(operator.locator("#live-mode")).to_have_text("live")
        car = operator.locator('[data-station="CP-A"] .charging')
        expect(car.locator(".soc")).to_have_text("SoC 41.5 %")

        driver = open_page()
        portal_login(driver, server, "driver-a", "pw-driver-a")
        driver.get_by_role("link", name=re.compile("Sessions")).first.click()
        driver.goto(f"{server.http}/portal/sessions/{session.pk}/")
        expect(driver.locator("#soc-percent")).to_have_text("41.5 %")
        expect(driver.locator("#live-mode")).to_have_text(re.compile("live|polling"))

        report(2, 13_250, "47")
        expect(driver.locator("#soc-percent")).to_have_text("47 %")
        expect(driver.locator("#energy-kwh")).to_have_text("3.25")
        expect(car.locator(".soc")).to_have_text("SoC 47 %")
        expect(car).to_contain_text("3250 Wh in")


def test_operator_finds_a_stations_der_controls_on_its_page(network, live_server_process, open_page):
    from stations.models import ChargingStation, CommandLog, StationEvent

    server = live_server_process
    ChargingStation.objects.filter(pk=network.station_a.pk).update(ocpp_version="2.1")
    CommandLog.objects.create(station=network.station_a, command="set_der_control", outcome="accepted",
                              status="Accepted", source="api", params={
                                  "control_id": "LMD-1", "control_type": "LimitMaxDischarge", "is_default": False,
                                  "control": {"limitMaxDischarge": {"priority": 1, "pctMaxDischargePower": 50}}})
    StationEvent.objects.create(station=network.station_a, kind="DER", timestamp=timezone.now(),
                                summary="DER controls (request 7): limitMaxDischarge", payload={
                                    "requestId": 7, "limitMaxDischarge": [{
                                        "id": "LMD-1", "isDefault": False, "isSuperseded": False,
                                        "limitMaxDischarge": {"priority": 1, "pctMaxDischargePower": 50}}]})
    page = open_page()
    admin_login(page, server, "ops", "pw-ops")
    page.goto(f"{server.http}/admin/stations/chargingstation/")
    page.get_by_role("link", name="CP-A", exact=True).click()
    section = page.locator("#der-controls")
    expect(section.get_by_role("heading", name="DER controls (OCPP 2.1)")).to_be_visible()
    reported = section.locator("#der-reported tbody tr", has_text="LMD-1")
    expect(reported).to_contain_text("limitMaxDischarge")
    expect(reported).to_contain_text('"pctMaxDischargePower": 50')
    sent = section.locator("#der-commands tbody tr", has_text="set_der_control")
    expect(sent).to_contain_text("LimitMaxDischarge")
    expect(sent).to_contain_text("accepted")
