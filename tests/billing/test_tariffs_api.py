"""The tariffs API: OCPI 2.2.1 Tariff objects in and out, assignments to places, and roles."""

import io
import json

import pytest
from django.core.management import call_command

from billing.models import DriverGroup, Tariff, TariffAssignment
from stations.models import Evse
from tests.billing.tariff_data import FULL_TARIFF, component, full_tariff, make_roles, make_tariff, ocpi_tariff

pytestmark = pytest.mark.django_db


@pytest.fixture
def roles():
    return make_roles()


def without_last_updated(data: dict) -> dict:
    return {key: value for key, value in data.items() if key != "last_updated"}


# --- OCPI in, OCPI out ----------------------------------------------------------------------


def test_what_is_posted_is_what_is_read_back_field_for_field(roles):
    posted = full_tariff()
    created = roles["operator"].post("/api/v1/tariffs/", posted, format="json")
    assert created.status_code == 201, created.json()
    fetched = roles["driver"].get("/api/v1/tariffs/FULL-1/").json()
    assert without_last_updated(fetched) == posted
    assert without_last_updated(created.json()) == posted
    assert set(fetched) == set(FULL_TARIFF) | {"last_updated"}  # the OCPI Tariff's fields, no others
    assert fetched["last_updated"].endswith("Z")
    # Numbers stay JSON numbers, with their own digits.
    assert json.loads(roles["driver"].get("/api/v1/tariffs/FULL-1/").content)["max_price"] == {
        "excl_vat": 80, "incl_vat": 95.2}


def test_a_minimal_tariff_reads_back_with_its_optional_fields_empty(roles):
    roles["operator"].post("/api/v1/tariffs/", ocpi_tariff("MIN-1"), format="json")
    fetched = roles["operator"].get("/api/v1/tariffs/min-1/").json()  # OCPI ids are case-insensitive
    assert fetched == {**ocpi_tariff("MIN-1"), "type": None, "tariff_alt_text": [], "tariff_alt_url": None,
                       "min_price": None, "max_price": None, "energy_mix": None, "start_date_time": None,
                       "end_date_time": None, "last_updated": fetched["last_updated"]}


def test_what_is_read_can_be_put_back_unchanged(roles):
    roles["operator"].post("/api/v1/tariffs/", full_tariff(), format="json")
    fetched = roles["operator"].get("/api/v1/tariffs/FULL-1/").json()
    put = roles["operator"].put("/api/v1/tariffs/FULL-1/", fetched, format="json")
    assert put.status_code == 200, put.json()
    assert without_last_updated(put.json()) == without_last_updated(fetched)


def test_patch_replaces_the_fields_it_names_and_validates_the_whole(roles):
    roles["operator"].post("/api/v1/tariffs/", full_tariff(), format="json")
    elements = [{"price_components": [component("ENERGY", 0.42)]}]
    patched = roles["operator"].patch("/api/v1/tariffs/FULL-1/", {"elements": elements}, format="json")
    assert patched.status_code == 200, patched.json()
    assert patched.json() | {"last_updated": None} == full_tariff(elements=elements) | {"last_updated": None}
    refused = roles["operator"].patch("/api/v1/tariffs/FULL-1/", {"min_price": {"excl_vat": 100}}, format="json")
    assert refused.status_code == 400
    assert "min_price.excl_vat is above max_price.excl_vat" in refused.json()["min_price"][0]


def test_the_id_of_a_tariff_cannot_change(roles):
    roles["operator"].post("/api/v1/tariffs/", ocpi_tariff("T-1"), format="json")
    response = roles["operator"].put("/api/v1/tariffs/T-1/", ocpi_tariff("T-2"), format="json")
    assert response.status_code == 400 and "cannot change" in response.json()["id"][0]


@pytest.mark.parametrize(
    ("tariff", "field", "says"),
    [
        (ocpi_tariff("T-1", {"price_components": [{"type": "ENERGY", "price": 0.3}]}), "elements", "step_size"),
        (ocpi_tariff("T-1", {"price_components": [component("ENERGY", 0.3)],
                             "restrictions": {"min_power": 50, "max_power": 22}}), "elements", "could never apply"),
        (ocpi_tariff("T-1", organization=1), "organization", "unknown field"),
        ({**ocpi_tariff(), "currency": None}, "currency", "null"),
        ({key: value for key, value in ocpi_tariff().items() if key != "elements"}, "elements", "required"),
    ],
)
def test_bad_tariffs_are_a_400_that_says_what_is_wrong(roles, tariff, field, says):
    response = roles["operator"].post("/api/v1/tariffs/", tariff, format="json")
    assert response.status_code == 400
    assert field in response.json() and says in json.dumps(response.json()[field]), response.json()
    assert not Tariff.objects.exists()


