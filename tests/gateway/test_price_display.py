"""Prices and costs on the charger's display, as real frames through the ASGI stack:
OCPP 2.0.1 tariff and cost (personalMessage, totalCost, CostUpdated), display messages, and the
OCA California Pricing customization for OCPP 1.6 (SetUserPrice, RunningCost, FinalCost)."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from billing import station_prices
from billing.models import ChargeDetailRecord, SessionTariff
from billing.tariffs import assign_tariff
from stations.commands.service import CommandError, send_command_async
from stations.models import ChargingStation, DisplayMessage
from tests.billing.tariff_data import component, make_tariff
from tests.conftest import adb
from tests.gateway.test_ocpp201_transactions import T0, T2, ended, started, updated

pytestmark = pytest.mark.django_db(transaction=True)

COSTMSG = "org.openchargealliance.costmsg"
PRICE_TEXT = "0.39 EUR/kWh, 0.10 EUR/min parking after 2 h"


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


def priced_station(make_station, make_token, station_id: str):
    make_token("TOKEN-1", driver_email="driver@example.com")
    station = make_station(station_id)
    assign_tariff(tariff=make_tariff(
        "PUB",
        {"price_components": [component("ENERGY", 0.327731, vat=19)]},
        {"price_components": [component("PARKING_TIME", 5.042017, vat=19, step_size=60)],
         "restrictions": {"min_duration": 7200}},
    ), place=station)
    return station


def recent(minutes_ago: int) -> str:
    """Running costs are taken now: sessions in these tests happen in the last hour."""
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).replace(microsecond=0).isoformat().replace(
        "+00:00", "Z")


def tariff_cost_report(tariff: bool, cost: bool) -> dict:
    return {"requestId": 1, "generatedAt": T0, "seqNo": 0, "reportData": [
        {"component": {"name": "TariffCostCtrlr"}, "variable": {"name": "Enabled", "instance": kind},
         "variableAttribute": [{"type": "Actual", "value": "true" if on else "false"}]}
        for kind, on in (("Tariff", tariff), ("Cost", cost))
    ]}


# --- OCPP 2.0.1 -------------------------------------------------------------------------------------


async def test_201_price_text_at_authorize_and_start_and_the_final_cost_at_the_end(make_station, make_token, ocpp):
    await adb(priced_station)(make_station, make_token, "CS-1")
    async with ocpp("CS-1", version="2.0.1") as station:
        await station.result("NotifyReport", tariff_cost_report(tariff=True, cost=True))
        authorized = await station.result("Authorize", {"idToken": {"idToken": "TOKEN-1", "type": "ISO14443"}})
        begun = await station.result("TransactionEvent", started(meter_wh=1000, timestamp=recent(30)))
        middle = await station.result("TransactionEvent", updated(1, recent(10), 6000))
        running = await station.expect_call("CostUpdated", {})  # follows the meter values
        end = await station.result("TransactionEvent", ended(2, recent(0), 11000))
    message = {"format": "UTF8", "language": "en", "content": PRICE_TEXT}
    assert authorized == {"idTokenInfo": {"status": "Accepted", "personalMessage": message}}
    assert begun == {"idTokenInfo": {"status": "Accepted", "personalMessage": message}}
    assert middle == {}  # no totalCost before the end (it "SHALL only be sent when charging has ended")
    assert running == {"totalCost": 1.95, "transactionId": "TX-1"}  # 5 kWh x 0.39
    cdr = await ChargeDetailRecord.objects.aget(session__transaction_id="TX-1")
    assert end == {"totalCost": float(cdr.total_cost_incl_vat)}
    assert str(cdr.total_cost_incl_vat) == "3.90"  # 10 kWh x 0.39


async def test_201_a_station_that_does_not_show_prices_gets_none(make_station, make_token, ocpp):
    await adb(priced_station)(make_station, make_token, "CS-1")
    async with ocpp("CS-1", version="2.0.1") as station:
        await station.result("NotifyReport", tariff_cost_report(tariff=False, cost=False))
        authorized = await station.result("Authorize", {"idToken": {"idToken": "TOKEN-1", "type": "ISO14443"}})
        await station.result("TransactionEvent", started(meter_wh=1000))
        end = await station.result("TransactionEvent", ended(1, T2, 11000))
    assert authorized == {"idTokenInfo": {"status": "Accepted"}}
    assert end == {}


async def test_201_an_unknown_token_gets_no_price(make_station, make_token, ocpp):
    await adb(priced_station)(make_station, make_token, "CS-1")
    async with ocpp("CS-1", version="2.0.1") as station:
        await station.result("NotifyReport", tariff_cost_report(tariff=True, cost=True))
        refused = await station.result("Authorize", {"idToken": {"idToken": "STRANGER", "type": "ISO14443"}})
    assert refused == {"idTokenInfo": {"status": "Invalid"}}


async def test_201_running_cost_at_most_every_interval_and_the_sweep_for_quiet_meters(make_station, make_token,
                                                                                        ocpp, settings):
    settings.OCPP_COST_UPDATE_INTERVAL_S = 60
    await adb(priced_station)(make_station, make_token, "CS-1")
    async with ocpp("CS-1", version="2.0.1") as station:
        await station.result("NotifyReport", tariff_cost_report(tariff=False, cost=True))
        await station.result("TransactionEvent", started(meter_wh=1000, timestamp=recent(30)))
        await station.result("TransactionEvent", updated(1, recent(10), 6000))
        first = await station.expect_call("CostUpdated", {})
        await station.result("TransactionEvent", updated(2, recent(9), 7000))  # within the interval: no update
        assert await station_prices.send_running_costs() == {}  # the sweep: nothing due yet
        # A minute later (the last update moved back instead of waiting), the sweep sends one.
        await SessionTariff.objects.aupdate(cost_sent_at=timezone.now() - timedelta(seconds=61))
        sending = asyncio.create_task(station_prices.send_running_costs())
        second = await station.expect_call("CostUpdated", {})
        outcomes = await sending
        await station.result("Heartbeat", {})
        assert station.waiting_calls == []
    assert first == {"totalCost": 1.95, "transactionId": "TX-1"}  # 5 kWh x 0.39
    assert second == {"totalCost": 2.34, "transactionId": "TX-1"}  # 6 kWh
    assert outcomes == {"CS-1/TX-1": "accepted"}


async def test_the_running_cost_interval_is_a_beat_entry_from_the_setting():
    entry = settings.CELERY_BEAT_SCHEDULE["running-costs-to-stations"]
    assert entry == {"task": "billing.send_running_costs", "schedule": float(settings.OCPP_COST_UPDATE_INTERVAL_S)}


async def test_201_display_messages_set_reported_and_cleared(make_station, ocpp):
    await adb(make_station)("CS-1")
    async with ocpp("CS-1", version="2.0.1") as station:
        sending = asyncio.create_task(send_command_async(station_id="CS-1", command="set_display_message", params={
            "message": "Charger at 11 kW until Friday", "language": "en", "priority": "InFront",
            "start_at": "2026-12-07T08:00:00Z", "end_at": "2026-12-11T18:00:00Z",
        }))
        sent = await station.expect_call("SetDisplayMessage", {"status": "Accepted"})
        assert (await sending).outcome == "accepted"
        assert sent == {"message": {
            "id": 1, "priority": "InFront", "message": {"format": "UTF8", "content": "Charger at 11 kW until Friday",
                                                        "language": "en"},
            "startDateTime": "2026-12-07T08:00:00Z", "endDateTime": "2026-12-11T18:00:00Z"}}
        stored = await DisplayMessage.objects.aget(station__station_id="CS-1", message_id=1)
        assert (stored.content, stored.priority, stored.source) == ("Charger at 11 kW until Friday", "InFront", "set")
        assert stored.end_at.isoformat() == "2026-12-11T18:00:00+00:00"

        sending = asyncio.create_task(send_command_async(station_id="CS-1", command="get_display_messages",
                                                         params={"request_id": 9}))
        assert await station.expect_call("GetDisplayMessages", {"status": "Accepted"}) == {"requestId": 9}
        await sending
        await station.result("NotifyDisplayMessages", {"requestId": 9, "messageInfo": [
            {"id": 1, "priority": "InFront", "message": {"format": "UTF8", "content": "Charger at 11 kW until Friday"}},
            {"id": 7, "priority": "NormalCycle", "state": "Idle",
             "message": {"format": "ASCII", "language": "de", "content": "Willkommen"}},
        ]})
        reported = await DisplayMessage.objects.aget(station__station_id="CS-1", message_id=7)
        assert (reported.content, reported.state, reported.language, reported.source) == (
            "Willkommen", "Idle", "de", "reported")

        sending = asyncio.create_task(send_command_async(station_id="CS-1", command="clear_display_message",
                                                         params={"id": 7}))
        assert await station.expect_call("ClearDisplayMessage", {"status": "Accepted"}) == {"id": 7}
        assert (await sending).outcome == "accepted"
    assert [m async for m in DisplayMessage.objects.values_list("message_id", flat=True)] == [1]


async def test_display_messages_refuse_16_and_bad_parameters(make_station):
    await adb(make_station)("CP-1")
    with pytest.raises(CommandError, match="OCPP 1.6 has no display messages"):
        await send_command_async(station_id="CP-1", command="set_display_message", params={"message": "Hi"})
    await ChargingStation.objects.filter(station_id="CP-1").aupdate(ocpp_version="2.0.1")
    with pytest.raises(CommandError) as error:
        await send_command_async(station_id="CP-1", command="set_display_message", params={
            "message": "x" * 513, "priority": "Loud", "start_at": "2026-12-07T08:00:00Z",
            "end_at": "2026-12-06T08:00:00Z"})
    assert set(error.value.details) == {"message", "priority"}
    with pytest.raises(CommandError) as error:
        await send_command_async(station_id="CP-1", command="set_display_message", params={
            "message": "Hi", "start_at": "2026-12-07T08:00:00Z", "end_at": "2026-12-06T08:00:00Z"})
    assert error.value.details == {"end_at": ["must be after start_at"]}


# --- OCPP 1.6: California Pricing ----------------------------------------------------------------


async def report_california_support(station) -> None:
    """The station's configuration, asked for as the operator would: the key says it supports it."""
    asking = asyncio.create_task(send_command_async(station_id="CP-1", command="get_configuration", params={}))
    await station.expect_call("GetConfiguration", {"configurationKey": [
        {"key": "CustomDisplayCostAndPrice", "readonly": True, "value": "true"},
        {"key": "NumberOfDecimalsForCostValues", "readonly": False, "value": "2"}]})
    assert (await asking).outcome == "accepted"
    # Support found: the station's public price becomes its DefaultPrice (shown before a driver is known).
    default = await station.expect_call("ChangeConfiguration", {"status": "Accepted"})
    assert default["key"] == "DefaultPrice"
    assert json.loads(default["value"]) == {"priceText": PRICE_TEXT, "priceTextOffline": PRICE_TEXT,
                                            "chargingPrice": {"kWhPrice": 0.39}}


