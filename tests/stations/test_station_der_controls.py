"""A 2.1 station's DER controls on its admin page, from real frames: the set_der_control sent
(and its answer), the controls the station reported (ReportDERControl) one row each, and its
NotifyDERAlarm / NotifyDERStartStop; a 2.0.1 station without DER traffic has no such section."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from stations.commands.service import send_command_async
from stations.models import ChargingStation
from stations.smart_charging.der import station_der_controls
from tests.conftest import adb
from tests.stations.test_v2x_load_manager import AutoStation

pytestmark = pytest.mark.django_db(transaction=True)

T0 = "2026-12-01T18:00:00Z"
REPORT = {
    "requestId": 7,
    "limitMaxDischarge": [{"id": "LMD-1", "isDefault": False, "isSuperseded": False,
                           "limitMaxDischarge": {"priority": 1, "pctMaxDischargePower": 50}}],
    "fixedPFAbsorb": [{"id": "PF-1", "isDefault": True, "isSuperseded": True,
                       "fixedPF": {"priority": 2, "displacement": 0.95, "excitation": True}}],
}


def station_page(station_pk: int) -> str:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "x"))
    return client.get(f"/admin/stations/chargingstation/{station_pk}/change/").content.decode()


async def test_station_page_lists_der_controls_sent_and_reported(make_station, ocpp):
    station = await adb(make_station)("CS-DER")
    async with ocpp("CS-DER", version="2.1") as client:
        auto = AutoStation(client, "2.1")
        try:
            result = await send_command_async(station_id="CS-DER", command="set_der_control", params={
                "control_id": "LMD-1", "control_type": "LimitMaxDischarge",
                "control": {"limitMaxDischarge": {"priority": 1, "pctMaxDischargePower": 50}}})
            assert result.outcome == "accepted"
            assert ("SetDERControl", {"isDefault": False, "controlId": "LMD-1", "controlType": "LimitMaxDischarge",
                                      "limitMaxDischarge": {"priority": 1, "pctMaxDischargePower": 50}}) in auto.calls
            await auto.result("ReportDERControl", REPORT)
            await auto.result("NotifyDERStartStop", {"controlId": "LMD-1", "started": True, "timestamp": T0})
            await auto.result("NotifyDERAlarm", {"controlType": "HVMustTrip", "timestamp": T0,
                                                 "gridEventFault": "OverVoltage"})
        finally:
            auto.close()

    der = await adb(station_der_controls)(station)
    assert der["shown"]
    assert [(c["type"], c["id"], c["is_default"], c["is_superseded"]) for c in der["reported"]] == [
        ("fixedPFAbsorb", "PF-1", True, True), ("limitMaxDischarge", "LMD-1", False, False)]
    assert [(c["command"], c["control_id"], c["outcome"]) for c in der["commands"]] == [
        ("set_der_control", "LMD-1", "accepted")]
    assert {e["what"] for e in der["events"]} == {"ReportDERControl", "NotifyDERStartStop", "NotifyDERAlarm"}

    page = await adb(station_page)(station.pk)
    section = page[page.index('id="der-controls"'):page.index('id="recent-events"')]
    assert "LMD-1" in section and "PF-1" in section and "pctMaxDischargePower" in section
    assert "set_der_control" in section and "LimitMaxDischarge" in section and "accepted" in section
    assert "DER control LMD-1 started" in section and "DER alarm HVMustTrip: OverVoltage" in section


async def test_a_201_station_without_der_traffic_has_no_der_section(make_station):
    station = await adb(make_station)("CS-201")
    await ChargingStation.objects.filter(pk=station.pk).aupdate(ocpp_version="2.0.1")
    page = await adb(station_page)(station.pk)
    assert 'id="der-controls"' not in page and 'id="recent-events"' in page