def test_a_duplicate_id_is_a_400(roles):
    make_tariff("NIGHT")
    response = roles["operator"].post("/api/v1/tariffs/", ocpi_tariff("night"), format="json")
    assert response.status_code == 400 and "exists" in response.json()["id"][0]


def test_tariffs_filter_by_currency_and_owner(roles):
    make_tariff("EUR-1")
    make_tariff("CHF-1", currency="CHF", organization=roles["acme"])

    def ids(query: str) -> list[str]:
        return [t["id"] for t in roles["operator"].get(f"/api/v1/tariffs/?{query}").json()["results"]]

    assert ids("currency=CHF") == ["CHF-1"]
    assert ids("network_wide=true") == ["EUR-1"]
    assert ids(f"organization={roles['acme'].pk}") == ["CHF-1"]


# --- roles ------------------------------------------------------------------------------------


def test_drivers_read_tariffs_but_cannot_write_them(roles):
    make_tariff("T-1")
    assert roles["driver"].get("/api/v1/tariffs/").status_code == 200
    assert roles["driver"].post("/api/v1/tariffs/", ocpi_tariff("T-2"), format="json").status_code == 403
    assert roles["driver"].delete("/api/v1/tariffs/T-1/").status_code == 403
    assert roles["nobody"].patch("/api/v1/tariffs/T-1/", {"currency": "CHF"}, format="json").status_code == 403


def test_a_site_owners_tariff_belongs_to_their_organisation(roles):
    response = roles["owner"].post("/api/v1/tariffs/", ocpi_tariff("ACME-T"), format="json")
    assert response.status_code == 201, response.json()
    assert Tariff.objects.get(tariff_id="ACME-T").organization == roles["acme"]
    other = roles["owner"].post(f"/api/v1/tariffs/?organization={roles['other'].pk}", ocpi_tariff("X"), format="json")
    assert other.status_code == 400 and "organization" in other.json()
    assert roles["owner"].patch("/api/v1/tariffs/ACME-T/", {"currency": "CHF"}, format="json").status_code == 200


def test_site_owners_cannot_change_network_wide_or_other_organisations_tariffs(roles):
    make_tariff("NET")
    make_tariff("OTHER-T", organization=roles["other"])
    for tariff_id in ("NET", "OTHER-T"):
        assert roles["owner"].patch(f"/api/v1/tariffs/{tariff_id}/", {"currency": "CHF"},
                                    format="json").status_code == 403
        assert roles["owner"].delete(f"/api/v1/tariffs/{tariff_id}/").status_code == 403


def test_operators_create_network_wide_or_organisation_tariffs(roles):
    roles["operator"].post("/api/v1/tariffs/", ocpi_tariff("NET"), format="json")
    roles["operator"].post(f"/api/v1/tariffs/?organization={roles['acme'].pk}", ocpi_tariff("ACME-T"), format="json")
    assert dict(Tariff.objects.values_list("tariff_id", "organization")) == {"NET": None, "ACME-T": roles["acme"].pk}
    assert roles["operator"].delete("/api/v1/tariffs/ACME-T/").status_code == 204


# --- assigning tariffs to stations and sites --------------------------------------------------------------


