"""Finance's settlement report: GET /api/v1/roaming/settlement.csv?period=YYYY-MM."""

from rest_framework.decorators import api_view, permission_classes, renderer_classes
from rest_framework.renderers import JSONRenderer

from billing.api.invoice_views import CsvRenderer, MayExportInvoices, _period_or_error
from billing.exports import csv_response
from roaming import settlement


@api_view(["GET"])
@permission_classes([MayExportInvoices])
@renderer_classes([JSONRenderer, CsvRenderer])
def settlement_csv(request):
    """Per-partner settlement of a month as CSV (finance and operators)."""
    period, error = _period_or_error(request)
    if error:
        return error
    return csv_response(f"roaming-settlement-{period.code}.csv", settlement.COLUMNS, settlement.rows(period))
