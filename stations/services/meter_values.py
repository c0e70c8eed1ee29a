"""Meter values in one shape, whichever OCPP version sent them.

Handlers turn their version's sampledValue into ``Sample``; ``store_samples`` writes them
in one statement and keeps the session's energy register up to date. Energy is always
last register minus first register, so a repeated or replayed reading never counts twice.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from stations.models import ChargingSession, Location, Measurand, MeterSample, Phase, ReadingContext

_MEASURANDS = {label: value for value, label in Measurand.choices}
_PHASES = {label: value for value, label in Phase.choices}
_CONTEXTS = {label: value for value, label in ReadingContext.choices}
_LOCATIONS = {label: value for value, label in Location.choices}

# unit -> (factor to the base unit, offset)
_UNITS = {
    "Wh": (1, 0),
    "kWh": (1000, 0),
    "varh": (1, 0),
    "kvarh": (1000, 0),
    "W": (1, 0),
    "kW": (1000, 0),
    "VA": (1, 0),
    "kVA": (1000, 0),
    "var": (1, 0),
    "kvar": (1000, 0),
    "A": (1, 0),
    "V": (1, 0),
    "Hz": (1, 0),
    "Percent": (1, 0),
    "Celsius": (1, 0),
    "Celcius": (1, 0),
    "K": (1, -273.15),
    "Fahrenheit": (5 / 9, -32 * 5 / 9),
    "": (1, 0),
}

ENERGY_REGISTER = Measurand.ENERGY_ACTIVE_IMPORT_REGISTER
EXPORT_REGISTER = Measurand.ENERGY_ACTIVE_EXPORT_REGISTER


@dataclass(frozen=True)
class Sample:
    timestamp: datetime
    measurand: int
    value: float
    phase: int = Phase.NONE
    location: int = Location.OUTLET
    context: int = ReadingContext.SAMPLE_PERIODIC

    @property
    def is_energy_register(self) -> bool:
        return self.measurand == ENERGY_REGISTER and self.phase == Phase.NONE and self.location == Location.OUTLET

    @property
    def is_soc(self) -> bool:
        """The car's state of charge (whatever location the station names: EV or outlet)."""
        return self.measurand == Measurand.SOC and self.phase == Phase.NONE

    @property
    def is_export_register(self) -> bool:
        """V2X: the energy the car fed back through the outlet."""
        return self.measurand == EXPORT_REGISTER and self.phase == Phase.NONE and self.location == Location.OUTLET


def make_sample(
    *,
    timestamp: datetime,
    value,
    measurand: str | None,
    unit: str | None = None,
    multiplier: int = 0,
    phase: str | None = None,
    location: str | None = None,
    context: str | None = None,
) -> Sample | None:
    """A normalised sample, or None for what cannot be stored as a number
    (signed data, an unknown measurand or unit)."""
    code = _MEASURANDS.get(measurand or "Energy.Active.Import.Register")
    if code is None:
        return None
    try:
        number = float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None
    factor, offset = _UNITS.get(unit if unit is not None else _default_unit(code), (None, None))
    if factor is None:
        return None
    number = number * factor * (10**multiplier) + offset
    where = _LOCATIONS.get(location or "Outlet")
    if where is None:
        return None  # a location this version of ChargeNet does not know: never mistaken for the outlet
    return Sample(
        timestamp=timestamp,
        measurand=code,
        value=number,
        phase=_PHASES.get(phase or "", Phase.NONE),
        location=where,
        context=_CONTEXTS.get(context or "Sample.Periodic", ReadingContext.OTHER),
    )


def _default_unit(measurand: int) -> str:
    return "Wh" if measurand < Measurand.POWER_ACTIVE_IMPORT else ""


def store_samples(
    *, station_pk: int, evse_id: int, session: ChargingSession | None, samples: list[Sample], save: bool = True
) -> set[str]:
    """Insert samples (duplicates ignored) and advance the session's register. Call inside
    the caller's transaction. Returns the session fields changed; with ``save=False`` the
    caller saves them along with its own changes (one UPDATE instead of two)."""
    if not samples:
        return set()
    MeterSample.objects.bulk_create(
        sample_rows(station_pk=station_pk, evse_id=evse_id, session=session, samples=samples),
        ignore_conflicts=True,
    )
    if session is None:
        return set()
    changed = apply_energy_registers(session, samples)
    if changed and save:
        session.save(update_fields=sorted(changed | {"updated_at"}))
    return changed


