"""Schema checks of station frames, compiled once per action and OCPP version.

The ``ocpp`` package validates each payload with jsonschema, on an executor thread (which
still holds the GIL): about 0.4 ms for a 1.6 MeterValues, 0.75 ms for a 2.0.1
TransactionEvent. fastjsonschema turns each schema into Python code once; a check then
costs a few microseconds on the event loop. The failing keyword picks the OCPP error code,
as the package does (and finer where the specs name one: an unknown enum value, too few
or too many items).

``format: date-time`` is enforced with the rule of ``gateway.formats`` (RFC 3339, a
missing offset read as UTC), which also answers station requests with a bad date-time
before this check runs; here it covers the answers the CSMS builds as well.
"""

import json
from functools import cache
from pathlib import Path

import fastjsonschema
import ocpp
from ocpp.exceptions import (
    FormatViolationError,
    GenericError,
    OCPPError,
    ProtocolError,
    TypeConstraintViolationError,
)
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplementedError,
)

from gateway.formats import is_date_time

SCHEMA_ROOT = Path(ocpp.__file__).parent
_SCHEMA_DIRS = {"1.6": "v16", "2.0.1": "v201", "2.1": "v21"}

# failing keyword -> OCPP error code (mapped to the version's spelling on sending)
_CODES = {
    "type": "TypeConstraintViolation",
    "maxLength": "TypeConstraintViolation",
    "required": "ProtocolError",
    "additionalProperties": "FormatViolation",
    "format": "FormatViolation",
    "enum": "PropertyConstraintViolation",
    "minimum": "PropertyConstraintViolation",
    "maximum": "PropertyConstraintViolation",
    "minItems": "OccurrenceConstraintViolation",
    "maxItems": "OccurrenceConstraintViolation",
}
_CLASSES = {
    "TypeConstraintViolation": TypeConstraintViolationError,
    "ProtocolError": ProtocolError,
    "FormatViolation": FormatViolationError,
}


FORMATS = {"date-time": is_date_time}


def schema_name(action: str, version: str, *, response: bool) -> str:
    if response:
        return f"{action}Response"
    return action if version == "1.6" else f"{action}Request"


@cache
def compiled(action: str, version: str, response: bool = False):
    """The compiled check for one action's request (or response) in one version."""
    path = SCHEMA_ROOT / _SCHEMA_DIRS[version] / "schemas" / f"{schema_name(action, version, response=response)}.json"
    if not response and not path.exists():  # 2.1 SEND messages (NotifyPeriodicEventStream) have no "Request"
        path = path.with_name(f"{action}.json")
    try:
        schema = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError:
        raise OcppNotImplementedError(details={"cause": f"Failed to validate action: {action}"}) from None
    # use_default=False: the payload handlers see stays what the station sent.
    return fastjsonschema.compile(schema, formats=FORMATS, use_default=False)


def check(action: str, version: str, payload: dict, *, response: bool = False) -> None:
    """Raise the OCPP error a station should get when ``payload`` breaks the schema."""
    try:
        compiled(action, version, response)(payload)
    except fastjsonschema.JsonSchemaValueException as failure:
        raise schema_error(failure) from None


def schema_error(failure: fastjsonschema.JsonSchemaValueException) -> OCPPError:
    code = _CODES.get(failure.rule, "FormatViolation")
    where = failure.name.removeprefix("data").lstrip(".") or "payload"
    message = failure.message.replace(failure.name, where, 1)
    if failure.rule == "format":
        message = f"{where} must be an RFC 3339 date-time, not {failure.value!r}"
    error_class = _CLASSES.get(code)
    if error_class is not None:
        return error_class(description=message[:255], details={"cause": message})
    error = GenericError(description=message[:255], details={"cause": message})
    error.code = code
    return error
