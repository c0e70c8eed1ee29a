"""Charging profiles: the version-neutral commands and their OCPP 1.6 / 2.0.1 / 2.1 payloads.

2.1 periods may carry V2X fields: an ``operation_mode`` (CentralSetpoint, ChargingOnly,
Idle, ...), a ``setpoint`` (negative: discharge) and a ``discharge_limit`` (at most 0).
Older stations cannot express them; the command is refused for them.

``set_charging_profile`` records the profile before it is sent and keeps its status in step
with the station's answer, so ``ChargingProfile`` rows say what each station holds.
Profile ids: operators' profiles count up from 1; the load manager uses fixed ids per
EVSE (a profile with the same id replaces the one the station holds, so they never pile up).
"""

from datetime import UTC, datetime

from django.db.models import Max
from django.utils import timezone
from rest_framework import serializers

from stations.commands.catalog import V16, V21, CommandError
from stations.models import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSession,
    ChargingStation,
    CommandOutcome,
    ProfileSource,
    ProfileStatus,
    RecurrencyKind,
)

LOAD_MANAGER_PROFILE_ID = 100_000  # + EVSE id: the load manager's TxProfile on that EVSE
FALLBACK_PROFILE_ID = 99_999  # the site's safe TxDefaultProfile, station-wide
LOAD_MANAGER_STACK_LEVEL = 1
FALLBACK_STACK_LEVEL = 0
_NOT_SUPPORTED = {"NotSupported", "NotImplemented"}


OPERATION_MODES = [
    "Idle", "ChargingOnly", "CentralSetpoint", "ExternalSetpoint", "ExternalLimits",
    "CentralFrequency", "LocalFrequency", "LocalLoadBalancing",
]
V2X_PERIOD_FIELDS = {"setpoint": "setpoint", "discharge_limit": "dischargeLimit", "operation_mode": "operationMode"}


class PeriodParams(serializers.Serializer):
    start_period_s = serializers.IntegerField(min_value=0)
    limit = serializers.FloatField(min_value=0)
    number_phases = serializers.IntegerField(min_value=1, max_value=3, required=False)
    setpoint = serializers.FloatField(required=False, help_text="2.1: power to follow; negative discharges")
    discharge_limit = serializers.FloatField(max_value=0, required=False, help_text="2.1: most discharge, <= 0")
    operation_mode = serializers.ChoiceField(choices=OPERATION_MODES, required=False, help_text="2.1 only")

    def validate(self, attrs):
        setpoint, discharge = attrs.get("setpoint"), attrs.get("discharge_limit")
        if setpoint is not None and setpoint > attrs["limit"]:
            raise serializers.ValidationError({"setpoint": "must not exceed the limit"})
        if setpoint is not None and setpoint < 0 and discharge is not None and setpoint < discharge:
            raise serializers.ValidationError({"setpoint": "must not discharge beyond discharge_limit"})
        return attrs


