"""The V2X planner on cases small enough to check by hand: a demand peak covered by a car
that may discharge, prices that make a car sell high and buy low, and the limits it keeps."""

from datetime import UTC, datetime, timedelta

import pytest

from stations.load_management import SiteLimit, V2xDemand, plan_v2x

T0 = datetime(2025, 6, 2, 16, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def car(sid="EV-1", *, hours=4, request=20_000, charge=11_000, discharge=11_000, may=True, floor=-20_000, **kw):
    return V2xDemand(session_id=sid, max_charge_w=charge, departure=T0 + hours * HOUR, energy_request_wh=request,
                     max_discharge_w=discharge, may_discharge=may, floor_wh=floor, **kw)


def peak_at_17(base_w=30_000, peak_w=50_000):
    """The site's other load: 30 kW, 50 kW from 17:00 to 18:00."""
    return [(T0, base_w), (T0 + HOUR, peak_w), (T0 + 2 * HOUR, base_w)]


def test_a_demand_peak_over_the_grid_limit_is_covered_by_discharge():
    site = SiteLimit(max_power_w=40_000)
    plan = plan_v2x(site, [car()], start=T0, site_load=peak_at_17(), slot=HOUR)
    assert plan.power_w["EV-1"][1] == pytest.approx(-10_000)  # feeds the 10 kW the site lacks at 17:00
    assert max(plan.grid_w) == pytest.approx(40_000)
    assert plan.overload_w == (0, 0, 0, 0)
    assert plan.energy_wh["EV-1"] == pytest.approx(20_000) and plan.shortfall_wh["EV-1"] == 0


def test_without_permission_the_peak_stays_and_the_car_only_charges():
    site = SiteLimit(max_power_w=40_000)
    plan = plan_v2x(site, [car(may=False)], start=T0, site_load=peak_at_17(), slot=HOUR)
    assert min(plan.power_w["EV-1"]) >= 0
    assert plan.overload_w[1] == pytest.approx(10_000)  # the site's own load; the car adds nothing there
    assert plan.power_w["EV-1"][1] == 0


def test_a_car_at_its_floor_charges_first_to_cover_a_later_peak():
    site = SiteLimit(max_power_w=40_000)
    plan = plan_v2x(site, [car(floor=0.0, request=5_000)], start=T0, site_load=peak_at_17(), slot=HOUR)
    powers = plan.power_w["EV-1"]
    assert powers[0] >= 10_000 - 1e-6 and powers[1] == pytest.approx(-10_000)
    assert plan.energy_wh["EV-1"] == pytest.approx(5_000)


def test_prices_make_a_car_sell_high_and_buy_low_within_the_export_limit():
    site = SiteLimit(max_power_w=40_000)
    prices = [(T0, 0.10), (T0 + HOUR, 0.40), (T0 + 2 * HOUR, 0.10)]
    plan = plan_v2x(site, [car(request=10_000)], start=T0, price=prices, export_limit_w=5_000, slot=HOUR)
    assert plan.power_w["EV-1"][1] == pytest.approx(-5_000)  # export capped at 5 kW
    assert min(plan.grid_w) == pytest.approx(-5_000)
    assert plan.exported_wh() == pytest.approx(5_000)
    assert plan.energy_wh["EV-1"] == pytest.approx(10_000)


def test_no_export_by_default_but_discharge_may_feed_another_car():
    site = SiteLimit(max_power_w=11_000)
    prices = [(T0, 0.10), (T0 + HOUR, 0.40), (T0 + 2 * HOUR, 0.10)]
    giver = car("EV-1", request=0)
    taker = car("EV-2", request=11_000, may=False, hours=2)
    plan = plan_v2x(site, [giver, taker], start=T0, price=prices, slot=HOUR)
    assert min(plan.grid_w) >= -1e-6
    assert plan.energy_wh["EV-2"] == pytest.approx(11_000)
    assert plan.energy_wh["EV-1"] == pytest.approx(0)


def test_a_single_phase_car_covers_its_phase():
    # 3 x 20 A at 230 V. The site's load: 10 A per phase, 22 A per phase from 17:00 to 18:00.
    site = SiteLimit(max_current_a=20)
    one_phase = car(phases=1, phase=2, charge=7_360, discharge=7_360, request=0)
    load = [(T0, 6_900), (T0 + HOUR, 15_180), (T0 + 2 * HOUR, 6_900)]
    plan = plan_v2x(site, [one_phase], start=T0, site_load=load, slot=HOUR)
    # It feeds L2 the 2 A it lacks (460 W) and takes them back later; L1 and L3 stay 2 A over.
    assert plan.power_w["EV-1"][1] == pytest.approx(-460)
    assert plan.overload_w[1] == pytest.approx(460)  # W on each of L1 and L3
    assert plan.energy_wh["EV-1"] == pytest.approx(0)


def test_plan_reports_power_at_a_moment():
    plan = plan_v2x(SiteLimit(max_power_w=40_000), [car()], start=T0, site_load=peak_at_17(), slot=HOUR)
    assert plan.power_at("EV-1", T0 + 1.5 * HOUR) == plan.power_w["EV-1"][1]
    assert plan.power_at("EV-1", T0 + 5 * HOUR) == 0


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        V2xDemand(session_id="x", max_charge_w=1, departure=T0, floor_wh=10)
    with pytest.raises(ValueError):
        plan_v2x(SiteLimit(max_power_w=1), [], start=T0, export_limit_w=-1)
