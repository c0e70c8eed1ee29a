"""The operator console in a real browser against a real daphne: what each role does there
(owner resets a station and reads its answer, finance exports a month), and the pages that
once were broken (a command form nested in the change form, links a role may not follow,
API docs from a CDN)."""

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from stations.firmware.models import FirmwareCampaign
from stations.models import CommandLog
from stations.simulator import sim_firmware
from tests.conftest import PASSWORD
from tests.portal.browser import SimulatedCharger, Station
from tests.portal.test_browser import admin_login, portal_login

pytestmark = [pytest.mark.live, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def live_server_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """One daphne for the module, in embedded mode with its periodic jobs on (every second
    here instead of every minute), as under `make run`."""
    from tests.live.conftest import LiveServer, child_env, free_port

    port = free_port()
    with django_db_blocker.unblock():
        env = child_env(CHARGENET_PERIODIC_JOBS="true", CHARGENET_PERIODIC_INTERVAL_S="1",
                        CHARGENET_PUBLIC_URL=f"http://127.0.0.1:{port}",
                        MEDIA_ROOT=str(tmp_path_factory.mktemp("media")))
    server = LiveServer(port, env, tmp_path_factory.mktemp("daphne") / "daphne.log")
    yield server
    server.stop()


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


def test_owner_types_command_times_in_the_sites_zone_and_the_station_gets_utc(network, live_server_process, open_page):
    server = live_server_process
    network.site_a.time_zone = "Europe/Berlin"
    network.site_a.save(update_fields=["time_zone"])
    page = open_page()
    admin_login(page, server, "owner-a", "pw-owner-a")
    with SimulatedCharger(server.ws, "CP-A", PASSWORD):
        page.goto(f"{server.http}/admin/stations/chargingstation/{network.station_a.pk}/command/?command=update_firmware")
        page.get_by_label("Location").fill(f"{server.http}/no-such-firmware.bin")
        retrieve_at = page.get_by_label("Retrieve at (Europe/Berlin)")
        expect(page.locator(".help", has_text="local time in Europe/Berlin, sent to the station in UTC").first
               ).to_be_visible()
        retrieve_at.fill("2026-12-06T09:30")
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#answer-outcome")).to_have_text("Accepted")
    log = CommandLog.objects.get(station=network.station_a, command="update_firmware")
    assert log.ocpp_request["retrieveDate"].startswith("2026-12-06T08:30:00"), log.ocpp_request


def test_operator_creates_a_campaign_in_the_admin_and_it_completes(network, live_server_process, open_page):
    """Nothing but the server runs the campaign's ticks (no Celery beat, no test hand)."""
    server = live_server_process
    page = open_page()
    admin_login(page, server, "ops", "pw-ops")
    with SimulatedCharger(server.ws, "CP-A", PASSWORD) as charger:
        page.goto(f"{server.http}/admin/stations/firmwareimage/add/")
        page.get_by_label("Version").fill("2.5.0")
        page.get_by_label("Vendor").fill("ChargeNet")
        page.get_by_label("Station models").fill("Simulator")
        page.get_by_label("File").set_input_files(
            files=[{"name": "fw.bin", "mimeType": "application/octet-stream", "buffer": sim_firmware("2.5.0")}])
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator(".messagelist")).to_contain_text("was added successfully")

        page.goto(f"{server.http}/admin/stations/firmwarecampaign/add/")
        page.get_by_label("Name").fill("demo rollout")
        firmware = page.get_by_label("Firmware")
        firmware.select_option(value=firmware.locator("option", has_text="2.5.0").get_attribute("value"))
        page.get_by_label("Stations").fill("CP-A")
        expect(page.locator("#target-count")).to_have_text("1 station(s) match: CP-A")  # before saving
        page.get_by_label("Canary percent").fill("100")
        page.get_by_label("Start now").check()
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator(".messagelist")).to_contain_text("was added successfully")

        campaign = FirmwareCampaign.objects.get(name="demo rollout")
        page.goto(f"{server.http}/admin/stations/firmwarecampaign/{campaign.pk}/change/")
        for _ in range(60):
            if "Completed" in page.locator(".field-status").inner_text():
                break
            page.wait_for_timeout(1000)
            page.reload()
        expect(page.locator(".field-status")).to_contain_text("Completed")
        expect(page.locator(".field-progress")).to_contain_text("installed 1")
        assert charger.station.firmware_version == "2.5.0"


