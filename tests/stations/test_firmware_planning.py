"""Wave planning, maintenance windows and claiming, as units and as invariants."""

import threading
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connections
from hypothesis import given, settings
from hypothesis import strategies as st

from stations.firmware import rollout
from stations.firmware.models import IN_FLIGHT_STATES, CampaignStation, MemberState
from stations.firmware.rollout import CampaignError, Candidate, in_window, pick, plan_waves, retry_delay
from stations.models import ChargingSession, ChargingStation, Site
from tests.stations.firmware_fixtures import make_firmware


@given(n=st.integers(0, 400), canary=st.integers(0, 100), wave_size=st.integers(1, 120))
def test_every_station_lands_in_exactly_one_wave(n, canary, wave_size):
    ids = list(range(n))
    waves = plan_waves(ids, canary_percent=canary, wave_size=wave_size)
    assert [s for wave in waves for s in wave] == ids
    assert all(wave for wave in waves)
    if n and canary:
        assert len(waves[0]) == min(n, -(-n * canary // 100))  # ceil: at least one canary
        later = waves[1:]
    else:
        later = waves
    assert all(len(wave) <= wave_size for wave in later)
    assert all(len(wave) == wave_size for wave in later[:-1])


def test_five_percent_canaries_then_waves_of_fifty():
    waves = plan_waves(list(range(1000)), canary_percent=5, wave_size=50)
    assert [len(w) for w in waves] == [50] + [50] * 19


def test_bad_plans_are_refused():
    with pytest.raises(CampaignError):
        plan_waves([1], canary_percent=5, wave_size=0)
    with pytest.raises(CampaignError):
        plan_waves([1], canary_percent=101, wave_size=5)


@pytest.mark.parametrize(
    "utc, zone, start, end, inside",
    [
        ("2026-01-15T00:30:00", "Europe/Berlin", time(1), time(5), True),  # 01:30 CET
        ("2026-01-15T04:00:00", "Europe/Berlin", time(1), time(5), False),  # 05:00 CET: the end is excluded
        ("2026-07-15T00:30:00", "Europe/Berlin", time(1), time(5), True),  # 02:30 CEST
        ("2026-07-15T02:30:00", "Europe/Berlin", time(1), time(5), True),  # 04:30 CEST
        ("2026-07-15T03:30:00", "Europe/Berlin", time(1), time(5), False),  # 05:30 CEST
        ("2026-01-15T07:00:00", "America/New_York", time(1), time(5), True),  # 02:00 EST
        ("2026-01-15T07:00:00", "UTC", time(1), time(5), False),
        ("2026-01-15T23:30:00", "UTC", time(22), time(4), True),  # overnight window
        ("2026-01-15T03:59:00", "UTC", time(22), time(4), True),
        ("2026-01-15T12:00:00", "UTC", time(22), time(4), False),
        ("2026-01-15T12:00:00", "UTC", None, None, True),  # no window: any time
    ],
)
def test_maintenance_window_on_the_sites_clock(utc, zone, start, end, inside):
    now = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert in_window(now=now, time_zone=zone, start=start, end=end) is inside


@given(
    flags=st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()), max_size=60),
    in_flight=st.integers(0, 30),
    limit=st.integers(1, 30),
)
def test_pick_never_exceeds_the_limit_nor_starts_a_station_that_must_wait(flags, in_flight, limit):
    candidates = [Candidate(member_id=i, online=o, charging=c, in_window=w, busy_elsewhere=b)
                  for i, (o, c, w, b) in enumerate(flags)]
    chosen, waiting = pick(candidates, in_flight=in_flight, max_concurrent=limit)
    assert in_flight + len(chosen) <= max(limit, in_flight)
    assert len(set(chosen)) == len(chosen)
    assert set(chosen).isdisjoint(waiting) and set(chosen) | set(waiting) == {c.member_id for c in candidates}
    for c in candidates:
        if c.member_id in chosen:
            assert c.online and c.in_window and not c.charging and not c.busy_elsewhere


def test_backoff_doubles():
    assert [retry_delay(attempts=a, backoff_s=60).total_seconds() for a in (1, 2, 3)] == [60, 120, 240]


# --- claiming, in the database ----------------------------------------------------------------


def network(count: int, *, time_zone: str = "UTC", online: bool = True) -> list[ChargingStation]:
    site = Site.objects.create(name=f"Site {time_zone}", time_zone=time_zone)
    stations = [ChargingStation.objects.create(station_id=f"S-{time_zone[:3]}-{n:03d}", site=site, vendor="ChargeNet",
                                               model="Simulator", firmware_version="sim-1.0", is_online=online)
                for n in range(count)]
    return stations


def in_flight(campaign) -> int:
    return CampaignStation.objects.filter(campaign=campaign, state__in=IN_FLIGHT_STATES).count()


