"""The admin shows each role only what is theirs, whether they click or guess URLs."""

import pytest
from django.test import Client
from django.urls import reverse

from stations.models import ChargingStation, RegistrationStatus

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def test_site_owner_lists_only_their_organisations_stations(network):
    page = client_for(network.owner_a).get(reverse("admin:stations_chargingstation_changelist"))
    assert page.status_code == 200
    assert "CP-A" in page.text and "CP-B" not in page.text
    assert "Site A" in page.text and "Site B" not in page.text  # nor in the site filter


def test_site_owner_guessing_another_organisations_station_url_gets_404(network):
    owner = client_for(network.owner_a)
    assert owner.get(change_url(network.station_b)).status_code == 404
    assert owner.post(change_url(network.station_b), {"security_profile": 0}).status_code == 404
    command = reverse("admin:stations_chargingstation_command", args=[network.station_b.pk])
    assert owner.post(command, {"command": "reset", "params": "type=hard"}).status_code in (403, 404)
    assert owner.get(change_url(network.session_b)).status_code == 404
    assert owner.get(change_url(network.site_b)).status_code == 404
    station_b = change_url(network.station_b).removesuffix("change/")
    assert owner.get(station_b + "history/").status_code == 404
    assert owner.post(station_b + "delete/", {"post": "yes"}).status_code in (403, 404)
    assert ChargingStation.objects.filter(pk=network.station_b.pk).exists()


def test_site_owner_cannot_move_a_station_to_another_organisations_site(network):
    owner = client_for(network.owner_a)
    page = owner.get(change_url(network.station_a))
    assert page.status_code == 200
    assert "Site A" in page.text and "Site B" not in page.text
    answer = owner.post(change_url(network.station_a), {
        "station_id": "CP-A", "site": network.site_b.pk, "security_profile": 1, "registration_status": "Accepted",
        "evses-TOTAL_FORMS": 0, "evses-INITIAL_FORMS": 0,
    })
    assert answer.status_code == 200  # the form comes back with an error
    assert "Select a valid choice" in answer.text
    network.station_a.refresh_from_db()
    assert network.station_a.site == network.site_a


def test_site_owner_action_on_another_organisations_station_changes_nothing(network):
    network.station_b.registration_status = RegistrationStatus.PENDING
    network.station_b.save()
    client_for(network.owner_a).post(reverse("admin:stations_chargingstation_changelist"), {
        "action": "reject_registration", "_selected_action": [network.station_b.pk],
    })
    assert ChargingStation.objects.get(pk=network.station_b.pk).registration_status == RegistrationStatus.PENDING


def test_site_owner_sees_sessions_of_their_sites_only_and_no_invoices(network):
    owner = client_for(network.owner_a)
    sessions = owner.get(reverse("admin:stations_chargingsession_changelist"))
    assert sessions.status_code == 200
    assert "CP-A" in sessions.text and "CP-B" not in sessions.text
    assert owner.get(reverse("admin:billing_invoice_changelist")).status_code == 403
    assert owner.get(reverse("admin:auth_user_changelist")).status_code == 403


def test_finance_sees_billing_and_nothing_operational(network):
    finance = client_for(network.finance)
    assert finance.get(reverse("admin:billing_invoice_changelist")).status_code == 200
    assert finance.get(reverse("admin:billing_chargedetailrecord_changelist")).status_code == 200
    assert finance.get(reverse("admin:stations_chargingstation_changelist")).status_code == 403
    assert finance.get(change_url(network.station_a)).status_code == 403
    assert finance.get(reverse("admin:stations_chargingsession_changelist")).status_code == 403
    index = finance.get(reverse("admin:index"))
    assert "Invoices" in index.text and "Charging stations" not in index.text
    assert finance.get(reverse("admin:dashboard")).status_code == 403


def test_driver_cannot_enter_the_admin(network):
    refused = Client().post(reverse("admin:login"), {"username": "driver-a", "password": "pw-driver-a"})
    assert refused.status_code == 200 and "Please enter the correct" in refused.text
    driver = client_for(network.driver_a)
    assert driver.get(reverse("admin:index")).status_code == 302
    assert driver.get(change_url(network.session_a)).status_code == 302


def test_site_owner_logs_into_the_admin_without_being_staff(network):
    client = Client()
    answer = client.post(reverse("admin:login"), {"username": "owner-a", "password": "pw-owner-a",
                                                  "next": reverse("admin:index")})
    assert answer.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_operator_sees_everything(network):
    operator = client_for(network.operator)
    page = operator.get(reverse("admin:stations_chargingstation_changelist"))
    assert "CP-A" in page.text and "CP-B" in page.text
    assert operator.get(change_url(network.station_b)).status_code == 200


