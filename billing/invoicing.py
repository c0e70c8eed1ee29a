"""Monthly invoicing and credit notes, under gapless numbers.

One invoice per customer (driver), currency and period (a calendar month), with one line per
CDR of that customer whose ``end_date_time`` falls in the month. **Decision:** months are cut in
UTC (``[YYYY-MM-01 00:00Z, next month 00:00Z)``): times are stored in UTC, one run covers the
whole network whatever the sites' time zones, and a session belongs to exactly one month. The
PDF still shows each session's date in its own time zone.

Why the run looks like this
    *Gapless numbers.* Tax law wants invoice numbers without gaps. A run locks its series row
    (``SELECT ... FOR UPDATE``) and takes its numbers in the same transaction that writes the
    invoices: a rolled-back run gives its numbers back, and a second run (another worker, the
    admin, the management command) waits for the first to commit and then sees its invoices.
    On SQLite the settings' ``BEGIN IMMEDIATE`` serialises writers the same way.
    *Idempotent.* Customers already invoiced for the period are left out (and the constraint
    ``one_invoice_per_customer_period_currency`` backs that up), so a repeated run creates
    nothing; the CDR filter also skips CDRs already on an invoice (``cdr_invoiced_once``).
    *Set-based.* A month of a large network is 10^5..10^6 CDRs. The number of statements
    depends on the number of customers in batches of ``BATCH_SIZE``, never on the number of
    CDRs, and memory stays flat: customers are streamed from one grouped query into batched
    ``bulk_create``; the lines are one ``INSERT ... SELECT``; totals are one ``UPDATE``; the VAT
    summaries one grouped query streamed into batched ``bulk_update``.
    *Totals are sums of lines.* Totals and VAT summaries are computed from the lines that were
    actually inserted, not from an earlier read, so a CDR committed by a concurrent transaction
    between two statements cannot make an invoice disagree with its own lines. Until the run
    commits nobody sees these invoices, so filling in their totals is part of issuing them,
    not a change of an issued invoice.

Late CDRs
    A CDR that ends in a month whose invoice for that customer was already issued (an offline
    station's transaction uploaded weeks later) cannot go on a second invoice of that month.
    The run counts them as ``late_cdrs`` and logs a warning; billing them needs a decision
    (a supplementary invoice needs the per-period constraint relaxed).
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, DecimalField, Exists, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing.models import (
    CdrVatLine,
    ChargeDetailRecord,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSeries,
)

logger = logging.getLogger(__name__)

INVOICE_SERIES = "INV"
CREDIT_NOTE_SERIES = "CN"
BATCH_SIZE = 1000
# bulk_update builds a CASE expression per row: smaller batches keep its memory down.
VAT_SUMMARY_BATCH_SIZE = 250
LINE_DESCRIPTION_SEPARATOR = " · "
MAX_CREDIT_REASON_LENGTH = 120
CENT = Decimal("0.01")

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class InvalidPeriod(ValueError):
    pass


class CreditNoteError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    code: str
    start: datetime
    end: datetime

    @property
    def has_ended(self) -> bool:
        return self.end <= timezone.now()


def parse_period(value: str | None) -> Period:
    """``YYYY-MM`` to the month's UTC bounds, half-open."""
    match = _PERIOD.match((value or "").strip())
    if match is None:
        raise InvalidPeriod(f"period must be YYYY-MM (e.g. 2026-10), not {value!r}")
    year, month = int(match.group(1)), int(match.group(2))
    if year < 2000:
        raise InvalidPeriod(f"period {value} is before 2000")
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return Period(code=match.group(0), start=start, end=end)


def previous_period(now: datetime | None = None) -> str:
    """The month before ``now`` (UTC): what the job on the 1st invoices."""
    now = (now or timezone.now()).astimezone(UTC)
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def format_number(code: str, sequence: int) -> str:
    return f"{code}-{sequence:06d}"


@dataclass(frozen=True)
class InvoicingResult:
    period: str
    invoices_created: int
    lines_created: int
    first_number: str | None
    last_number: str | None
    # Customer/currency pairs of the period invoiced by an earlier run: skipped.
    skipped_already_invoiced: int
    # CDRs of the period without a customer (ad hoc payment, unknown token): never invoiced.
    skipped_without_customer: int
    # CDRs of the period that arrived after their customer's invoice was issued.
    late_cdrs: int

    def as_dict(self) -> dict:
        return asdict(self)


