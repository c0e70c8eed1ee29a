"""Version-neutral commands and what each becomes in OCPP 1.6, 2.0.1 and 2.1.

2.1 takes the 2.0.1 payloads unchanged (``tests/stations/test_command_catalog_21.py`` checks
each against the 2.1 schemas); commands only 2.1 has (V2X) refuse older stations.

A command is a name and parameters (validated by a DRF serializer, so the API, the admin
and ``station_command`` report the same clear errors). ``build`` turns it into the
(action, camelCase payload) of the station's OCPP version; the consumer sends exactly that.
"""

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from rest_framework import serializers

from stations.models import IdTokenType

V16 = "1.6"
V201 = "2.0.1"
V21 = "2.1"


class CommandError(ValueError):
    """The command cannot be sent as asked; the message says why (HTTP 400)."""

    def __init__(self, message, details=None):
        super().__init__(message)
        self.details = details or {}


# --- parameters --------------------------------------------------------------------

STATION_URL_SCHEMES = ("http", "https", "ftp", "ftps")
STATION_URL_MAX_LENGTH = 512  # 2.0.1 firmware.location and log.remoteLocation; 1.6 sets none


class StationUrlField(serializers.CharField):
    """A location a station downloads from or uploads to. OCPP types it as anyURI: Django's
    URLField would refuse hosts without a dot (``http://app:9/``) that stations on a
    private network use; any absolute URL with a scheme a station can use is fine."""

    default_error_messages = {
        "invalid": "Enter an absolute URL with scheme http, https, ftp or ftps and a host.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", STATION_URL_MAX_LENGTH)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if any(ord(ch) <= 32 or ord(ch) == 127 for ch in value):
            self.fail("invalid")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018  (raises ValueError for a port that is no port)
        except ValueError:
            self.fail("invalid")
        if parts.scheme.lower() not in STATION_URL_SCHEMES or not parts.hostname:
            self.fail("invalid")
        return value



class StartSessionParams(serializers.Serializer):
    evse_id = serializers.IntegerField(min_value=1, required=False, help_text="EVSE (1.6: connector) to start on")
    id_token = serializers.CharField(max_length=36)
    id_token_type = serializers.ChoiceField(
        choices=IdTokenType.values, required=False, help_text="default: the token's registered type, else Central"
    )
    remote_start_id = serializers.IntegerField(required=False, help_text="2.0.1 remoteStartId; generated if omitted")


class StopSessionParams(serializers.Serializer):
    transaction_id = serializers.CharField(max_length=36, help_text="the session's transaction id")


class ResetParams(serializers.Serializer):
    type = serializers.ChoiceField(choices=["soft", "hard", "on_idle"], default="soft")
    evse_id = serializers.IntegerField(min_value=1, required=False, help_text="2.0.1 only: reset one EVSE")


class UnlockConnectorParams(serializers.Serializer):
    evse_id = serializers.IntegerField(min_value=1)
    connector_id = serializers.IntegerField(min_value=1, default=1)


class ChangeAvailabilityParams(serializers.Serializer):
    operational = serializers.BooleanField()
    evse_id = serializers.IntegerField(min_value=0, default=0, help_text="0: the whole station")
    connector_id = serializers.IntegerField(min_value=1, required=False, help_text="2.0.1 only")


class GetConfigurationParams(serializers.Serializer):
    keys = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        default=list,
        help_text="1.6: configuration keys (empty = all). 2.0.1: 'Component/Variable' names (required).",
    )


class SetConfigurationParams(serializers.Serializer):
    key = serializers.CharField(max_length=200, help_text="1.6: key. 2.0.1: 'Component/Variable'.")
    value = serializers.CharField(max_length=1000, allow_blank=True)


class GetBaseReportParams(serializers.Serializer):
    report_base = serializers.ChoiceField(
        choices=["FullInventory", "ConfigurationInventory", "SummaryInventory"], default="FullInventory"
    )
    request_id = serializers.IntegerField(required=False)


