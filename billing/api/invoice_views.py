"""Invoices, their PDF, and the finance exports.

Invoices are read-only here (issued invoices never change; corrections are credit notes,
issued in the admin). Who sees what is ``billing.invoice_selectors``.
"""

import json

from django.http import HttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes, renderer_classes
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from billing.exports import invoice_lines_csv_response, invoices_csv_response
from billing.invoice_selectors import can_export_invoices, invoices_visible_to, with_lines
from billing.invoicing import InvalidPeriod, parse_period
from billing.models import Invoice, InvoiceLine
from billing.pdf import pdf_filename, render_invoice_pdf


class _FileRenderer(BaseRenderer):
    """Lets clients ask for the file's media type; the view returns the file itself, and
    an error (a dict) is rendered as its message."""

    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes | str):
            return data
        detail = data.get("detail", data) if isinstance(data, dict) else data
        return (detail if isinstance(detail, str) else json.dumps(detail)).encode()


class PdfRenderer(_FileRenderer):
    media_type = "application/pdf"
    format = "pdf"


class CsvRenderer(_FileRenderer):
    media_type = "text/csv"
    format = "csv"


class InvoiceLineSerializer(serializers.ModelSerializer):
    cdr_id = serializers.CharField(source="cdr.cdr_id")
    station_id = serializers.CharField(source="cdr.station_id_text")
    site_name = serializers.CharField(source="cdr.site_name")
    session_start = serializers.DateTimeField(source="cdr.start_date_time")
    session_end = serializers.DateTimeField(source="cdr.end_date_time")

    class Meta:
        model = InvoiceLine
        fields = [
            "id", "cdr_id", "station_id", "site_name", "session_start", "session_end", "description",
            "energy_kwh", "amount_excl_vat", "vat", "amount_incl_vat", "credit",
        ]


class VatSummaryEntrySerializer(serializers.Serializer):
    rate = serializers.DecimalField(max_digits=5, decimal_places=2, allow_null=True,
                                    help_text="percent; null: no VAT applies (not the same as 0)")
    base = serializers.DecimalField(max_digits=14, decimal_places=2)
    vat = serializers.DecimalField(max_digits=14, decimal_places=2)


class InvoiceSerializer(serializers.ModelSerializer):
    credits = serializers.SlugRelatedField(slug_field="number", read_only=True,
                                           help_text="for a credit note: the invoice it corrects")
    vat_summary = VatSummaryEntrySerializer(many=True, read_only=True)
    lines = InvoiceLineSerializer(many=True, read_only=True)
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = Invoice
        fields = [
            "id", "number", "kind", "credits", "period", "issued_at", "driver", "customer_name", "customer_email",
            "currency", "total_excl_vat", "total_vat", "total_incl_vat", "vat_summary", "lines", "pdf_url",
        ]

    def get_pdf_url(self, invoice) -> str:
        path = f"/api/v1/invoices/{invoice.pk}/pdf"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class InvoiceFilter(filters.FilterSet):
    period = filters.CharFilter(field_name="period", help_text="YYYY-MM")

    class Meta:
        model = Invoice
        fields = ["period", "kind", "currency", "driver", "number"]


class InvoiceViewSet(viewsets.ReadOnlyModelViewSet):
    """Invoices and credit notes with their lines and VAT summary. Finance and operators see
    all; a driver sees their own."""

    serializer_class = InvoiceSerializer
    filterset_class = InvoiceFilter
    ordering_fields = ["issued_at", "number", "total_incl_vat"]

    def get_queryset(self):
        return with_lines(invoices_visible_to(self.request.user))

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], url_path="pdf", renderer_classes=[JSONRenderer, PdfRenderer])
    def pdf(self, request, pk=None):
        invoice = self.get_object()
        response = HttpResponse(render_invoice_pdf(invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{pdf_filename(invoice)}"'
        return response


@extend_schema_view(pdf=extend_schema(
    operation_id="invoice_pdf", responses={(200, "application/pdf"): OpenApiTypes.BINARY},
    description="The invoice as a PDF document (the router's spelling with a trailing slash works too).",
))
class InvoicePdfView(InvoiceViewSet):
    """``/api/v1/invoices/<id>/pdf``, as ARCHITECTURE.md spells it: the same action, routed
    without the router's trailing slash (a subclass only so the schema names it apart)."""


class MayExportInvoices(BasePermission):
    message = "Only finance and operators may export invoices."

    def has_permission(self, request, view):
        return can_export_invoices(request.user)


PERIOD_PARAMETER = OpenApiParameter("period", str, required=True, description="the billing month, YYYY-MM")
CSV_RESPONSES = {
    (200, "text/csv"): OpenApiTypes.STR,
    400: OpenApiResponse(description="missing or malformed period"),
    403: OpenApiResponse(description="not finance or an operator"),
}


def _period_or_error(request):
    value = request.query_params.get("period")
    if not value:
        return None, Response({"detail": "the period query parameter is required, as YYYY-MM (e.g. 2026-10)"},
                              status=status.HTTP_400_BAD_REQUEST)
    try:
        return parse_period(value), None
    except InvalidPeriod as error:
        return None, Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)


@extend_schema(parameters=[PERIOD_PARAMETER], responses=CSV_RESPONSES, operation_id="export_invoices_csv",
               description="Every invoice and credit note of a billing period, one row each (streamed).")
@api_view(["GET"])
@permission_classes([MayExportInvoices])
@renderer_classes([JSONRenderer, CsvRenderer])
def invoices_csv(request):
    period, error = _period_or_error(request)
    if error:
        return error
    invoices = invoices_visible_to(request.user).filter(period=period.code)
    return invoices_csv_response(invoices, f"invoices-{period.code}.csv")


@extend_schema(parameters=[PERIOD_PARAMETER], responses=CSV_RESPONSES, operation_id="export_invoice_lines_csv",
               description="Every line of the period's invoices and credit notes, one row each (streamed).")
@api_view(["GET"])
@permission_classes([MayExportInvoices])
@renderer_classes([JSONRenderer, CsvRenderer])
def invoice_lines_csv(request):
    period, error = _period_or_error(request)
    if error:
        return error
    lines = InvoiceLine.objects.filter(invoice__in=invoices_visible_to(request.user).filter(period=period.code))
    return invoice_lines_csv_response(lines, f"invoice-lines-{period.code}.csv")