def sample_rows(
    *, station_pk: int, evse_id: int, session: ChargingSession | None, samples: list[Sample]
) -> list[MeterSample]:
    """Unsaved MeterSample rows for bulk_create (conflicting duplicates are then ignored)."""
    return [
        MeterSample(
            station_id=station_pk, session=session, evse_id=evse_id, timestamp=s.timestamp, measurand=s.measurand,
            phase=s.phase, location=s.location, context=s.context, value=s.value,
        )
        for s in samples
    ]


def apply_energy_registers(session: ChargingSession, samples: list[Sample]) -> set[str]:
    """Move the session's first/last energy register by these samples (unsaved); returns
    the changed fields.

    Transaction.Begin fixes the start, Transaction.End the stop; otherwise the earliest
    reading is the start and the latest the current register.
    """
    changed: set[str] = set()
    for sample in samples:
        if sample.is_soc:
            changed |= apply_soc(session, percent=sample.value, at=sample.timestamp)
            continue
        if sample.is_export_register:
            changed |= _apply_export_register(session, sample)
            continue
        if not sample.is_energy_register:
            continue
        wh = round(sample.value)
        if sample.context == ReadingContext.TRANSACTION_BEGIN and not session.meter_start_fixed:
            session.meter_start_wh, session.meter_start_at, session.meter_start_fixed = wh, sample.timestamp, True
            changed |= {"meter_start_wh", "meter_start_at", "meter_start_fixed"}
        elif not session.meter_start_fixed and (
            session.meter_start_wh is None
            or session.meter_start_at is None
            or sample.timestamp < session.meter_start_at
        ):
            session.meter_start_wh, session.meter_start_at = wh, sample.timestamp
            changed |= {"meter_start_wh", "meter_start_at"}
        if sample.context == ReadingContext.TRANSACTION_END:
            session.meter_stop_wh = wh
            changed.add("meter_stop_wh")
        if session.meter_last_at is None or sample.timestamp >= session.meter_last_at:
            session.meter_last_wh, session.meter_last_at = wh, sample.timestamp
            changed |= {"meter_last_wh", "meter_last_at"}
    if changed:
        changed |= recompute_energy(session)
    return changed


def recompute_energy(session: ChargingSession) -> set[str]:
    end = session.meter_stop_wh if session.meter_stop_wh is not None else session.meter_last_wh
    if session.meter_start_wh is None or end is None:
        return set()
    energy = max(0, end - session.meter_start_wh)
    if energy != session.energy_wh:
        session.energy_wh = energy
        return {"energy_wh"}
    return set()


def apply_soc(session: ChargingSession, *, percent: float, at: datetime) -> set[str]:
    """Keep the latest state of charge on the session (an older reading arriving late does not
    replace a newer one); values outside 0-100 % are no state of charge and are ignored."""
    if not 0 <= percent <= 100 or (session.soc_at is not None and at < session.soc_at):
        return set()
    if session.soc_percent == percent and session.soc_at == at:
        return set()
    session.soc_percent, session.soc_at = percent, at
    return {"soc_percent", "soc_at"}


def _apply_export_register(session: ChargingSession, sample: Sample) -> set[str]:
    """Export is counted like import (last register minus earliest), apart from it, so a
    V2G session shows energy in and energy out; neither nets the other."""
    wh, changed = round(sample.value), set()
    if session.export_start_at is None or sample.timestamp < session.export_start_at:
        session.export_start_wh, session.export_start_at = wh, sample.timestamp
        changed |= {"export_start_wh", "export_start_at"}
    if session.export_last_at is None or sample.timestamp >= session.export_last_at:
        session.export_last_wh, session.export_last_at = wh, sample.timestamp
        changed |= {"export_last_wh", "export_last_at"}
    exported = max(0, session.export_last_wh - session.export_start_wh)
    if exported != session.energy_exported_wh:
        session.energy_exported_wh = exported
        changed.add("energy_exported_wh")
    return changed