class TriggerMessageParams(serializers.Serializer):
    message = serializers.CharField(max_length=50, help_text="e.g. BootNotification, Heartbeat, StatusNotification")
    evse_id = serializers.IntegerField(min_value=1, required=False)


class EmptyParams(serializers.Serializer):
    pass


class DataTransferParams(serializers.Serializer):
    vendor_id = serializers.CharField(max_length=255)
    message_id = serializers.CharField(max_length=50, required=False)
    data = serializers.JSONField(required=False, help_text="1.6: sent as a string; 2.0.1: any JSON")


class ReserveNowParams(serializers.Serializer):
    reservation_id = serializers.IntegerField(required=False, help_text="assigned by ChargeNet if omitted")
    evse_id = serializers.IntegerField(min_value=0, default=0, help_text="0: any EVSE")
    id_token = serializers.CharField(max_length=36)
    id_token_type = serializers.ChoiceField(choices=IdTokenType.values, default=IdTokenType.CENTRAL)
    expires_at = serializers.DateTimeField()


class CancelReservationParams(serializers.Serializer):
    reservation_id = serializers.IntegerField()


class SendLocalListParams(serializers.Serializer):
    update_type = serializers.ChoiceField(choices=["Full", "Differential"], default="Full")
    # Filled by the service from the token database, not by the caller.
    version = serializers.IntegerField(required=False, read_only=True)


class RawParams(serializers.Serializer):
    action = serializers.CharField(max_length=50, help_text="OCPP action, e.g. GetDiagnostics")
    payload = serializers.DictField(default=dict, help_text="camelCase payload, validated against the schema")


class UpdateFirmwareParams(serializers.Serializer):
    location = StationUrlField(help_text="where the station downloads the firmware (http, https, ftp, ftps)")
    retrieve_at = serializers.DateTimeField(required=False, help_text="not before; default now")
    install_at = serializers.DateTimeField(required=False, help_text="2.0.1 only: install not before")
    retries = serializers.IntegerField(min_value=0, required=False)
    retry_interval_s = serializers.IntegerField(min_value=0, required=False)
    request_id = serializers.IntegerField(required=False, help_text="2.0.1 requestId; generated if omitted")
    signing_certificate = serializers.CharField(max_length=5500, required=False, trim_whitespace=False,
                                                help_text="2.0.1: PEM")
    signature = serializers.CharField(max_length=800, required=False, help_text="2.0.1: base64")


class GetLogParams(serializers.Serializer):
    location = StationUrlField(help_text="where the station uploads the file (http, https, ftp, ftps)")
    log_type = serializers.ChoiceField(choices=["DiagnosticsLog", "SecurityLog"], default="DiagnosticsLog")
    request_id = serializers.IntegerField(required=False, help_text="2.0.1 requestId; generated if omitted")
    oldest_at = serializers.DateTimeField(required=False)
    latest_at = serializers.DateTimeField(required=False)
    retries = serializers.IntegerField(min_value=0, required=False)
    retry_interval_s = serializers.IntegerField(min_value=0, required=False)


# --- translation ---------------------------------------------------------------------


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _split_variable(name: str) -> dict:
    component, sep, variable = name.partition("/")
    if not sep or not component or not variable:
        raise CommandError(f"2.0.1 variables are named 'Component/Variable', not {name!r}")
    return {"component": {"name": component}, "variable": {"name": variable}}


def _id_token(p) -> dict:
    return {"idToken": p["id_token"], "type": p["id_token_type"]}


def start_session(p, version):
    if version == V16:
        payload = {"idTag": p["id_token"]}
        if "evse_id" in p:
            payload["connectorId"] = p["evse_id"]
        return "RemoteStartTransaction", payload
    payload = {"idToken": _id_token(p), "remoteStartId": p["remote_start_id"]}
    if "evse_id" in p:
        payload["evseId"] = p["evse_id"]
    return "RequestStartTransaction", payload


