"""OCPP 2.1 Dynamic charging profiles: one period whose limit or setpoint moves.

The load manager sends a 2.1 station one Dynamic TxProfile per session and afterwards
moves it with UpdateDynamicSchedule, a much smaller message than a new SetChargingProfile.
The station may also ask (PullDynamicScheduleUpdate, every ``dynUpdateInterval``): it gets
the latest update ChargeNet wants in force. A station that refuses Dynamic profiles gets
Absolute ones, as 2.0.1 stations do.

Safety without ChargeNet: a Dynamic profile carries ``maxOfflineDuration`` (the site's
``profile_validity_s``): a station cut off from ChargeNet that long drops it and falls back
to the site's safe TxDefaultProfile, as an Absolute profile's second period would. A station
still connected whose profile the load manager has not renewed for that long (it renews at
half of it) gets the safe limit and no discharge on its next pull.
"""

from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from stations.commands.catalog import V21, CommandError
from stations.models import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingStation,
    CommandOutcome,
    ProfileStatus,
)

DYN_UPDATE_INTERVAL_S = 300
"""How often a station pulls the load manager's Dynamic profile (at most half the profile's
``maxOfflineDuration``): a pushed update it missed reaches it within this."""

# ChargingScheduleUpdateType field <- period key of ChargeNet's profiles
UPDATE_FIELDS = {"limit": "limit", "setpoint": "setpoint", "dischargeLimit": "discharge_limit"}


class UpdateDynamicScheduleParams(serializers.Serializer):
    profile_id = serializers.IntegerField(min_value=1, help_text="a Dynamic profile the station holds")
    limit = serializers.FloatField(min_value=0, required=False)
    setpoint = serializers.FloatField(required=False, help_text="negative: discharge")
    discharge_limit = serializers.FloatField(max_value=0, required=False)

    def validate(self, attrs):
        if not any(name in attrs for name in UPDATE_FIELDS.values()):
            raise serializers.ValidationError("give limit, setpoint or discharge_limit")
        setpoint, limit, discharge = attrs.get("setpoint"), attrs.get("limit"), attrs.get("discharge_limit")
        if setpoint is not None and limit is not None and setpoint > limit:
            raise serializers.ValidationError({"setpoint": "must not exceed the limit"})
        if setpoint is not None and discharge is not None and setpoint < discharge:
            raise serializers.ValidationError({"setpoint": "must not discharge beyond discharge_limit"})
        return attrs


def schedule_update(p: dict) -> dict:
    """The 2.1 ChargingScheduleUpdateType of update params (or of a profile period)."""
    return {key: round(float(p[name]), 1) for key, name in UPDATE_FIELDS.items() if p.get(name) is not None}


def update_dynamic_schedule(p: dict, version: str) -> tuple[str, dict]:
    if version != V21:
        raise CommandError(f"UpdateDynamicSchedule is OCPP 2.1; this station speaks {version}")
    return "UpdateDynamicSchedule", {"chargingProfileId": p["profile_id"], "scheduleUpdate": schedule_update(p)}


def _held(station: ChargingStation, profile_id: int):
    return ChargingProfile.objects.filter(
        station=station, profile_id=profile_id, kind=ChargingProfileKind.DYNAMIC, status=ProfileStatus.ACTIVE
    ).order_by("-pk")


def prepare_update(params: dict, station: ChargingStation) -> dict:
    """Only for a Dynamic profile the station holds; the update becomes what a pull answers."""
    profile = _held(station, params["profile_id"]).first()
    if profile is None:
        raise CommandError(f"the station holds no Dynamic profile {params['profile_id']} (send one first)")
    profile.schedule_update = {**(profile.schedule_update or {}), **schedule_update(params)}
    profile.save(update_fields=["schedule_update", "updated_at"])
    return params


