"""OCPI 2.2.1 endpoints of ChargeNet as eMSP (and hubclientinfo, both roles). Thin: the
services in partner_data, partner_cdrs, offered_tokens, remote and hubs do the work; the
``ocpi_view`` wrapper authenticates, answers every error as an envelope and logs the call
in the partner's request log."""

from django.urls import reverse

from roaming import hubs, offered_tokens, partner_cdrs, partner_data, remote
from roaming.envelope import CLIENT_ERROR, INVALID_PARAMETERS, OcpiError, envelope
from roaming.models import RoamingCdr
from roaming.pagination import paginate
from roaming.views import json_body, ocpi_view


def _from_a_cpo(request) -> None:
    """Our eMSP endpoints take what CPOs (or hubs) send; an eMSP-only partner has no business here."""
    if not request.ocpi_partner.is_cpo:
        raise OcpiError("you are not registered as a CPO with us", status_code=CLIENT_ERROR, http_status=403)


def _named(object_id, shape: str) -> None:
    if object_id is None:
        raise OcpiError(f"name the object: {shape}", status_code=INVALID_PARAMETERS, http_status=404)


@ocpi_view("PUT", "PATCH")
def locations(request, country_code=None, party_id=None, location_id=None, evse_uid=None, connector_id=None):
    _from_a_cpo(request)
    _named(location_id, "/locations/<country_code>/<party_id>/<location_id>")
    service = partner_data.put_location if request.method == "PUT" else partner_data.patch_location
    service(partner=request.ocpi_partner, country_code=country_code, party_id=party_id, location_id=location_id,
            evse_uid=evse_uid, connector_id=connector_id, body=json_body(request))
    return envelope(None)


@ocpi_view("PUT", "PATCH")
def sessions(request, country_code=None, party_id=None, session_id=None):
    _from_a_cpo(request)
    _named(session_id, "/sessions/<country_code>/<party_id>/<session_id>")
    service = partner_data.put_session if request.method == "PUT" else partner_data.patch_session
    service(partner=request.ocpi_partner, country_code=country_code, party_id=party_id, session_id=session_id,
            body=json_body(request))
    return envelope(None)


@ocpi_view("POST", "GET")
def cdrs(request, cdr_pk=None):
    _from_a_cpo(request)
    if request.method == "POST":
        if cdr_pk is not None:
            raise OcpiError("POST to the cdrs endpoint itself", http_status=405)
        cdr = partner_cdrs.receive_cdr(partner=request.ocpi_partner, body=json_body(request))
        return envelope(None, headers={"Location": request.build_absolute_uri(
            reverse("ocpi-emsp-cdr", args=[cdr.pk]))})
    cdr = RoamingCdr.objects.filter(pk=cdr_pk, partner=request.ocpi_partner).first() if cdr_pk else None
    if cdr is None:
        raise OcpiError("unknown CDR", status_code=INVALID_PARAMETERS, http_status=404)
    return envelope(cdr.data)


@ocpi_view("PUT", "DELETE")
def tariffs(request, country_code=None, party_id=None, tariff_id=None):
    _from_a_cpo(request)
    _named(tariff_id, "/tariffs/<country_code>/<party_id>/<tariff_id>")
    if request.method == "PUT":
        partner_data.put_tariff(partner=request.ocpi_partner, country_code=country_code, party_id=party_id,
                                tariff_id=tariff_id, body=json_body(request))
    else:
        partner_data.delete_tariff(partner=request.ocpi_partner, country_code=country_code, party_id=party_id,
                                   tariff_id=tariff_id)
    return envelope(None)


@ocpi_view("GET")
def tokens(request):
    _from_a_cpo(request)
    page = paginate(request, offered_tokens.offered_tokens(), date_field="created_at",
                    to_ocpi=offered_tokens.token_to_ocpi)
    return envelope(page.items, headers=page.headers)


@ocpi_view("POST")
def authorize(request, uid):
    _from_a_cpo(request)
    body = json_body(request) if request.body else None
    return envelope(offered_tokens.authorize(partner=request.ocpi_partner, uid=uid, type_=request.GET.get("type"),
                                             location_refs=body))


@ocpi_view("POST")
def results(request, kind, uid):
    _from_a_cpo(request)
    remote.receive_result(partner=request.ocpi_partner, kind=kind, uid=uid, body=json_body(request))
    return envelope(None)


@ocpi_view("PUT")
def hubclientinfo(request, country_code=None, party_id=None):
    if country_code is None:
        raise OcpiError("name the party: /hubclientinfo/<country_code>/<party_id>", http_status=404)
    hubs.put_client_info(partner=request.ocpi_partner, country_code=country_code, party_id=party_id,
                         body=json_body(request))
    return envelope(None)
