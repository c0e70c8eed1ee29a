"""OCPI 2.2.1 endpoints of ChargeNet as CPO. Every answer is an OCPI envelope, errors too:
401 for a missing or unknown token, 405 for a credentials call out of turn, 404 for unknown
objects, 400 with 2001 for bad parameters."""

import functools
import json
import logging
import time

from django.conf import settings
from django.http import HttpRequest
from django.views.decorators.csrf import csrf_exempt

from billing.models import ChargeDetailRecord, Tariff
from roaming import charging_profiles, commands, credentials, mapping, tokens
from roaming.auth import partner_for
from roaming.envelope import (
    CLIENT_ERROR,
    INVALID_PARAMETERS,
    SERVER_ERROR,
    UNKNOWN_LOCATION,
    UNKNOWN_TOKEN,
    OcpiError,
    envelope,
    error_envelope,
)
from roaming.models import PartnerStatus, RequestLog
from roaming.pagination import paginate
from stations.models import ChargingSession

log = logging.getLogger(__name__)


def ocpi_view(*methods: str, pending_ok: bool = False):
    """Authenticate the partner, allow ``methods``, turn OcpiError into an envelope, log the call."""

    def wrap(view):
        @csrf_exempt
        @functools.wraps(view)
        def handle(request: HttpRequest, *args, **kwargs):
            started = time.monotonic()
            partner = None
            try:
                if request.method not in methods:
                    raise OcpiError(f"{request.method} is not allowed here", http_status=405)
                found = partner_for(request.headers.get("Authorization"))
                if found is None:
                    raise OcpiError("missing or unknown token", status_code=CLIENT_ERROR, http_status=401)
                partner, token = found
                if partner.status != PartnerStatus.REGISTERED and not pending_ok:
                    raise OcpiError("register first (credentials)", status_code=CLIENT_ERROR, http_status=401)
                request.ocpi_partner, request.ocpi_token = partner, token
                response = view(request, *args, **kwargs)
            except OcpiError as error:
                response = error_envelope(error)
            except Exception:
                log.exception("OCPI %s %s failed", request.method, request.path)
                response = error_envelope(OcpiError("internal error", status_code=SERVER_ERROR, http_status=500))
            if partner is not None:
                RequestLog.objects.create(
                    partner=partner, direction=RequestLog.Direction.IN, method=request.method,
                    url=request.get_full_path()[:500], http_status=response.status_code,
                    ocpi_status=json.loads(response.content).get("status_code"),
                    request_body=request.body.decode(errors="replace")[:4000],
                    response_body=response.content.decode(errors="replace")[:4000],
                    duration_ms=int((time.monotonic() - started) * 1000),
                )
            for header in ("X-Request-ID", "X-Correlation-ID"):
                if header in request.headers:
                    response[header] = request.headers[header]
            _route_back(request, response)
            return response

        return handle

    return wrap


def _route_back(request: HttpRequest, response) -> None:
    """Through a hub: the answer goes back to the party the request came from."""
    sender = (request.headers.get("OCPI-from-country-code"), request.headers.get("OCPI-from-party-id"))
    if all(sender):
        response["OCPI-to-country-code"], response["OCPI-to-party-id"] = sender
        response["OCPI-from-country-code"] = settings.OCPI_COUNTRY_CODE
        response["OCPI-from-party-id"] = settings.OCPI_PARTY_ID


def _body(request: HttpRequest):
    try:
        return json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise OcpiError("the body is not JSON", status_code=INVALID_PARAMETERS)


# --- versions, credentials ----------------------------------------------------------------------


@ocpi_view("GET", pending_ok=True)
def versions(request):
    return envelope([{"version": credentials.VERSION, "url": credentials.base_url() + "/ocpi/2.2.1"}])


@ocpi_view("GET", pending_ok=True)
def version_details(request):
    return envelope(credentials.version_details())


@ocpi_view("GET", "POST", "PUT", "DELETE", pending_ok=True)
def credentials_view(request):
    partner = request.ocpi_partner
    registered = partner.status == PartnerStatus.REGISTERED
    if request.method == "GET":
        if not registered:
            raise OcpiError("not registered", http_status=405)
        return envelope(credentials.our_credentials(request.ocpi_token))
    if request.method == "POST":
        if registered:
            raise OcpiError("already registered: use PUT to renew, DELETE to unregister", http_status=405)
        return envelope(credentials.accept_registration(partner=partner, credentials=_body(request)))
    if not registered:
        raise OcpiError("not registered: POST first", http_status=405)
    if request.method == "PUT":
        return envelope(credentials.accept_registration(partner=partner, credentials=_body(request)))
    credentials.unregister(partner=partner)
    return envelope(None)