def stop_session(p, version):
    if version == V16:
        try:
            return "RemoteStopTransaction", {"transactionId": int(p["transaction_id"])}
        except ValueError:
            raise CommandError("1.6 transaction ids are integers") from None
    return "RequestStopTransaction", {"transactionId": p["transaction_id"]}


def reset(p, version):
    if version == V16:
        return "Reset", {"type": "Hard" if p["type"] == "hard" else "Soft"}
    payload = {"type": "Immediate" if p["type"] == "hard" else "OnIdle"}
    if "evse_id" in p:
        payload["evseId"] = p["evse_id"]
    return "Reset", payload


def unlock_connector(p, version):
    if version == V16:
        return "UnlockConnector", {"connectorId": p["evse_id"]}
    return "UnlockConnector", {"evseId": p["evse_id"], "connectorId": p["connector_id"]}


def change_availability(p, version):
    if version == V16:
        return "ChangeAvailability", {
            "connectorId": p["evse_id"],
            "type": "Operative" if p["operational"] else "Inoperative",
        }
    payload = {"operationalStatus": "Operative" if p["operational"] else "Inoperative"}
    if p["evse_id"]:
        payload["evse"] = {"id": p["evse_id"]}
        if "connector_id" in p:
            payload["evse"]["connectorId"] = p["connector_id"]
    return "ChangeAvailability", payload


def get_configuration(p, version):
    if version == V16:
        return "GetConfiguration", ({"key": p["keys"]} if p["keys"] else {})
    if not p["keys"]:
        raise CommandError("2.0.1 stations need 'keys' (Component/Variable); use get_base_report for everything")
    return "GetVariables", {"getVariableData": [_split_variable(k) for k in p["keys"]]}


def set_configuration(p, version):
    if version == V16:
        return "ChangeConfiguration", {"key": p["key"], "value": p["value"]}
    return "SetVariables", {"setVariableData": [{**_split_variable(p["key"]), "attributeValue": p["value"]}]}


def get_base_report(p, version):
    if version == V16:
        # 1.6 has no device model; its configuration is the nearest thing.
        return "GetConfiguration", {}
    return "GetBaseReport", {"requestId": p["request_id"], "reportBase": p["report_base"]}


def trigger_message(p, version):
    if version == V16:
        payload = {"requestedMessage": p["message"]}
        if "evse_id" in p:
            payload["connectorId"] = p["evse_id"]
        return "TriggerMessage", payload
    payload = {"requestedMessage": p["message"]}
    if "evse_id" in p:
        payload["evse"] = {"id": p["evse_id"]}
    return "TriggerMessage", payload


def clear_cache(p, version):
    return "ClearCache", {}


def data_transfer(p, version):
    payload = {"vendorId": p["vendor_id"]}
    if "message_id" in p:
        payload["messageId"] = p["message_id"]
    if "data" in p:
        data = p["data"]
        if version == V16 and not isinstance(data, str):
            data = json.dumps(data)
        payload["data"] = data
    return "DataTransfer", payload


def reserve_now(p, version):
    if version == V16:
        return "ReserveNow", {
            "connectorId": p["evse_id"],
            "expiryDate": _iso(p["expires_at"]),
            "idTag": p["id_token"],
            "reservationId": p["reservation_id"],
        }
    payload = {"id": p["reservation_id"], "expiryDateTime": _iso(p["expires_at"]), "idToken": _id_token(p)}
    if p["evse_id"]:
        payload["evseId"] = p["evse_id"]
    return "ReserveNow", payload


def cancel_reservation(p, version):
    return "CancelReservation", {"reservationId": p["reservation_id"]}


