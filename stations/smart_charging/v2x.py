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
            session=session, defaults={"allowed_energy_transfer": list(dict.fromkeys(params["allowed_energy_transfer"]))}
        )


class AFRRSignalParams(serializers.Serializer):
    signal = serializers.IntegerField(help_text="value on the profile's v2xSignalWattCurve")
    timestamp = serializers.DateTimeField(required=False, help_text="when it becomes active; default now")


def afrr_signal(p: dict, version: str) -> tuple[str, dict]:
    _require_21("AFRRSignal", version)
    when = p.get("timestamp") or datetime.now().astimezone()
    return "AFRRSignal", {"timestamp": when.isoformat().replace("+00:00", "Z"), "signal": p["signal"]}
