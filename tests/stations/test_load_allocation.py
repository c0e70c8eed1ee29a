"""The site load manager's allocator, by worked examples: a site's grid connection shared
among the cars charging there (``stations.load_management``). Pure functions, no database."""

from datetime import UTC, datetime, timedelta

import pytest

from stations.load_management import (
    RebalancePolicy,
    SentProfile,
    SessionDemand,
    SiteLimit,
    SiteLimitPeriod,
    allocate,
    fallback_default_limit,
    plan_schedule,
)

T0 = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def car(session_id: str, arrival: int = 0, **kwargs) -> SessionDemand:
    """A car on a 22 kW (3x32 A) EVSE unless told otherwise."""
    kwargs.setdefault("max_current_a", 32)
    return SessionDemand(session_id=session_id, arrival=arrival, **kwargs)


def limits_w(allocation) -> dict[str, int]:
    return {sid: limit.limit_w for sid, limit in allocation.limits.items()}


def periods(schedule) -> list[tuple[int, int]]:
    return [(period.start_period_s, period.limit_w) for period in schedule.periods]


# --- sharing ---------------------------------------------------------------------------


def test_3x160a_site_shares_equally_among_ten_three_phase_cars():
    allocation = allocate(SiteLimit(max_current_a=160), [car(f"S{i}", i) for i in range(10)], at=T0)

    assert {limit.limit_a for limit in allocation.limits.values()} == {16.0}
    assert set(limits_w(allocation).values()) == {16 * 230 * 3}
    assert allocation.unused_a == (0.0, 0.0, 0.0)
    assert allocation.queued == ()


def test_110kw_site_shares_equally_among_ten_22kw_cars():
    allocation = allocate(SiteLimit(max_power_w=110_000), [car(f"S{i}", i) for i in range(10)], at=T0)

    assert set(limits_w(allocation).values()) == {11_000}
    assert allocation.total_w == 110_000
    assert allocation.unused_w == 0


def test_cars_below_their_fair_share_get_their_maximum_and_the_rest_is_shared():
    cars = [car("small", 0, max_power_w=3_700, max_current_a=None), car("A", 1), car("B", 2)]
    allocation = allocate(SiteLimit(max_power_w=30_000), cars, at=T0)

    assert limits_w(allocation) == {"small": 3_700, "A": 13_150, "B": 13_150}


def test_single_phase_cars_are_limited_by_their_phase_and_other_phases_stay_free():
    cars = [
        car("L1-a", 0, phases=1, phase=1),
        car("L1-b", 1, phases=1, phase=1),
        car("L2", 2, phases=1, phase=2),
    ]
    allocation = allocate(SiteLimit(max_current_a=40), cars, at=T0)

    assert {sid: limit.limit_a for sid, limit in allocation.limits.items()} == {"L1-a": 20.0, "L1-b": 20.0, "L2": 32.0}
    assert allocation.unused_a == (0.0, 8.0, 40.0)


def test_a_three_phase_car_next_to_single_phase_cars_stops_rising_when_their_phase_is_full():
    cars = [car("L1-a", 0, phases=1, phase=1), car("L1-b", 1, phases=1, phase=1), car("3ph", 2)]
    allocation = allocate(SiteLimit(max_current_a=63), cars, at=T0)

    # L1 carries both single-phase cars and a third of the three-phase car: all three
    # rise together (equal W) until L1 is full, at 63 A x 230 V / (1 + 1 + 1/3) = 6210 W.
    assert set(limits_w(allocation).values()) == {6_210}
    assert {sid: limit.limit_a for sid, limit in allocation.limits.items()} == {"L1-a": 27.0, "L1-b": 27.0, "3ph": 9.0}
    assert allocation.unused_a == (0.0, 54.0, 54.0)


