"""What 2.0.1 and 2.1 stations tell us about charging limits: the car's charging needs (ISO 15118),
the schedule the car chose, and the profiles the station holds. Payloads are the raw
camelCase frames (the ocpp package's case conversion is lossy for nested free-form data)."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from stations.models import (
    ChargingProfile,
    ChargingSession,
    ProfileSource,
    ProfileStatus,
    SessionLoadState,
    SessionStatus,
    SiteLoadLimit,
)
from stations.services.meter_values import apply_soc
from stations.smart_charging.dispatch import request_rebalance
from stations.timestamps import parse_timestamp

NOMINAL_VOLTAGE_V = 230.0


def _active_session(station_pk: int, evse_id: int) -> ChargingSession | None:
    return (
        ChargingSession.objects.filter(station_id=station_pk, evse__evse_id=evse_id, status=SessionStatus.ACTIVE)
        .select_related("evse", "station__site")
        .order_by("-started_at", "-pk")
        .first()
    )


@transaction.atomic
def record_charging_needs(*, station_pk: int, payload: dict) -> str:
    """NotifyEVChargingNeeds: departure time, energy and the car's maximum feed the load
    manager. Answer Accepted when a schedule (a TxProfile) will follow, Rejected when the
    site has no load management or no session runs on that EVSE."""
    session = _active_session(station_pk, payload["evseId"])
    if session is None:
        return "Rejected"
    needs = payload["chargingNeeds"]
    ac, dc = needs.get("acChargingParameters"), needs.get("dcChargingParameters")
    energy_wh = max_power_w = None
    phases = 1 if needs["requestedEnergyTransfer"] == "AC_single_phase" and session.evse.phases == 3 else None
    if ac:
        energy_wh = ac.get("energyAmount")
        voltage = _site_voltage(session)
        car_phases = phases or session.evse.phases
        max_power_w = int(ac["evMaxCurrent"] * voltage * car_phases) if ac.get("evMaxCurrent") else None
    elif dc:
        energy_wh = dc.get("energyAmount")
        if dc.get("evMaxPower") is not None:
            max_power_w = int(dc["evMaxPower"])
        elif dc.get("evMaxCurrent") and dc.get("evMaxVoltage"):
            max_power_w = int(dc["evMaxCurrent"] * dc["evMaxVoltage"])
    departure = parse_timestamp(needs["departureTime"]) if needs.get("departureTime") else None
    if dc and dc.get("stateOfCharge") is not None:  # a DC car says where its battery stands
        at = parse_timestamp(payload["timestamp"]) if payload.get("timestamp") else timezone.now()
        changed = apply_soc(session, percent=float(dc["stateOfCharge"]), at=at)
        if changed:
            session.save(update_fields=sorted(changed | {"updated_at"}))
    v2x = _v2x_needs(needs, session)
    if v2x.get("target_energy_wh") is not None:
        energy_wh = v2x.pop("target_energy_wh")
    else:
        v2x.pop("target_energy_wh", None)
    if v2x.get("max_charge_power_w"):
        max_power_w = v2x["max_charge_power_w"]
    v2x.pop("max_charge_power_w", None)
    # What the session holds so far: imported minus fed back.
    held_wh = session.energy_wh - session.energy_exported_wh
    SessionLoadState.objects.update_or_create(
        session=session,
        defaults={
            "departure_at": departure,
            # The request counts from now; the manager subtracts what the session already has.
            "energy_request_wh": max(0, int(energy_wh) + held_wh) if energy_wh is not None else None,
            "ev_max_power_w": max_power_w,
            "ev_phases": phases,
            **v2x,
        },
    )
    site_pk = session.station.site_id
    if not SiteLoadLimit.objects.filter(site_id=site_pk, enabled=True).exists():
        return "Rejected"
    transaction.on_commit(lambda: request_rebalance(site_pk=site_pk, reason="charging needs"))
    return "Accepted"


def _v2x_needs(needs: dict, session: ChargingSession) -> dict:
    """OCPP 2.1 V2XChargingParameters as SessionLoadState fields (empty values for 2.0.1).

    Energies in the message count from now; stored ones count from the session's start, like
    ``energy_request_wh``. Discharge powers are magnitudes (the spec's are positive)."""
    params = needs.get("v2xChargingParameters") or {}
    held_wh = session.energy_wh - session.energy_exported_wh

    def from_start(value) -> int | None:
        return None if value is None else int(value) + held_wh

    discharge = params.get("maxDischargePower")
    return {
        "requested_energy_transfer": needs["requestedEnergyTransfer"],
        "available_energy_transfer": list(needs.get("availableEnergyTransfer") or []),
        "ev_max_discharge_power_w": int(abs(discharge)) if discharge is not None else None,
        "ev_min_energy_request_wh": from_start(params.get("evMinEnergyRequest")),
        "ev_max_energy_request_wh": from_start(params.get("evMaxEnergyRequest")),
        "target_soc": params.get("targetSoC"),
        "v2x_parameters": params or None,
        "target_energy_wh": params.get("evTargetEnergyRequest"),
        "max_charge_power_w": int(params["maxChargePower"]) if params.get("maxChargePower") else None,
    }


def _site_voltage(session: ChargingSession) -> float:
    config = SiteLoadLimit.objects.filter(site_id=session.station.site_id).only("voltage_v").first()
    return config.voltage_v if config else NOMINAL_VOLTAGE_V


@transaction.atomic
def record_ev_schedule(*, station_pk: int, payload: dict) -> str:
    session = _active_session(station_pk, payload["evseId"])
    if session is None:
        return "Rejected"
    SessionLoadState.objects.update_or_create(
        session=session, defaults={"ev_schedule": {"timeBase": payload["timeBase"], **payload["chargingSchedule"]}}
    )
    return "Accepted"


@transaction.atomic
def record_reported_profiles(*, station_pk: int, payload: dict) -> None:
    """ReportChargingProfiles: the station's own view, kept beside what we sent."""
    evse_id = payload["evseId"]
    for profile in payload["chargingProfile"]:
        schedule = profile["chargingSchedule"][0]
        ChargingProfile.objects.filter(
            station_id=station_pk, evse_id=evse_id, profile_id=profile["id"], status=ProfileStatus.REPORTED
        ).delete()
        ChargingProfile.objects.create(
            station_id=station_pk,
            evse_id=evse_id,
            profile_id=profile["id"],
            stack_level=profile["stackLevel"],
            purpose=profile["chargingProfilePurpose"],
            kind=profile["chargingProfileKind"],
            recurrency_kind=profile.get("recurrencyKind", ""),
            valid_from=_when(profile.get("validFrom")),
            valid_to=_when(profile.get("validTo")),
            transaction_id=profile.get("transactionId", ""),
            charging_rate_unit=schedule["chargingRateUnit"],
            start_schedule=_when(schedule.get("startSchedule")),
            duration_s=schedule.get("duration"),
            min_charging_rate=schedule.get("minChargingRate"),
            periods=[_period(p) for p in schedule["chargingSchedulePeriod"]],
            status=ProfileStatus.REPORTED,
            source=ProfileSource.STATION,
        )


# 2.1 period fields kept beside the limit (which 2.1 makes optional for setpoint modes).
_PERIOD_FIELDS_21 = {"setpoint": "setpoint", "dischargeLimit": "discharge_limit", "operationMode": "operation_mode"}


def _period(period: dict) -> dict:
    stored = {"start_period_s": period["startPeriod"]}
    if "limit" in period:
        stored["limit"] = period["limit"]
    if "numberPhases" in period:
        stored["number_phases"] = period["numberPhases"]
    for name, key in _PERIOD_FIELDS_21.items():
        if name in period:
            stored[key] = period[name]
    return stored


def _when(value: str | None) -> datetime | None:
    return parse_timestamp(value) if value else None


PRIORITY_CHARGING = 10
"""The allocator's priority of a session in 2.1 priority charging (others have 0): served first."""


@transaction.atomic
def record_priority_charging(*, station_pk: int, transaction_id: str, activated: bool) -> bool:
    """2.1 NotifyPriorityCharging (the station or the driver switched priority charging on or
    off): the load manager serves the session first while it is on. False for an unknown
    transaction."""
    session = (
        ChargingSession.objects.filter(station_id=station_pk, transaction_id=transaction_id)
        .select_related("station").first()
    )
    if session is None:
        return False
    SessionLoadState.objects.update_or_create(
        session=session, defaults={"priority": PRIORITY_CHARGING if activated else 0}
    )
    site_pk = session.station.site_id
    if site_pk is not None and SiteLoadLimit.objects.filter(site_id=site_pk, enabled=True).exists():
        transaction.on_commit(lambda: request_rebalance(site_pk=site_pk, reason="priority charging"))
    return True
