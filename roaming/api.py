"""Roaming over the REST API: finance's settlement report, and for drivers the partner
chargers, a remote start there, and their roaming sessions."""

from rest_framework import status
from rest_framework.decorators import api_view, permission_classes, renderer_classes
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from billing.api.invoice_views import CsvRenderer, MayExportInvoices, _period_or_error
from billing.exports import csv_response
from roaming import remote, selectors, settlement


@api_view(["GET"])
@permission_classes([MayExportInvoices])
@renderer_classes([JSONRenderer, CsvRenderer])
def settlement_csv(request):
    """Per-partner settlement of a month as CSV (finance and operators)."""
    period, error = _period_or_error(request)
    if error:
        return error
    return csv_response(f"roaming-settlement-{period.code}.csv", settlement.COLUMNS, settlement.rows(period))


def _driver(request):
    return getattr(request.user, "driver", None) if request.user.is_authenticated else None


@api_view(["GET"])
def partner_locations(request):
    """Partner chargers our drivers may use, with live availability and our price there."""
    return Response(selectors.location_summaries(selectors.partner_locations()))


@api_view(["POST"])
def start_session(request, pk: int):
    """Remote start on a partner's charger for the signed-in driver (OCPI START_SESSION)."""
    driver = _driver(request)
    if driver is None:
        return Response({"detail": "only drivers start sessions"}, status=status.HTTP_403_FORBIDDEN)
    location = selectors.partner_locations().filter(pk=pk).first()
    if location is None:
        return Response({"detail": "unknown partner location"}, status=status.HTTP_404_NOT_FOUND)
    evse_uid = request.data.get("evse_uid") if isinstance(request.data, dict) else None
    try:
        command = remote.start_session(driver=driver, location=location, evse_uid=evse_uid or None)
    except remote.RemoteError as error:
        return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
    return Response({"command": command.uid, "response": command.response}, status=status.HTTP_202_ACCEPTED)


@api_view(["GET"])
def roaming_sessions(request):
    """The signed-in driver's sessions at partner chargers."""
    return Response([{
        "pk": s.pk, "partner": s.partner.name, "id": s.ocpi_id, "status": s.status, "start": s.start_date_time,
        "end": s.end_date_time, "kwh": s.kwh, "currency": s.currency, "total_cost_incl_vat": s.total_cost_incl_vat,
        "location_id": s.location_id, "evse_uid": s.evse_uid,
    } for s in selectors.roaming_sessions_of(_driver(request))])


@api_view(["POST"])
def stop_session(request, pk: int):
    """Remote stop of the signed-in driver's running session on a partner's charger (STOP_SESSION)."""
    session = selectors.roaming_sessions_of(_driver(request)).filter(pk=pk, status="ACTIVE").first()
    if session is None:
        return Response({"detail": "no such running session of yours"}, status=status.HTTP_404_NOT_FOUND)
    try:
        command = remote.stop_session(driver=session.driver, session=session)
    except remote.RemoteError as error:
        return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
    return Response({"command": command.uid, "response": command.response}, status=status.HTTP_202_ACCEPTED)