def test_higher_priority_is_filled_first_and_lower_priorities_keep_their_minimum():
    cars = [car("fleet", 2, priority=1), car("A", 0), car("B", 1)]
    allocation = allocate(SiteLimit(max_power_w=30_000), cars, at=T0)

    assert limits_w(allocation) == {"fleet": 30_000 - 2 * 4_140, "A": 4_140, "B": 4_140}
    assert list(allocation.limits) == ["fleet", "A", "B"]


# --- minimum and queue -------------------------------------------------------------------


def test_a_session_whose_minimum_does_not_fit_is_queued_at_zero():
    cars = [car("A", 0), car("B", 1), car("C", 2)]
    allocation = allocate(SiteLimit(max_current_a=16), cars, at=T0)

    assert allocation.queued == ("C",)
    assert allocation.limits["C"].queued
    assert limits_w(allocation) == {"A": 8 * 690, "B": 8 * 690, "C": 0}


def test_a_later_smaller_session_can_charge_while_a_bigger_one_waits():
    cars = [car("A", 0), car("B", 1), car("C", 2), car("D", 3, phases=1)]
    allocation = allocate(SiteLimit(max_power_w=10_000), cars, at=T0)

    assert allocation.queued == ("C",)
    assert limits_w(allocation)["D"] >= 1_380


def test_a_higher_priority_arrival_takes_the_place_of_a_lower_priority_session():
    cars = [car("A", 0), car("B", 1), car("vip", 2, priority=1)]
    allocation = allocate(SiteLimit(max_current_a=16), cars, at=T0)

    assert allocation.queued == ("B",)


def test_minimum_power_defaults_to_six_amps_on_each_phase_used():
    allocation = allocate(SiteLimit(max_power_w=1_000), [car("1ph", phases=1)], at=T0)
    assert allocation.limits["1ph"].min_w == 1_380
    assert allocation.queued == ("1ph",)

    allocation = allocate(SiteLimit(max_power_w=1_000), [car("1ph", phases=1, min_power_w=900)], at=T0)
    assert allocation.limits["1ph"].limit_w == 1_000


# --- slow cars -----------------------------------------------------------------------------


def test_a_slow_cars_unused_share_is_redistributed():
    cars = [car("slow", 0, measured_power_w=5_000, allowed_power_w=11_000), car("A", 1), car("B", 2)]
    allocation = allocate(SiteLimit(max_power_w=33_000), cars, at=T0)

    assert allocation.limits["slow"].max_w == 5_690  # measured + 1 A headroom on 3 phases
    assert limits_w(allocation) == {"slow": 5_690, "A": 13_655, "B": 13_655}


def test_a_car_using_what_it_is_allowed_may_get_more():
    cars = [car("busy", 0, measured_power_w=10_900, allowed_power_w=11_000), car("A", 1)]
    allocation = allocate(SiteLimit(max_power_w=30_000), cars, at=T0)

    assert allocation.limits["busy"].max_w == 22_080
    assert limits_w(allocation) == {"busy": 15_000, "A": 15_000}


def test_a_car_a_little_below_what_it_is_allowed_keeps_it():
    # 10.2 kW of 11 kW, headroom 1.02 kW (10 %): not slow enough to cut, not close enough
    # to want more (hysteresis).
    cars = [car("steady", 0, measured_power_w=10_200, allowed_power_w=11_000), car("A", 1)]
    allocation = allocate(SiteLimit(max_power_w=30_000), cars, at=T0)

    assert limits_w(allocation) == {"steady": 11_000, "A": 19_000}


def test_a_slow_car_keeps_at_least_its_minimum():
    cars = [car("full", 0, measured_power_w=0, allowed_power_w=11_000), car("A", 1)]
    allocation = allocate(SiteLimit(max_power_w=30_000), cars, at=T0)

    assert limits_w(allocation) == {"full": 4_140, "A": 22_080}