def send_local_list(p, version):
    """A Full update with no tokens clears the station's list (the list is then omitted)."""
    if version == V16:
        items = [
            {
                "idTag": e["value"],
                "idTagInfo": {"status": e["status"], **({"expiryDate": e["expiry"]} if e["expiry"] else {})},
            }
            for e in p["entries"]
        ]
        payload = {"listVersion": p["version"], "updateType": p["update_type"]}
    else:
        items = [
            {
                "idToken": {"idToken": e["value"], "type": e["type"]},
                "idTokenInfo": {"status": e["status"], **({"cacheExpiryDateTime": e["expiry"]} if e["expiry"] else {})},
            }
            for e in p["entries"]
        ]
        payload = {"versionNumber": p["version"], "updateType": p["update_type"]}
    if items:
        payload["localAuthorizationList"] = items
    return "SendLocalList", payload


def get_local_list_version(p, version):
    return "GetLocalListVersion", {}


def _retries(p, payload: dict) -> dict:
    if "retries" in p:
        payload["retries"] = p["retries"]
    if "retry_interval_s" in p:
        payload["retryInterval"] = p["retry_interval_s"]
    return payload


def _request_id(p) -> int:
    return p["request_id"] if "request_id" in p else random.randint(1, 2**31 - 1)


def update_firmware(p, version):
    retrieve_at = _iso(p.get("retrieve_at") or datetime.now(UTC))
    if version == V16:
        if "signing_certificate" in p or "signature" in p or "install_at" in p:
            raise CommandError("OCPP 1.6 UpdateFirmware has no signature or install time")
        return "UpdateFirmware", _retries(p, {"location": p["location"], "retrieveDate": retrieve_at})
    if ("signing_certificate" in p) != ("signature" in p):
        raise CommandError("a signed update needs both signing_certificate and signature")
    firmware = {"location": p["location"], "retrieveDateTime": retrieve_at}
    if "install_at" in p:
        firmware["installDateTime"] = _iso(p["install_at"])
    if "signing_certificate" in p:
        firmware["signingCertificate"] = p["signing_certificate"]
        firmware["signature"] = p["signature"]
    return "UpdateFirmware", _retries(p, {"requestId": _request_id(p), "firmware": firmware})


def get_log(p, version):
    if version == V16:
        if p["log_type"] != "DiagnosticsLog":
            raise CommandError("OCPP 1.6 GetDiagnostics has only the diagnostics log")
        payload = {"location": p["location"]}
        if "oldest_at" in p:
            payload["startTime"] = _iso(p["oldest_at"])
        if "latest_at" in p:
            payload["stopTime"] = _iso(p["latest_at"])
        return "GetDiagnostics", _retries(p, payload)
    log = {"remoteLocation": p["location"]}
    if "oldest_at" in p:
        log["oldestTimestamp"] = _iso(p["oldest_at"])
    if "latest_at" in p:
        log["latestTimestamp"] = _iso(p["latest_at"])
    return "GetLog", _retries(p, {"logType": p["log_type"], "requestId": _request_id(p), "log": log})


def raw(p, version):
    return p["action"], p["payload"]


@dataclass(frozen=True)
class CommandSpec:
    """``prepare(params, station)`` fills in what ChargeNet assigns and records what is about
    to be sent (inside the transaction that logs the command); ``on_answer(params=, station=,
    outcome=, response=, log=)`` applies the outcome to our records (every outcome, also
    offline and timeout)."""

    name: str
    params: type[serializers.Serializer]
    build: Callable[[dict, str], tuple[str, dict]]
    description: str
    prepare: Callable | None = None
    on_answer: Callable | None = None