class SetChargingProfileParams(serializers.Serializer):
    evse_id = serializers.IntegerField(min_value=0, default=0, help_text="0: the whole station")
    purpose = serializers.ChoiceField(
        choices=[ChargingProfilePurpose.STATION_MAX, ChargingProfilePurpose.TX_DEFAULT, ChargingProfilePurpose.TX]
    )
    stack_level = serializers.IntegerField(min_value=0, max_value=1000, default=0)
    kind = serializers.ChoiceField(choices=ChargingProfileKind.values, default=ChargingProfileKind.ABSOLUTE)
    recurrency_kind = serializers.ChoiceField(choices=RecurrencyKind.values, required=False)
    charging_rate_unit = serializers.ChoiceField(choices=ChargingRateUnit.values)
    periods = PeriodParams(many=True, allow_empty=False)
    transaction_id = serializers.CharField(max_length=36, required=False, help_text="TxProfile: the session's")
    valid_from = serializers.DateTimeField(required=False)
    valid_to = serializers.DateTimeField(required=False)
    start_schedule = serializers.DateTimeField(required=False)
    duration_s = serializers.IntegerField(min_value=1, required=False)
    min_charging_rate = serializers.FloatField(min_value=0, required=False)
    dyn_update_interval_s = serializers.IntegerField(
        min_value=0, required=False, help_text="2.1 Dynamic: the station pulls an update this often (0: never)")
    max_offline_duration_s = serializers.IntegerField(
        min_value=1, required=False, help_text="2.1: the station drops the profile after this long offline")
    fallback_limit = serializers.FloatField(
        min_value=0, required=False,
        help_text="2.1 Dynamic: what a pull gets when ChargeNet has not updated it for max_offline_duration_s")
    profile_id = serializers.IntegerField(min_value=1, required=False, help_text="assigned by ChargeNet if omitted")
    source = serializers.ChoiceField(choices=ProfileSource.values, default=ProfileSource.OPERATOR)

    def validate(self, attrs):
        periods = attrs["periods"]
        starts = [p["start_period_s"] for p in periods]
        if starts[0] != 0 or starts != sorted(set(starts)):
            raise serializers.ValidationError({"periods": "start at 0 and increase strictly"})
        purpose, kind = attrs["purpose"], attrs["kind"]
        if purpose == ChargingProfilePurpose.TX and not attrs.get("transaction_id"):
            raise serializers.ValidationError({"transaction_id": "a TxProfile belongs to a transaction"})
        if purpose != ChargingProfilePurpose.TX and attrs.get("transaction_id"):
            raise serializers.ValidationError({"transaction_id": "only a TxProfile names a transaction"})
        if purpose == ChargingProfilePurpose.STATION_MAX and attrs["evse_id"] != 0:
            raise serializers.ValidationError({"evse_id": "a station maximum profile applies to EVSE 0"})
        if kind == ChargingProfileKind.RECURRING and "recurrency_kind" not in attrs:
            raise serializers.ValidationError({"recurrency_kind": "a recurring profile needs Daily or Weekly"})
        if kind == ChargingProfileKind.RECURRING and "start_schedule" not in attrs:
            raise serializers.ValidationError({"start_schedule": "a recurring profile needs its start"})
        if kind == ChargingProfileKind.RELATIVE and "start_schedule" in attrs:
            raise serializers.ValidationError({"start_schedule": "a relative profile has no start"})
        if kind == ChargingProfileKind.DYNAMIC and len(periods) != 1:
            raise serializers.ValidationError({"periods": "a Dynamic profile has one period (updates change it)"})
        if kind == ChargingProfileKind.DYNAMIC and "start_schedule" in attrs:
            raise serializers.ValidationError({"start_schedule": "a Dynamic profile has no start"})
        if kind != ChargingProfileKind.DYNAMIC and attrs.get("dyn_update_interval_s"):
            raise serializers.ValidationError({"dyn_update_interval_s": "only for a Dynamic profile"})
        if "valid_from" in attrs and "valid_to" in attrs and attrs["valid_from"] >= attrs["valid_to"]:
            raise serializers.ValidationError({"valid_to": "must be after valid_from"})
        return attrs


class ClearChargingProfileParams(serializers.Serializer):
    profile_id = serializers.IntegerField(min_value=1, required=False)
    evse_id = serializers.IntegerField(min_value=0, required=False)
    purpose = serializers.ChoiceField(
        choices=[ChargingProfilePurpose.STATION_MAX, ChargingProfilePurpose.TX_DEFAULT, ChargingProfilePurpose.TX],
        required=False,
    )
    stack_level = serializers.IntegerField(min_value=0, required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("name a profile_id or criteria (evse_id, purpose, stack_level)")
        return attrs


class GetCompositeScheduleParams(serializers.Serializer):
    evse_id = serializers.IntegerField(min_value=0, default=0)
    duration_s = serializers.IntegerField(min_value=1, max_value=7 * 86400, default=3600)
    charging_rate_unit = serializers.ChoiceField(choices=ChargingRateUnit.values, required=False)


class GetChargingProfilesParams(serializers.Serializer):
    request_id = serializers.IntegerField(required=False, help_text="assigned by ChargeNet if omitted")
    evse_id = serializers.IntegerField(min_value=0, required=False)
    purpose = serializers.ChoiceField(choices=ChargingProfilePurpose.values, required=False)
    stack_level = serializers.IntegerField(min_value=0, required=False)
    profile_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)


# --- payloads ------------------------------------------------------------------------


def _iso(value: datetime | str) -> str:
    return value if isinstance(value, str) else value.isoformat()


def _periods(p: dict, version: str) -> list[dict]:
    out = []
    for period in p["periods"]:
        item = {"startPeriod": period["start_period_s"], "limit": round(float(period["limit"]), 1)}
        if period.get("number_phases"):
            item["numberPhases"] = period["number_phases"]
        for name, key in V2X_PERIOD_FIELDS.items():
            if period.get(name) is None:
                continue
            if version != V21:
                raise CommandError(f"{name} (V2X) needs an OCPP 2.1 station; this one speaks {version}")
            value = period[name]
            item[key] = round(float(value), 1) if isinstance(value, (int, float)) else value
        out.append(item)
    return out


def _schedule(p: dict, version: str) -> dict:
    schedule = {"chargingRateUnit": p["charging_rate_unit"], "chargingSchedulePeriod": _periods(p, version)}
    if p.get("start_schedule"):
        schedule["startSchedule"] = _iso(p["start_schedule"])
    if p.get("duration_s"):
        schedule["duration"] = p["duration_s"]
    if p.get("min_charging_rate") is not None:
        schedule["minChargingRate"] = p["min_charging_rate"]
    return schedule