def test_landing_page_leads_to_api_docs_served_without_internet(live_server_process, open_page):
    server = live_server_process
    page = open_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{server.http}/")
    expect(page.get_by_role("link", name="Driver portal")).to_have_attribute("href", "/portal/")
    expect(page.get_by_role("link", name="Operator console")).to_have_attribute("href", "/admin/")
    page.get_by_role("link", name="API documentation").click()
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("ChargeNet API")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    outside = [url for url in requested if not url.startswith(server.http) and not url.startswith("data:")]
    assert outside == []
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/" in url for url in requested)


def test_finance_sees_what_it_may_not_open_as_text_not_links(live_server_process, open_page):
    from billing.models import ChargeDetailRecord

    call_command("seed_demo", stdout=StringIO())
    cdr = ChargeDetailRecord.objects.select_related("driver").first()
    server = live_server_process
    page = open_page()
    admin_login(page, server, "finance", "finance")
    page.goto(f"{server.http}/admin/billing/chargedetailrecord/{cdr.pk}/change/")
    driver = page.locator(".field-driver .readonly")
    expect(driver).to_have_text(str(cdr.driver))
    expect(driver.locator("a")).to_have_count(0)
    expect(page.locator(".field-session .readonly a")).to_have_count(0)
    for href in page.locator("a[href^='/admin/']").evaluate_all("links => links.map(a => a.getAttribute('href'))"):
        assert page.request.get(f"{server.http}{href}").status != 403, href


def test_driver_zone_comes_from_the_browser_at_signup_and_names_the_times(network, live_server_process, chromium):
    from stations.models import Driver

    server = live_server_process
    context = chromium.new_context(timezone_id="America/New_York")
    try:
        page = context.new_page()
        page.goto(f"{server.http}/portal/signup/")
        page.get_by_label("Email address").fill("nyc@example.com")
        page.get_by_label("Password", exact=True).fill("a-long-pass-phrase-42")
        page.get_by_label("Password again").fill("a-long-pass-phrase-42")
        page.get_by_role("button", name="Sign up").click()
        expect(page.get_by_text("nyc@example.com")).to_be_visible()
    finally:
        context.close()
    assert Driver.objects.get(email="nyc@example.com").time_zone == "America/New_York"

    page = open_driver_page(chromium, server, "driver-a")
    page.goto(f"{server.http}/portal/sessions/{network.session_a.pk}/")
    expect(page.locator("#time-zone")).to_have_text("UTC")
    expect(page.get_by_text("Started 2026-11-02 10:00")).to_be_visible()
    page.get_by_role("link", name="Profile").click()
    expect(page.get_by_role("link", name="Profile")).to_have_attribute("aria-current", "page")
    page.get_by_label("Time zone").select_option("Europe/Berlin")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#time-zone")).to_have_text("Europe/Berlin")
    page.goto(f"{server.http}/portal/sessions/{network.session_a.pk}/")
    expect(page.get_by_text("Started 2026-11-02 11:00")).to_be_visible()  # 10:00 UTC is 11:00 in Berlin
    page.context.close()


def open_driver_page(chromium, server, username):
    from tests.portal.browser import TIMEOUT_MS
    from tests.portal.test_browser import portal_login

    page = chromium.new_context().new_page()
    page.set_default_timeout(TIMEOUT_MS)
    portal_login(page, server, username, f"pw-{username}")
    return page


def test_driver_sets_the_postal_address_for_invoices_on_the_profile_page(network, live_server_process, open_page):
    from stations.models import Driver

    server = live_server_process
    page = open_page()
    portal_login(page, server, "driver-a", "pw-driver-a")
    page.get_by_role("link", name="Profile").click()
    page.get_by_label("Postal address").fill("Lindenstraße 12\n  10115 Berlin\n\nGermany")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    page.reload()
    expect(page.get_by_label("Postal address")).to_have_value("Lindenstraße 12\n10115 Berlin\nGermany")
    assert Driver.objects.get(pk=network.session_a.driver_id).address == "Lindenstraße 12\n10115 Berlin\nGermany"