COMMANDS: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in [
        CommandSpec(
            "start_session", StartSessionParams, start_session, "RemoteStartTransaction / RequestStartTransaction"
        ),
        CommandSpec("stop_session", StopSessionParams, stop_session, "RemoteStopTransaction / RequestStopTransaction"),
        CommandSpec("reset", ResetParams, reset, "Reset (soft, hard, on idle)"),
        CommandSpec("unlock_connector", UnlockConnectorParams, unlock_connector, "UnlockConnector"),
        CommandSpec(
            "change_availability",
            ChangeAvailabilityParams,
            change_availability,
            "ChangeAvailability (station, EVSE or connector)",
        ),
        CommandSpec("get_configuration", GetConfigurationParams, get_configuration, "GetConfiguration / GetVariables"),
        CommandSpec(
            "set_configuration", SetConfigurationParams, set_configuration, "ChangeConfiguration / SetVariables"
        ),
        CommandSpec(
            "get_base_report",
            GetBaseReportParams,
            get_base_report,
            "GetBaseReport (device model into the database) / 1.6 GetConfiguration",
        ),
        CommandSpec("trigger_message", TriggerMessageParams, trigger_message, "TriggerMessage"),
        CommandSpec("clear_cache", EmptyParams, clear_cache, "ClearCache"),
        CommandSpec("data_transfer", DataTransferParams, data_transfer, "DataTransfer"),
        CommandSpec("reserve_now", ReserveNowParams, reserve_now, "ReserveNow"),
        CommandSpec("cancel_reservation", CancelReservationParams, cancel_reservation, "CancelReservation"),
        CommandSpec("send_local_list", SendLocalListParams, send_local_list, "SendLocalList from the token database"),
        CommandSpec("get_local_list_version", EmptyParams, get_local_list_version, "GetLocalListVersion"),
        CommandSpec("raw", RawParams, raw, "any other OCPP action, validated against the version's schema"),
        CommandSpec("update_firmware", UpdateFirmwareParams, update_firmware,
                    "UpdateFirmware (2.0.1: signed, with requestId)"),
        CommandSpec("get_diagnostics", GetLogParams, get_log, "GetDiagnostics / GetLog"),
        CommandSpec("get_log", GetLogParams, get_log, "GetLog / GetDiagnostics (same as get_diagnostics)"),
    ]
}


def register(spec: CommandSpec) -> None:
    """Add a command from another module (smart charging, firmware, PKI), at app start."""
    if spec.name in COMMANDS and COMMANDS[spec.name] != spec:
        raise ValueError(f"command {spec.name!r} registered twice")
    COMMANDS[spec.name] = spec


def validate_params(command: str, params: dict) -> dict:
    spec = COMMANDS.get(command)
    if spec is None:
        raise CommandError(f"unknown command {command!r}; one of {', '.join(COMMANDS)}")
    serializer = spec.params(data=params)
    if not serializer.is_valid():
        raise CommandError("invalid parameters", details=serializer.errors)
    unknown = set(params) - set(spec.params().fields)
    if unknown:
        raise CommandError("invalid parameters", details={k: ["unknown parameter"] for k in sorted(unknown)})
    return dict(serializer.validated_data)


TEXT_PARAMS = ("id_token", "transaction_id", "key", "value", "vendor_id", "message_id", "message")


def parse_key_values(items: list[str]) -> dict:
    """Parameters typed by a person as key=value (CLI arguments, admin form lines).

    Values are JSON where they parse (numbers, booleans, lists, objects), except ids and
    texts, which stay text even when they look like numbers.
    """
    params = {}
    for item in items:
        key, sep, raw = item.strip().partition("=")
        if not sep or not key:
            raise CommandError(f"parameters are key=value, not {item!r}")
        key = key.strip()
        if key in TEXT_PARAMS:
            params[key] = raw
            continue
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


# --- certificates (OCPP 2.0.1 security, 1.6 security extension, 1.6 Plug & Charge) ---------
# On 1.6, what the security extension lacks (V2G certificates, V2G/MO roots) rides in
# DataTransfer with the OCA's ISO 15118 PnC vendor id and the 2.0.1 payload as a JSON string.

PNC_VENDOR_ID = "org.openchargealliance.iso15118pnc"
CERTIFICATE_HASH_FIELDS = ("hash_algorithm", "issuer_name_hash", "issuer_key_hash", "serial_number")
V16_CERTIFICATE_USE = {"CSMSRootCertificate": "CentralSystemRootCertificate",
                       "ManufacturerRootCertificate": "ManufacturerRootCertificate"}


