"""A managed site with a discharging car, end to end: the station meters what the car feeds
back, the load manager records it in the site's power samples with the export limit, and the
chart API gives the import and export series with both limits (JSON and SVG)."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from stations.models import SessionLoadState, Site, SiteLoadLimit, SiteLoadLimitPeriod, SiteLoadSample
from stations.smart_charging.load_manager import rebalance_site_async
from tests.conftest import adb
from tests.stations.test_v2x_load_manager import NEEDS, AutoStation, eventually, setup_network

pytestmark = pytest.mark.django_db(transaction=True)

EXPORT_LIMIT_W = 5_000


@pytest.fixture
def site(db):
    site = Site.objects.create(name="Depot")
    config = SiteLoadLimit.objects.create(site=site, max_power_w=22_000, max_export_power_w=EXPORT_LIMIT_W,
                                          min_interval_s=0, dead_band_w=100)
    now = timezone.now()
    # The building takes the whole connection for the next hour: the V2X car feeds the site.
    SiteLoadLimitPeriod.objects.create(limit=config, start=now - timedelta(minutes=5), max_power_w=0)
    SiteLoadLimitPeriod.objects.create(limit=config, start=now + timedelta(hours=1), max_power_w=22_000)
    return site


def operator_client() -> APIClient:
    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_superuser("ops", "ops@example.com", "pw"))
    return client


def meter(at, *, import_wh: int, export_wh: int, import_w: int, export_w: int) -> list[dict]:
    return [{"timestamp": at.isoformat(), "sampledValue": [
        {"value": import_wh, "measurand": "Energy.Active.Import.Register"},
        {"value": export_wh, "measurand": "Energy.Active.Export.Register"},
        {"value": import_w, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
        {"value": export_w, "measurand": "Power.Active.Export", "unitOfMeasure": {"unit": "W"}},
        {"value": 58, "measurand": "SoC", "location": "EV", "unitOfMeasure": {"unit": "Percent"}},
    ]}]


async def test_chart_api_gives_import_and_export_with_both_limits(site, make_station, make_token, ocpp):
    await adb(setup_network)(site, make_station, make_token, allow_discharge=True)
    now = timezone.now()
    async with ocpp("CS-V2G", version="2.1") as v_client, ocpp("CP-B", version="1.6") as b_client:
        car, other = AutoStation(v_client, "2.1"), AutoStation(b_client, "1.6")
        try:
            await car.result("TransactionEvent", {
                "eventType": "Started", "timestamp": now.isoformat(), "triggerReason": "Authorized", "seqNo": 0,
                "transactionInfo": {"transactionId": "V2G-1"}, "evse": {"id": 1, "connectorId": 1},
                "idToken": {"idToken": "TOKEN-V2G", "type": "ISO14443"},
                "meterValue": meter(now, import_wh=10_000, export_wh=0, import_w=0, export_w=0),
            })
            needs = {**NEEDS, "chargingNeeds": {**NEEDS["chargingNeeds"],
                                                "departureTime": (now + timedelta(hours=6)).isoformat()}}
            assert (await car.result("NotifyEVChargingNeeds", needs))["status"] == "Accepted"
            await other.result("StartTransaction", {"connectorId": 1, "idTag": "TOKEN-B", "meterStart": 0,
                                                     "timestamp": now.isoformat()})

            async def discharging():
                state = await SessionLoadState.objects.filter(session__transaction_id="V2G-1").afirst()
                return state is not None and (state.setpoint_w or 0) < 0

            await eventually(discharging, "the car is set to discharge")
            setpoint_w = (await SessionLoadState.objects.aget(session__transaction_id="V2G-1")).setpoint_w
            # The car feeds back what it was set to; the other car draws what it was allowed.
            later = timezone.now()
            await car.result("TransactionEvent", {
                "eventType": "Updated", "timestamp": later.isoformat(), "triggerReason": "MeterValuePeriodic",
                "seqNo": 1, "transactionInfo": {"transactionId": "V2G-1", "operationMode": "CentralSetpoint"},
                "meterValue": meter(later, import_wh=10_000, export_wh=500, import_w=0, export_w=-setpoint_w),
            })
            session_b = await SessionLoadState.objects.select_related("session").aget(
                session__station__station_id="CP-B")
            drawn = [{"value": "4000", "measurand": "Power.Active.Import", "unit": "W"}]
            await other.result("MeterValues", {
                "connectorId": 1, "transactionId": int(session_b.session.transaction_id),
                "meterValue": [{"timestamp": later.isoformat(), "sampledValue": drawn}]})

            async def export_sampled():
                # A re-balance started by the car's frame alone may sample before CP-B's meter
                # value is in: wait for one that has both.
                await rebalance_site_async(site.pk)
                return await SiteLoadSample.objects.filter(
                    site=site, measured_export_w__gt=0, measured_w__gt=0).aexists()

            await eventually(export_sampled, "a power sample with the metered export")
        finally:
            car.close()
            other.close()

    client = await adb(operator_client)()
    body = (await adb(client.get)(f"/api/v1/sites/{site.pk}/power/")).json()
    assert body["max_export_power_w"] == EXPORT_LIMIT_W
    fed = [s for s in body["samples"] if s["measured_export_w"] > 0 and s["measured_w"] > 0]
    assert fed, body["samples"]
    point = fed[-1]
    assert point["measured_export_w"] == -setpoint_w and point["measured_w"] == 4000
    assert point["grid_w"] == 4000 + setpoint_w  # net: what the site drew less what it fed back
    assert (point["limit_w"], point["export_limit_w"]) == (0, EXPORT_LIMIT_W)
    assert all(s["export_limit_w"] == EXPORT_LIMIT_W for s in body["samples"])
    car_now = next(s for s in body["sessions"] if s["station"] == "CS-V2G")
    assert (car_now["soc_percent"], car_now["operation_mode"], car_now["energy_exported_wh"]) == (
        58.0, "CentralSetpoint", 500)

    chart = await adb(client.get)(f"/api/v1/sites/{site.pk}/power.svg")
    svg = chart.content.decode()
    assert chart.status_code == 200 and chart["Content-Type"] == "image/svg+xml"
    for series in ("limit_w", "measured_w", "export_limit_w", "measured_export_w", "discharge_w"):
        assert f'data-series="{series}"' in svg, series
    assert "-5 kW" in svg or "-10 kW" in svg  # the axis goes below zero, down to the export limit at least


async def test_an_import_only_site_draws_no_export_series(site, make_station, make_token):
    await SiteLoadSample.objects.acreate(site=site, at=timezone.now(), limit_w=22_000, allocated_w=11_000,
                                         measured_w=10_500, export_limit_w=0)
    client = await adb(operator_client)()
    svg = (await adb(client.get)(f"/api/v1/sites/{site.pk}/power.svg")).content.decode()
    assert 'data-series="measured_w"' in svg and 'data-series="measured_export_w"' not in svg
    assert "export limit" not in svg
