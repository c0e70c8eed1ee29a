"""OCPP 2.1 tariffs as real frames through the ASGI stack: SetDefaultTariff, GetTariffs,
ClearTariffs and ChangeTransactionTariff from ChargeNet's OCPI tariffs; the push when a tariff
changes or is assigned; the station's own cost (costDetails) compared with ChargeNet's. Every
CALL ChargeNet sends and every TransactionEvent the station sends is checked against the 2.1
schema."""

import asyncio
from decimal import Decimal

import pytest
from django.test import Client
from ocpp.messages import Call, _validate_payload

from billing import station_prices
from billing.models import SessionTariff, Tariff
from billing.station_tariffs import station_tariff_id
from billing.tariffs import assign_tariff, check_ocpi_tariff, update_tariff
from stations.commands.service import CommandError, send_command_async
from stations.models import Evse
from tests.billing.tariff_data import client_for, component, make_tariff, ocpi_tariff
from tests.conftest import adb
from tests.gateway.test_ocpp201_transactions import ended, started, updated
from tests.gateway.test_price_display import priced_station, recent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_support_cache():
    station_prices.forget_support()
    yield
    station_prices.forget_support()


@pytest.fixture(autouse=True)
def _pricing_runs_in_process(monkeypatch):
    from chargenet.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_eager_propagates", True)


def valid_21_call(action: str, payload: dict) -> dict:
    _validate_payload(Call("check", action, payload), "2.1")  # raises on a mismatch
    return payload


def local_cost_report(enabled: bool = True) -> dict:
    return {"requestId": 1, "generatedAt": recent(60), "seqNo": 0, "reportData": [
        {"component": {"name": "TariffCostCtrlr"}, "variable": {"name": "Enabled", "instance": kind},
         "variableAttribute": [{"type": "Actual", "value": "true" if enabled else "false"}]}
        for kind in ("Tariff", "Cost")
    ]}


async def command(station, name: str, params: dict, action: str, answer: dict):
    """Send a command and play the station: (the CALL payload, schema-checked; the command's result)."""
    sending = asyncio.create_task(send_command_async(station_id="CS-1", command=name, params=params))
    payload = valid_21_call(action, await station.expect_call(action, answer))
    return payload, await sending


async def expect_nothing_more(station) -> None:
    await station.result("Heartbeat", {})
    await asyncio.sleep(0.2)
    await station.result("Heartbeat", {})
    assert station.waiting_calls == []


EXPECTED_TARIFF = {
    "currency": "EUR",
    "energy": {"prices": [{"priceKwh": 0.327731}], "taxRates": [{"type": "VAT", "tax": 19}]},
    "idleTime": {"prices": [{"priceMinute": 5.042017 / 60, "conditions": {"minTime": 7200}}],
                 "taxRates": [{"type": "VAT", "tax": 19}]},
}


async def test_set_default_get_and_clear_tariffs(make_station, make_token, ocpp):
    await adb(priced_station)(make_station, make_token, "CS-1")
    tariff = await Tariff.objects.aget(tariff_id="PUB")
    async with ocpp("CS-1", version="2.1") as station:
        await station.result("NotifyReport", local_cost_report())
        # Found to calculate cost locally: it gets the tariff that applies at once.
        pushed = valid_21_call("SetDefaultTariff", await station.expect_call("SetDefaultTariff",
                                                                             {"status": "Accepted"}))
        assert pushed == {"evseId": 0, "tariff": {**EXPECTED_TARIFF, "tariffId": station_tariff_id(tariff)}}
        # Without a tariff named: the one that applies at the station.
        sent, result = await command(station, "set_default_tariff", {}, "SetDefaultTariff", {"status": "Accepted"})
        assert result.outcome == "accepted"
        assert sent == {"evseId": 0, "tariff": {**EXPECTED_TARIFF, "tariffId": station_tariff_id(tariff)}}
        assert sent["tariff"]["tariffId"].startswith("PUB.")

        answer = {"status": "Accepted", "tariffAssignments": [
            {"tariffId": sent["tariff"]["tariffId"], "tariffKind": "DefaultTariff", "evseIds": [1]}]}
        sent, result = await command(station, "get_tariffs", {"evse_id": 1}, "GetTariffs", answer)
        assert sent == {"evseId": 1}
        assert (result.outcome, result.response) == ("accepted", answer)

        cleared = {"clearTariffsResult": [{"tariffId": "PUB.x", "status": "Accepted"}]}
        sent, result = await command(station, "clear_tariffs", {"tariff_ids": ["PUB.x"], "evse_id": 0},
                                     "ClearTariffs", cleared)
        assert sent == {"tariffIds": ["PUB.x"], "evseId": 0}
        assert result.response == cleared

        # A station that refuses: the outcome says so.
        _, result = await command(station, "set_default_tariff", {"tariff": "PUB", "evse_id": 1},
                                  "SetDefaultTariff", {"status": "ConditionNotSupported"})
        assert result.outcome == "rejected"
        await expect_nothing_more(station)


