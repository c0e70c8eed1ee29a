"""Certificates near expiry are renewed: the station is asked for a new CSR, once."""

import asyncio
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

from pki.models import CaRole, Certificate, CertificateKind
from pki.services.ca import issue_leaf
from pki.services.renewal import expiring_certificates
from pki.tasks import renew_expiring_certificates
from stations.models import ChargingStation
from tests.conftest import adb
from tests.pki.conftest import make_csr

pytestmark = pytest.mark.django_db(transaction=True)


def _issue(hierarchy, station, days, kind=CertificateKind.V2G):
    key = ec.generate_private_key(ec.SECP256R1())
    role = CaRole.CPO_SUB_CA_2 if kind == CertificateKind.V2G else CaRole.CSMS_ROOT
    return issue_leaf(ca=hierarchy[role], kind=kind, public_key=key.public_key(), common_name=station.station_id,
                      station=station, validity=timedelta(days=days))


def test_the_beat_schedule_runs_the_renewal_task():
    entry = settings.CELERY_BEAT_SCHEDULE["pki-renew-expiring-certificates"]
    assert entry["task"] == "pki.renew_expiring_certificates"


def test_only_certificates_within_the_window_without_a_successor_are_due(hierarchy, make_station):
    station = make_station("CP-1")
    soon = _issue(hierarchy, station, days=5)
    _issue(hierarchy, station, days=200, kind=CertificateKind.CHARGING_STATION)
    assert list(expiring_certificates(window_days=30)) == [soon]
    _issue(hierarchy, station, days=365)  # the renewed V2G certificate
    assert list(expiring_certificates(window_days=30)) == []


async def test_renewal_triggers_a_csr_which_is_signed_and_delivered(ocpp, make_station, hierarchy):
    station = await adb(make_station)("CP-1")
    old = await adb(_issue)(hierarchy, station, days=5)
    async with ocpp("CP-1", version="2.0.1") as client:
        await client.result("BootNotification", {"chargingStation": {"vendorName": "V", "model": "M"},
                                                  "reason": "PowerUp"})
        running = asyncio.create_task(adb(renew_expiring_certificates.delay)())
        trigger = await client.expect_call("TriggerMessage", {"status": "Accepted"})
        assert trigger == {"requestedMessage": "SignV2GCertificate"}
        report = (await running).get()
        assert report == {"asked": ["CP-1/V2GCertificate"], "failed": {}}
        _, csr = make_csr("CP-1")
        assert (await client.result("SignCertificate", {"csr": csr, "certificateType": "V2GCertificate"}))[
            "status"] == "Accepted"
        await client.expect_call("CertificateSigned", {"status": "Accepted"})
        # asked once: a second run sends nothing while the old certificate has a successor
        report = (await adb(renew_expiring_certificates.delay)()).get()
        assert report == {"asked": [], "failed": {}}
    assert (await Certificate.objects.aget(pk=old.pk)).renewal_requested_at is not None


async def test_offline_stations_are_asked_on_a_later_run(make_station, hierarchy):
    station = await adb(make_station)("CP-1")
    old = await adb(_issue)(hierarchy, station, days=5)
    report = (await adb(renew_expiring_certificates.delay)()).get()
    assert report == {"asked": [], "failed": {"CP-1/V2GCertificate": "offline"}}
    assert (await Certificate.objects.aget(pk=old.pk)).renewal_requested_at is None
    assert await ChargingStation.objects.filter(station_id="CP-1", is_online=False).aexists()
