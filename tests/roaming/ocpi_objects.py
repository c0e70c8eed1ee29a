"""OCPI 2.2.1 objects as a CPO partner sends them (shapes from the 2.2.1 spec's examples)."""

from copy import deepcopy

CPO_CC, CPO_PARTY = "NL", "CPO"


def location(location_id="LOC1", *, status="AVAILABLE", tariff_ids=("T1",), evse_uid="EVSE-1"):
    return deepcopy({
        "country_code": CPO_CC, "party_id": CPO_PARTY, "id": location_id, "publish": True,
        "name": f"Gent Zuid {location_id}", "address": "F. Rooseveltlaan 3A", "city": "Gent", "postal_code": "9000",
        "country": "BEL", "coordinates": {"latitude": "51.047599", "longitude": "3.729944"},
        "parking_type": "ON_STREET", "time_zone": "Europe/Brussels",
        "evses": [{
            "uid": evse_uid, "evse_id": "BE*CPO*E3102001", "status": status, "capabilities": ["RFID_READER"],
            "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "CABLE", "power_type": "AC_3_PHASE",
                            "max_voltage": 220, "max_amperage": 16, "tariff_ids": list(tariff_ids),
                            "last_updated": "2026-11-01T10:00:00Z"}],
            "last_updated": "2026-11-01T10:00:00Z",
        }],
        "last_updated": "2026-11-01T10:00:00Z",
    })


def tariff(tariff_id="T1", *, kwh_price=0.40, flat=None):
    components = [{"type": "ENERGY", "price": kwh_price, "vat": 21.0, "step_size": 1}]
    elements = [{"price_components": components}]
    if flat is not None:
        elements.insert(0, {"price_components": [{"type": "FLAT", "price": flat, "vat": 21.0, "step_size": 1}]})
    return {"country_code": CPO_CC, "party_id": CPO_PARTY, "id": tariff_id, "currency": "EUR",
            "elements": elements, "last_updated": "2026-11-01T10:00:00Z"}


def cdr_token(uid):
    return {"country_code": "DE", "party_id": "CNT", "uid": uid, "type": "RFID", "contract_id": f"DE-CNT-C{uid}"}


def session(session_id="S1", uid="CARD-1", *, status="ACTIVE", kwh=0, cost=None):
    body = {"country_code": CPO_CC, "party_id": CPO_PARTY, "id": session_id,
            "start_date_time": "2026-11-03T10:00:00Z", "kwh": kwh, "cdr_token": cdr_token(uid),
            "auth_method": "AUTH_REQUEST", "location_id": "LOC1", "evse_uid": "EVSE-1", "connector_id": "1",
            "currency": "EUR", "status": status, "last_updated": "2026-11-03T10:00:00Z"}
    if cost is not None:
        body["total_cost"] = {"excl_vat": cost, "incl_vat": round(cost * 1.21, 2)}
    return body


def cdr(cdr_id="CDR1", uid="CARD-1", *, kwh=20, excl=8.00, tariff_id="T1", location_id="LOC1"):
    return {
        "country_code": CPO_CC, "party_id": CPO_PARTY, "id": cdr_id,
        "start_date_time": "2026-11-03T10:00:00Z", "end_date_time": "2026-11-03T11:00:00Z", "session_id": "S1",
        "cdr_token": cdr_token(uid), "auth_method": "AUTH_REQUEST",
        "cdr_location": {"id": location_id, "name": "Gent Zuid", "address": "F. Rooseveltlaan 3A", "city": "Gent",
                         "postal_code": "9000", "country": "BEL",
                         "coordinates": {"latitude": "51.047599", "longitude": "3.729944"},
                         "evse_uid": "EVSE-1", "evse_id": "BE*CPO*E3102001", "connector_id": "1",
                         "connector_standard": "IEC_62196_T2", "connector_format": "CABLE",
                         "connector_power_type": "AC_3_PHASE"},
        "currency": "EUR", "tariffs": [tariff(tariff_id)],
        "charging_periods": [{"start_date_time": "2026-11-03T10:00:00Z",
                              "dimensions": [{"type": "ENERGY", "volume": kwh}], "tariff_id": tariff_id}],
        "total_cost": {"excl_vat": excl, "incl_vat": round(excl * 1.21, 2)}, "total_energy": kwh,
        "total_time": 1.0, "last_updated": "2026-11-03T11:00:05Z",
    }
