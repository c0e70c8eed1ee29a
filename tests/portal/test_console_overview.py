"""The overview on the admin index and the dashboard: figures of what the role may see,
alerts that link to the filtered lists, narrowed to a site or organisation."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from roaming.models import OutboxEntry, Partner
from stations.firmware.models import FirmwareCampaign, FirmwareImage
from stations.models import ChargingSession, Connector, Evse, MeterSample, Measurand

pytestmark = pytest.mark.django_db


def logged_in(username):
    client = Client()
    assert client.login(username=username, password=f"pw-{username}")
    return client


def figure(html: str, key: str) -> str:
    match = re.search(rf'data-figure="{key}"><span>[^<]*</span>\s*<strong>(?:<a href="[^"]*">)?([^<]*)', html)
    return match.group(1) if match else ""


@pytest.fixture
def live_network(network):
    a, b = network.station_a, network.station_b
    a.is_online = True
    a.save()
    evse = Evse.objects.get(station=b, evse_id=1)
    Connector.objects.create(evse=evse, connector_id=1, status="Faulted")
    evse_a = Evse.objects.get(station=a, evse_id=1)
    Connector.objects.create(evse=evse_a, connector_id=1, status="Charging")
    session = ChargingSession.objects.create(station=a, evse=evse_a, transaction_id="9", status="Active",
                                             started_at=timezone.now() - timedelta(minutes=5), energy_wh=2500)
    MeterSample.objects.create(session=session, station=a, evse_id=1, timestamp=timezone.now(),
                               measurand=Measurand.POWER_ACTIVE_IMPORT, value=7400)
    return network


def test_operator_sees_the_whole_network_and_its_alerts(live_network, settings):
    image = FirmwareImage.objects.create(version="9", vendor="V", file="f.bin", size_bytes=1, sha256="0" * 64)
    FirmwareCampaign.objects.create(name="bad", firmware=image, status="halted")
    partner = Partner.objects.create(name="P", country_code="DE", party_id="ABC")
    OutboxEntry.objects.create(partner=partner, module="sessions", method="PUT", payload={}, status="failed")
    html = logged_in("ops").get("/admin/").content.decode()
    assert (figure(html, "online"), figure(html, "offline"), figure(html, "faulted")) == ("1", "1", "1")
    assert figure(html, "charging") == "1" and figure(html, "power") == "7.4 kW"
    assert figure(html, "sessions-today") == "1" and figure(html, "energy-today") == "2.5 kWh"
    assert '<a href="/admin/stations/chargingstation/?health=faulted">1 faulted station(s)</a>' in html
    assert '<a href="/admin/stations/firmwarecampaign/?status__exact=halted">1 firmware campaign(s)' in html
    assert "/admin/roaming/outboxentry/?status__in=pending,failed" in html

    faulted = logged_in("ops").get("/admin/stations/chargingstation/?health=faulted").content.decode()
    assert "CP-B" in faulted and ">CP-A<" not in faulted


def test_owner_sees_only_their_sites_and_can_narrow_to_one(live_network):
    client = logged_in("owner-b")
    html = client.get("/admin/").content.decode()
    assert (figure(html, "online"), figure(html, "offline"), figure(html, "faulted")) == ("0", "1", "1")
    assert figure(html, "power") == "0.0 kW"  # CP-A's session is another organisation's
    assert "firmware campaign" not in html and "roaming message" not in html
    dashboard = logged_in("ops").get(f"/admin/dashboard/?site={live_network.site_a.pk}").content.decode()
    assert (figure(dashboard, "online"), figure(dashboard, "faulted")) == ("1", "0")
    assert f'<option value="{live_network.site_a.pk}" selected>' in dashboard


def test_finance_sees_revenue_not_stations(live_network):
    html = logged_in("fin").get("/admin/").content.decode()
    assert figure(html, "revenue") == "0.00" and figure(html, "online") == ""


def test_navigation_is_grouped_by_task_with_readable_names(live_network):
    html = logged_in("ops").get("/admin/").content.decode()
    sections = re.findall(r"<caption>\s*([^<\s][^<]*?)\s*</caption>", html)
    assert sections[:7] == ["Network", "Sessions", "Billing", "Firmware", "Certificates", "Roaming", "Users"]
    for label in ("EVSEs", "Tokens", "Status changes", "API tokens", "Charging stations"):
        assert f">{label}</a>" in html, label
    finance = logged_in("fin").get("/admin/").content.decode()
    assert re.findall(r"<caption>\s*([^<\s][^<]*?)\s*</caption>", finance) == ["Billing"]


def test_every_admin_model_has_a_task_section():
    """A model registered without a place in TASK_SECTIONS would land in "Other"."""
    from django.contrib import admin

    from chargenet.admin_site import TASK_SECTIONS

    listed = {label for labels in TASK_SECTIONS.values() for label in labels}
    assert sorted(m._meta.label_lower for m in admin.site._registry if m._meta.label_lower not in listed) == []
