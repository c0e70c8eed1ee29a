"""Locations, tariffs, tokens and pagination as a partner reads and writes them."""

import base64
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.tariffs import assign_tariff, check_ocpi_tariff, create_tariff, tariff_to_ocpi
from roaming.credentials import add_partner
from roaming.models import Partner, PartnerStatus
from stations.models import Connector, Evse, IdToken, Site
from tests.billing.tariff_data import FULL_TARIFF, make_tariff, ocpi_tariff

pytestmark = pytest.mark.django_db


@pytest.fixture
def partner_client(client):
    """A registered eMSP (NL*EMS) calling us with its token."""
    partner, token = add_partner(name="eMSP")
    Partner.objects.filter(pk=partner.pk).update(status=PartnerStatus.REGISTERED, country_code="NL", party_id="EMS")

    def call(method, path, data=None, token_value=token, **extra):
        header = "Token " + base64.b64encode(token_value.encode()).decode()
        return getattr(client, method)(path, data=data, content_type="application/json",
                                       HTTP_AUTHORIZATION=header, **extra)

    call.partner = Partner.objects.get(pk=partner.pk)
    call.token = token
    return call


def site_with_station(make_station, name="Harbour", station_id="CP-L1", standard="IEC_62196_T2_COMBO"):
    site = Site.objects.create(name=name, address="Kade 1", city="Hamburg", postal_code="20457", country="DE",
                               time_zone="Europe/Berlin", latitude=Decimal("53.541"), longitude=Decimal("9.984"))
    station = make_station(station_id, site=site)
    evse = Evse.objects.create(station=station, evse_id=1)
    Connector.objects.create(evse=evse, connector_id=1, standard=standard, max_power_w=150000, status="Charging",
                             status_at=timezone.now())
    return site, station


def test_a_site_is_a_location_with_emi3_evse_ids_and_its_tariff(partner_client, make_station):
    site, station = site_with_station(make_station)
    station.is_online = True
    station.save()
    assign_tariff(tariff=make_tariff("HPC-1"), place=site)

    location = partner_client("get", f"/ocpi/2.2.1/locations/{site.pk}").json()["data"]
    assert (location["country_code"], location["party_id"], location["id"]) == ("DE", "CNT", str(site.pk))
    assert (location["country"], location["time_zone"], location["city"]) == ("DEU", "Europe/Berlin", "Hamburg")
    assert location["coordinates"] == {"latitude": "53.541000", "longitude": "9.984000"}
    evse = location["evses"][0]
    assert (evse["uid"], evse["evse_id"], evse["status"]) == ("CP-L1-1", "DE*CNT*ECPL1*1", "CHARGING")
    connector = evse["connectors"][0]
    assert connector == {**connector, "id": "1", "standard": "IEC_62196_T2_COMBO", "format": "CABLE",
                         "power_type": "DC", "max_voltage": 920, "max_amperage": 164, "tariff_ids": ["HPC-1"]}
    assert partner_client("get", f"/ocpi/2.2.1/locations/{site.pk}/CP-L1-1").json()["data"]["uid"] == "CP-L1-1"
    assert partner_client("get", f"/ocpi/2.2.1/locations/{site.pk}/CP-L1-1/1").json()["data"]["id"] == "1"


def test_an_offline_station_shows_unknown_status(partner_client, make_station):
    site, _ = site_with_station(make_station)
    location = partner_client("get", f"/ocpi/2.2.1/locations/{site.pk}").json()["data"]
    assert location["evses"][0]["status"] == "UNKNOWN"


@pytest.mark.parametrize("path", ["/ocpi/2.2.1/locations/999", "/ocpi/2.2.1/locations/abc",
                                  "/ocpi/2.2.1/locations/{site}/NOPE", "/ocpi/2.2.1/locations/{site}/CP-L1-1/9"])
def test_unknown_locations_are_404_with_2003(partner_client, make_station, path):
    site, _ = site_with_station(make_station)
    response = partner_client("get", path.format(site=site.pk))
    assert response.status_code == 404 and response.json()["status_code"] == 2003 and response.json()["data"] is None


