"""Finance exports: invoices and invoice lines of a period as CSV, streamed.

A period's export is as large as its invoicing run (10^5+ lines), so rows come from the
database with ``.iterator()`` and leave as they are written: memory stays flat. Amounts are
plain decimals with a point and two places (``-12.50``), times ISO 8601 in UTC, one header row.
Credit notes carry the period of the invoice they correct and are listed with it.
"""

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import StreamingHttpResponse

from billing.models import Invoice, InvoiceLine

CHUNK_ROWS = 500

INVOICE_COLUMNS = [
    "number", "kind", "credits", "issued_at", "period", "customer_id", "customer_name", "customer_email",
    "currency", "total_excl_vat", "total_vat", "total_incl_vat", "lines", "vat_summary",
]

LINE_COLUMNS = [
    "invoice_number", "kind", "issued_at", "period", "customer_email", "currency", "line_id", "cdr_id",
    "session_start", "session_end", "station_id", "site_name", "description", "energy_kwh",
    "amount_excl_vat", "vat", "amount_incl_vat", "credit",
]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def invoice_rows(invoices: QuerySet[Invoice]) -> Iterator[list[str]]:
    """One row per invoice or credit note, in number order."""
    line_count = InvoiceLine.objects.filter(invoice=OuterRef("pk")).order_by().values("invoice").annotate(
        n=Count("id")).values("n")
    rows = (
        invoices.order_by("series__code", "sequence")
        .annotate(line_count=Coalesce(Subquery(line_count), 0))
        .values_list(
            "number", "kind", "credits__number", "issued_at", "period", "driver_id", "customer_name",
            "customer_email", "currency", "total_excl_vat", "total_vat", "total_incl_vat", "line_count",
            "vat_summary",
        )
    )
    for row in rows.iterator(chunk_size=2000):
        *fields, vat_summary = row
        yield [_cell(v) for v in fields] + [json.dumps(vat_summary, separators=(",", ":"))]


def invoice_line_rows(lines: QuerySet[InvoiceLine]) -> Iterator[list[str]]:
    """One row per line, in invoice number order, then line order."""
    rows = lines.order_by("invoice__series__code", "invoice__sequence", "id").values_list(
        "invoice__number", "invoice__kind", "invoice__issued_at", "invoice__period", "invoice__customer_email",
        "invoice__currency", "id", "cdr__cdr_id", "cdr__start_date_time", "cdr__end_date_time",
        "cdr__station_id_text", "cdr__site_name", "description", "energy_kwh", "amount_excl_vat", "vat",
        "amount_incl_vat", "credit",
    )
    for row in rows.iterator(chunk_size=2000):
        yield [_cell(v) for v in row]


class _Line:
    """A file-like object for csv.writer that hands back what it was given."""

    def write(self, value: str) -> str:
        return value


def csv_chunks(header: list[str], rows: Iterable[list[str]]) -> Iterator[str]:
    """CSV text, CHUNK_ROWS rows at a time (fewer, larger writes than one per row)."""
    writer = csv.writer(_Line(), lineterminator="\r\n")
    chunk = [writer.writerow(header)]
    for row in rows:
        chunk.append(writer.writerow(row))
        if len(chunk) >= CHUNK_ROWS:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


class DatabaseStreamingResponse(StreamingHttpResponse):
    """Streams a synchronous iterator that reads the database, under ASGI as well.

    Django's ASGI handler reads a synchronous ``streaming_content`` whole into a list before
    sending the first byte (it cannot call blocking code on the event loop), which would undo
    the streaming. Here each chunk is pulled on the sync thread the view ran on, so the
    database connection and its server-side cursor stay where they were opened."""

    async def __aiter__(self):
        chunks = iter(self.streaming_content)
        done = object()
        pull = sync_to_async(next, thread_sensitive=True)
        while (chunk := await pull(chunks, done)) is not done:
            yield chunk


def csv_response(filename: str, header: list[str], rows: Iterable[list[str]]) -> DatabaseStreamingResponse:
    response = DatabaseStreamingResponse(csv_chunks(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def invoices_csv_response(invoices: QuerySet[Invoice], filename: str) -> DatabaseStreamingResponse:
    return csv_response(filename, INVOICE_COLUMNS, invoice_rows(invoices))


def invoice_lines_csv_response(lines: QuerySet[InvoiceLine], filename: str) -> DatabaseStreamingResponse:
    return csv_response(filename, LINE_COLUMNS, invoice_line_rows(lines))
