"""Roaming over the REST API: finance's settlement report, and for drivers the partner
chargers, a remote start (and stop) there, and their roaming sessions."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes, renderer_classes
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from billing.api.invoice_views import (
    CSV_RESPONSES,
    PERIOD_PARAMETER,
    CsvRenderer,
    MayExportInvoices,
    _period_or_error,
)
from billing.exports import csv_response
from roaming import remote, selectors, settlement


class PartnerEvseSerializer(serializers.Serializer):
    uid = serializers.CharField()
    evse_id = serializers.CharField(allow_null=True)
    status = serializers.CharField(help_text="OCPI EVSE status, e.g. AVAILABLE, CHARGING")


class PartnerAvailabilitySerializer(serializers.Serializer):
    available = serializers.IntegerField()
    total = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())


class PartnerLocationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    partner = serializers.CharField()
    name = serializers.CharField()
    city = serializers.CharField()
    address = serializers.CharField()
    latitude = serializers.CharField()
    longitude = serializers.CharField()
    availability = PartnerAvailabilitySerializer()
    price = serializers.CharField(help_text="our price there for the driver, e.g. '0.46 EUR/kWh excl. VAT'")
    evses = PartnerEvseSerializer(many=True)


class RoamingSessionSerializer(serializers.Serializer):
    pk = serializers.IntegerField()
    partner = serializers.CharField(source="partner.name")
    id = serializers.CharField(source="ocpi_id", help_text="the partner's session id")
    status = serializers.CharField()
    start = serializers.DateTimeField(source="start_date_time")
    end = serializers.DateTimeField(source="end_date_time", allow_null=True)
    kwh = serializers.DecimalField(max_digits=12, decimal_places=3)
    currency = serializers.CharField()
    total_cost_incl_vat = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True,
                                                   help_text="the partner's running cost")
    location_id = serializers.CharField()
    evse_uid = serializers.CharField()


class StartSerializer(serializers.Serializer):
    evse_uid = serializers.CharField(required=False, allow_blank=True)


class CommandSentSerializer(serializers.Serializer):
    command = serializers.CharField(help_text="our id of the command (its response_url names it)")
    response = serializers.CharField(help_text="the partner's CommandResponse.result")


REFUSED = {404: OpenApiResponse(description="not found"),
           409: OpenApiResponse(description="the partner refused or cannot be reached (the reason in detail)")}


def _driver(request):
    return getattr(request.user, "driver", None) if request.user.is_authenticated else None


@extend_schema(parameters=[PERIOD_PARAMETER], responses=CSV_RESPONSES, operation_id="roaming_settlement_csv",
               description="Per-partner settlement of a month: what we owe each CPO, what each eMSP owes us.")
@api_view(["GET"])
@permission_classes([MayExportInvoices])
@renderer_classes([JSONRenderer, CsvRenderer])
def settlement_csv(request):
    period, error = _period_or_error(request)
    if error:
        return error
    return csv_response(f"roaming-settlement-{period.code}.csv", settlement.COLUMNS, settlement.rows(period))


@extend_schema(responses=PartnerLocationSerializer(many=True),
               description="Partner chargers our drivers may use, with live availability and our price there.")
@api_view(["GET"])
def partner_locations(request):
    return Response(PartnerLocationSerializer(selectors.location_summaries(selectors.partner_locations()),
                                              many=True).data)


@extend_schema(request=StartSerializer, responses={202: CommandSentSerializer, 403: None, **REFUSED},
               description="Remote start on a partner's charger for the signed-in driver (OCPI START_SESSION).")
@api_view(["POST"])
def start_session(request, pk: int):
    driver = _driver(request)
    if driver is None:
        return Response({"detail": "only drivers start sessions"}, status=status.HTTP_403_FORBIDDEN)
    location = selectors.partner_locations().filter(pk=pk).first()
    if location is None:
        return Response({"detail": "unknown partner location"}, status=status.HTTP_404_NOT_FOUND)
    form = StartSerializer(data=request.data if isinstance(request.data, dict) else {})
    form.is_valid(raise_exception=True)
    try:
        command = remote.start_session(driver=driver, location=location,
                                       evse_uid=form.validated_data.get("evse_uid") or None)
    except remote.RemoteError as error:
        return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
    return Response({"command": command.uid, "response": command.response}, status=status.HTTP_202_ACCEPTED)


@extend_schema(responses=RoamingSessionSerializer(many=True),
               description="The signed-in driver's sessions at partner chargers.")
@api_view(["GET"])
def roaming_sessions(request):
    return Response(RoamingSessionSerializer(selectors.roaming_sessions_of(_driver(request)), many=True).data)


@extend_schema(request=None, responses={202: CommandSentSerializer, **REFUSED},
               description="Remote stop of the signed-in driver's running session at a partner (STOP_SESSION).")
@api_view(["POST"])
def stop_session(request, pk: int):
    session = selectors.roaming_sessions_of(_driver(request)).filter(pk=pk, status="ACTIVE").first()
    if session is None:
        return Response({"detail": "no such running session of yours"}, status=status.HTTP_404_NOT_FOUND)
    try:
        command = remote.stop_session(driver=session.driver, session=session)
    except remote.RemoteError as error:
        return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
    return Response({"command": command.uid, "response": command.response}, status=status.HTTP_202_ACCEPTED)