class CertificateSignedParams(serializers.Serializer):
    certificate_chain = serializers.CharField(max_length=10000, help_text="PEM, leaf first", trim_whitespace=False)
    certificate_type = serializers.ChoiceField(
        choices=["ChargingStationCertificate", "V2GCertificate"], required=False
    )


class InstallCertificateParams(serializers.Serializer):
    certificate_type = serializers.ChoiceField(
        choices=["V2GRootCertificate", "MORootCertificate", "CSMSRootCertificate", "ManufacturerRootCertificate"]
    )
    certificate = serializers.CharField(max_length=5500, help_text="PEM", trim_whitespace=False)


class GetInstalledCertificateIdsParams(serializers.Serializer):
    certificate_types = serializers.ListField(
        child=serializers.ChoiceField(choices=["V2GRootCertificate", "MORootCertificate", "CSMSRootCertificate",
                                               "V2GCertificateChain", "ManufacturerRootCertificate"]),
        required=False, default=list, help_text="empty: all (1.6: one type, default CSMSRootCertificate)",
    )


class DeleteCertificateParams(serializers.Serializer):
    hash_algorithm = serializers.ChoiceField(choices=["SHA256", "SHA384", "SHA512"], default="SHA256")
    issuer_name_hash = serializers.CharField(max_length=128)
    issuer_key_hash = serializers.CharField(max_length=128)
    serial_number = serializers.CharField(max_length=40)


def _pnc(message_id: str, payload: dict) -> tuple[str, dict]:
    return "DataTransfer", {"vendorId": PNC_VENDOR_ID, "messageId": message_id, "data": json.dumps(payload)}


def _hash_data(p) -> dict:
    return {
        "hashAlgorithm": p["hash_algorithm"],
        "issuerNameHash": p["issuer_name_hash"],
        "issuerKeyHash": p["issuer_key_hash"],
        "serialNumber": p["serial_number"],
    }


def certificate_signed(p, version):
    payload = {"certificateChain": p["certificate_chain"]}
    if "certificate_type" in p:
        payload["certificateType"] = p["certificate_type"]
    if version == V16:
        if p.get("certificate_type") == "V2GCertificate":
            return _pnc("CertificateSigned", payload)
        return "CertificateSigned", {"certificateChain": p["certificate_chain"]}
    return "CertificateSigned", payload


def install_certificate(p, version):
    payload = {"certificateType": p["certificate_type"], "certificate": p["certificate"]}
    if version == V16:
        if p["certificate_type"] in V16_CERTIFICATE_USE:
            return "InstallCertificate", {**payload, "certificateType": V16_CERTIFICATE_USE[p["certificate_type"]]}
        return _pnc("InstallCertificate", payload)
    return "InstallCertificate", payload


def get_installed_certificate_ids(p, version):
    types = p["certificate_types"]
    if version == V16:
        if len(types) > 1:
            raise CommandError("1.6 stations are asked for one certificate type at a time")
        wanted = types[0] if types else "CSMSRootCertificate"
        if wanted in V16_CERTIFICATE_USE:
            return "GetInstalledCertificateIds", {"certificateType": V16_CERTIFICATE_USE[wanted]}
        return _pnc("GetInstalledCertificateIds", {"certificateType": [wanted]})
    return "GetInstalledCertificateIds", ({"certificateType": types} if types else {})


def delete_certificate(p, version):
    return "DeleteCertificate", {"certificateHashData": _hash_data(p)}


def unwrap_pnc_answer(response: dict) -> dict:
    """A 1.6 DataTransfer answer carrying a 2.0.1 answer in ``data``: the inner answer."""
    data = response.get("data")
    if response.get("status") != "Accepted" or not isinstance(data, str):
        return response
    try:
        inner = json.loads(data)
    except ValueError:
        return response
    return inner if isinstance(inner, dict) else response