def run_invoicing(*, period: str, issued_at: datetime | None = None) -> InvoicingResult:
    """Invoice every customer's CDRs of a month that has ended. Safe to repeat and to run
    concurrently: see the module docstring."""
    bounds = parse_period(period)
    if not bounds.has_ended:
        raise InvalidPeriod(f"period {bounds.code} has not ended yet; invoices of a month are final")
    issued_at = issued_at or timezone.now()

    with transaction.atomic():
        series = _locked_series(INVOICE_SERIES)
        first_sequence = series.next_number
        existing = Invoice.objects.filter(kind=InvoiceKind.INVOICE, period=bounds.code).count()

        created = _create_invoices(series=series, bounds=bounds, issued_at=issued_at)
        last_sequence = first_sequence + created - 1
        lines = 0
        if created:
            InvoiceSeries.objects.filter(pk=series.pk).update(next_number=last_sequence + 1)
            new_invoices = Invoice.objects.filter(series=series, sequence__range=(first_sequence, last_sequence))
            lines = _insert_lines(series=series, bounds=bounds, first=first_sequence, last=last_sequence)
            _fill_totals(new_invoices)
            _fill_vat_summaries(new_invoices)

        in_period = ChargeDetailRecord.objects.filter(
            end_date_time__gte=bounds.start, end_date_time__lt=bounds.end
        )
        without_customer = in_period.filter(driver__isnull=True).count()
        late = in_period.filter(driver__isnull=False).exclude(_already_invoiced()).count()

    result = InvoicingResult(
        period=bounds.code,
        invoices_created=created,
        lines_created=lines,
        first_number=format_number(series.code, first_sequence) if created else None,
        last_number=format_number(series.code, last_sequence) if created else None,
        skipped_already_invoiced=existing,
        skipped_without_customer=without_customer,
        late_cdrs=late,
    )
    logger.info("invoicing %s: %s", bounds.code, result.as_dict())
    if late:
        logger.warning("invoicing %s: %d CDRs arrived after their customer's invoice was issued", bounds.code, late)
    return result


def _locked_series(code: str) -> InvoiceSeries:
    """The series row, locked until the surrounding transaction ends (created on first use)."""
    InvoiceSeries.objects.get_or_create(code=code)
    return InvoiceSeries.objects.select_for_update().get(code=code)


def _already_invoiced() -> Exists:
    return Exists(InvoiceLine.objects.filter(cdr=OuterRef("pk"), credit=False))


def _create_invoices(*, series: InvoiceSeries, bounds: Period, issued_at: datetime) -> int:
    """One invoice per (customer, currency) with CDRs to invoice, numbered in (customer,
    currency) order. Totals are zero here and filled in from the lines below."""
    customers = (
        ChargeDetailRecord.objects.filter(
            end_date_time__gte=bounds.start, end_date_time__lt=bounds.end, driver__isnull=False
        )
        .exclude(_already_invoiced())
        .exclude(Exists(Invoice.objects.filter(
            kind=InvoiceKind.INVOICE, period=bounds.code, driver=OuterRef("driver"), currency=OuterRef("currency"),
        )))
        .values("driver_id", "currency", "driver__name", "driver__email", "driver__address")
        .annotate(cdrs=Count("id"))
        .order_by("driver_id", "currency")
    )
    sequence = series.next_number
    batch: list[Invoice] = []
    created = 0
    zero = Decimal("0.00")
    for customer in customers.iterator(chunk_size=BATCH_SIZE):
        batch.append(Invoice(
            series=series,
            sequence=sequence,
            number=format_number(series.code, sequence),
            kind=InvoiceKind.INVOICE,
            driver_id=customer["driver_id"],
            period=bounds.code,
            currency=customer["currency"],
            issued_at=issued_at,
            customer_name=(customer["driver__name"] or customer["driver__email"])[:200],
            customer_email=customer["driver__email"],
            customer_address=customer["driver__address"].strip(),
            total_excl_vat=zero,
            total_vat=zero,
            total_incl_vat=zero,
            vat_summary=[],
        ))
        sequence += 1
        if len(batch) >= BATCH_SIZE:
            Invoice.objects.bulk_create(batch)
            created += len(batch)
            batch = []
    if batch:
        Invoice.objects.bulk_create(batch)
        created += len(batch)
    return created


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _col(model, field: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(field).column)