def test_driver_starts_watches_and_stops_with_confirmation(network, live_server_process, open_page):
    from stations.simulator import Timing

    server = live_server_process
    page = open_page()
    portal_login(page, server, "driver-a", "pw-driver-a")
    timing = Timing(pause_s=3600, session_s=3600, meter_interval_s=1, reconnect_max_s=2)
    with SimulatedCharger(server.ws, "CP-A", PASSWORD, timing=timing):
        nav = page.get_by_role("navigation", name="Main")
        nav.get_by_role("link", name="Start charging").click()
        expect(nav.get_by_role("link", name="Start charging")).to_have_attribute("aria-current", "page")
        page.get_by_label("Station").fill("cp-a")  # as typed from the label: any case
        expect(page.get_by_label("Charge with card")).to_contain_text("TOKEN-A (RFID card)")
        page.get_by_role("button", name="Start").click()
        expect(page).to_have_url(re.compile(r"/portal/sessions/\d+/$"))  # the live session itself
        expect(page.locator("#session-status")).to_have_text("Active")
        energy = page.locator("#energy-kwh")
        expect(energy).not_to_have_text("0.00")  # meter values arrive live
        expect(page.locator("#power-kw")).to_have_text("11.0")

        questions = []
        page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
        page.get_by_role("button", name="Stop charging").click()
        expect(page.locator("#session-status")).to_have_text("Active")  # dismissed: nothing sent
        assert questions and "Stop charging now?" in questions[0]
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Stop charging").click()
        expect(page.get_by_text("Stop requested: the station accepted.")).to_be_visible()
        for _ in range(30):
            if page.locator("#session-status").inner_text() == "Completed":
                break
            page.wait_for_timeout(500)
            page.reload()
        expect(page.locator("#session-status")).to_have_text("Completed")
        expect(page.locator("#power-kw")).to_have_text("-")  # an ended session draws nothing
    assert CommandLog.objects.filter(command="stop_session", requested_by=network.driver_a).count() == 1


def test_driver_blocks_a_card_after_confirming_and_unblocks_it(network, live_server_process, open_page):
    server = live_server_process
    page = open_page()
    portal_login(page, server, "driver-a", "pw-driver-a")
    page.goto(f"{server.http}/portal/tokens/")
    row = page.locator("tbody tr", has_text="TOKEN-A")
    expect(row).to_contain_text("RFID card")
    expect(row).to_contain_text("Active")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Block card TOKEN-A").click()
    expect(row).to_contain_text("Active")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Block card TOKEN-A").click()
    expect(row).to_contain_text("Blocked")
    page.get_by_role("button", name="Unblock card TOKEN-A").click()
    expect(page.get_by_text("Card TOKEN-A works again.")).to_be_visible()
    expect(row).to_contain_text("Active")


CONTRAST = """element => {
  const rgb = c => c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
  const lum = c => { const [r, g, b] = rgb(c).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                     return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  let back = element, bg = "rgba(0, 0, 0, 0)";
  while (back && (bg === "rgba(0, 0, 0, 0)" || bg === "transparent")) { bg = getComputedStyle(back).backgroundColor; back = back.parentElement; }
  const [a, b] = [lum(getComputedStyle(element).color), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


def test_dashboard_brand_is_readable(network, live_server_process, open_page):
    server = live_server_process
    page = open_page()
    admin_login(page, server, "owner-a", "pw-owner-a")
    page.goto(f"{server.http}/admin/dashboard/")
    brand = page.locator("#site-name a")
    expect(brand).to_be_visible()
    assert brand.evaluate(CONTRAST) >= 4.5


def test_admin_wears_the_chargenet_theme_served_from_this_server(network, live_server_process, open_page):
    """django-admin-interface's stylesheets come from our own static files and are applied
    (the header takes the ChargeNet theme's colour, the overview's sections keep Django's
    markup), and no request leaves the server."""
    server = live_server_process
    page = open_page()
    requests, stylesheets = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("response", lambda response: stylesheets.append((response.url, response.status))
            if "/static/admin_interface/css/" in response.url else None)
    admin_login(page, server, "ops", "pw-ops")
    expect(page.locator("body")).to_have_class(re.compile(r"\badmin-interface\b.*\bchargenet-theme\b", re.S))
    expect(page.locator("#header")).to_have_css("background-color", "rgb(15, 42, 68)")
    expect(page.locator("#site-name")).to_have_text("ChargeNet")
    expect(page.locator(".app-network caption")).to_have_css("background-color", "rgb(11, 107, 203)")
    assert any(re.search(r"/admin-interface\.css(\?|$)", url) and status == 200 for url, status in stylesheets), stylesheets
    assert requests and all(url.startswith(server.http) or url.startswith("data:") for url in requests), requests


def test_admin_lets_a_phone_pinch_zoom(network, live_server_process, open_page):
    """django-admin-interface ships `user-scalable=no, maximum-scale=1.0`; ours keeps one
    viewport that allows zooming, and the theme's responsive stylesheet still loads."""
    server = live_server_process
    page = open_page()
    admin_login(page, server, "ops", "pw-ops")
    expect(page.locator("#site-name")).to_have_text("ChargeNet")
    viewports = page.locator('meta[name="viewport"]')
    expect(viewports).to_have_count(1)
    assert viewports.get_attribute("content") == "width=device-width, initial-scale=1"
    assert page.locator('link[href*="admin/css/responsive.css"]').count() == 1