async def test_change_transaction_tariff_for_a_running_session(make_station, make_token, ocpp):
    await adb(priced_station)(make_station, make_token, "CS-1")
    await adb(make_tariff)("NIGHT", {"price_components": [component("ENERGY", 0.2, vat=19)]})
    async with ocpp("CS-1", version="2.1") as station:
        await station.result("TransactionEvent", valid_21_call("TransactionEvent", started(timestamp=recent(20))))
        sent, result = await command(station, "change_transaction_tariff", {"transaction_id": "TX-1",
                                                                             "tariff": "NIGHT"},
                                     "ChangeTransactionTariff", {"status": "Accepted"})
        assert result.outcome == "accepted"
        assert sent["transactionId"] == "TX-1"
        assert sent["tariff"]["energy"] == {"prices": [{"priceKwh": 0.2}], "taxRates": [{"type": "VAT", "tax": 19}]}
        with pytest.raises(CommandError, match="no session 'TX-404'"):
            await send_command_async(station_id="CS-1", command="change_transaction_tariff",
                                     params={"transaction_id": "TX-404", "tariff": "NIGHT"})
        with pytest.raises(CommandError, match="no tariff 'NOPE'"):
            await send_command_async(station_id="CS-1", command="set_default_tariff", params={"tariff": "NOPE"})
        await expect_nothing_more(station)


async def test_tariff_commands_refuse_older_stations_and_unsayable_tariffs(make_station, make_token, ocpp):
    await adb(priced_station)(make_station, make_token, "CS-1")
    # Two VAT rates on one dimension: 2.1 has one taxRates list per dimension.
    await adb(make_tariff)("MIXED", {"price_components": [component("ENERGY", 0.3, vat=19)],
                                     "restrictions": {"max_kwh": 10}},
                           {"price_components": [component("ENERGY", 0.2, vat=7)]})
    async with ocpp("CS-1", version="2.0.1") as station:
        with pytest.raises(CommandError, match="SetDefaultTariff is OCPP 2.1; this station speaks 2.0.1"):
            await send_command_async(station_id="CS-1", command="set_default_tariff", params={})
        with pytest.raises(CommandError, match="GetTariffs is OCPP 2.1"):
            await send_command_async(station_id="CS-1", command="get_tariffs", params={})
        await expect_nothing_more(station)
    async with ocpp("CS-1", version="2.1") as station:
        with pytest.raises(CommandError, match="MIXED cannot be sent to an OCPP 2.1 station"):
            await send_command_async(station_id="CS-1", command="set_default_tariff", params={"tariff": "MIXED"})
        await expect_nothing_more(station)


def reprice(tariff: Tariff, energy_price: float) -> None:
    ocpi = ocpi_tariff("PUB", {"price_components": [component("ENERGY", energy_price, vat=19)]})
    update_tariff(tariff=tariff, ocpi=check_ocpi_tariff(ocpi, instance=tariff))


async def test_a_changed_or_assigned_tariff_goes_to_local_cost_stations(make_station, make_token, ocpp):
    station_row = await adb(priced_station)(make_station, make_token, "CS-1")
    tariff = await Tariff.objects.aget(tariff_id="PUB")
    await adb(make_station)("CS-2")
    async with ocpp("CS-1", version="2.1") as station, ocpp("CS-2", version="2.1") as other:
        await station.result("NotifyReport", local_cost_report())
        await station.expect_call("SetDefaultTariff", {"status": "Accepted"})  # found to calculate cost
        await other.result("NotifyReport", local_cost_report(enabled=False))  # prices centrally: no tariffs

        # The tariff's prices change: the station gets it again, under a new tariffId.
        old_id = station_tariff_id(tariff)
        await adb(reprice)(tariff, 0.42)
        pushed = valid_21_call("SetDefaultTariff", await station.expect_call("SetDefaultTariff",
                                                                             {"status": "Accepted"}))
        assert pushed["evseId"] == 0
        assert pushed["tariff"]["energy"]["prices"] == [{"priceKwh": 0.42}]
        assert pushed["tariff"]["tariffId"] != old_id

        # Another tariff assigned to one EVSE: that EVSE gets its own default tariff.
        evse = await Evse.objects.acreate(station=station_row, evse_id=1)
        fast = await adb(make_tariff)("FAST", {"price_components": [component("ENERGY", 0.59, vat=19)]})
        await adb(assign_tariff)(tariff=fast, place=evse)
        first = valid_21_call("SetDefaultTariff", await station.expect_call("SetDefaultTariff",
                                                                            {"status": "Accepted"}))
        second = valid_21_call("SetDefaultTariff", await station.expect_call("SetDefaultTariff",
                                                                             {"status": "Accepted"}))
        assert (first["evseId"], first["tariff"]["tariffId"].split(".")[0]) == (0, "PUB")
        assert (second["evseId"], second["tariff"]["tariffId"].split(".")[0]) == (1, "FAST")

        # Its assignment removed: the whole station is on PUB again.
        await adb(assign_tariff)(tariff=None, place=evse)
        again = valid_21_call("SetDefaultTariff", await station.expect_call("SetDefaultTariff",
                                                                            {"status": "Accepted"}))
        assert again["evseId"] == 0
        await expect_nothing_more(station)
        await expect_nothing_more(other)


