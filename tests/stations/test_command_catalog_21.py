"""The command catalog speaks OCPP 2.1 to 2.1 stations: every command's 2.0.1 mapping,
built for a 2.1 station, must match the 2.1 schema (some fields changed between the
versions), and the V2X commands exist only for 2.1."""

from datetime import UTC, datetime

import pytest
from ocpp.messages import Call, _validate_payload

from billing.tariffs_v21 import ocpi_to_v21
from stations.commands.catalog import COMMANDS, V16, V21, CommandError, validate_params
from tests.billing.tariff_data import component, ocpi_tariff

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
AT = "2030-01-01T10:00:00Z"

# One typical parameter set per command (what the API would pass, before ChargeNet fills in ids).
SAMPLES = {
    "start_session": {"evse_id": 1, "id_token": "TOKEN-1", "id_token_type": "ISO14443", "remote_start_id": 7},
    "stop_session": {"transaction_id": "TX-1"},
    "reset": {"type": "hard", "evse_id": 1},
    "unlock_connector": {"evse_id": 1, "connector_id": 1},
    "change_availability": {"operational": False, "evse_id": 1, "connector_id": 1},
    "get_configuration": {"keys": ["OCPPCommCtrlr/HeartbeatInterval"]},
    "set_configuration": {"key": "OCPPCommCtrlr/HeartbeatInterval", "value": "300"},
    "get_base_report": {"report_base": "FullInventory", "request_id": 3},
    "trigger_message": {"message": "StatusNotification", "evse_id": 1},
    "clear_cache": {},
    "data_transfer": {"vendor_id": "com.example", "message_id": "Hello", "data": {"a": 1}},
    "reserve_now": {"reservation_id": 5, "evse_id": 1, "id_token": "TOKEN-1", "expires_at": AT},
    "cancel_reservation": {"reservation_id": 5},
    "send_local_list": {"update_type": "Full"},
    "get_local_list_version": {},
    "raw": {"action": "GetTransactionStatus", "payload": {}},
    "update_firmware": {"location": "https://fw.example/img.bin", "request_id": 9, "install_at": AT,
                        "signing_certificate": PEM, "signature": "c2ln", "retries": 2, "retry_interval_s": 30},
    "get_diagnostics": {"location": "https://logs.example/up", "request_id": 4, "oldest_at": AT},
    "get_log": {"location": "https://logs.example/up", "log_type": "SecurityLog", "request_id": 4},
    "certificate_signed": {"certificate_chain": PEM, "certificate_type": "V2GCertificate"},
    "install_certificate": {"certificate_type": "V2GRootCertificate", "certificate": PEM},
    "get_installed_certificate_ids": {"certificate_types": ["V2GRootCertificate", "MORootCertificate"]},
    "delete_certificate": {"issuer_name_hash": "ab", "issuer_key_hash": "cd", "serial_number": "01"},
    "trigger_certificate_signing": {"certificate_type": "V2GCertificate"},
    "signed_update_firmware": {"location": "https://fw.example/img.bin", "retrieve_at": AT,
                               "signing_certificate": PEM, "signature": "c2ln", "request_id": 2},
    "set_charging_profile": {
        "evse_id": 1, "purpose": "TxProfile", "transaction_id": "TX-1", "charging_rate_unit": "W", "profile_id": 4,
        "periods": [
            {"start_period_s": 0, "limit": 11000},
            {"start_period_s": 900, "limit": 11000, "setpoint": -7000, "discharge_limit": -11000,
             "operation_mode": "CentralSetpoint"},
        ],
    },
    "update_dynamic_schedule": {"profile_id": 100001, "limit": 11000, "setpoint": -5000, "discharge_limit": -7000},
    "get_periodic_event_stream": {},
    "adjust_periodic_event_stream": {"stream_id": 1, "interval_s": 60, "values": 10},
    "clear_charging_profile": {"evse_id": 1, "purpose": "TxProfile", "stack_level": 1},
    "get_composite_schedule": {"evse_id": 1, "duration_s": 3600, "charging_rate_unit": "W"},
    "get_charging_profiles": {"request_id": 8, "evse_id": 1, "purpose": "TxProfile", "profile_ids": [4]},
    "notify_allowed_energy_transfer": {"transaction_id": "TX-1", "allowed_energy_transfer": ["AC_three_phase"]},
    "afrr_signal": {"signal": -40, "timestamp": AT},
    "set_der_control": {"control_id": "ctl-1", "control_type": "LimitMaxDischarge", "control": {
        "limitMaxDischarge": {"priority": 1, "pctMaxDischargePower": 50}}},
    "get_der_control": {"request_id": 3, "control_type": "LimitMaxDischarge"},
    "use_priority_charging": {"transaction_id": "TX-1", "activate": True},
    "clear_der_control": {"is_default": False, "control_id": "ctl-1"},
    "set_display_message": {"id": 1, "message": "Charger at 11 kW until Friday", "priority": "InFront", "start_at": AT},
    "get_display_messages": {"request_id": 4},
    "clear_display_message": {"id": 2},
    "cost_updated": {"transaction_id": "TX-1", "total_cost": 4.2},
    "set_user_price": {"id_token": "TOKEN-1", "price_text": "0.39 EUR/kWh"},
    "final_cost": {"transaction_id": "17", "total_cost": 4.2, "price_text": "4.20 EUR"},
    "set_default_tariff": {"tariff": "PUB", "evse_id": 0},
    "get_tariffs": {"evse_id": 0},
    "clear_tariffs": {"tariff_ids": ["PUB.20300101T100000000000"], "evse_id": 1},
    "change_transaction_tariff": {"transaction_id": "TX-1", "tariff": "PUB"},
}
# 2.1 tariff commands: what their ``prepare`` adds from the database (the converted tariff).
TARIFF_21 = {"tariff_v21": {**ocpi_to_v21(ocpi_tariff("PUB", {"price_components": [component("ENERGY", 0.3),
                                                                                    component("FLAT", 1)]},
                                                      {"price_components": [component("PARKING_TIME", 6)],
                                                       "restrictions": {"min_duration": 7200}})).tariff,
                            "tariffId": "PUB.20300101T100000000000"}}
