"""A car's minimum charge as the V2X planner needs it: the net energy of the session (drawn
less fed back, from its start, like ``ev_min_energy_request_wh``) at which the car is at the
minimum its driver set (``Car.min_soc_percent`` and/or ``Car.min_energy_kwh``).

That takes the battery's state of charge now (the session's latest ``SoC`` meter value, no
older than ``SOC_MAX_AGE``) and its capacity (``Display.BatteryEnergyCapacity`` as the
station reports it, else the car's ``battery_capacity_kwh``). A minimum that cannot be
checked that way counts as not yet reached: the car then does not discharge.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from stations.models import Car, Measurand, MeterSample

SOC_MAX_AGE = timedelta(minutes=10)


@dataclass(frozen=True)
class Battery:
    soc_percent: float | None = None
    capacity_wh: float | None = None


def batteries(session_pks: list[int], *, now: datetime) -> dict[int, Battery]:
    """The latest state of charge (recent only) and reported capacity of each session, in one query."""
    if not session_pks:
        return {}
    rows = (
        MeterSample.objects.filter(
            session_id__in=session_pks,
            measurand__in=[Measurand.SOC, Measurand.DISPLAY_BATTERY_ENERGY_CAPACITY],
        )
        .order_by("session_id", "measurand", "-timestamp")
        .values_list("session_id", "measurand", "timestamp", "value")
    )
    latest: dict[tuple[int, int], tuple[datetime, float]] = {}
    for session_id, measurand, timestamp, value in rows:
        latest.setdefault((session_id, measurand), (timestamp, value))
    out = {}
    for session_id in session_pks:
        soc = latest.get((session_id, Measurand.SOC))
        capacity = latest.get((session_id, Measurand.DISPLAY_BATTERY_ENERGY_CAPACITY))
        out[session_id] = Battery(
            soc_percent=soc[1] if soc is not None and soc[0] >= now - SOC_MAX_AGE else None,
            capacity_wh=capacity[1] if capacity is not None and capacity[1] > 0 else None,
        )
    return out


def minimum_held_wh(car: Car | None, battery: Battery, *, held_wh: float) -> float | None:
    """The session's net energy at which the car is at its minimum charge: ``held_wh`` (what
    it holds now, from the session's start) less the energy above its minimum. None when the
    car sets no minimum; ``math.inf`` when it sets one the battery readings cannot check."""
    if car is None or not car.has_minimum:
        return None
    capacity_wh = battery.capacity_wh
    if capacity_wh is None and car.battery_capacity_kwh:
        capacity_wh = float(car.battery_capacity_kwh) * 1000
    if battery.soc_percent is None or capacity_wh is None:
        return math.inf
    least_wh = max(
        (car.min_soc_percent or 0) / 100 * capacity_wh,
        float(car.min_energy_kwh or 0) * 1000,
    )
    above_wh = battery.soc_percent / 100 * capacity_wh - least_wh
    return held_wh - above_wh
