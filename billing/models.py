"""Tariffs, priced sessions (CDRs) and invoices.

A tariff is stored as the OCPI 2.2.1 Tariff object it is (elements as JSON, ordered), so
what an operator POSTs is exactly what roaming partners receive. A CDR is the immutable
record of a priced session: it embeds the tariff as it was at session start and the
priced breakdown. Invoices gather a customer's CDRs of a month under a gapless number.
"""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Lower

from stations.models import ChargingSession, Driver, Organization


class TariffType(models.TextChoices):
    AD_HOC_PAYMENT = "AD_HOC_PAYMENT"
    PROFILE_CHEAPEST = "PROFILE_CHEAPEST"
    PROFILE_FASTEST = "PROFILE_FASTEST"
    PROFILE_GREEN = "PROFILE_GREEN"
    REGULAR = "REGULAR"


class MarketPriceFeed(models.Model):
    """A market (day-ahead) price curve an operator imports: a CSV file or an HTTP JSON feed.

    Dynamic tariffs follow it: their energy price at any instant is the stored market price
    plus ``margin_per_kwh`` (excl. VAT), with ``vat`` as the VAT rate. Sites listed in
    ``load_sites`` get the curve (incl. margin and VAT) as their load manager's price curve."""

    class Kind(models.TextChoices):
        CSV = "csv", "CSV file or URL"
        JSON = "json", "HTTP JSON feed"

    class Unit(models.TextChoices):
        MWH = "MWh", "per MWh (exchange prices)"
        KWH = "kWh", "per kWh"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=4, choices=Kind.choices)
    source = models.CharField(max_length=500, help_text="http(s) URL, or a file path for CSV")
    currency = models.CharField(max_length=3, default="EUR")
    unit = models.CharField(max_length=3, choices=Unit.choices, default=Unit.MWH,
                            help_text="what the source's prices are per")
    resolution_minutes = models.PositiveSmallIntegerField(
        default=60, choices=[(15, "quarter-hour"), (30, "half-hour"), (60, "hour")],
        help_text="length of a price point when the source gives only its start",
    )
    margin_per_kwh = models.DecimalField(max_digits=8, decimal_places=5, default=Decimal("0"),
                                         help_text="added to the market price, excl. VAT")
    vat = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True,
                              help_text="VAT percent on the resulting energy price; empty: no VAT")
    json_items = models.CharField(max_length=100, blank=True,
                                  help_text="JSON: dotted path to the list of points (empty: the document is the list)")
    start_field = models.CharField(max_length=50, default="start")
    end_field = models.CharField(max_length=50, blank=True, default="end", help_text="optional")
    price_field = models.CharField(max_length=50, default="price")
    enabled = models.BooleanField(default=True, help_text="imported by the scheduled task")
    load_sites = models.ManyToManyField("stations.Site", blank=True, related_name="market_price_feeds",
                                        help_text="sites whose load manager plans on this curve")
    last_imported_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)

    def __str__(self) -> str:
        return self.name


class MarketPrice(models.Model):
    """One point of a feed's curve: the market price (excl. margin and VAT) valid in [starts_at, ends_at)."""

    feed = models.ForeignKey(MarketPriceFeed, on_delete=models.CASCADE, related_name="prices")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    price_per_kwh = models.DecimalField(max_digits=12, decimal_places=6, help_text="may be negative")

    class Meta:
        ordering = ["feed", "starts_at"]
        constraints = [
            models.UniqueConstraint(fields=["feed", "starts_at"], name="market_price_unique_start"),
            models.CheckConstraint(condition=models.Q(starts_at__lt=models.F("ends_at")),
                                   name="market_price_starts_before_it_ends"),
        ]

    def __str__(self) -> str:
        return f"{self.feed} {self.starts_at:%Y-%m-%d %H:%M} {self.price_per_kwh}"