COMMANDS.update(
    {
        spec.name: spec
        for spec in [
            CommandSpec("certificate_signed", CertificateSignedParams, certificate_signed,
                        "CertificateSigned (1.6 V2G: PnC DataTransfer)"),
            CommandSpec("install_certificate", InstallCertificateParams, install_certificate,
                        "InstallCertificate (1.6 V2G/MO roots: PnC DataTransfer)"),
            CommandSpec("get_installed_certificate_ids", GetInstalledCertificateIdsParams,
                        get_installed_certificate_ids, "GetInstalledCertificateIds (kept per station)"),
            CommandSpec("delete_certificate", DeleteCertificateParams, delete_certificate, "DeleteCertificate"),
        ]
    }
)
TEXT_PARAMS += ("certificate_chain", "certificate", "issuer_name_hash", "issuer_key_hash", "serial_number")


class TriggerCertificateSigningParams(serializers.Serializer):
    certificate_type = serializers.ChoiceField(
        choices=["ChargingStationCertificate", "V2GCertificate"], default="ChargingStationCertificate"
    )


def trigger_certificate_signing(p, version):
    """Ask the station for a new CSR (renewal): 2.0.1 TriggerMessage, 1.6 ExtendedTriggerMessage
    (its V2G certificate: the PnC DataTransfer TriggerMessage)."""
    v2g = p["certificate_type"] == "V2GCertificate"
    if version == V16:
        if v2g:
            return _pnc("TriggerMessage", {"requestedMessage": "SignV2GCertificate"})
        return "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}
    return "TriggerMessage", {"requestedMessage": "SignV2GCertificate" if v2g else "SignChargingStationCertificate"}


COMMANDS["trigger_certificate_signing"] = CommandSpec(
    "trigger_certificate_signing", TriggerCertificateSigningParams, trigger_certificate_signing,
    "ask for a new CSR: TriggerMessage Sign…Certificate / 1.6 ExtendedTriggerMessage",
)


class SignedUpdateFirmwareParams(serializers.Serializer):
    location = StationUrlField(help_text="URL of the firmware image (http, https, ftp, ftps)")
    retrieve_at = serializers.DateTimeField()
    install_at = serializers.DateTimeField(required=False)
    signing_certificate = serializers.CharField(
        max_length=5500, help_text="PEM of the firmware signing certificate", trim_whitespace=False
    )
    signature = serializers.CharField(max_length=800, help_text="base64 signature of the image")
    request_id = serializers.IntegerField(required=False, help_text="generated if omitted")
    retries = serializers.IntegerField(min_value=0, required=False)
    retry_interval = serializers.IntegerField(min_value=0, required=False, help_text="seconds")


def signed_update_firmware(p, version):
    """Secure firmware update: 1.6 security extension SignedUpdateFirmware, 2.0.1 UpdateFirmware."""
    firmware = {
        "location": p["location"],
        "retrieveDateTime": _iso(p["retrieve_at"]),
        "signingCertificate": p["signing_certificate"],
        "signature": p["signature"],
    }
    if "install_at" in p:
        firmware["installDateTime"] = _iso(p["install_at"])
    payload = {"requestId": p.get("request_id", 1), "firmware": firmware}
    for key, name in (("retries", "retries"), ("retry_interval", "retryInterval")):
        if key in p:
            payload[name] = p[key]
    return ("SignedUpdateFirmware" if version == V16 else "UpdateFirmware"), payload


COMMANDS["signed_update_firmware"] = CommandSpec(
    "signed_update_firmware", SignedUpdateFirmwareParams, signed_update_firmware,
    "firmware update with signing certificate: 1.6 SignedUpdateFirmware / 2.0.1 UpdateFirmware",
)
TEXT_PARAMS += ("location", "signing_certificate", "signature")