def _insert_lines(*, series: InvoiceSeries, bounds: Period, first: int, last: int) -> int:
    """All lines of the run's invoices in one INSERT ... SELECT (standard SQL: runs on SQLite
    and PostgreSQL), in invoice order and, within an invoice, in the order the sessions ended."""
    L, C, I = InvoiceLine, ChargeDetailRecord, Invoice  # noqa: E741, N806
    q = connection.ops.quote_name
    sql = f"""
        INSERT INTO {_table(L)} ({q('invoice_id')}, {q('cdr_id')}, {_col(L, 'description')},
            {_col(L, 'energy_kwh')}, {_col(L, 'amount_excl_vat')}, {_col(L, 'vat')},
            {_col(L, 'amount_incl_vat')}, {_col(L, 'credit')})
        SELECT i.{q('id')}, c.{q('id')},
            SUBSTR(CASE WHEN c.{_col(C, 'site_name')} = '' THEN c.{_col(C, 'station_id_text')}
                        ELSE c.{_col(C, 'site_name')} || %s || c.{_col(C, 'station_id_text')} END, 1, 255),
            c.{_col(C, 'total_energy_kwh')}, c.{_col(C, 'total_cost_excl_vat')}, c.{_col(C, 'total_vat')},
            c.{_col(C, 'total_cost_incl_vat')}, %s
        FROM {_table(C)} c
        JOIN {_table(I)} i
          ON i.{q('driver_id')} = c.{q('driver_id')} AND i.{_col(I, 'currency')} = c.{_col(C, 'currency')}
         AND i.{_col(I, 'period')} = %s AND i.{_col(I, 'kind')} = %s
         AND i.{q('series_id')} = %s AND i.{_col(I, 'sequence')} BETWEEN %s AND %s
        WHERE c.{_col(C, 'end_date_time')} >= %s AND c.{_col(C, 'end_date_time')} < %s
          AND NOT EXISTS (SELECT 1 FROM {_table(L)} l
                          WHERE l.{q('cdr_id')} = c.{q('id')} AND l.{_col(L, 'credit')} = %s)
        ORDER BY i.{_col(I, 'sequence')}, c.{_col(C, 'end_date_time')}, c.{q('id')}
    """
    params = [
        LINE_DESCRIPTION_SEPARATOR, False, bounds.code, InvoiceKind.INVOICE.value, series.pk, first, last,
        connection.ops.adapt_datetimefield_value(bounds.start),
        connection.ops.adapt_datetimefield_value(bounds.end),
        False,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _money_sum(field: str, lines) -> Coalesce:
    total = lines.annotate(total=Sum(field)).values("total")
    money = DecimalField(max_digits=14, decimal_places=2)
    return Coalesce(Subquery(total, output_field=money), Value(Decimal("0.00")), output_field=money)


def _fill_totals(invoices) -> None:
    """Totals are the sums of the invoice's lines: one UPDATE for the whole run."""
    lines = InvoiceLine.objects.filter(invoice=OuterRef("pk")).order_by().values("invoice")
    invoices.update(
        total_excl_vat=_money_sum("amount_excl_vat", lines),
        total_vat=_money_sum("vat", lines),
        total_incl_vat=_money_sum("amount_incl_vat", lines),
    )


def _fill_vat_summaries(invoices) -> None:
    """Base and VAT per rate, from the CDRs' VAT lines: one grouped query, streamed into
    batched bulk updates. A rate of None (no VAT applies) is kept apart from 0 %."""
    rows = (
        CdrVatLine.objects.filter(
            cdr__invoice_lines__invoice__in=invoices.values("pk"), cdr__invoice_lines__credit=False
        )
        .values(invoice_id=F("cdr__invoice_lines__invoice_id"), rate=F("vat_rate"))
        .annotate(base=Sum("base"), vat=Sum("vat"))
        .order_by("invoice_id", F("vat_rate").asc(nulls_last=True))
    )
    batch: list[Invoice] = []
    current: Invoice | None = None
    for row in rows.iterator(chunk_size=BATCH_SIZE):
        if current is None or current.pk != row["invoice_id"]:
            if current is not None:
                batch.append(current)
                if len(batch) >= VAT_SUMMARY_BATCH_SIZE:
                    Invoice.objects.bulk_update(batch, ["vat_summary"])
                    batch = []
            current = Invoice(pk=row["invoice_id"], vat_summary=[])
        current.vat_summary.append(vat_entry(row["rate"], row["base"], row["vat"]))
    if current is not None:
        batch.append(current)
    if batch:
        Invoice.objects.bulk_update(batch, ["vat_summary"])


def vat_entry(rate: Decimal | None, base: Decimal, vat: Decimal) -> dict:
    return {
        "rate": None if rate is None else str(Decimal(rate).quantize(CENT)),
        "base": str(Decimal(base).quantize(CENT)),
        "vat": str(Decimal(vat).quantize(CENT)),
    }


def issue_credit_note(*, invoice: Invoice, reason: str, issued_at: datetime | None = None) -> Invoice:
    """Reverse an invoice in full: a credit note in series CN with one negative line per
    invoice line. An invoice is credited at most once; a partial correction is a full
    reversal plus, once the model allows it, a corrected invoice.

    The model has no field for the reason, so it goes into every line's description
    (hence its length limit)."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise CreditNoteError("a credit note needs a reason")
    if len(reason) > MAX_CREDIT_REASON_LENGTH:
        raise CreditNoteError(f"the reason may be at most {MAX_CREDIT_REASON_LENGTH} characters")
    issued_at = issued_at or timezone.now()

    with transaction.atomic():
        # The series lock serialises credit notes, so the check below cannot race.
        series = _locked_series(CREDIT_NOTE_SERIES)
        original = Invoice.objects.get(pk=invoice.pk)
        if original.kind != InvoiceKind.INVOICE:
            raise CreditNoteError(f"{original.number} is a credit note; only invoices can be credited")
        previous = original.credit_notes.first()
        if previous is not None:
            raise CreditNoteError(f"{original.number} was already credited by {previous.number}")

        sequence = series.next_number
        note = Invoice(
            series=series,
            sequence=sequence,
            number=format_number(series.code, sequence),
            kind=InvoiceKind.CREDIT_NOTE,
            driver_id=original.driver_id,
            period=original.period,
            currency=original.currency,
            issued_at=issued_at,
            customer_name=original.customer_name,
            customer_email=original.customer_email,
            customer_address=original.customer_address,
            total_excl_vat=-original.total_excl_vat,
            total_vat=-original.total_vat,
            total_incl_vat=-original.total_incl_vat,
            vat_summary=[
                vat_entry(None if e["rate"] is None else Decimal(e["rate"]), -Decimal(e["base"]), -Decimal(e["vat"]))
                for e in original.vat_summary
            ],
            credits=original,
        )
        note.save()
        _insert_reversal_lines(note=note, original=original, prefix=f"Credit for {original.number} ({reason}): ")
        InvoiceSeries.objects.filter(pk=series.pk).update(next_number=sequence + 1)
    logger.info("credit note %s reverses %s: %s", note.number, original.number, reason)
    return note


def _insert_reversal_lines(*, note: Invoice, original: Invoice, prefix: str) -> int:
    L = InvoiceLine  # noqa: N806
    q = connection.ops.quote_name
    sql = f"""
        INSERT INTO {_table(L)} ({q('invoice_id')}, {q('cdr_id')}, {_col(L, 'description')},
            {_col(L, 'energy_kwh')}, {_col(L, 'amount_excl_vat')}, {_col(L, 'vat')},
            {_col(L, 'amount_incl_vat')}, {_col(L, 'credit')})
        SELECT %s, l.{q('cdr_id')}, SUBSTR(%s || l.{_col(L, 'description')}, 1, 255),
            -l.{_col(L, 'energy_kwh')}, -l.{_col(L, 'amount_excl_vat')}, -l.{_col(L, 'vat')},
            -l.{_col(L, 'amount_incl_vat')}, %s
        FROM {_table(L)} l
        WHERE l.{q('invoice_id')} = %s
        ORDER BY l.{q('id')}
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [note.pk, prefix, True, original.pk])
        return cursor.rowcount