def test_locations_are_paginated_with_link_total_and_limit(partner_client, make_station):
    for n in range(5):
        site_with_station(make_station, name=f"Site {n}", station_id=f"CP-P{n}")
    first = partner_client("get", "/ocpi/2.2.1/locations?limit=2")
    assert first.status_code == 200
    assert (first["X-Total-Count"], first["X-Limit"]) == ("5", "2")
    assert first["Link"] == '<http://testserver/ocpi/2.2.1/locations?offset=2&limit=2>; rel="next"'
    seen = [loc["name"] for loc in first.json()["data"]]
    last = partner_client("get", "/ocpi/2.2.1/locations?offset=4&limit=2")
    assert "Link" not in last and len(last.json()["data"]) == 1
    middle = partner_client("get", "/ocpi/2.2.1/locations?offset=2&limit=2").json()["data"]
    seen += [loc["name"] for loc in middle] + [loc["name"] for loc in last.json()["data"]]
    assert sorted(seen) == [f"Site {n}" for n in range(5)]


def test_limit_is_capped_and_bad_parameters_are_2001(partner_client):
    assert partner_client("get", "/ocpi/2.2.1/tariffs?limit=1000")["X-Limit"] == "100"
    for query in ("limit=ten", "offset=-1", "date_from=yesterday"):
        response = partner_client("get", f"/ocpi/2.2.1/tariffs?{query}")
        assert response.status_code == 400 and response.json()["status_code"] == 2001, query


def test_date_filters_take_date_from_inclusive_and_date_to_exclusive(partner_client):
    create_tariff(ocpi=check_ocpi_tariff(ocpi_tariff("OLD")))
    create_tariff(ocpi=check_ocpi_tariff(ocpi_tariff("NEW")))
    from billing.models import Tariff

    Tariff.objects.filter(tariff_id="OLD").update(last_updated="2025-01-01T00:00:00Z")
    Tariff.objects.filter(tariff_id="NEW").update(last_updated="2025-02-01T00:00:00Z")

    def ids(query):
        return [t["id"] for t in partner_client("get", f"/ocpi/2.2.1/tariffs?{query}").json()["data"]]

    assert ids("date_from=2025-01-01T00:00:00Z") == ["OLD", "NEW"]
    assert ids("date_from=2025-01-01T00:00:01Z") == ["NEW"]
    assert ids("date_to=2025-02-01T00:00:00Z") == ["OLD"]


def test_tariffs_go_out_exactly_as_billing_stores_them(partner_client):
    tariff = create_tariff(ocpi=check_ocpi_tariff(FULL_TARIFF))
    data = partner_client("get", "/ocpi/2.2.1/tariffs").json()["data"]
    tariff.refresh_from_db()
    assert data == [tariff_to_ocpi(tariff)]
    sent = {k: v for k, v in data[0].items() if k != "last_updated"}
    assert sent == {k: v for k, v in FULL_TARIFF.items() if k != "last_updated"}


def test_a_dynamic_tariff_is_published_with_its_market_prices_from_now_on(partner_client,
                                                                         django_capture_on_commit_callbacks):
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from billing.market import import_feed
    from billing.models import MarketPriceFeed
    from tests.billing.tariff_data import component

    feed = MarketPriceFeed.objects.create(name="DA", kind="csv", source="-", margin_per_kwh=Decimal("0.10"),
                                          vat=Decimal("19"))
    tariff = make_tariff("DYN", {"price_components": [component("ENERGY", 0.5)]})
    tariff.market_feed = feed
    tariff.save()
    assign_tariff(tariff=tariff, place=Site.objects.create(name="Berlin", time_zone="Europe/Berlin"))
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    rows = [f"{(hour + timedelta(hours=h)).isoformat()},{90 + h}" for h in (-3, 0, 1)]
    before = tariff.last_updated
    with django_capture_on_commit_callbacks(execute=True):
        import_feed(feed=feed, text="start,price\n" + "\n".join(rows) + "\n")
    published = partner_client("get", "/ocpi/2.2.1/tariffs").json()["data"][0]
    # The current and the next hour (the one 3 h ago is over), then the tariff's own price.
    # 90 and 91 EUR/MWh + 0.10 margin.
    assert [e["price_components"][0]["price"] for e in published["elements"]] == [0.19, 0.191, 0.5]
    local = hour.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M")
    assert published["elements"][0]["restrictions"]["start_time"] == local
    tariff.refresh_from_db()
    assert tariff.last_updated > before  # partners syncing by last_updated fetch the new prices