def test_dashboard_shows_the_owners_stations_only(network):
    page = client_for(network.owner_a).get(reverse("admin:dashboard"))
    assert page.status_code == 200
    assert 'data-station="CP-A"' in page.text and 'data-station="CP-B"' not in page.text
    state = client_for(network.owner_a).get(reverse("admin:dashboard_state")).json()
    assert [s["station"] for s in state["stations"]] == ["CP-A"]
    assert "<svg" in page.text


def test_dashboard_lists_faulted_then_offline_stations_first(network, make_station):
    from stations.models import Connector, Evse

    for station_id, online in [("CP-A2", True), ("CP-A3", False), ("CP-A4", True)]:
        station = make_station(station_id, site=network.site_a)
        station.is_online = online
        station.save()
    network.station_a.is_online = True
    network.station_a.save()
    faulted = ChargingStation.objects.get(station_id="CP-A4")
    Connector.objects.create(evse=Evse.objects.create(station=faulted, evse_id=1), connector_id=1, status="Faulted")
    state = client_for(network.owner_a).get(reverse("admin:dashboard_state")).json()
    assert [s["station"] for s in state["stations"]] == ["CP-A4", "CP-A3", "CP-A", "CP-A2"]


def test_site_owner_runs_actions_on_their_own_stations(network):
    client_for(network.owner_a).post(reverse("admin:stations_chargingstation_changelist"), {
        "action": "reject_registration", "_selected_action": [network.station_a.pk, network.station_b.pk],
    })
    assert ChargingStation.objects.get(pk=network.station_a.pk).registration_status == RegistrationStatus.REJECTED
    assert ChargingStation.objects.get(pk=network.station_b.pk).registration_status == RegistrationStatus.ACCEPTED


def test_operators_group_runs_the_admin_without_model_permissions(network):
    from django.contrib.auth.models import Group, User

    member = User.objects.create_user("ops-group", "og@example.com", "pw-og")
    member.groups.add(Group.objects.get_or_create(name="Operators")[0])
    client = client_for(member)
    page = client.get(reverse("admin:stations_chargingstation_changelist"))
    assert page.status_code == 200 and "CP-A" in page.text and "CP-B" in page.text
    assert client.get(change_url(network.station_b)).status_code == 200
    assert client.get(reverse("admin:dashboard")).status_code == 200


def test_site_owner_sets_the_load_limit_of_their_site_only(network):
    from stations.models import SiteLoadLimit

    owner = client_for(network.owner_a)
    add = reverse("admin:stations_siteloadlimit_add")
    page = owner.get(add)
    assert page.status_code == 200 and "Site A" in page.text and "Site B" not in page.text
    form = {
        "voltage_v": 230, "optimise_for": "", "curve": "[]", "min_interval_s": 300, "dead_band_w": 700,
        "meter_rebalance_interval_s": 60, "profile_validity_s": 900, "enabled": "on", "max_current_a": 63,
        "max_export_power_w": 0,
        "periods-TOTAL_FORMS": 0, "periods-INITIAL_FORMS": 0,
    }
    refused = owner.post(add, {**form, "site": network.site_b.pk})
    assert refused.status_code == 200 and "Select a valid choice" in refused.text
    assert owner.post(add, {**form, "site": network.site_a.pk}).status_code == 302
    assert SiteLoadLimit.objects.get().site == network.site_a

    other = SiteLoadLimit.objects.create(site=network.site_b, max_power_w=50000)
    assert owner.get(change_url(other)).status_code == 404
    listing = owner.get(reverse("admin:stations_siteloadlimit_changelist"))
    assert "Site A" in listing.text and "Site B" not in listing.text
    own_limit = SiteLoadLimit.objects.get(site=network.site_a)
    assert client_for(network.owner_b).get(change_url(own_limit)).status_code == 404


def test_site_owner_sees_only_their_stations_periodic_event_streams(network):
    from datetime import UTC, datetime

    from stations.models import PeriodicEventStream

    opened = datetime(2026, 12, 1, tzinfo=UTC)
    own = PeriodicEventStream.objects.create(station=network.station_a, stream_id=1, variable_monitoring_id=11,
                                             opened_at=opened, last_value="own-value")
    other = PeriodicEventStream.objects.create(station=network.station_b, stream_id=2, variable_monitoring_id=22,
                                               opened_at=opened, last_value="other-value")
    owner = client_for(network.owner_a)
    page = owner.get(reverse("admin:stations_periodiceventstream_changelist"))
    assert page.status_code == 200
    assert "own-value" in page.text and "other-value" not in page.text
    assert owner.get(change_url(own)).status_code == 200
    assert owner.get(change_url(other)).status_code == 404
    station_page = owner.get(change_url(network.station_a))
    assert "own-value" in station_page.text

