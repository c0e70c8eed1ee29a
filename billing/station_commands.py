"""Cost commands to stations, registered into the station command catalog at app start.

``cost_updated`` is one command for both versions: 2.0.1 ``CostUpdated``; 1.6 the OCA California
Pricing ``RunningCost`` DataTransfer. ``set_user_price`` and ``final_cost`` exist only in the 1.6
customization (2.0.1 carries the price text in Authorize/TransactionEvent answers and the final
cost in the Ended event's answer). DataTransfer ``data`` is a JSON string, as the application note
("OCPP & California Pricing Requirements", vendorId org.openchargealliance.costmsg) defines.
"""

import json
from datetime import UTC, datetime

from rest_framework import serializers

from stations.commands.catalog import V16, CommandError, CommandSpec, register

COSTMSG_VENDOR_ID = "org.openchargealliance.costmsg"


class CostUpdatedParams(serializers.Serializer):
    transaction_id = serializers.CharField(max_length=36)
    total_cost = serializers.FloatField(min_value=0, help_text="incl. VAT, in the station's currency")
    timestamp = serializers.DateTimeField(required=False, help_text="1.6 RunningCost: when the cost was taken")
    meter_wh = serializers.IntegerField(min_value=0, required=False, help_text="1.6 RunningCost: the register, Wh")
    state = serializers.ChoiceField(choices=["Charging", "Idle"], default="Charging")
    charging_price = serializers.DictField(
        child=serializers.FloatField(min_value=0), required=False,
        help_text='1.6 RunningCost: {"kWhPrice": .., "hourPrice": .., "flatFee": ..}',
    )


class UserPriceParams(serializers.Serializer):
    id_token = serializers.CharField(max_length=36)
    price_text = serializers.CharField(max_length=512)


class FinalCostParams(serializers.Serializer):
    transaction_id = serializers.CharField(max_length=36)
    total_cost = serializers.FloatField(min_value=0)
    price_text = serializers.CharField(max_length=512)
    qr_code_text = serializers.CharField(max_length=512, required=False, allow_blank=True, default="")


def _costmsg(message_id: str, data: dict) -> tuple[str, dict]:
    return "DataTransfer", {"vendorId": COSTMSG_VENDOR_ID, "messageId": message_id,
                            "data": json.dumps(data, separators=(",", ":"))}


def _transaction_int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise CommandError("an OCPP 1.6 transaction id is an integer") from None


def cost_updated(p, version):
    if version != V16:
        return "CostUpdated", {"totalCost": p["total_cost"], "transactionId": p["transaction_id"]}
    at = p.get("timestamp") or datetime.now(UTC)
    return _costmsg("RunningCost", {
        "transactionId": _transaction_int(p["transaction_id"]),
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "meterValue": p.get("meter_wh", 0), "cost": p["total_cost"], "state": p["state"],
        "chargingPrice": p.get("charging_price") or {},
    })


def set_user_price(p, version):
    if version != V16:
        raise CommandError("OCPP 2.0.1 shows the price as the personalMessage of the Authorize answer")
    return _costmsg("SetUserPrice", {"idToken": p["id_token"], "priceText": p["price_text"]})


def final_cost(p, version):
    if version != V16:
        raise CommandError("OCPP 2.0.1 gets the final cost as totalCost in the Ended TransactionEvent answer")
    return _costmsg("FinalCost", {"transactionId": _transaction_int(p["transaction_id"]), "cost": p["total_cost"],
                                  "priceText": p["price_text"], "qrCodeText": p["qr_code_text"]})


def register_commands() -> None:
    register(CommandSpec("cost_updated", CostUpdatedParams, cost_updated,
                         "CostUpdated (2.0.1) / California Pricing RunningCost DataTransfer (1.6)"))
    register(CommandSpec("set_user_price", UserPriceParams, set_user_price,
                         "California Pricing SetUserPrice DataTransfer (1.6): the driver's price text"))
    register(CommandSpec("final_cost", FinalCostParams, final_cost,
                         "California Pricing FinalCost DataTransfer (1.6): the session's final cost"))