def _profile_common(p: dict) -> dict:
    profile = {"stackLevel": p["stack_level"], "chargingProfileKind": p["kind"]}
    if p.get("recurrency_kind"):
        profile["recurrencyKind"] = p["recurrency_kind"]
    if p.get("valid_from"):
        profile["validFrom"] = _iso(p["valid_from"])
    if p.get("valid_to"):
        profile["validTo"] = _iso(p["valid_to"])
    return profile


def _purpose(purpose: str, version: str) -> str:
    if version == V16 and purpose == ChargingProfilePurpose.STATION_MAX:
        return "ChargePointMaxProfile"
    return purpose


def set_charging_profile(p: dict, version: str) -> tuple[str, dict]:
    profile = _profile_common(p)
    profile["chargingProfilePurpose"] = _purpose(p["purpose"], version)
    if version == V16:
        profile["chargingProfileId"] = p["profile_id"]
        if p.get("transaction_id"):
            try:
                profile["transactionId"] = int(p["transaction_id"])
            except ValueError:
                raise CommandError("1.6 transaction ids are integers") from None
        profile["chargingSchedule"] = _schedule(p, version)
        return "SetChargingProfile", {"connectorId": p["evse_id"], "csChargingProfiles": profile}
    profile["id"] = p["profile_id"]
    if p.get("transaction_id"):
        profile["transactionId"] = p["transaction_id"]
    dynamic = p["kind"] == ChargingProfileKind.DYNAMIC
    if (dynamic or p.get("max_offline_duration_s")) and version != V21:
        raise CommandError(f"Dynamic profiles and max_offline_duration_s need an OCPP 2.1 station; "
                           f"this one speaks {version}")
    if p.get("max_offline_duration_s"):
        profile["maxOfflineDuration"] = p["max_offline_duration_s"]
    if dynamic:
        if p.get("dyn_update_interval_s") is not None:
            profile["dynUpdateInterval"] = p["dyn_update_interval_s"]
        profile["dynUpdateTime"] = _iso(p.get("dyn_update_time") or datetime.now(UTC).replace(microsecond=0))
    profile["chargingSchedule"] = [{"id": p["profile_id"], **_schedule(p, version)}]
    return "SetChargingProfile", {"evseId": p["evse_id"], "chargingProfile": profile}


def clear_charging_profile(p: dict, version: str) -> tuple[str, dict]:
    if version == V16:
        payload = {}
        if "profile_id" in p:
            payload["id"] = p["profile_id"]
        if "evse_id" in p:
            payload["connectorId"] = p["evse_id"]
        if "purpose" in p:
            payload["chargingProfilePurpose"] = _purpose(p["purpose"], version)
        if "stack_level" in p:
            payload["stackLevel"] = p["stack_level"]
        return "ClearChargingProfile", payload
    payload, criteria = {}, {}
    if "profile_id" in p:
        payload["chargingProfileId"] = p["profile_id"]
    if "evse_id" in p:
        criteria["evseId"] = p["evse_id"]
    if "purpose" in p:
        criteria["chargingProfilePurpose"] = p["purpose"]
    if "stack_level" in p:
        criteria["stackLevel"] = p["stack_level"]
    if criteria:
        payload["chargingProfileCriteria"] = criteria
    return "ClearChargingProfile", payload


def get_composite_schedule(p: dict, version: str) -> tuple[str, dict]:
    if version == V16:
        payload = {"connectorId": p["evse_id"], "duration": p["duration_s"]}
    else:
        payload = {"evseId": p["evse_id"], "duration": p["duration_s"]}
    if p.get("charging_rate_unit"):
        payload["chargingRateUnit"] = p["charging_rate_unit"]
    return "GetCompositeSchedule", payload


def get_charging_profiles(p: dict, version: str) -> tuple[str, dict]:
    if version == V16:
        raise CommandError("OCPP 1.6 has no GetChargingProfiles; see the station's profiles in ChargeNet instead")
    criterion = {}
    if "purpose" in p:
        criterion["chargingProfilePurpose"] = p["purpose"]
    if "stack_level" in p:
        criterion["stackLevel"] = p["stack_level"]
    if p.get("profile_ids"):
        criterion["chargingProfileId"] = p["profile_ids"]
    payload = {"requestId": p["request_id"], "chargingProfile": criterion}
    if "evse_id" in p:
        payload["evseId"] = p["evse_id"]
    return "GetChargingProfiles", payload


# --- what ChargeNet fills in, and what the answer changes ------------------------------