@pytest.mark.django_db
def test_ticks_respect_the_concurrency_limit_until_stations_finish(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    network(12)
    campaign = rollout.create_campaign(name="c", firmware=make_firmware(), models=["Simulator"], canary_percent=0,
                                       wave_size=12, max_concurrent=4, start=True)
    first = rollout.advance_campaign(campaign_id=campaign.pk)
    assert len(first) == 4 and rollout.advance_campaign(campaign_id=campaign.pk) == []
    assert set(CampaignStation.objects.filter(state=MemberState.SCHEDULED, campaign=campaign)
               .values_list("waiting_reason", flat=True)) == {"concurrency limit"}
    # Two finish: two more may go.
    for member in CampaignStation.objects.filter(pk__in=first[:2]):
        rollout.record_boot_version(station_pk=member.station_id, firmware_version="2.4.1")
    second = rollout.advance_campaign(campaign_id=campaign.pk)
    assert len(second) == 2 and set(second).isdisjoint(first) and in_flight(campaign) == 4


@pytest.mark.django_db
def test_stations_charging_or_outside_their_window_wait(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    berlin = network(2, time_zone="Europe/Berlin")
    tokyo = network(1, time_zone="Asia/Tokyo")
    ChargingSession.objects.create(station=berlin[1], transaction_id="1")
    campaign = rollout.create_campaign(name="c", firmware=make_firmware(), models=["Simulator"], canary_percent=0,
                                       wave_size=10, window_start=time(1), window_end=time(5), start=True)
    # 01:30 in Berlin is 09:30 in Tokyo.
    now = datetime(2026, 1, 15, 0, 30, tzinfo=UTC)
    claimed = rollout.advance_campaign(campaign_id=campaign.pk, now=now)
    states = {m.station_id: m for m in CampaignStation.objects.filter(campaign=campaign)}
    assert claimed == [states[berlin[0].pk].pk]
    assert states[berlin[1].pk].waiting_reason == "session in progress"
    assert states[tokyo[0].pk].waiting_reason == "outside the maintenance window"
    # The session ends: the station goes at the next tick (still in the window).
    ChargingSession.objects.filter(station=berlin[1]).update(status="Completed")
    assert rollout.advance_campaign(campaign_id=campaign.pk, now=now + timedelta(minutes=1)) == \
        [states[berlin[1].pk].pk]


@pytest.mark.django_db
def test_a_station_is_never_in_flight_for_two_campaigns(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    network(1)
    one = rollout.create_campaign(name="a", firmware=make_firmware("2.4.1"), models=["Simulator"], start=True)
    two = rollout.create_campaign(name="b", firmware=make_firmware("2.5.0"), models=["Simulator"], start=True)
    assert len(rollout.advance_campaign(campaign_id=one.pk)) == 1
    assert rollout.advance_campaign(campaign_id=two.pk) == []
    assert CampaignStation.objects.get(campaign=two).waiting_reason == "another update in progress"


@pytest.mark.django_db(transaction=True)
def test_concurrent_ticks_claim_each_station_once_and_keep_the_limit(settings, tmp_path):
    """Several workers ticking the same campaign at once (threads, each with its own connection)."""
    settings.MEDIA_ROOT = str(tmp_path)
    network(30)
    campaign = rollout.create_campaign(name="c", firmware=make_firmware(), models=["Simulator"], canary_percent=0,
                                       wave_size=30, max_concurrent=7, start=True)
    claimed: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def worker():
        try:
            barrier.wait()
            for _ in range(3):
                got = rollout.advance_campaign(campaign_id=campaign.pk)
                with lock:
                    claimed.extend(got)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(claimed) == len(set(claimed)) == 7
    assert in_flight(campaign) == 7
    assert CampaignStation.objects.filter(campaign=campaign, attempts__gt=1).count() == 0


@settings(max_examples=15, deadline=None)
@given(outcomes=st.lists(st.sampled_from(["installed", "failed", "silent"]), min_size=1, max_size=25),
       limit=st.integers(1, 5), wave_size=st.integers(1, 8))
@pytest.mark.django_db
def test_whatever_stations_do_no_tick_exceeds_the_limit_or_resends(outcomes, limit, wave_size, tmp_path_factory):
    from django.conf import settings as django_settings

    django_settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))
    from stations.firmware.models import FirmwareCampaign, FirmwareImage

    FirmwareCampaign.objects.all().delete()  # one database transaction holds every example
    FirmwareImage.objects.all().delete()
    ChargingStation.objects.all().delete()
    Site.objects.all().delete()
    stations = network(len(outcomes))
    outcome_of = {s.pk: o for s, o in zip(stations, outcomes, strict=True)}
    firmware = make_firmware("9.0")
    campaign = rollout.create_campaign(name="p", firmware=firmware, models=["Simulator"], canary_percent=10,
                                       wave_size=wave_size, max_concurrent=limit, max_attempts=1,
                                       failure_threshold_percent=100, station_timeout_s=60, start=True)
    now = datetime.now(UTC)
    sent: list[int] = []
    for _ in range(4 * len(outcomes) + 10):
        now += timedelta(seconds=30)
        claimed = rollout.advance_campaign(campaign_id=campaign.pk, now=now)
        assert in_flight(campaign) <= limit
        sent += claimed
        for member in CampaignStation.objects.filter(pk__in=claimed):
            rollout.record_dispatch(member_id=member.pk, accepted=True)
            if outcome_of[member.station_id] == "installed":
                rollout.record_boot_version(station_pk=member.station_id, firmware_version=firmware.version)
            elif outcome_of[member.station_id] == "failed":
                rollout.record_firmware_status(station_pk=member.station_id, status="DownloadFailed")
        campaign.refresh_from_db()
        if campaign.status == "completed":
            break
    assert campaign.status == "completed"
    assert len(sent) == len(set(sent)) == len(outcomes)
    final = dict(CampaignStation.objects.filter(campaign=campaign).values_list("station_id", "state"))
    assert final == {pk: "installed" if o == "installed" else "failed" for pk, o in outcome_of.items()}