# --- sender modules -------------------------------------------------------------------------------


def _list(request, queryset, *, date_field, to_ocpi):
    page = paginate(request, queryset, date_field=date_field, to_ocpi=to_ocpi)
    return envelope(page.items, headers=page.headers)


@ocpi_view("GET")
def locations(request, location_id=None, evse_uid=None, connector_id=None):
    if location_id is None:
        return _list(request, mapping.published_sites(), date_field="ocpi_last_updated",
                     to_ocpi=mapping.location_to_ocpi)
    site = mapping.published_sites().filter(pk=location_id if location_id.isdigit() else None).first()
    if site is None:
        raise OcpiError("unknown location", status_code=UNKNOWN_LOCATION, http_status=404)
    if evse_uid is None:
        return envelope(mapping.location_to_ocpi(site))
    evse = mapping.find_evse(location=location_id, uid=evse_uid)
    if evse is None:
        raise OcpiError("unknown EVSE", status_code=UNKNOWN_LOCATION, http_status=404)
    if connector_id is None:
        return envelope(mapping.evse_to_ocpi(evse))
    connector = evse.connectors.filter(connector_id=connector_id if connector_id.isdigit() else None).first()
    if connector is None:
        raise OcpiError("unknown connector", status_code=UNKNOWN_LOCATION, http_status=404)
    return envelope(mapping.connector_to_ocpi(connector, mapping.public_tariff_ids(evse)))


def _partner_sessions(partner):
    """A partner sees the sessions of its own tokens only."""
    return ChargingSession.objects.filter(id_token__roaming__partner=partner).select_related(
        "station__site", "evse__station", "connector", "id_token__roaming"
    )


@ocpi_view("GET")
def sessions(request):
    return _list(request, _partner_sessions(request.ocpi_partner), date_field="updated_at",
                 to_ocpi=mapping.session_to_ocpi)


@ocpi_view("GET")
def cdrs(request):
    queryset = ChargeDetailRecord.objects.filter(session__id_token__roaming__partner=request.ocpi_partner)\
        .select_related("session__station__site", "session__evse__station", "session__connector",
                        "session__id_token__roaming")
    return _list(request, queryset, date_field="created_at", to_ocpi=mapping.cdr_to_ocpi)


@ocpi_view("GET")
def tariffs(request):
    """Network-wide tariffs and those of any organisation: all public prices of the network."""
    return _list(request, Tariff.objects.all(), date_field="last_updated", to_ocpi=mapping.tariff_ocpi)


# --- receiver modules -----------------------------------------------------------------------------


@ocpi_view("GET", "PUT", "PATCH")
def token(request, country_code, party_id, uid):
    partner = request.ocpi_partner
    tokens.check_party(partner, country_code, party_id)
    type_ = request.GET.get("type", "RFID")
    found = tokens.find_token(partner=partner, country_code=country_code, party_id=party_id, uid=uid, type=type_)
    if request.method == "GET":
        if found is None:
            raise OcpiError("unknown token", status_code=UNKNOWN_TOKEN, http_status=404)
        return envelope(found.data)
    if request.method == "PUT":
        tokens.store_token(partner=partner, token=_body(request), country_code=country_code,
                           party_id=party_id, uid=uid, type=type_)
        return envelope(None)
    if found is None:
        raise OcpiError("unknown token: PUT it first", status_code=UNKNOWN_TOKEN, http_status=404)
    tokens.patch_token(partner_token=found, changes=_body(request))
    return envelope(None)


@ocpi_view("POST")
def command(request, command_type):
    return envelope(commands.accept(partner=request.ocpi_partner, command_type=command_type, body=_body(request)))


@ocpi_view("GET", "PUT", "DELETE")
def charging_profile(request, session_id=None):
    if session_id is None:
        raise OcpiError("name the session: /chargingprofiles/<session_id>", status_code=INVALID_PARAMETERS,
                        http_status=404)
    body = _body(request) if request.method == "PUT" else None
    return envelope(charging_profiles.accept(partner=request.ocpi_partner, method=request.method,
                                             session_id=session_id, body=body, query=request.GET))