def prepare_set(params: dict, station: ChargingStation) -> dict:
    """Assign the profile id and record the profile as pending."""
    if "profile_id" not in params:
        highest = (
            ChargingProfile.objects.filter(station=station, profile_id__lt=FALLBACK_PROFILE_ID)
            .exclude(source=ProfileSource.STATION)
            .aggregate(highest=Max("profile_id"))["highest"]
        )
        params["profile_id"] = (highest or 0) + 1
    session = None
    if params.get("transaction_id"):
        session = ChargingSession.objects.filter(station=station, transaction_id=params["transaction_id"]).first()
    profile = ChargingProfile.objects.create(
        station=station,
        evse_id=params["evse_id"],
        profile_id=params["profile_id"],
        stack_level=params["stack_level"],
        purpose=params["purpose"],
        kind=params["kind"],
        recurrency_kind=params.get("recurrency_kind", ""),
        valid_from=params.get("valid_from"),
        valid_to=params.get("valid_to"),
        session=session,
        transaction_id=params.get("transaction_id", ""),
        charging_rate_unit=params["charging_rate_unit"],
        start_schedule=params.get("start_schedule"),
        duration_s=params.get("duration_s"),
        min_charging_rate=params.get("min_charging_rate"),
        periods=[dict(period) for period in params["periods"]],
        source=params["source"],
        dyn_update_interval_s=params.get("dyn_update_interval_s"),
        max_offline_duration_s=params.get("max_offline_duration_s"),
        fallback_limit=params.get("fallback_limit"),
        dyn_update_at=timezone.now() if params["kind"] == ChargingProfileKind.DYNAMIC else None,
    )
    params["profile_pk"] = profile.pk
    return params


def answered_set(*, params: dict, station: ChargingStation, outcome: str, response: dict | None, log) -> None:
    profile = ChargingProfile.objects.filter(pk=params.get("profile_pk")).first()
    if profile is None:
        return
    dynamic = profile.kind == ChargingProfileKind.DYNAMIC
    if outcome == CommandOutcome.ACCEPTED:
        ChargingProfile.objects.filter(station=station, status=ProfileStatus.ACTIVE).filter(
            _same_slot(profile)
        ).exclude(pk=profile.pk).update(status=ProfileStatus.REPLACED)
        profile.status = ProfileStatus.ACTIVE
        ChargingStation.objects.filter(pk=station.pk).update(
            accepts_profiles=True, **({"accepts_dynamic_profiles": True} if dynamic else {}))
    elif dynamic and outcome in (CommandOutcome.REJECTED, CommandOutcome.ERROR):
        # A station that refuses Dynamic profiles (or cannot read one) may still take the
        # others: only Dynamic ones are given up (the load manager sends Absolute ones).
        profile.status = ProfileStatus.REJECTED if outcome == CommandOutcome.REJECTED else ProfileStatus.FAILED
        ChargingStation.objects.filter(pk=station.pk).update(accepts_dynamic_profiles=False)
    elif outcome == CommandOutcome.REJECTED:
        profile.status = ProfileStatus.REJECTED
        ChargingStation.objects.filter(pk=station.pk).update(accepts_profiles=False)
    else:
        profile.status = ProfileStatus.FAILED
        if outcome == CommandOutcome.ERROR and (response or {}).get("errorCode") in _NOT_SUPPORTED:
            ChargingStation.objects.filter(pk=station.pk).update(accepts_profiles=False)
    profile.command = log
    profile.save(update_fields=["status", "command", "updated_at"])


def _same_slot(profile: ChargingProfile):
    """Profiles the station replaces with this one: same id, or same EVSE, purpose and
    stack level."""
    from django.db.models import Q

    return Q(profile_id=profile.profile_id) | Q(
        evse_id=profile.evse_id, purpose=profile.purpose, stack_level=profile.stack_level
    )


def answered_clear(*, params: dict, station: ChargingStation, outcome: str, response: dict | None, log) -> None:
    if outcome != CommandOutcome.ACCEPTED:
        return
    active = ChargingProfile.objects.filter(station=station, status=ProfileStatus.ACTIVE)
    if "profile_id" in params:
        active = active.filter(profile_id=params["profile_id"])
    if "evse_id" in params:
        active = active.filter(evse_id=params["evse_id"])
    if "purpose" in params:
        active = active.filter(purpose=params["purpose"])
    if "stack_level" in params:
        active = active.filter(stack_level=params["stack_level"])
    active.update(status=ProfileStatus.CLEARED)


def prepare_get_profiles(params: dict, station: ChargingStation) -> dict:
    import random

    params.setdefault("request_id", random.randint(1, 2**31 - 1))
    return params