def test_finance_exports_last_month(live_server_process, open_page):
    from billing.invoicing import previous_period
    from billing.models import Invoice

    call_command("seed_demo", stdout=StringIO())
    period = previous_period()
    server = live_server_process
    page = open_page()
    admin_login(page, server, "finance", "finance")
    page.get_by_role("link", name="Invoices").first.click()
    page.get_by_role("link", name="Export month…").click()
    expect(page.get_by_label("Month")).to_have_value(period)  # last month, ready to go
    page.get_by_label("Export").select_option("lines")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename == f"invoice-lines-{period}.csv"
    rows = Path(download.path()).read_text().splitlines()
    assert rows[0].startswith("invoice_number,kind,issued_at,period")
    numbers = {row.split(",")[0] for row in rows[1:]}
    assert numbers == set(Invoice.objects.filter(period=period).values_list("number", flat=True))
    assert len(rows) - 1 == 12  # every seeded session of last month, one line each


def test_operator_edits_a_tariff_in_the_structured_editor_with_a_cost_preview(live_server_process, open_page):
    from billing.models import Tariff

    call_command("seed_demo", stdout=StringIO())
    tariff = Tariff.objects.get(tariff_id="BERLIN-PEAK")
    server = live_server_process
    page = open_page()
    admin_login(page, server, "admin", "admin")
    page.goto(f"{server.http}/admin/billing/tariff/{tariff.pk}/change/")
    peak = page.locator('fieldset[data-element="0"]')
    expect(peak.get_by_role("checkbox", name="mon")).to_be_checked()
    expect(peak.locator('input[type="time"]').first).to_have_value("17:00")
    page.locator("#preview-start").fill("2026-01-05T18:00")  # a Monday, in the peak
    page.locator("#preview-kwh").fill("20")
    page.locator("#preview-charging").fill("60")
    expect(page.locator("#preview-total")).to_have_text("11.66 EUR incl. VAT")  # 20 kWh x 0.49 + 19 %
    peak.get_by_label("Price excl. VAT").fill("0.59")
    expect(page.locator("#preview-total")).to_have_text("14.04 EUR incl. VAT")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    tariff.refresh_from_db()
    assert tariff.elements[0]["price_components"][0]["price"] == 0.59
    assert tariff.elements[0]["restrictions"]["start_time"] == "17:00"


def test_station_page_follows_the_station_live(network, live_server_process, open_page):
    from stations.models import Connector, Evse

    Connector.objects.create(evse=Evse.objects.get(station=network.station_a, evse_id=1), connector_id=1,
                             status="Available")
    server = live_server_process
    page = open_page()
    admin_login(page, server, "owner-a", "pw-owner-a")
    page.goto(f"{server.http}/admin/stations/chargingstation/{network.station_a.pk}/change/")
    expect(page.locator("#connection-state")).to_have_text("Offline")
    expect(page.locator("#live-mode")).to_have_text("live")
    with Station(server.ws, "CP-A", PASSWORD) as station:
        station.call("BootNotification", {"chargePointVendor": "Test", "chargePointModel": "Browser"})
        expect(page.locator("#connection-state")).to_have_text("Online")  # no reload
        station.call("StatusNotification", {"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted"})
        expect(page.locator('[data-connector="1/1"] td').nth(2)).to_have_text("Faulted")
        started = station.call("StartTransaction", {"connectorId": 1, "idTag": "TOKEN-A", "meterStart": 0,
                                                    "timestamp": "2026-11-27T10:00:00Z"})
        station.call("MeterValues", {"connectorId": 1, "transactionId": started["transactionId"], "meterValue": [
            {"timestamp": "2026-11-27T10:01:00Z", "sampledValue": [
                {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"}]}]})
        expect(page.locator("#charging-now")).to_contain_text("1.50 kWh · 7.4 kW")