class Tariff(models.Model):
    country_code = models.CharField(max_length=2, default="DE")
    party_id = models.CharField(max_length=3, default="CNT")
    tariff_id = models.CharField(max_length=36, help_text="OCPI Tariff.id")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="tariffs",
        help_text="owner; empty for network-wide tariffs",
    )
    currency = models.CharField(max_length=3)
    type = models.CharField(max_length=20, choices=TariffType.choices, blank=True)
    tariff_alt_text = models.JSONField(default=list, blank=True)
    tariff_alt_url = models.URLField(max_length=255, blank=True)
    min_price = models.JSONField(null=True, blank=True, help_text='{"excl_vat": ..., "incl_vat": ...}')
    max_price = models.JSONField(null=True, blank=True)
    elements = models.JSONField(help_text="OCPI TariffElement list; order matters")
    energy_mix = models.JSONField(null=True, blank=True)
    start_date_time = models.DateTimeField(null=True, blank=True)
    end_date_time = models.DateTimeField(null=True, blank=True)
    is_default = models.BooleanField(default=False, help_text="used where nothing more specific applies")
    feed_in_price = models.DecimalField(
        max_digits=10, decimal_places=4, null=True, blank=True, validators=[MinValueValidator(Decimal("0"))],
        help_text="V2X: credit per kWh a car feeds back (no VAT); empty: export is not credited",
    )
    market_feed = models.ForeignKey(
        MarketPriceFeed, on_delete=models.PROTECT, null=True, blank=True, related_name="tariffs",
        help_text="dynamic tariff: the energy price follows this market curve (+ margin, VAT); the "
        "elements' own ENERGY price applies only where no market price is stored",
    )
    last_updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["country_code", "party_id", "tariff_id"]
        constraints = [
            # One CPO platform: the OCPI id alone names a tariff in the API and in assignments
            # (OCPI ids are case-insensitive strings).
            models.UniqueConstraint(Lower("tariff_id"), name="tariff_id_unique_ci",
                                    violation_error_message="a tariff with this id exists (ids are case-insensitive)"),
            models.UniqueConstraint(fields=["is_default"], condition=models.Q(is_default=True),
                                    name="one_default_tariff"),
            models.CheckConstraint(
                condition=models.Q(start_date_time__isnull=True) | models.Q(end_date_time__isnull=True)
                | models.Q(start_date_time__lt=models.F("end_date_time")),
                name="tariff_starts_before_it_ends",
            ),
            models.CheckConstraint(condition=models.Q(is_default=False) | models.Q(organization__isnull=True),
                                   name="default_tariff_is_network_wide"),
        ]

    def __str__(self) -> str:
        return f"{self.tariff_id} ({self.currency})"


class DriverGroup(models.Model):
    """Drivers who get their own tariff (employees, members, a fleet)."""

    name = models.CharField(max_length=100, unique=True)
    drivers = models.ManyToManyField(Driver, blank=True, related_name="billing_groups")

    def __str__(self) -> str:
        return self.name


def _one_tariff_per(place: str) -> list[models.UniqueConstraint]:
    """At one place: one tariff for the public, and one for each driver group."""
    here = models.Q(**{f"{place}__isnull": False})
    return [
        models.UniqueConstraint(fields=[place], condition=here & models.Q(driver_group__isnull=True),
                                name=f"one_public_tariff_per_{place}"),
        models.UniqueConstraint(fields=[place, "driver_group"], condition=here & models.Q(driver_group__isnull=False),
                                name=f"one_group_tariff_per_{place}"),
    ]


