"""The tariff editor's preview prices a made-up session exactly as real sessions are priced."""

import json
from datetime import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from billing.tariff_preview import PreviewError, PreviewSession, preview_cost

PEAK = {"currency": "EUR", "elements": [
    {"price_components": [{"type": "ENERGY", "price": 0.49, "vat": 19.0, "step_size": 1}],
     "restrictions": {"start_time": "17:00", "end_time": "21:00", "day_of_week": ["MONDAY"]}},
    {"price_components": [{"type": "ENERGY", "price": 0.39, "vat": 19.0, "step_size": 1}]},
    {"price_components": [{"type": "PARKING_TIME", "price": 6.00, "vat": 19.0, "step_size": 60}]},
]}


def test_the_preview_follows_restrictions_and_parking():
    monday_evening = PreviewSession(start_local=datetime(2026, 1, 5, 18), time_zone="Europe/Berlin",
                                    energy_kwh=Decimal(20), charging_minutes=60, parking_minutes=30)
    priced = preview_cost(tariff=PEAK, session=monday_evening)
    assert priced["total_excl_vat"] == "12.80"  # 20 x 0.49 + 0.5 h x 6.00
    tuesday_noon = PreviewSession(start_local=datetime(2026, 1, 6, 12), time_zone="Europe/Berlin",
                                  energy_kwh=Decimal(20), charging_minutes=60)
    assert preview_cost(tariff=PEAK, session=tuesday_noon)["total_excl_vat"] == "7.80"
    with pytest.raises(PreviewError, match="time zone"):
        preview_cost(tariff=PEAK, session=PreviewSession(datetime(2026, 1, 5), "Mars/Base", Decimal(1), 1))


@pytest.mark.django_db
def test_the_preview_endpoint_answers_errors_as_400_and_saves_nothing():
    client = Client()
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "x"))
    ok = client.post("/admin/billing/tariff/preview/", json.dumps({"tariff": PEAK, "session": {
        "start": "2026-01-05T18:00", "time_zone": "Europe/Berlin", "energy_kwh": "20", "charging_minutes": 60}}),
        content_type="application/json")
    assert ok.status_code == 200 and ok.json()["total_incl_vat"] == "11.66"
    bad = client.post("/admin/billing/tariff/preview/", json.dumps({"tariff": {"currency": "EUR", "elements": []},
                                                                    "session": {}}), content_type="application/json")
    assert bad.status_code == 400 and "elements" in bad.json()["error"]
    assert client.post("/admin/billing/tariff/preview/", "not json", content_type="application/json").status_code == 400