def test_a_suspended_car_only_gets_its_minimum_from_what_cars_that_charge_cannot_use():
    full = car("full", 0, suspended_ev=True, measured_power_w=0, allowed_power_w=4_140)
    site = SiteLimit(max_current_a=25)

    allocation = allocate(site, [full, car("A", 1, max_current_a=16)], at=T0)
    assert limits_w(allocation) == {"A": 11_040, "full": 4_140}

    allocation = allocate(site, [full, car("A", 1), car("B", 2)], at=T0)
    assert limits_w(allocation) == {"A": 8_625, "B": 8_625, "full": 0}
    assert allocation.queued == ("full",)


# --- stations that cannot be limited -----------------------------------------------------


def test_rejected_and_offline_stations_are_counted_at_their_maximum():
    cars = [
        car("rejects", 0, max_power_w=22_000, profile_rejected=True),
        car("offline", 1, max_power_w=11_000, offline=True),
        car("A", 2, max_power_w=22_000),
        car("B", 3, max_power_w=22_000),
    ]
    allocation = allocate(SiteLimit(max_power_w=50_000), cars, at=T0)

    assert limits_w(allocation) == {"rejects": 22_000, "offline": 11_000, "A": 8_500, "B": 8_500}
    assert not allocation.limits["rejects"].controlled
    assert allocation.total_w == 50_000


def test_stations_that_cannot_be_limited_and_exceed_the_site_leave_the_others_queued():
    cars = [car("rejects", 0, max_power_w=22_000, profile_rejected=True), car("A", 1)]
    allocation = allocate(SiteLimit(max_power_w=20_000), cars, at=T0)

    assert allocation.overloaded
    assert allocation.queued == ("A",)


# --- time-varying site limit -----------------------------------------------------------------


def test_a_schedule_period_lowers_the_static_limit_while_in_force():
    site = SiteLimit(
        max_power_w=110_000,
        schedule=(SiteLimitPeriod(T0 + HOUR, max_power_w=44_000), SiteLimitPeriod(T0 + 3 * HOUR)),
    )
    cars = [car(f"S{i}", i) for i in range(4)]

    assert allocate(site, cars, at=T0).total_w == 4 * 22_080
    assert allocate(site, cars, at=T0 + 2 * HOUR).total_w == 44_000
    assert allocate(site, cars, at=T0 + 3 * HOUR).total_w == 4 * 22_080


def test_a_schedule_period_cannot_raise_the_grid_connection():
    site = SiteLimit(max_power_w=20_000, schedule=(SiteLimitPeriod(T0, max_power_w=200_000),))
    assert allocate(site, [car("A"), car("B", 1)], at=T0).total_w == 20_000


def test_limits_hold_until_the_next_rebalance_when_the_site_limit_drops_before_it():
    site = SiteLimit(max_power_w=110_000, schedule=(SiteLimitPeriod(T0 + timedelta(seconds=30), max_power_w=20_000),))
    cars = [car("A"), car("B", 1)]

    assert allocate(site, cars, at=T0, until=T0 + timedelta(seconds=60)).total_w == 20_000
    assert allocate(site, cars, at=T0, until=T0 + timedelta(seconds=30)).total_w == 2 * 22_080


def test_a_schedule_without_static_limit_must_cover_the_instant():
    site = SiteLimit(schedule=(SiteLimitPeriod(T0 + HOUR, max_power_w=20_000),))
    with pytest.raises(ValueError, match="no site limit in force"):
        allocate(site, [car("A")], at=T0)


def test_session_ids_must_be_unique():
    with pytest.raises(ValueError, match="unique"):
        allocate(SiteLimit(max_power_w=1), [car("A"), car("A")], at=T0)


# --- schedules against a PV or price curve ---------------------------------------------------


def test_a_pv_curve_puts_the_charging_in_the_sunniest_hours():
    day = T0.replace(hour=0)
    pv_w = [
        (day, 0),
        (day + 10 * HOUR, 5_000),
        (day + 12 * HOUR, 9_000),
        (day + 14 * HOUR, 4_000),
        (day + 16 * HOUR, 0),
    ]
    commuter = car("A", max_power_w=11_000, departure=day + 17 * HOUR, energy_request_wh=22_000)

    plan = plan_schedule(SiteLimit(max_power_w=50_000), [commuter], start=T0, curve=pv_w, prefer="highest")["A"]

    assert periods(plan) == [(0, 0), (4 * 3600, 11_000), (6 * 3600, 0)]
    assert plan.duration_s == 9 * 3600
    assert (plan.planned_energy_wh, plan.shortfall_wh) == (22_000, 0)
    assert plan.limit_at(T0 + 5 * HOUR) == 11_000
    assert plan.limit_at(T0 + HOUR) == 0