# --- tokens -----------------------------------------------------------------------------------


def token(uid="CARD-7", **fields):
    return {"country_code": "NL", "party_id": "EMS", "uid": uid, "type": "RFID", "contract_id": f"NL-EMS-{uid}",
            "issuer": "eMSP", "valid": True, "whitelist": "ALLOWED", "last_updated": "2025-03-01T00:00:00Z",
            **fields}


def test_a_pushed_token_authorizes_locally_and_a_patch_blocks_it(partner_client):
    from stations.services.authorization import authorize

    url = "/ocpi/2.2.1/tokens/NL/EMS/CARD-7?type=RFID"
    assert partner_client("put", url, token()).json()["status_code"] == 1000
    assert partner_client("get", url).json()["data"]["contract_id"] == "NL-EMS-CARD-7"
    assert authorize(value="CARD-7").accepted

    patched = partner_client("patch", url, {"valid": False, "last_updated": "2025-03-02T00:00:00Z"})
    assert patched.json()["status_code"] == 1000
    assert authorize(value="CARD-7").status == "Blocked"
    assert partner_client("get", url).json()["data"]["valid"] is False


@pytest.mark.parametrize("url, body, message", [
    ("/ocpi/2.2.1/tokens/NL/EMS/CARD-7", token(uid="OTHER"), "match the URL"),
    ("/ocpi/2.2.1/tokens/NL/EMS/CARD-7", {k: v for k, v in token().items() if k != "contract_id"}, "contract_id"),
    ("/ocpi/2.2.1/tokens/NL/EMS/CARD-7?type=APP_USER", token(), "type"),
    ("/ocpi/2.2.1/tokens/BE/XYZ/CARD-7", token(country_code="BE", party_id="XYZ"), "you are NL*EMS"),
])
def test_bad_tokens_are_refused_with_2001_and_nothing_stored(partner_client, url, body, message):
    response = partner_client("put", url, body)
    assert response.status_code == 400 and response.json()["status_code"] == 2001
    assert message in response.json()["status_message"]
    assert not IdToken.objects.exists()


def test_a_token_uid_of_our_own_drivers_cannot_be_taken_over(partner_client, make_token):
    make_token("CARD-7")
    response = partner_client("put", "/ocpi/2.2.1/tokens/NL/EMS/CARD-7", token())
    assert response.json()["status_code"] == 2001
    assert not hasattr(IdToken.objects.get(value="CARD-7"), "roaming")


def test_patching_an_unknown_token_is_404_with_2004(partner_client):
    response = partner_client("patch", "/ocpi/2.2.1/tokens/NL/EMS/NOPE", {"valid": False, "last_updated": "x"})
    assert response.status_code == 404 and response.json()["status_code"] == 2004


def test_a_partner_sees_only_its_own_sessions(partner_client, make_station, make_token):
    from stations.services.sessions import start_session

    _, station = site_with_station(make_station)
    make_token("OWN-1")
    start_session(station_pk=station.pk, evse_id=1, connector_id=1, id_token_value="OWN-1", meter_start_wh=0,
                  started_at=timezone.now())
    response = partner_client("get", "/ocpi/2.2.1/sessions")
    assert response.json()["data"] == [] and response["X-Total-Count"] == "0"


def test_every_call_is_logged_for_the_partner(partner_client):
    partner_client("get", "/ocpi/2.2.1/tariffs", HTTP_X_REQUEST_ID="req-1")
    entry = partner_client.partner.log.get()
    assert (entry.direction, entry.method, entry.http_status, entry.ocpi_status) == ("in", "GET", 200, 1000)


def test_a_wrong_method_is_405_in_an_envelope(partner_client):
    response = partner_client("delete", "/ocpi/2.2.1/locations")
    assert response.status_code == 405 and response.json()["status_code"] == 2000
