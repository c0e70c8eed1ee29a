"""The campaign form tells how many stations its targets match before it is saved."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from stations.firmware.models import FirmwareImage
from stations.models import ChargingStation, Site
from stations.services.registry import register_station

pytestmark = pytest.mark.django_db


def test_targets_are_counted_before_saving_and_bad_targets_explained():
    site = Site.objects.create(name="Depot")
    for n in (1, 2, 3):
        register_station(station_id=f"T-{n}", password="p" * 20, site=site if n < 3 else None)
    ChargingStation.objects.update(vendor="ChargeNet", model="Simulator", firmware_version="sim-1.0")
    ChargingStation.objects.filter(station_id="T-2").update(firmware_version="2.0")
    image = FirmwareImage.objects.create(version="2.0", vendor="ChargeNet", station_models=["Simulator"],
                                         file="f.bin", size_bytes=1, sha256="0" * 64)
    client = Client()
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "x"))
    url = "/admin/stations/firmwarecampaign/targets/"
    answer = client.get(url, {"firmware": image.pk, "sites": [site.pk]}).json()
    assert answer == {"count": 2, "stations": ["T-1", "T-2"], "already_on_version": 1}
    assert client.get(url, {"firmware": image.pk, "stations": "NOPE"}).json() == {"error": "unknown stations: NOPE"}
    assert client.get(url, {"firmware": image.pk}).status_code == 400
    assert client.get(url).json() == {"error": "choose a firmware first"}