def cost_details(total_incl: float, energy_wh: int) -> dict:
    return {"totalCost": {"currency": "EUR", "typeOfCost": "NormalCost",
                          "total": {"inclTax": total_incl, "exclTax": round(total_incl / 1.19, 4)}},
            "totalUsage": {"energy": energy_wh, "chargingTime": 600, "idleTime": 0}}


async def flagged(pk: int, compared_at) -> SessionTariff:
    """The comparison runs in the background after the answer: wait for it."""
    for _ in range(50):
        snapshot = await SessionTariff.objects.aget(session_id=pk)
        if snapshot.station_cost_at == compared_at:
            return snapshot
        await asyncio.sleep(0.05)
    raise AssertionError("the station's cost was not compared")


async def test_station_cost_is_compared_and_a_difference_above_one_cent_is_flagged(make_station, make_token, ocpp,
                                                                                  admin_user):
    await adb(priced_station)(make_station, make_token, "CS-1")
    async with ocpp("CS-1", version="2.1") as station:
        await station.result("TransactionEvent", valid_21_call("TransactionEvent", started(timestamp=recent(30))))
        from stations.models import ChargingSession

        session = await ChargingSession.objects.aget(transaction_id="TX-1")
        # 5 kWh at 0.39 incl. VAT: the station's 1.95 agrees (and 1.955 is within a cent).
        at = recent(10)
        await station.result("TransactionEvent", valid_21_call("TransactionEvent", updated(
            1, at, 6000, costDetails=cost_details(1.955, 5000))))
        snapshot = await flagged(session.pk, _parse(at))
        assert (snapshot.station_cost, snapshot.cost_difference, snapshot.cost_mismatch) == (
            Decimal("1.955"), Decimal("0.005"), False)
        # At the end the station says 3.95; ChargeNet's CDR says 3.90.
        at = recent(0)
        await station.result("TransactionEvent", valid_21_call("TransactionEvent", ended(
            2, at, 11000, costDetails=cost_details(3.95, 10000))))
        snapshot = await flagged(session.pk, _parse(at))
    assert snapshot.cost_mismatch is True
    assert (snapshot.station_cost, snapshot.cost_difference) == (Decimal("3.95"), Decimal("0.05"))
    # The operator finds it in the admin's session tariffs, filtered by the flag.
    client = Client()
    await adb(client.force_login)(admin_user)
    page = await adb(client.get)("/admin/billing/sessiontariff/", {"cost_mismatch__exact": "1"})
    assert page.status_code == 200 and b"0.0500" in page.content
    # And in the API's session.
    api = await adb(client_for)(admin_user)
    shown = (await adb(api.get)(f"/api/v1/sessions/{session.pk}/")).json()["station_cost"]
    assert {k: shown[k] for k in ("cost", "difference", "mismatch")} == {"cost": "3.9500", "difference": "0.0500",
                                                                          "mismatch": True}


def _parse(value: str):
    from stations.timestamps import parse_timestamp

    return parse_timestamp(value)


async def test_a_station_that_failed_to_calculate_leaves_no_flag(make_station, make_token, ocpp):
    await adb(priced_station)(make_station, make_token, "CS-1")
    async with ocpp("CS-1", version="2.1") as station:
        await station.result("TransactionEvent", valid_21_call("TransactionEvent", started(timestamp=recent(30))))
        details = {**cost_details(99.0, 5000), "failureToCalculate": True, "failureReason": "no tariff"}
        await station.result("TransactionEvent", valid_21_call("TransactionEvent", updated(
            1, recent(10), 6000, costDetails=details)))
        await expect_nothing_more(station)
    snapshot = await SessionTariff.objects.aget(session__transaction_id="TX-1")
    assert (snapshot.station_cost, snapshot.cost_mismatch) == (None, False)