async def test_16_california_pricing_user_price_running_cost_and_final_cost(make_station, make_token, ocpp):
    await adb(priced_station)(make_station, make_token, "CP-1")
    async with ocpp("CP-1", version="1.6") as station:
        await report_california_support(station)
        assert (await station.result("Authorize", {"idTag": "TOKEN-1"}))["idTagInfo"]["status"] == "Accepted"
        user_price = await station.expect_call("DataTransfer", {"status": "Accepted"})
        assert (user_price["vendorId"], user_price["messageId"]) == (COSTMSG, "SetUserPrice")
        assert json.loads(user_price["data"]) == {"idToken": "TOKEN-1", "priceText": PRICE_TEXT}

        begun = await station.result("StartTransaction", {"connectorId": 1, "idTag": "TOKEN-1", "meterStart": 1000,
                                                          "timestamp": recent(30)})
        tx = begun["transactionId"]
        await station.result("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [
            {"timestamp": recent(10),
             "sampledValue": [{"value": "6000", "measurand": "Energy.Active.Import.Register"}]}]})
        running = await station.expect_call("DataTransfer", {"status": "Accepted"})  # follows the meter values
        assert (running["vendorId"], running["messageId"]) == (COSTMSG, "RunningCost")
        data = json.loads(running["data"])
        assert {k: data[k] for k in ("transactionId", "meterValue", "cost", "state", "chargingPrice")} == {
            "transactionId": tx, "meterValue": 6000, "cost": 1.95, "state": "Charging",
            "chargingPrice": {"kWhPrice": 0.39}}
        assert data["timestamp"].endswith("Z")

        await station.call("StopTransaction", {"transactionId": tx, "meterStop": 11000, "timestamp": recent(0)})
        final = await station.expect_call("DataTransfer", {"status": "Accepted"})
    assert (final["vendorId"], final["messageId"]) == (COSTMSG, "FinalCost")
    cdr = await ChargeDetailRecord.objects.aget(session__transaction_id=str(tx))
    assert json.loads(final["data"]) == {
        "transactionId": tx, "cost": float(cdr.total_cost_incl_vat), "priceText": "3.90 EUR, 10.00 kWh",
        "qrCodeText": f"{settings.CHARGENET_PUBLIC_URL}/portal/sessions/{cdr.session_id}/"}