def test_patching_a_station_with_a_tariff_assigns_it_and_null_removes_it(roles):
    make_tariff("NET")
    response = roles["operator"].patch("/api/v1/stations/ACME-1/", {"tariff": "NET"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["tariff"] == "NET"
    assert roles["owner"].get("/api/v1/stations/ACME-1/").json()["tariff"] == "NET"
    assert TariffAssignment.objects.get().station == roles["acme_station"]
    assert roles["operator"].patch("/api/v1/stations/ACME-1/", {"tariff": None}, format="json").json()["tariff"] is None
    assert not TariffAssignment.objects.exists()


def test_station_lists_show_each_stations_tariff(roles):
    make_tariff("NET")
    roles["operator"].patch("/api/v1/stations/OTHER-1/", {"tariff": "NET"}, format="json")
    stations = roles["operator"].get("/api/v1/stations/").json()["results"]
    assert {s["station_id"]: s["tariff"] for s in stations} == {"ACME-1": None, "OTHER-1": "NET"}


def test_an_unknown_tariff_is_a_400(roles):
    response = roles["operator"].patch("/api/v1/stations/ACME-1/", {"tariff": "NOPE"}, format="json")
    assert response.status_code == 400 and "no tariff with id 'NOPE'" in response.json()["tariff"][0]


def test_site_owners_assign_their_own_or_network_wide_tariffs_to_their_stations(roles):
    make_tariff("NET")
    make_tariff("ACME-T", organization=roles["acme"])
    make_tariff("OTHER-T", organization=roles["other"])
    owner = roles["owner"]
    refused = owner.patch("/api/v1/stations/ACME-1/", {"tariff": "OTHER-T"}, format="json")
    assert refused.status_code == 400 and "belongs to Other" in refused.json()["tariff"][0]
    assert owner.patch("/api/v1/stations/ACME-1/", {"tariff": "ACME-T"}, format="json").status_code == 200
    assert owner.patch("/api/v1/stations/ACME-1/", {"tariff": "NET"}, format="json").status_code == 200
    assert owner.patch("/api/v1/stations/OTHER-1/", {"tariff": "NET"}, format="json").status_code == 404
    assert roles["driver"].patch("/api/v1/stations/ACME-1/", {"tariff": "NET"}, format="json").status_code == 403
    assert TariffAssignment.objects.get().tariff.tariff_id == "NET"


def test_even_operators_keep_an_organisations_tariff_to_its_places(roles):
    make_tariff("ACME-T", organization=roles["acme"])
    response = roles["operator"].patch("/api/v1/stations/OTHER-1/", {"tariff": "ACME-T"}, format="json")
    assert response.status_code == 400


def test_operators_assign_a_tariff_to_a_site(roles):
    make_tariff("NET")
    response = roles["operator"].patch(f"/api/v1/sites/{roles['acme_site'].pk}/", {"tariff": "NET"}, format="json")
    assert response.status_code == 200 and response.json()["tariff"] == "NET"
    assert TariffAssignment.objects.get().site == roles["acme_site"]
    assert [s["tariff"] for s in roles["operator"].get("/api/v1/sites/").json()["results"]] == ["NET", None]


def test_a_station_registered_with_a_tariff_gets_it(roles):
    make_tariff("NET")
    response = roles["operator"].post(
        "/api/v1/stations/", {"station_id": "NEW-1", "site": roles["acme_site"].pk, "tariff": "NET"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["tariff"] == "NET"


# --- tariff assignments: EVSEs and driver groups -------------------------------------------------


def test_site_owners_set_evse_and_driver_group_tariffs_at_their_places(roles):
    make_tariff("ACME-T", organization=roles["acme"])
    make_tariff("STAFF-T", organization=roles["acme"])
    DriverGroup.objects.create(name="Staff")
    evse = Evse.objects.create(station=roles["acme_station"], evse_id=1)
    owner = roles["owner"]
    created = owner.post("/api/v1/tariff-assignments/", {"tariff": "ACME-T", "evse": evse.pk}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json() == {"id": created.json()["id"], "tariff": "ACME-T", "site": None, "station": None,
                              "evse": evse.pk, "driver_group": None}
    group = owner.post("/api/v1/tariff-assignments/", {"tariff": "STAFF-T", "station": "ACME-1",
                                                       "driver_group": "Staff"}, format="json")
    assert group.status_code == 201, group.json()
    replaced = owner.post("/api/v1/tariff-assignments/", {"tariff": "STAFF-T", "evse": evse.pk}, format="json")
    assert replaced.status_code == 200 and replaced.json()["id"] == created.json()["id"]
    assert len(owner.get("/api/v1/tariff-assignments/").json()["results"]) == 2
    assert owner.delete(f"/api/v1/tariff-assignments/{group.json()['id']}/").status_code == 204


def test_site_owners_cannot_set_tariffs_at_other_places(roles):
    make_tariff("NET")
    response = roles["owner"].post("/api/v1/tariff-assignments/", {"tariff": "NET", "station": "OTHER-1"},
                                   format="json")
    assert response.status_code == 400 and "station" in response.json()
    both = roles["owner"].post("/api/v1/tariff-assignments/", {"tariff": "NET", "station": "ACME-1",
                                                               "site": roles["acme_site"].pk}, format="json")
    assert both.status_code == 400 and "exactly one place" in json.dumps(both.json())
    assert roles["driver"].post("/api/v1/tariff-assignments/", {"tariff": "NET", "station": "ACME-1"},
                                format="json").status_code == 403
    assert roles["driver"].get("/api/v1/tariff-assignments/").json()["results"] == []


# --- the OpenAPI schema -------------------------------------------------------------------------


def test_the_schema_documents_tariffs_assignments_and_cdrs_without_warnings(capsys):
    out = io.StringIO()
    call_command("spectacular", "--validate", "--format", "openapi-json", stdout=out)
    warnings = [line for line in capsys.readouterr().err.splitlines()
                if ("Warning" in line or "Error" in line) and ("tariff" in line.lower() or "cdr" in line.lower())]
    assert warnings == []
    schema = json.loads(out.getvalue())
    for path in ["/api/v1/tariffs/", "/api/v1/tariffs/{id}/", "/api/v1/tariff-assignments/", "/api/v1/cdrs/",
                 "/api/v1/cdrs/{cdr_id}/"]:
        assert path in schema["paths"], path
    tariff = schema["components"]["schemas"]["Tariff"]["properties"]
    assert set(tariff) == set(FULL_TARIFF) | {"last_updated"}
    assert schema["components"]["schemas"]["Station"]["properties"]["tariff"]["nullable"] is True
