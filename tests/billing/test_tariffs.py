"""Tariffs: OCPI validation, where a tariff applies (resolution order), and the snapshot a
session takes when it starts."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.exceptions import ValidationError

from billing.models import DriverGroup, SessionTariff, Tariff, TariffAssignment
from billing.tariffs import (
    TariffAssignmentError,
    assign_tariff,
    check_ocpi_tariff,
    create_tariff,
    resolve_tariff,
    set_default_tariff,
    snapshot_session_tariff,
    tariff_to_ocpi,
    update_tariff,
)
from stations.models import ChargingSession, Evse, Organization, Site
from stations.services.registry import register_id_token, register_station
from stations.services.sessions import start_session
from tests.billing.tariff_data import component, full_tariff, make_tariff, ocpi_tariff

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


# --- validation ---------------------------------------------------------------------


def errors_of(data) -> dict:
    with pytest.raises(ValidationError) as raised:
        check_ocpi_tariff(data)
    return raised.value.detail


def test_a_complete_ocpi_tariff_is_stored_and_read_back_field_for_field():
    stored = tariff_to_ocpi(create_tariff(ocpi=check_ocpi_tariff(full_tariff())))
    assert {k: v for k, v in stored.items() if k != "last_updated"} == full_tariff()
    assert stored["last_updated"].endswith("Z")


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"currency": "eur"}, "currency", "ISO 4217"),
        ({"country_code": "DEU"}, "country_code", "alpha-2"),
        ({"id": "has/slash"}, "id", "no spaces or '/'"),
        ({"elements": []}, "elements", "empty"),
        ({"colour": "red"}, "colour", "unknown field; OCPI 2.2.1 Tariff has"),
        ({"type": "CHEAP"}, "type", "not a valid choice"),
        ({"start_date_time": "2025-02-01T00:00:00Z", "end_date_time": "2025-01-01T00:00:00Z"},
         "end_date_time", "after start_date_time"),
        ({"min_price": {"excl_vat": 5}, "max_price": {"excl_vat": 1}}, "min_price", "above max_price"),
    ],
)
def test_invalid_tariff_fields_are_refused_with_a_reason(change, field, says):
    errors = errors_of({**ocpi_tariff(), **change})
    assert field in errors, errors
    assert says in str(errors[field])


@pytest.mark.parametrize(
    ("element", "says"),
    [
        ({"price_components": [{"type": "ENERGY", "price": 0.3, "vat": 19}]}, "step_size"),
        ({"price_components": [component("ENERGY", -0.3)]}, "at least 0"),
        ({"price_components": [component("ENERGY", "0.30")]}, "JSON number"),
        ({"price_components": [component("ENERGY", 0.3)], "restrictions": {"start_time": "7:00"}}, "HH:MM"),
        ({"price_components": [component("ENERGY", 0.3)], "restrictions": {"max_kwhh": 5}}, "unknown field"),
        ({"price_components": [component("ENERGY", 0.3)], "restrictions": {"day_of_week": ["MON"]}}, "valid choice"),
        # Only the pricing engine sees these: the element could never apply, or the date does not exist.
        ({"price_components": [component("ENERGY", 0.3)], "restrictions": {"min_kwh": 10, "max_kwh": 5}},
         "could never apply"),
        ({"price_components": [component("ENERGY", 0.3)], "restrictions": {"start_date": "2025-02-30"}},
         "not a calendar date"),
    ],
)
def test_invalid_elements_are_refused_with_the_path_to_the_mistake(element, says):
    errors = errors_of(ocpi_tariff("T-1", element))
    assert "elements" in errors, errors
    assert says in str(errors["elements"])


def test_ids_are_unique_case_insensitively():
    make_tariff("Night")
    assert "exists" in str(errors_of(ocpi_tariff("NIGHT"))["id"])


# --- where a tariff applies -----------------------------------------------------------


@pytest.fixture
def network():
    site = Site.objects.create(name="Yard", time_zone="Europe/Berlin")
    station = register_station(station_id="CP-1", password="p" * 20, site=site).station
    evse = Evse.objects.create(station=station, evse_id=1)
    driver = register_id_token(value="CARD", driver_email="d@example.com").driver
    staff = DriverGroup.objects.create(name="Staff")
    staff.drivers.add(driver)
    return {"site": site, "station": station, "evse": evse, "driver": driver, "staff": staff}


def session_at(network, *, driver=True, started_at=T0) -> ChargingSession:
    return ChargingSession(
        station=network["station"], evse=network["evse"], transaction_id="1", started_at=started_at,
        driver=network["driver"] if driver else None,
    )


def assign(tariff_id: str, place, group=None, **fields) -> Tariff:
    tariff = Tariff.objects.filter(tariff_id=tariff_id).first() or make_tariff(tariff_id, **fields)
    assign_tariff(tariff=tariff, place=place, driver_group=group)
    return tariff


def resolved(network, **kwargs) -> str | None:
    tariff = resolve_tariff(session_at(network, **kwargs))
    return tariff.tariff_id if tariff else None


def test_evse_beats_station_beats_site_beats_default(network):
    default = make_tariff("DEFAULT")
    set_default_tariff(tariff=default)
    assert resolved(network) == "DEFAULT"
    assign("SITE", network["site"])
    assert resolved(network) == "SITE"
    assign("STATION", network["station"])
    assert resolved(network) == "STATION"
    assign("EVSE", network["evse"])
    assert resolved(network) == "EVSE"


def test_a_driver_groups_tariff_beats_the_public_one_at_the_same_place(network):
    assign("PUBLIC", network["station"])
    assign("STAFF", network["station"], network["staff"])
    assert resolved(network) == "STAFF"
    assert resolved(network, driver=False) == "PUBLIC"  # an unknown driver is the public


def test_a_more_specific_place_beats_a_driver_group_further_out(network):
    assign("STAFF-SITE", network["site"], network["staff"])
    assign("EVSE", network["evse"])
    assert resolved(network) == "EVSE"


def test_other_groups_tariffs_do_not_apply(network):
    assign("PUBLIC", network["site"])
    assign("FLEET", network["station"], DriverGroup.objects.create(name="Fleet"))
    assert resolved(network) == "PUBLIC"


def test_tariffs_outside_their_validity_are_skipped_for_the_next_candidate(network):
    assign("SITE", network["site"])
    assign("EXPIRED", network["evse"], end_date_time="2025-03-01T00:00:00Z")
    assign("NOT-YET", network["station"], start_date_time="2025-03-03T09:00:01Z")
    assert resolved(network) == "SITE"
    # start inclusive, end exclusive
    assert resolved(network, started_at=datetime(2025, 3, 3, 9, 0, 1, tzinfo=UTC)) == "NOT-YET"
    assert resolved(network, started_at=datetime(2025, 2, 28, 23, 59, tzinfo=UTC)) == "EXPIRED"


def test_no_assignment_and_no_valid_default_means_no_tariff(network):
    set_default_tariff(tariff=make_tariff("OLD", end_date_time="2025-01-01T00:00:00Z"))
    assert resolved(network) is None


# --- assigning ------------------------------------------------------------------------


def test_an_organisations_tariff_applies_only_at_its_places(network):
    acme = Organization.objects.create(name="Acme")
    acme_tariff = make_tariff("ACME", organization=acme)
    with pytest.raises(TariffAssignmentError, match="belongs to Acme"):
        assign_tariff(tariff=acme_tariff, place=network["station"])
    network["site"].organization = acme
    network["site"].save()
    assign_tariff(tariff=acme_tariff, place=network["evse"])
    assert resolved(network) == "ACME"


def test_assigning_again_replaces_and_none_removes(network):
    first, created = assign_tariff(tariff=make_tariff("A"), place=network["station"])
    again, created_again = assign_tariff(tariff=make_tariff("B"), place=network["station"])
    assert created and not created_again and again.pk == first.pk
    assert TariffAssignment.objects.get().tariff.tariff_id == "B"
    assign_tariff(tariff=None, place=network["station"])
    assert not TariffAssignment.objects.exists()


def test_the_default_moves_and_must_be_network_wide(network):
    a, b = make_tariff("A"), make_tariff("B")
    set_default_tariff(tariff=a)
    set_default_tariff(tariff=b)
    assert list(Tariff.objects.filter(is_default=True)) == [b]
    with pytest.raises(TariffAssignmentError, match="network-wide"):
        set_default_tariff(tariff=make_tariff("ORG", organization=Organization.objects.create(name="O")))


# --- the snapshot at session start ----------------------------------------------------------


def test_starting_a_session_snapshots_its_tariff_in_the_sites_time_zone(network):
    tariff = assign("STATION", network["station"])
    session = start_session(station_pk=network["station"].pk, evse_id=1, connector_id=1, id_token_value="CARD",
                            meter_start_wh=0, started_at=T0).session
    snapshot = SessionTariff.objects.get(session=session)
    assert snapshot.tariff == tariff
    assert snapshot.snapshot == tariff_to_ocpi(tariff)
    assert snapshot.time_zone == "Europe/Berlin"
    assert snapshot.driver_known


def test_the_snapshot_does_not_follow_later_changes_of_the_tariff(network):
    tariff = assign("STATION", network["station"])
    session = start_session(station_pk=network["station"].pk, evse_id=1, connector_id=1, id_token_value="CARD",
                            meter_start_wh=0, started_at=T0).session
    repriced = ocpi_tariff("STATION", {"price_components": [component("ENERGY", 0.99)]})
    update_tariff(tariff=tariff, ocpi=check_ocpi_tariff(repriced, instance=tariff))
    assert Tariff.objects.get().elements[0]["price_components"][0]["price"] == 0.99
    snapshot = SessionTariff.objects.get(session=session).snapshot
    assert snapshot["elements"][0]["price_components"][0]["price"] == 0.30


def test_snapshotting_costs_a_few_queries(network, django_assert_max_num_queries):
    assign("STATION", network["station"])
    session = ChargingSession.objects.create(station=network["station"], evse=network["evse"], transaction_id="9",
                                             started_at=T0, driver=network["driver"])
    with django_assert_max_num_queries(5):  # savepoint, site, assignments, insert, release
        snapshot_session_tariff(session=session)


def test_no_tariff_means_no_snapshot_and_the_session_still_starts(network):
    session = start_session(station_pk=network["station"].pk, evse_id=1, connector_id=1, id_token_value="CARD",
                            meter_start_wh=0, started_at=T0).session
    assert session.pk and not SessionTariff.objects.exists()


def test_a_failing_snapshot_never_stops_a_session_from_starting(network, monkeypatch, caplog):
    assign("STATION", network["station"])

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("billing.tariffs._resolve", broken)
    result = start_session(station_pk=network["station"].pk, evse_id=1, connector_id=1, id_token_value="CARD",
                           meter_start_wh=0, started_at=T0)
    assert ChargingSession.objects.filter(pk=result.session.pk).exists()
    assert not SessionTariff.objects.exists()
    assert "tariff snapshot of session" in caplog.text


def test_validity_is_judged_at_the_session_start_not_now(network):
    assign("PAST", network["station"], end_date_time=(T0 + timedelta(hours=1)).isoformat())
    assert resolved(network) == "PAST"


# --- the admin ------------------------------------------------------------------------------


def admin_form(**changes) -> dict:
    data = {
        "tariff_id": "ADM-1", "organization": "", "country_code": "DE", "party_id": "CNT", "currency": "EUR",
        "type": "", "tariff_alt_text": "[]", "tariff_alt_url": "", "min_price": "", "max_price": "",
        "elements": json.dumps([{"price_components": [component("ENERGY", 0.3)]}]), "energy_mix": "",
        "start_date_time_0": "", "start_date_time_1": "", "end_date_time_0": "", "end_date_time_1": "",
        "assignments-TOTAL_FORMS": "0", "assignments-INITIAL_FORMS": "0", "assignments-MIN_NUM_FORMS": "0",
        "assignments-MAX_NUM_FORMS": "1000",
    }
    return {**data, **changes}


def test_the_admin_checks_a_tariff_as_the_api_does(admin_client):
    bad = json.dumps([{"price_components": [{"type": "ENERGY", "price": 0.3, "vat": 19}]}])
    page = admin_client.post("/admin/billing/tariff/add/", admin_form(elements=bad))
    assert page.status_code == 200
    assert "elements[0].price_components[0].step_size: This field is required." in page.content.decode()
    never = json.dumps([{"price_components": [component("ENERGY", 0.3)], "restrictions": {"min_kwh": 9, "max_kwh": 1}}])
    page = admin_client.post("/admin/billing/tariff/add/", admin_form(elements=never))
    assert "could never apply" in page.content.decode()
    assert not Tariff.objects.exists()
    assert admin_client.post("/admin/billing/tariff/add/", admin_form()).status_code == 302
    assert tariff_to_ocpi(Tariff.objects.get())["elements"] == [{"price_components": [component("ENERGY", 0.3)]}]


def test_the_admin_moves_the_network_default(admin_client):
    set_default_tariff(tariff=make_tariff("OLD"))
    assert admin_client.post("/admin/billing/tariff/add/", admin_form(network_default="on")).status_code == 302
    assert list(Tariff.objects.filter(is_default=True).values_list("tariff_id", flat=True)) == ["ADM-1"]
    acme = Organization.objects.create(name="Acme")
    page = admin_client.post("/admin/billing/tariff/add/", admin_form(tariff_id="ACME-1", organization=acme.pk,
                                                                      network_default="on"))
    assert "only a network-wide tariff" in page.content.decode()


def test_cdrs_are_read_only_in_the_admin(admin_client):
    assert admin_client.get("/admin/billing/chargedetailrecord/").status_code == 200
    assert admin_client.get("/admin/billing/chargedetailrecord/add/").status_code == 403