class TariffAssignment(models.Model):
    """Which tariff applies where. The most specific wins: EVSE over station over site, a
    driver group's assignment over the public one at the same place; the default last."""

    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="assignments")
    site = models.ForeignKey("stations.Site", on_delete=models.CASCADE, null=True, blank=True,
                             related_name="tariff_assignments")
    station = models.ForeignKey("stations.ChargingStation", on_delete=models.CASCADE, null=True, blank=True,
                                related_name="tariff_assignments")
    evse = models.ForeignKey("stations.Evse", on_delete=models.CASCADE, null=True, blank=True,
                             related_name="tariff_assignments")
    driver_group = models.ForeignKey(DriverGroup, on_delete=models.CASCADE, null=True, blank=True,
                                     related_name="tariff_assignments")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(site__isnull=False, station__isnull=True, evse__isnull=True)
                    | models.Q(site__isnull=True, station__isnull=False, evse__isnull=True)
                    | models.Q(site__isnull=True, station__isnull=True, evse__isnull=False)
                ),
                name="assignment_has_one_place",
            ),
            *_one_tariff_per("site"),
            *_one_tariff_per("station"),
            *_one_tariff_per("evse"),
        ]

    @property
    def place(self):
        return self.evse or self.station or self.site

    def __str__(self) -> str:
        who = f" for {self.driver_group}" if self.driver_group_id else ""
        return f"{self.tariff.tariff_id} at {self.place}{who}"


class SessionTariff(models.Model):
    """The tariff as it was when the session started (OCPI: the CDR embeds that one)."""

    session = models.OneToOneField(ChargingSession, on_delete=models.CASCADE, related_name="tariff_snapshot")
    tariff = models.ForeignKey(Tariff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    snapshot = models.JSONField()
    feed_in_price = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True,
                                        help_text="the tariff's feed-in price at session start")
    time_zone = models.CharField(max_length=64, default="UTC")
    driver_known = models.BooleanField(
        default=True, help_text="the driver was identified when the tariff was resolved (2.0.1 may identify later)"
    )
    market_feed = models.ForeignKey(
        MarketPriceFeed, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="the tariff was dynamic: its energy price follows this curve over the session",
    )
    cost_sent_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="when the running cost last went to the station's display "
        "(at most every OCPP_COST_UPDATE_INTERVAL_S)",
    )
    # OCPP 2.1 stations that calculate cost themselves report it (TransactionEvent costDetails).
    station_cost = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True, editable=False,
                                       help_text="the station's own cost (2.1 costDetails), last reported")
    station_cost_at = models.DateTimeField(null=True, blank=True, editable=False)
    cost_difference = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True, editable=False,
                                          help_text="station cost minus ChargeNet's at the same moment")
    cost_mismatch = models.BooleanField(default=False, editable=False,
                                        help_text="the station's cost differs from ChargeNet's by more than one cent")
    taken_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.snapshot.get('id')} for session {self.session_id}"


class ImmutableError(RuntimeError):
    pass


class ChargeDetailRecord(models.Model):
    """A priced session. Written once, never changed: corrections go through credit notes."""

    session = models.OneToOneField(ChargingSession, on_delete=models.PROTECT, null=True, blank=True, related_name="cdr",
                                   help_text="our session; empty for a roaming CDR (our driver at a partner CPO)")
    cdr_id = models.CharField(max_length=39, unique=True)
    driver = models.ForeignKey(Driver, on_delete=models.PROTECT, null=True, blank=True, related_name="cdrs")
    station_id_text = models.CharField(max_length=48)
    site_name = models.CharField(max_length=200, blank=True)
    id_token_value = models.CharField(max_length=255, blank=True)
    start_date_time = models.DateTimeField()
    end_date_time = models.DateTimeField()
    time_zone = models.CharField(max_length=64, default="UTC")
    currency = models.CharField(max_length=3)
    total_energy_kwh = models.DecimalField(max_digits=12, decimal_places=3)
    total_energy_exported_kwh = models.DecimalField(
        max_digits=12, decimal_places=3, default=Decimal("0"), help_text="V2X: energy the car fed back"
    )
    total_time_h = models.DecimalField(max_digits=10, decimal_places=4)
    total_parking_time_h = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    total_cost_excl_vat = models.DecimalField(max_digits=12, decimal_places=2)
    total_vat = models.DecimalField(max_digits=12, decimal_places=2)
    total_cost_incl_vat = models.DecimalField(max_digits=12, decimal_places=2)
    tariff = models.JSONField(help_text="the OCPI Tariff object used, as at session start")
    breakdown = models.JSONField(help_text="priced lines, VAT summary and OCPI charging periods")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-end_date_time", "-id"]
        indexes = [models.Index(fields=["end_date_time", "driver"], name="cdr_by_period_driver")]

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.pop("_allow_update", False):
            raise ImmutableError("CDRs are immutable; correct them with a credit note")
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.cdr_id


