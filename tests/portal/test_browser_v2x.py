"""V2X consent per car in a real browser: on the Cars page a driver ticks "Allow discharge" on
one of two cars, sets its minimum charge and battery and the card that charges it, and saves;
the page shows the saved values, and the load manager discharges a session with that card (no
further than the minimum), never one of the other car; unticking takes it back."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from stations.models import (
    Car,
    ChargingSession,
    ChargingStation,
    Driver,
    Evse,
    IdToken,
    Measurand,
    MeterSample,
    SessionLoadState,
)
from stations.services.cars import create_car
from stations.smart_charging import load_manager
from tests.portal.test_browser import portal_login

pytestmark = [pytest.mark.live, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def plugged_in(network, token: IdToken) -> ChargingSession:
    """A bidirectional car at a 2.1 station of site A, started with ``token``, at 70 % of its battery."""
    now = timezone.now()
    station = ChargingStation.objects.create(station_id="CS-V2G", site=network.site_a, ocpp_version="2.1",
                                             is_online=True, charging_rate_unit="W")
    evse = Evse.objects.create(station=station, evse_id=1, max_power_w=11_000)
    session = ChargingSession.objects.create(station=station, evse=evse, transaction_id="V2G-1", id_token=token,
                                             driver=token.driver, started_at=now, soc_percent=70, soc_at=now)
    SessionLoadState.objects.create(session=session, departure_at=now + timedelta(hours=6), energy_request_wh=10_000,
                                    requested_energy_transfer="AC_BPT", ev_max_discharge_power_w=7_000,
                                    ev_min_energy_request_wh=-30_000)
    MeterSample.objects.create(station=station, session=session, evse_id=1, measurand=Measurand.SOC, value=70,
                               timestamp=now)
    return session


def load_manager_view(network, session):
    """What the load manager reads of the session: may it discharge, and down to which net energy."""
    info = next(i for i in load_manager._demands(network.site_a, now=timezone.now()) if i.session.pk == session.pk)
    return load_manager.may_discharge(info), info.car_minimum_wh


def test_driver_allows_one_car_to_discharge_with_a_minimum_charge(network, live_server_process, open_page):
    driver = Driver.objects.get(email="driver-a@example.com")
    family = create_car(driver=driver, name="Family car")
    commuter = create_car(driver=driver, name="Commuter")
    server = live_server_process
    page = open_page()
    portal_login(page, server, "driver-a", "pw-driver-a")
    page.goto(f"{server.http}/portal/vehicles/")

    form = page.get_by_role("form", name="Settings of Family car")
    consent = form.get_by_label("Allow discharge")
    expect(consent).not_to_be_checked()
    consent.check()
    form.get_by_label("Minimum charge (%)").fill("40")
    form.get_by_label("Battery (kWh)").fill("60")
    form.get_by_label("TOKEN-A").check()
    form.get_by_role("button", name="Save").click()

    expect(page.get_by_text("Family car is saved: it may feed the site")).to_be_visible()
    form = page.get_by_role("form", name="Settings of Family car")
    expect(form.get_by_label("Allow discharge")).to_be_checked()
    expect(form.get_by_label("Minimum charge (%)")).to_have_value("40")
    expect(form.get_by_label("Battery (kWh)")).to_have_value("60.0")
    expect(form.get_by_label("TOKEN-A")).to_be_checked()
    expect(page.get_by_role("form", name="Settings of Commuter").get_by_label("Allow discharge")).not_to_be_checked()
    family.refresh_from_db()
    commuter.refresh_from_db()
    assert (family.allow_discharge, family.min_soc_percent, float(family.battery_capacity_kwh)) == (True, 40, 60.0)
    assert commuter.allow_discharge is False
    assert IdToken.objects.get(value="TOKEN-A").car == family
    assert not Car.objects.filter(driver__email="driver-b@example.com").exists()

    # Used: a session with TOKEN-A is the family car's: it may discharge, down to 40 % of 60 kWh
    # (it is at 70 %: 18 kWh above, a stricter floor than the car's own 30 kWh).
    session = plugged_in(network, IdToken.objects.get(value="TOKEN-A"))
    allowed, minimum_wh = load_manager_view(network, session)
    assert allowed and minimum_wh == pytest.approx(-18_000)

    form.get_by_label("Allow discharge").uncheck()
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Family car is saved: it only charges.")).to_be_visible()
    family.refresh_from_db()
    assert family.allow_discharge is False and family.min_soc_percent == 40
    assert load_manager_view(network, session)[0] is False
