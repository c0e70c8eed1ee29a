"""The command catalog speaks OCPP 2.1 to 2.1 stations: every command's 2.0.1 mapping,
built for a 2.1 station, must match the 2.1 schema (some fields changed between the
versions), and the V2X commands exist only for 2.1."""

from datetime import UTC, datetime

import pytest
from ocpp.messages import Call, _validate_payload

from stations.commands.catalog import COMMANDS, V16, V21, CommandError, validate_params

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
    "clear_charging_profile": {"evse_id": 1, "purpose": "TxProfile", "stack_level": 1},
    "get_composite_schedule": {"evse_id": 1, "duration_s": 3600, "charging_rate_unit": "W"},
    "get_charging_profiles": {"request_id": 8, "evse_id": 1, "purpose": "TxProfile", "profile_ids": [4]},
    "notify_allowed_energy_transfer": {"transaction_id": "TX-1", "allowed_energy_transfer": ["AC_three_phase"]},
    "afrr_signal": {"signal": -40, "timestamp": AT},
}
LOCAL_LIST = {"version": 3, "entries": [
    {"value": "TOKEN-1", "type": "ISO14443", "status": "Accepted", "expiry": None},
]}


def build(command: str, version: str) -> tuple[str, dict]:
    params = validate_params(command, SAMPLES[command])
    if command == "send_local_list":
        params.update(LOCAL_LIST)
    return COMMANDS[command].build(params, version)


def test_every_command_has_a_sample():
    assert set(SAMPLES) == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(SAMPLES))
def test_command_built_for_a_21_station_matches_the_21_schema(command):
    action, payload = build(command, V21)
    _validate_payload(Call("check", action, payload), V21)  # raises on any mismatch


def test_v2x_period_fields_reach_the_21_payload():
    _, payload = build("set_charging_profile", V21)
    second = payload["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][1]
    assert second == {"startPeriod": 900, "limit": 11000.0, "setpoint": -7000.0, "dischargeLimit": -11000.0,
                      "operationMode": "CentralSetpoint"}


@pytest.mark.parametrize("version", [V16, "2.0.1"])
def test_v2x_fields_and_commands_are_refused_for_older_stations(version):
    for command in ("set_charging_profile", "notify_allowed_energy_transfer", "afrr_signal"):
        params = validate_params(command, {**SAMPLES[command], **({"transaction_id": "17"} if command != "afrr_signal" else {})})
        with pytest.raises(CommandError, match="2.1"):
            COMMANDS[command].build(params, version)


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
