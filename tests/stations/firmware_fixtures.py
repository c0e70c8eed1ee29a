"""Small builders for firmware tests."""

from django.core.files.base import ContentFile

from stations.firmware.catalog import add_firmware
from stations.simulator import MODEL, VENDOR, sim_firmware


def make_firmware(version: str = "2.4.1", *, vendor: str = VENDOR, models=(MODEL,), **kwargs):
    return add_firmware(version=version, vendor=vendor, station_models=list(models),
                        file=ContentFile(sim_firmware(version), name=f"fw-{version}.bin"), **kwargs)
