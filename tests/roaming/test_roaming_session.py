"""A driver of the partner charges on our network: authorized in real time by the partner,
the session and its CDR at our tariff reach the partner through the outbox."""

from decimal import Decimal

import pytest

from billing.models import ChargeDetailRecord
from billing.tariffs import assign_tariff
from roaming.models import OutboxEntry, OutboxStatus, PartnerToken
from stations.models import ChargingSession, IdToken, Site
from tests.billing.tariff_data import make_tariff
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)

FOUR_DIMENSIONS = {"price_components": [
    {"type": "ENERGY", "price": 0.30, "vat": 19, "step_size": 1},
]}


def network(make_station):
    site = Site.objects.create(name="Harbour", address="Kade 1", city="Hamburg", postal_code="20457", country="DE",
                               time_zone="Europe/Berlin", latitude=Decimal("53.541"), longitude=Decimal("9.984"))
    station = make_station("CP-R1", site=site)
    assign_tariff(tariff=make_tariff("ROAM-1", FOUR_DIMENSIONS), place=site)
    return site, station


def meter(wh: int, at: str) -> dict:
    return {"timestamp": at, "sampledValue": [{"value": str(wh), "measurand": "Energy.Active.Import.Register",
                                               "unit": "Wh"}]}


async def test_a_partner_driver_charges_and_the_partner_gets_session_and_cdr(registered_emsp, make_station, ocpp,
                                                                             cpo):
    emsp, partner = registered_emsp
    site, station = await adb(network)(make_station)
    emsp.authorizations["EMSP-CARD-1"] = "ALLOWED"

    async with ocpp("CP-R1", version="1.6") as cp:
        await cp.result("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
        auth = await cp.result("Authorize", {"idTag": "EMSP-CARD-1"})
        assert auth["idTagInfo"]["status"] == "Accepted"
        started = await cp.result("StartTransaction", {"connectorId": 1, "idTag": "EMSP-CARD-1", "meterStart": 1000,
                                                       "timestamp": "2025-03-03T10:00:00Z"})
        tx = started["transactionId"]
        await cp.result("MeterValues", {"connectorId": 1, "transactionId": tx,
                                        "meterValue": [meter(6000, "2025-03-03T10:30:00Z")]})
        await cp.result("StopTransaction", {"transactionId": tx, "meterStop": 11000,
                                            "timestamp": "2025-03-03T11:00:00Z"})

    # The EVSE status reached the partner.
    patch = emsp.requests_to(r"/locations/DE/CNT/\d+/CP-R1-1$", "PATCH")[0]
    assert patch["body"]["status"] == "AVAILABLE"
    assert patch["token"] == partner.outgoing_token and patch["headers"]["OCPI-to-party-id"] == "EMS"
    # Authorized in real time, once: afterwards the token is known locally, bound to the partner.
    assert len(emsp.requests_to(r"/tokens/EMSP-CARD-1/authorize\?type=RFID$", "POST")) == 1
    token = await PartnerToken.objects.select_related("partner").aget(uid="EMSP-CARD-1")
    assert token.partner_id == partner.pk and token.realtime and token.authorization_reference == "AUTH-EMSP-CARD-1"

    session = await ChargingSession.objects.aget(transaction_id=str(tx))
    puts = emsp.requests_to(rf"/sessions/DE/CNT/{session.pk}$", "PUT")
    assert [p["body"]["status"] for p in puts] == ["ACTIVE", "COMPLETED"]
    first = puts[0]["body"]
    assert first["cdr_token"] == {"country_code": "NL", "party_id": "EMS", "uid": "EMSP-CARD-1", "type": "RFID",
                                  "contract_id": "NL-EMS-CEMSP-CARD-1"}
    assert (first["auth_method"], first["authorization_reference"]) == ("AUTH_REQUEST", "AUTH-EMSP-CARD-1")
    assert (first["location_id"], first["evse_uid"], first["connector_id"]) == (str(site.pk), "CP-R1-1", "1")
    assert first["total_cost"] == {"excl_vat": 0.0, "incl_vat": 0.0}  # the running cost, nothing charged yet
    assert puts[1]["body"]["kwh"] == 10.0 and puts[1]["body"]["total_cost"] == {"excl_vat": 3.0, "incl_vat": 3.57}

    cdr = await ChargeDetailRecord.objects.aget(session=session)
    posted = emsp.requests_to(r"/2\.2\.1/cdrs$", "POST")
    assert len(posted) == 1
    body = posted[0]["body"]
    assert body["id"] == cdr.cdr_id and body["session_id"] == str(session.pk)
    assert body["total_cost"] == {"excl_vat": 3.0, "incl_vat": 3.57} and body["total_energy"] == 10.0
    assert body["tariffs"] == [cdr.tariff] and body["tariffs"][0]["id"] == "ROAM-1"
    assert body["cdr_location"]["evse_id"] == "DE*CNT*ECPR1*1" and body["cdr_location"]["country"] == "DEU"
    assert body["charging_periods"][0]["dimensions"]
    # The session ended before its CDR was sent, and nothing waits in the outbox.
    order = [r["path"] for r in emsp.received if "/sessions/" in r["path"] or r["path"].endswith("/cdrs")]
    assert order[-1].endswith("/cdrs") and order[-2].endswith(f"/{session.pk}")
    assert not await OutboxEntry.objects.exclude(status=OutboxStatus.SENT).aexists()

    # The partner can pull the same with its token.
    pulled = await adb(emsp.call_cpo)("GET", f"{cpo}/ocpi/2.2.1/cdrs")
    assert [c["id"] for c in pulled.json()["data"]] == [cdr.cdr_id]
    sessions = (await adb(emsp.call_cpo)("GET", f"{cpo}/ocpi/2.2.1/sessions")).json()["data"]
    assert [(s["id"], s["status"]) for s in sessions] == [(str(session.pk), "COMPLETED")]


async def test_an_unknown_token_is_refused_when_the_partner_does_not_answer(registered_emsp, make_station, ocpp):
    emsp, partner = registered_emsp
    await adb(network)(make_station)
    emsp.down = True
    async with ocpp("CP-R1", version="1.6") as cp:
        auth = await cp.result("Authorize", {"idTag": "NOBODY-1"})
    assert auth["idTagInfo"]["status"] == "Invalid"
    assert emsp.requests_to(r"/tokens/NOBODY-1/authorize")  # it was asked
    assert not await IdToken.objects.filter(value="NOBODY-1").aexists()


async def test_a_token_the_partner_blocks_is_refused_and_not_remembered(registered_emsp, make_station, ocpp):
    emsp, partner = registered_emsp
    await adb(network)(make_station)
    emsp.authorizations["STOLEN-1"] = "BLOCKED"
    async with ocpp("CP-R1", version="1.6") as cp:
        auth = await cp.result("Authorize", {"idTag": "STOLEN-1"})
    assert auth["idTagInfo"]["status"] == "Blocked"
    assert not await IdToken.objects.filter(value="STOLEN-1").aexists()


async def test_our_own_drivers_sessions_are_not_sent_to_partners(registered_emsp, make_station, make_token, ocpp):
    emsp, partner = registered_emsp
    await adb(network)(make_station)
    await adb(make_token)("OWN-1")
    async with ocpp("CP-R1", version="1.6") as cp:
        started = await cp.result("StartTransaction", {"connectorId": 1, "idTag": "OWN-1", "meterStart": 0,
                                                       "timestamp": "2025-03-03T10:00:00Z"})
        await cp.result("StopTransaction", {"transactionId": started["transactionId"], "meterStop": 5000,
                                            "timestamp": "2025-03-03T11:00:00Z"})
    assert await ChargeDetailRecord.objects.aexists()
    assert not emsp.requests_to(r"/sessions/|/cdrs") and not emsp.requests_to(r"/authorize")


async def test_meter_values_update_the_partner_when_the_interval_allows(registered_emsp, make_station, ocpp,
                                                                       settings):
    emsp, partner = registered_emsp
    settings.OCPI_SESSION_UPDATE_INTERVAL_S = 0
    await adb(network)(make_station)
    emsp.authorizations["EMSP-CARD-2"] = "ALLOWED"
    async with ocpp("CP-R1", version="1.6") as cp:
        started = await cp.result("StartTransaction", {"connectorId": 1, "idTag": "EMSP-CARD-2", "meterStart": 0,
                                                       "timestamp": "2025-03-03T10:00:00Z"})
        await cp.result("MeterValues", {"connectorId": 1, "transactionId": started["transactionId"],
                                        "meterValue": [meter(2500, "2025-03-03T10:15:00Z")]})
    puts = emsp.requests_to(r"/sessions/DE/CNT/\d+$", "PUT")
    assert [(p["body"]["status"], p["body"]["kwh"]) for p in puts] == [("ACTIVE", 0.0), ("ACTIVE", 2.5)]
    # The running cost goes with each update: 2.5 kWh x 0.30 = 0.75 + 19 % VAT (0.1425 -> 0.14).
    assert [p["body"]["total_cost"] for p in puts] == [{"excl_vat": 0.0, "incl_vat": 0.0},
                                                       {"excl_vat": 0.75, "incl_vat": 0.89}]


async def test_an_ocpp201_session_of_a_pushed_token_reaches_the_partner(registered_emsp, make_station, ocpp, cpo):
    emsp, partner = registered_emsp
    await adb(network)(make_station)
    pushed = {"country_code": "NL", "party_id": "EMS", "uid": "04AABBCC", "type": "RFID", "contract_id": "NL-EMS-1",
              "issuer": "Test eMSP", "valid": True, "whitelist": "ALLOWED", "last_updated": "2025-03-01T00:00:00Z"}
    put = await adb(emsp.call_cpo)("PUT", f"{cpo}/ocpi/2.2.1/tokens/NL/EMS/04AABBCC?type=RFID", json=pushed)
    assert put.json()["status_code"] == 1000

    def event(kind, seq_no, at, trigger, wh, **extra):
        return {"eventType": kind, "timestamp": at, "triggerReason": trigger, "seqNo": seq_no,
                "transactionInfo": {"transactionId": "TX-R"},
                "meterValue": [{"timestamp": at, "sampledValue": [
                    {"value": wh, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}}]}],
                **extra}

    async with ocpp("CP-R1", version="2.0.1") as cs:
        auth = await cs.result("Authorize", {"idToken": {"idToken": "04AABBCC", "type": "ISO14443"}})
        assert auth["idTokenInfo"]["status"] == "Accepted"
        await cs.result("TransactionEvent", event("Started", 0, "2025-03-03T10:00:00Z", "Authorized", 0,
                                                  idToken={"idToken": "04AABBCC", "type": "ISO14443"},
                                                  evse={"id": 1, "connectorId": 1}))
        await cs.result("TransactionEvent", event("Ended", 1, "2025-03-03T11:00:00Z", "EVDeparted", 4000))
    assert not emsp.requests_to(r"/authorize")  # known locally: no real-time request
    cdr = emsp.requests_to(r"/cdrs$", "POST")[0]["body"]
    assert cdr["cdr_token"]["uid"] == "04AABBCC" and cdr["auth_method"] == "WHITELIST"
    assert cdr["total_cost"] == {"excl_vat": 1.2, "incl_vat": 1.43}
