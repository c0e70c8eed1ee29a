"""V2X commands only OCPP 2.1 stations understand (functional block Q).

``notify_allowed_energy_transfer`` tells a station which energy transfer modes ChargeNet
allows for a running transaction (e.g. withdraw AC_BPT when the driver forbids discharge)
and remembers them on the session's load state. ``afrr_signal`` passes a frequency
restoration (aFRR) signal from the API to the station as it is: the station maps it to
power on the v2xSignalWattCurve of its profile.
"""

from datetime import datetime

from rest_framework import serializers

from stations.commands.catalog import V21, CommandError
from stations.models import ChargingSession, ChargingStation, CommandOutcome, SessionLoadState
from stations.smart_charging.station_reports import record_priority_charging

ENERGY_TRANSFER_MODES = [
    "AC_single_phase", "AC_two_phase", "AC_three_phase", "DC",
    "AC_BPT", "AC_BPT_DER", "AC_DER", "DC_BPT", "DC_ACDP", "DC_ACDP_BPT", "WPT",
]


def _require_21(action: str, version: str) -> None:
    if version != V21:
        raise CommandError(f"{action} is OCPP 2.1 (V2X); this station speaks {version}")


class AllowedEnergyTransferParams(serializers.Serializer):
    transaction_id = serializers.CharField(max_length=36)
    allowed_energy_transfer = serializers.ListField(
        child=serializers.ChoiceField(choices=ENERGY_TRANSFER_MODES), min_length=1
    )


def notify_allowed_energy_transfer(p: dict, version: str) -> tuple[str, dict]:
    _require_21("NotifyAllowedEnergyTransfer", version)
    return "NotifyAllowedEnergyTransfer", {
        "transactionId": p["transaction_id"],
        "allowedEnergyTransfer": list(dict.fromkeys(p["allowed_energy_transfer"])),
    }


def answered_allowed_energy_transfer(
    *, params: dict, station: ChargingStation, outcome: str, response: dict | None, log
) -> None:
    if outcome != CommandOutcome.ACCEPTED:
        return
    session = ChargingSession.objects.filter(station=station, transaction_id=params["transaction_id"]).first()
    if session is not None:
        SessionLoadState.objects.update_or_create(
            session=session,
            defaults={"allowed_energy_transfer": list(dict.fromkeys(params["allowed_energy_transfer"]))},
        )


class AFRRSignalParams(serializers.Serializer):
    signal = serializers.IntegerField(help_text="value on the profile's v2xSignalWattCurve")
    timestamp = serializers.DateTimeField(required=False, help_text="when it becomes active; default now")


def afrr_signal(p: dict, version: str) -> tuple[str, dict]:
    _require_21("AFRRSignal", version)
    when = p.get("timestamp") or datetime.now().astimezone()
    return "AFRRSignal", {"timestamp": when.isoformat().replace("+00:00", "Z"), "signal": p["signal"]}


class UsePriorityChargingParams(serializers.Serializer):
    transaction_id = serializers.CharField(max_length=36)
    activate = serializers.BooleanField(default=True)


def use_priority_charging(p: dict, version: str) -> tuple[str, dict]:
    _require_21("UsePriorityCharging", version)
    return "UsePriorityCharging", {"transactionId": p["transaction_id"], "activate": p["activate"]}


def answered_priority_charging(
    *, params: dict, station: ChargingStation, outcome: str, response: dict | None, log
) -> None:
    """Accepted: the session is served first (the station confirms with NotifyPriorityCharging too)."""
    if outcome == CommandOutcome.ACCEPTED:
        record_priority_charging(
            station_pk=station.pk, transaction_id=params["transaction_id"], activated=params["activate"]
        )


# --- DER control (2.1 functional block R) --------------------------------------------------
# The control itself (a curve, a fixed power factor, ...) is the 2.1 camelCase object as
# the spec writes it, passed as it is and checked against the 2.1 schema before sending.

DER_CONTROL_TYPES = [
    "EnterService", "FreqDroop", "FreqWatt", "FixedPFAbsorb", "FixedPFInject", "FixedVar", "Gradients",
    "HFMustTrip", "HFMayTrip", "HVMustTrip", "HVMomCess", "HVMayTrip", "LimitMaxDischarge", "LFMustTrip",
    "LVMustTrip", "LVMomCess", "LVMayTrip", "PowerMonitoringMustTrip", "VoltVar", "VoltWatt", "WattPF", "WattVar",
]
DER_CONTROL_FIELDS = {
    "curve", "enterService", "fixedPFAbsorb", "fixedPFInject", "fixedVar", "freqDroop", "gradient",
    "limitMaxDischarge",
}


class SetDERControlParams(serializers.Serializer):
    control_id = serializers.CharField(max_length=36)
    control_type = serializers.ChoiceField(choices=DER_CONTROL_TYPES)
    is_default = serializers.BooleanField(default=False)
    control = serializers.DictField(help_text='2.1 camelCase, e.g. {"limitMaxDischarge": {"priority": 1, ...}}')

    def validate_control(self, value):
        unknown = set(value) - DER_CONTROL_FIELDS
        if unknown or len(value) != 1:
            raise serializers.ValidationError(f"one of {', '.join(sorted(DER_CONTROL_FIELDS))}")
        return value


class GetDERControlParams(serializers.Serializer):
    request_id = serializers.IntegerField(required=False, help_text="assigned by ChargeNet if omitted")
    control_id = serializers.CharField(max_length=36, required=False)
    control_type = serializers.ChoiceField(choices=DER_CONTROL_TYPES, required=False)
    is_default = serializers.BooleanField(required=False)


class ClearDERControlParams(serializers.Serializer):
    is_default = serializers.BooleanField(default=False)
    control_id = serializers.CharField(max_length=36, required=False)
    control_type = serializers.ChoiceField(choices=DER_CONTROL_TYPES, required=False)


def _der_selection(p: dict) -> dict:
    names = {"control_id": "controlId", "control_type": "controlType", "is_default": "isDefault"}
    return {key: p[name] for name, key in names.items() if name in p}


def set_der_control(p: dict, version: str) -> tuple[str, dict]:
    _require_21("SetDERControl", version)
    return "SetDERControl", {**_der_selection(p), **p["control"]}


def get_der_control(p: dict, version: str) -> tuple[str, dict]:
    _require_21("GetDERControl", version)
    return "GetDERControl", {"requestId": p["request_id"], **_der_selection(p)}


def clear_der_control(p: dict, version: str) -> tuple[str, dict]:
    _require_21("ClearDERControl", version)
    return "ClearDERControl", _der_selection(p)


def prepare_get_der_control(params: dict, station: ChargingStation) -> dict:
    import random

    params.setdefault("request_id", random.randint(1, 2**31 - 1))
    return params