def test_a_price_curve_serves_earliest_departure_first_in_the_cheapest_hours():
    evening = T0.replace(hour=22) - timedelta(days=1)
    midnight = T0.replace(hour=0)
    price = [(evening, 0.30), (midnight + HOUR, 0.10), (midnight + 3 * HOUR, 0.30)]
    early = car("early", 1, max_power_w=11_000, departure=midnight + 6 * HOUR, energy_request_wh=11_000)
    late = car("late", 0, max_power_w=11_000, departure=midnight + 7 * HOUR, energy_request_wh=11_000)

    plans = plan_schedule(SiteLimit(max_power_w=11_000), [late, early], start=evening, curve=price)

    assert periods(plans["early"]) == [(0, 0), (3 * 3600, 11_000), (4 * 3600, 0)]
    assert periods(plans["late"]) == [(0, 0), (4 * 3600, 11_000), (5 * 3600, 0)]
    assert plans["late"].periods[1].limit_a == 15.9 and plans["late"].periods[1].number_phases == 3


def test_a_plan_that_cannot_deliver_the_request_reports_the_shortfall():
    departure = T0 + 2 * HOUR
    greedy = car("A", max_power_w=11_000, departure=departure, energy_request_wh=30_000)

    plan = plan_schedule(SiteLimit(max_power_w=50_000), [greedy], start=T0, curve=[(T0, 0.2)])["A"]

    assert plan.planned_energy_wh == 22_000
    assert plan.shortfall_wh == 8_000


def test_a_plan_respects_the_site_schedule_and_stations_that_cannot_be_limited():
    site = SiteLimit(max_power_w=30_000, schedule=(SiteLimitPeriod(T0 + HOUR, max_power_w=12_000),))
    cars = [
        car("A", max_power_w=11_000, departure=T0 + 2 * HOUR, energy_request_wh=22_000),
        car("rejects", 1, max_power_w=7_000, profile_rejected=True),
    ]

    plan = plan_schedule(site, cars, start=T0, curve=[(T0, 0.2)])

    assert set(plan) == {"A"}
    assert periods(plan["A"]) == [(0, 11_000), (3600, 5_000)]
    assert plan["A"].shortfall_wh == 6_000


def test_the_last_slot_is_planned_at_what_is_still_needed_but_not_below_the_minimum():
    cars = [car("A", max_power_w=11_000, departure=T0 + 2 * HOUR, energy_request_wh=12_000)]
    plan = plan_schedule(SiteLimit(max_power_w=50_000), cars, start=T0, curve=[(T0, 0.2)], slot=HOUR)["A"]
    assert periods(plan) == [(0, 11_000), (3600, 4_140)]


# --- re-balancing ------------------------------------------------------------------------------


def sent_at(at: datetime, **limits: int) -> dict[str, SentProfile]:
    return {sid: SentProfile(limit_w=limit_w, sent_at=at) for sid, limit_w in limits.items()}


def test_a_new_session_gets_its_profile_at_once():
    allocation = allocate(SiteLimit(max_power_w=30_000), [car("A"), car("B", 1)], at=T0)
    assert RebalancePolicy().due(allocation, sent_at(T0, A=15_000)) == ["B"]


def test_changes_within_the_dead_band_are_not_sent():
    allocation = allocate(SiteLimit(max_power_w=30_000), [car("A"), car("B", 1)], at=T0 + HOUR)
    assert RebalancePolicy(dead_band_w=700).due(allocation, sent_at(T0, A=14_500, B=14_500)) == []