def answered_update(*, params: dict, station: ChargingStation, outcome: str, response: dict | None, log) -> None:
    """Accepted: the profile's period now has the new values. Rejected: the station does not
    hold the profile (any more, e.g. after a reboot): it is no longer counted as held."""
    profile = _held(station, params["profile_id"]).first()
    if profile is None:
        return
    if outcome == CommandOutcome.ACCEPTED:
        first = dict(profile.periods[0])
        first.update({name: params[name] for name in UPDATE_FIELDS.values() if params.get(name) is not None})
        profile.periods = [first, *profile.periods[1:]]
        profile.dyn_update_at = timezone.now()
        profile.command = log
        profile.save(update_fields=["periods", "dyn_update_at", "command", "updated_at"])
    elif outcome == CommandOutcome.REJECTED:
        profile.status = ProfileStatus.FAILED
        profile.save(update_fields=["status", "updated_at"])


def pull_update(*, station_pk: int, profile_id: int) -> dict | None:
    """The schedule update for a station's PullDynamicScheduleUpdate (camelCase), or None
    when it holds no Dynamic profile with that id from ChargeNet."""
    profile = (
        ChargingProfile.objects
        .filter(station_id=station_pk, profile_id=profile_id, kind=ChargingProfileKind.DYNAMIC,
                status=ProfileStatus.ACTIVE)
        .order_by("-pk").first()
    )
    if profile is None:
        return None
    update = {**schedule_update(profile.periods[0]), **(profile.schedule_update or {})}
    stale_after = profile.max_offline_duration_s
    if stale_after and profile.dyn_update_at and timezone.now() - profile.dyn_update_at > timedelta(
            seconds=stale_after):
        # ChargeNet has not renewed it (the load manager renews at half this): as an Absolute
        # profile would after its validity, it falls to the safe limit and never discharges.
        update = {"limit": profile.fallback_limit if profile.fallback_limit is not None else 0.0}
        if profile.periods[0].get("setpoint") is not None:
            update.update(setpoint=0.0, dischargeLimit=0.0)
    return update


# --- what the load manager sends -----------------------------------------------------------


def as_dynamic(params: dict, *, validity_s: int) -> dict:
    """The load manager's Absolute TxProfile as a Dynamic one: its first period (the limit or
    setpoint now); the station drops it after ``validity_s`` offline (the Absolute
    profile's second period falls to the safe default after the same time)."""
    dynamic = {k: v for k, v in params.items() if k != "start_schedule"}
    dynamic.update(
        kind=ChargingProfileKind.DYNAMIC,
        periods=[params["periods"][0]],
        dyn_update_interval_s=min(DYN_UPDATE_INTERVAL_S, max(1, validity_s // 2)),
        max_offline_duration_s=validity_s,
        # the Absolute profile's limit after its validity (its second period), else its only one
        fallback_limit=params["periods"][-1]["limit"],
    )
    return dynamic


def update_of(dynamic_params: dict) -> dict:
    """``update_dynamic_schedule`` params that bring the held profile to ``dynamic_params``."""
    period = dynamic_params["periods"][0]
    update = {"profile_id": dynamic_params["profile_id"], "limit": period["limit"]}
    for name in ("setpoint", "discharge_limit"):
        if period.get(name) is not None:
            update[name] = period[name]
    return update


def holds(*, station_id: str, dynamic_params: dict) -> bool:
    """Whether the station holds the load manager's Dynamic profile for this transaction in
    the same unit, phases and operation mode: then an update is enough (an update cannot
    change those; a car that starts or stops discharging gets a new profile)."""
    profile = ChargingProfile.objects.filter(
        station__station_id=station_id, profile_id=dynamic_params["profile_id"],
        transaction_id=dynamic_params.get("transaction_id", ""), kind=ChargingProfileKind.DYNAMIC,
        status=ProfileStatus.ACTIVE,
    ).order_by("-pk").first()
    if profile is None or profile.charging_rate_unit != dynamic_params["charging_rate_unit"]:
        return False
    held, wanted = profile.periods[0], dynamic_params["periods"][0]
    return all(held.get(key) == wanted.get(key) for key in ("operation_mode", "number_phases"))


def takes_dynamic(station: ChargingStation) -> bool:
    return station.ocpp_version == V21 and station.accepts_dynamic_profiles is not False