async def test_16_without_the_configuration_key_nothing_extra_is_sent(make_station, make_token, ocpp):
    await adb(priced_station)(make_station, make_token, "CP-1")
    async with ocpp("CP-1", version="1.6") as station:
        await station.result("Authorize", {"idTag": "TOKEN-1"})
        begun = await station.result("StartTransaction", {"connectorId": 1, "idTag": "TOKEN-1", "meterStart": 0,
                                                          "timestamp": T0})
        assert await station_prices.send_running_costs() == {}
        await station.result("StopTransaction", {"transactionId": begun["transactionId"], "meterStop": 100,
                                                 "timestamp": T2})
        await asyncio.sleep(0.3)
        await station.result("Heartbeat", {})  # a CALL from the CSMS meanwhile would be waiting here
        assert station.waiting_calls == []


async def test_cost_commands_check_their_version(make_station):
    await adb(make_station)("CP-1")
    with pytest.raises(CommandError, match="transaction id is an integer"):
        await send_command_async(station_id="CP-1", command="cost_updated",
                                 params={"transaction_id": "TX-1", "total_cost": 1.0})
    await ChargingStation.objects.filter(station_id="CP-1").aupdate(ocpp_version="2.0.1")
    with pytest.raises(CommandError, match="personalMessage"):
        await send_command_async(station_id="CP-1", command="set_user_price",
                                 params={"id_token": "T", "price_text": "1 EUR/kWh"})