TARIFFS_21 = {"set_default_tariff", "get_tariffs", "clear_tariffs", "change_transaction_tariff"}
# OCA California Pricing for 1.6: 2.x carries these in its own messages' answers.
V16_ONLY = {"set_user_price", "final_cost"}
LOCAL_LIST = {"version": 3, "entries": [
    {"value": "TOKEN-1", "type": "ISO14443", "status": "Accepted", "expiry": None},
]}


def build(command: str, version: str) -> tuple[str, dict]:
    params = validate_params(command, SAMPLES[command])
    if command == "send_local_list":
        params.update(LOCAL_LIST)
    if command in TARIFFS_21:
        params.update(TARIFF_21)
    return COMMANDS[command].build(params, version)


def test_every_command_has_a_sample():
    assert set(SAMPLES) == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(set(SAMPLES) - V16_ONLY))
def test_command_built_for_a_21_station_matches_the_21_schema(command):
    action, payload = build(command, V21)
    _validate_payload(Call("check", action, payload), V21)  # raises on any mismatch


@pytest.mark.parametrize("command", sorted(V16_ONLY))
def test_16_only_cost_commands_are_refused_for_21_stations(command):
    with pytest.raises(CommandError):
        build(command, V21)


def test_v2x_period_fields_reach_the_21_payload():
    _, payload = build("set_charging_profile", V21)
    second = payload["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][1]
    assert second == {"startPeriod": 900, "limit": 11000.0, "setpoint": -7000.0, "dischargeLimit": -11000.0,
                      "operationMode": "CentralSetpoint"}


@pytest.mark.parametrize("version", [V16, "2.0.1"])
def test_v2x_fields_and_commands_are_refused_for_older_stations(version):
    for command in ("set_charging_profile", "notify_allowed_energy_transfer", "afrr_signal", "set_der_control",
                    "get_der_control", "clear_der_control", "use_priority_charging", "update_dynamic_schedule",
                    "get_periodic_event_stream", "adjust_periodic_event_stream"):
        takes_id = command in ("set_charging_profile", "notify_allowed_energy_transfer", "use_priority_charging")
        numeric_id = {"transaction_id": "17"} if takes_id else {}  # 1.6 would refuse "TX-1" first
        params = validate_params(command, {**SAMPLES[command], **numeric_id})
        with pytest.raises(CommandError, match="2.1"):
            COMMANDS[command].build(params, version)


@pytest.mark.parametrize("version", [V16, "2.0.1"])
@pytest.mark.parametrize("command", sorted(TARIFFS_21))
def test_21_tariff_commands_are_refused_for_older_stations(command, version):
    with pytest.raises(CommandError, match="is OCPP 2.1; this station speaks"):
        build(command, version)


def test_setpoint_beyond_the_discharge_limit_is_refused():
    params = {**SAMPLES["set_charging_profile"], "periods": [
        {"start_period_s": 0, "limit": 11000, "setpoint": -9000, "discharge_limit": -5000}]}
    with pytest.raises(CommandError) as error:
        validate_params("set_charging_profile", params)
    assert "setpoint" in str(error.value.details)


def test_discharge_limit_must_not_be_positive():
    params = {**SAMPLES["set_charging_profile"], "periods": [
        {"start_period_s": 0, "limit": 11000, "discharge_limit": 5000}]}
    with pytest.raises(CommandError):
        validate_params("set_charging_profile", params)


def test_afrr_signal_defaults_to_now():
    action, payload = COMMANDS["afrr_signal"].build(validate_params("afrr_signal", {"signal": 12}), V21)
    assert action == "AFRRSignal" and payload["signal"] == 12
    sent = datetime.fromisoformat(payload["timestamp"])
    assert abs((sent - datetime.now(UTC)).total_seconds()) < 5


def test_der_control_payload_is_the_control_as_given_with_its_selection():
    action, payload = build("set_der_control", V21)
    assert (action, payload) == ("SetDERControl", {
        "controlId": "ctl-1", "controlType": "LimitMaxDischarge", "isDefault": False,
        "limitMaxDischarge": {"priority": 1, "pctMaxDischargePower": 50},
    })


def test_der_control_must_name_exactly_one_known_control():
    for control in ({}, {"brewCoffee": {}}, {"curve": {}, "gradient": {}}):
        with pytest.raises(CommandError):
            validate_params("set_der_control", {**SAMPLES["set_der_control"], "control": control})


def test_dynamic_profile_reaches_the_21_payload_with_its_update_interval():
    params = validate_params("set_charging_profile", {
        "evse_id": 1, "purpose": "TxProfile", "transaction_id": "TX-1", "charging_rate_unit": "W",
        "profile_id": 100001, "kind": "Dynamic", "dyn_update_interval_s": 300, "max_offline_duration_s": 900,
        "periods": [{"start_period_s": 0, "limit": 11000}]})
    action, payload = COMMANDS["set_charging_profile"].build(params, V21)
    _validate_payload(Call("check", action, payload), V21)
    profile = payload["chargingProfile"]
    assert (profile["chargingProfileKind"], profile["dynUpdateInterval"], profile["maxOfflineDuration"]) == (
        "Dynamic", 300, 900)
    assert "dynUpdateTime" in profile and "startSchedule" not in profile["chargingSchedule"][0]
    with pytest.raises(CommandError, match="2.1"):
        COMMANDS["set_charging_profile"].build(params, "2.0.1")


def test_dynamic_profile_has_one_period():
    from rest_framework.exceptions import ValidationError

    with pytest.raises((CommandError, ValidationError)):
        validate_params("set_charging_profile", {
            "evse_id": 1, "purpose": "TxProfile", "transaction_id": "TX-1", "charging_rate_unit": "W",
            "kind": "Dynamic", "periods": [{"start_period_s": 0, "limit": 1}, {"start_period_s": 60, "limit": 2}]})