def test_a_decrease_is_sent_at_once_and_an_increase_waits_for_the_minimum_interval():
    policy = RebalancePolicy(min_interval=timedelta(minutes=5), dead_band_w=700)
    cars = [car("A", max_power_w=11_000), car("B", 1, max_power_w=11_000), car("C", 2, max_power_w=11_000)]
    site = SiteLimit(max_power_w=30_000)
    sent = sent_at(T0, A=12_000, B=8_000, C=10_000)  # now: 10 kW each

    assert policy.due(allocate(site, cars, at=T0 + timedelta(minutes=1)), sent) == ["A"]
    assert policy.due(allocate(site, cars, at=T0 + timedelta(minutes=5)), sent) == ["A", "B"]


def test_a_withheld_small_decrease_is_sent_when_the_stations_would_exceed_the_site():
    policy = RebalancePolicy(min_interval=timedelta(0), dead_band_w=700)
    cars = [car("A", max_power_w=11_000), car("B", 1, max_power_w=11_000), car("C", 2, max_power_w=11_000)]
    sent = sent_at(T0, A=10_500, B=10_500, C=9_000)  # now: 10 kW each, C's increase goes out

    assert policy.due(allocate(SiteLimit(max_power_w=30_000), cars, at=T0 + HOUR), sent) == ["A", "B", "C"]


def test_profiles_are_sent_new_sessions_first_then_decreases_then_increases():
    policy = RebalancePolicy(min_interval=timedelta(0))
    cars = [car("A", max_power_w=11_000), car("B", 1, max_power_w=11_000), car("C", 2), car("D", 3)]
    sent = sent_at(T0, A=5_000, B=11_000, C=9_000)  # now 7.5 kW each

    assert policy.due(allocate(SiteLimit(max_power_w=30_000), cars, at=T0 + HOUR), sent) == ["D", "B", "C", "A"]


def test_a_stop_is_always_sent_and_stations_that_cannot_be_limited_never_are():
    policy = RebalancePolicy()
    cars = [car("A"), car("B", 1), car("C", 2), car("rejects", 3, max_power_w=1_000, profile_rejected=True)]
    allocation = allocate(SiteLimit(max_current_a=16), cars, at=T0)

    assert policy.due(allocation, sent_at(T0, A=5_000, B=5_000, C=300, rejects=1_000)) == ["C"]


# --- fallback when the CSMS is unreachable ---------------------------------------------------


def test_fallback_shares_a_3x160a_site_among_its_evses_even_if_all_cars_use_one_phase():
    default = fallback_default_limit(SiteLimit(max_current_a=160), 10)
    assert (default.limit_a, default.limit_w) == (16.0, 3_680)


def test_fallback_counts_evses_that_ignore_profiles_on_the_phases_they_use():
    single_phase = car("rejects", phases=1, phase=2)  # 32 A on L2
    default = fallback_default_limit(SiteLimit(max_current_a=160), 8, unmanaged=[single_phase])
    assert (default.limit_a, default.limit_w) == (16.0, 3_680)


def test_fallback_shares_a_110kw_site_even_if_all_cars_are_three_phase():
    default = fallback_default_limit(SiteLimit(max_power_w=110_000), 10)
    assert (default.limit_a, default.limit_w) == (15.9, 11_000)


def test_fallback_is_never_above_the_evse_maximum():
    default = fallback_default_limit(SiteLimit(max_current_a=160), 4, evse_max_current_a=32, evse_max_power_w=7_400)
    assert (default.limit_a, default.limit_w) == (32.0, 7_400)


def test_fallback_assumes_the_lowest_limit_of_the_schedule_and_leaves_room_for_unmanaged_evses():
    site = SiteLimit(max_power_w=110_000, schedule=(SiteLimitPeriod(T0, max_power_w=66_000),))
    rejects_profiles = car("rejects", max_power_w=22_000)
    default = fallback_default_limit(site, 5, unmanaged=[rejects_profiles])
    assert default.limit_w == 8_800
