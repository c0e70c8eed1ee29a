"""A car's minimum charge as the V2X planner needs it: the net energy of the session (drawn
less fed back, from its start, like ``ev_min_energy_request_wh``) at which the car is at the
minimum its driver set (``Car.min_soc_percent`` and/or ``Car.min_energy_kwh``).

That takes the battery's state of charge now (the session's latest, ``soc_percent`` as of
``soc_at``: a ``SoC`` meter value or a DC car's charging needs, no older than
``SOC_MAX_AGE``) and its capacity (``Display.BatteryEnergyCapacity`` as the station reports
it, else the car's ``battery_capacity_kwh``). A minimum that cannot be checked that way
counts as not yet reached: the car then does not discharge.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from stations.models import Car, ChargingSession, Measurand, MeterSample

SOC_MAX_AGE = timedelta(minutes=10)


@dataclass(frozen=True)
class Battery:
    soc_percent: float | None = None
    capacity_wh: float | None = None


def batteries(sessions: list[ChargingSession], *, now: datetime) -> dict[int, Battery]:
    """Each session's state of charge (recent only) and reported capacity, in one query."""
    if not sessions:
        return {}
    capacities: dict[int, float] = {}
    rows = (
        MeterSample.objects.filter(session__in=sessions, measurand=Measurand.DISPLAY_BATTERY_ENERGY_CAPACITY)
        .order_by("session_id", "-timestamp")
        .values_list("session_id", "value")
    )
    for session_id, value in rows:
        capacities.setdefault(session_id, value)
    return {
        s.pk: Battery(
            soc_percent=s.soc_percent if s.soc_at is not None and s.soc_at >= now - SOC_MAX_AGE else None,
            capacity_wh=capacities[s.pk] if capacities.get(s.pk, 0) > 0 else None,
        )
        for s in sessions
    }


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
