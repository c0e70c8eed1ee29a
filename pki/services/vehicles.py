"""Vehicles registered for Plug & Charge: who a car's contract is issued for."""

from django.db import IntegrityError, transaction

from pki.models import Vehicle
from stations.models import Driver


class VehicleError(ValueError):
    pass


def normalize_pcid(value: str) -> str:
    """ISO 15118-2 PCIDs are 14 to 18 letters and digits; compared in upper case."""
    pcid = (value or "").strip().upper()
    if not pcid.isalnum() or not pcid.isascii() or not 14 <= len(pcid) <= 18:
        raise VehicleError("a PCID is 14 to 18 letters and digits (ISO 15118-2)")
    return pcid


def register_vehicle(*, driver: Driver, pcid: str, name: str = "") -> Vehicle:
    pcid = normalize_pcid(pcid)
    try:
        with transaction.atomic():
            return Vehicle.objects.create(driver=driver, pcid=pcid, name=name.strip()[:100])
    except IntegrityError:
        raise VehicleError(f"{pcid} is registered already") from None