class CdrVatLine(models.Model):
    """A CDR's amounts per VAT rate: lets invoices sum VAT per rate in one query."""

    cdr = models.ForeignKey(ChargeDetailRecord, on_delete=models.CASCADE, related_name="vat_lines")
    vat_rate = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True,
                                   help_text="percent; empty: no VAT applies")
    base = models.DecimalField(max_digits=12, decimal_places=2)
    vat = models.DecimalField(max_digits=12, decimal_places=2)


class InvoiceSeries(models.Model):
    """A numbering series. Numbers are taken under a row lock, in the same transaction as
    the invoice, so a rolled-back run leaves no gap and concurrent runs never share one."""

    code = models.CharField(max_length=10, unique=True, help_text="prefix, e.g. INV or CN")
    next_number = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return self.code


class InvoiceKind(models.TextChoices):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class Invoice(models.Model):
    series = models.ForeignKey(InvoiceSeries, on_delete=models.PROTECT, related_name="invoices")
    sequence = models.PositiveIntegerField()
    number = models.CharField(max_length=30, unique=True)
    kind = models.CharField(max_length=12, choices=InvoiceKind.choices, default=InvoiceKind.INVOICE)
    driver = models.ForeignKey(Driver, on_delete=models.PROTECT, related_name="invoices")
    period = models.CharField(max_length=7, help_text="YYYY-MM")
    currency = models.CharField(max_length=3)
    issued_at = models.DateTimeField()
    customer_name = models.CharField(max_length=200)
    customer_email = models.EmailField()
    # The driver's address when the invoice was issued: an issued invoice does not change.
    customer_address = models.TextField(blank=True)
    total_excl_vat = models.DecimalField(max_digits=14, decimal_places=2)
    total_vat = models.DecimalField(max_digits=14, decimal_places=2)
    total_incl_vat = models.DecimalField(max_digits=14, decimal_places=2)
    vat_summary = models.JSONField(default=list, help_text='[{"rate": "19.00", "base": "...", "vat": "..."}]')
    credits = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="credit_notes",
                                help_text="for a credit note: the invoice it corrects")

    class Meta:
        ordering = ["-issued_at", "-sequence"]
        constraints = [
            models.UniqueConstraint(fields=["series", "sequence"], name="invoice_sequence_unique_per_series"),
            models.UniqueConstraint(
                fields=["driver", "period", "currency"], condition=models.Q(kind="invoice"),
                name="one_invoice_per_customer_period_currency",
            ),
        ]
        indexes = [models.Index(fields=["period", "kind"], name="invoice_by_period")]

    def __str__(self) -> str:
        return self.number

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.pop("_allow_update", False):
            raise ImmutableError("issued invoices are immutable; issue a credit note")
        super().save(*args, **kwargs)


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    cdr = models.ForeignKey(ChargeDetailRecord, on_delete=models.PROTECT, related_name="invoice_lines")
    description = models.CharField(max_length=255)
    energy_kwh = models.DecimalField(max_digits=12, decimal_places=3)
    amount_excl_vat = models.DecimalField(max_digits=12, decimal_places=2)
    vat = models.DecimalField(max_digits=12, decimal_places=2)
    amount_incl_vat = models.DecimalField(max_digits=12, decimal_places=2)
    credit = models.BooleanField(default=False, help_text="a credit note's line, reversing an invoiced CDR")

    class Meta:
        ordering = ["invoice", "id"]
        constraints = [
            # A CDR is invoiced once; a credit note line may refer to it again.
            models.UniqueConstraint(fields=["cdr"], condition=models.Q(credit=False), name="cdr_invoiced_once"),
        ]
