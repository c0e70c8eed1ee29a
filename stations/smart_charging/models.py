"""Charging profiles and site load limits. Imported by ``stations.models``: part of the
stations app (one migration history)."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class ChargingProfilePurpose(models.TextChoices):
    """One name per purpose across versions; 1.6 says ChargePointMaxProfile for the first."""

    STATION_MAX = "ChargingStationMaxProfile"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"
    EXTERNAL = "ChargingStationExternalConstraints"
    PRIORITY = "PriorityCharging"  # 2.1
    LOCAL_GENERATION = "LocalGeneration"  # 2.1


BIDIRECTIONAL_MODES = frozenset({"AC_BPT", "AC_BPT_DER", "DC_BPT", "DC_ACDP_BPT"})
"""OCPP 2.1 EnergyTransferModeEnumType values in which the car can discharge (BPT)."""


class ChargingProfileKind(models.TextChoices):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"
    DYNAMIC = "Dynamic"  # 2.1


class RecurrencyKind(models.TextChoices):
    DAILY = "Daily"
    WEEKLY = "Weekly"


class ChargingRateUnit(models.TextChoices):
    AMPERES = "A"
    WATTS = "W"


class ProfileSource(models.TextChoices):
    OPERATOR = "operator", "set by an operator (API, admin)"
    LOAD_MANAGER = "load_manager", "site load manager"
    FALLBACK = "fallback", "safe default for the site"
    STATION = "station", "reported by the station"


class ProfileStatus(models.TextChoices):
    PENDING = "pending", "sent, no answer yet"
    ACTIVE = "active", "accepted by the station"
    REJECTED = "rejected"
    FAILED = "failed", "not delivered (offline, timeout, error)"
    CLEARED = "cleared"
    REPLACED = "replaced", "superseded by a newer profile with the same id"
    REPORTED = "reported", "as the station reported it"


class ChargingProfile(models.Model):
    """A charging profile as sent to (or reported by) a station, version-neutral.

    ``periods`` is the schedule: ``[{"start_period_s": 0, "limit": 16.0, "number_phases": 3}]``
    with limits in ``charging_rate_unit``. ``evse_id`` 0 means the whole station (TxDefault and
    station maximum profiles) or, for 1.6, connector 0."""

    station = models.ForeignKey("stations.ChargingStation", on_delete=models.CASCADE, related_name="charging_profiles")
    evse_id = models.PositiveIntegerField(default=0)
    profile_id = models.PositiveIntegerField(help_text="the OCPP chargingProfileId")
    stack_level = models.PositiveSmallIntegerField(default=0)
    purpose = models.CharField(max_length=40, choices=ChargingProfilePurpose.choices)
    kind = models.CharField(max_length=10, choices=ChargingProfileKind.choices, default=ChargingProfileKind.ABSOLUTE)
    recurrency_kind = models.CharField(max_length=10, choices=RecurrencyKind.choices, blank=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_to = models.DateTimeField(null=True, blank=True)
    session = models.ForeignKey(
        "stations.ChargingSession", on_delete=models.SET_NULL, null=True, blank=True, related_name="charging_profiles"
    )
    transaction_id = models.CharField(max_length=36, blank=True)
    charging_rate_unit = models.CharField(max_length=1, choices=ChargingRateUnit.choices)
    start_schedule = models.DateTimeField(null=True, blank=True)
    duration_s = models.PositiveIntegerField(null=True, blank=True)
    min_charging_rate = models.FloatField(null=True, blank=True)
    periods = models.JSONField()
    status = models.CharField(max_length=10, choices=ProfileStatus.choices, default=ProfileStatus.PENDING)
    source = models.CharField(max_length=15, choices=ProfileSource.choices, default=ProfileSource.OPERATOR)
    command = models.ForeignKey(
        "stations.CommandLog", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["station", "evse_id", "purpose", "-stack_level"]
        indexes = [models.Index(fields=["station", "status"], name="profile_station_status")]

    def __str__(self) -> str:
        return f"{self.station} #{self.profile_id} {self.purpose}/{self.stack_level}"

    @property
    def first_limit(self) -> float | None:
        return self.periods[0].get("limit") if self.periods else None


class SiteLoadLimit(models.Model):
    """A site's grid connection and how the load manager shares it.

    ``max_power_w`` and/or ``max_current_a`` (per phase) is the static connection; periods
    may lower it for a while (building load forecast, PV missing, a cheap-energy window
    ending). ``curve`` is a price (per kWh) or PV (W) step curve, ``[[iso time, value], ...]``:
    sessions with a departure time are planned into its cheapest (or sunniest) hours."""

    class Optimise(models.TextChoices):
        NOTHING = "", "share the limit only"
        PRICE = "price", "cheapest hours first"
        PV = "pv", "greenest (highest PV) hours first"

    site = models.OneToOneField("stations.Site", on_delete=models.CASCADE, related_name="load_limit")
    enabled = models.BooleanField(default=True, help_text="manage the load of this site's stations")
    max_power_w = models.PositiveIntegerField(null=True, blank=True, help_text="e.g. 110000 for 110 kW")
    max_current_a = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0)], help_text="per phase, e.g. 160 for 3x160 A"
    )
    voltage_v = models.FloatField(default=230.0, validators=[MinValueValidator(1)], help_text="phase to neutral")
    max_export_power_w = models.PositiveIntegerField(
        default=0, help_text="V2X: most the site may feed into the grid, W (0: no export)"
    )
    optimise_for = models.CharField(max_length=5, choices=Optimise.choices, blank=True, default="")
    curve = models.JSONField(default=list, blank=True)
    min_interval_s = models.PositiveIntegerField(
        default=300, help_text="at most one increase per session in this time (decreases go out at once)"
    )
    dead_band_w = models.PositiveIntegerField(default=700, help_text="changes smaller than this are not sent")
    meter_rebalance_interval_s = models.PositiveIntegerField(
        default=60, help_text="re-balance on meter values at most this often"
    )
    profile_validity_s = models.PositiveIntegerField(
        default=900,
        validators=[MinValueValidator(60), MaxValueValidator(86400)],
        help_text="a session's profile falls back to the safe default after this unless renewed",
    )
    rebalance_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    rebalance_pending = models.BooleanField(default=False, editable=False)
    last_rebalanced_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(max_power_w__isnull=False) | Q(max_current_a__isnull=False),
                name="site_load_limit_has_a_limit",
            )
        ]

    def __str__(self) -> str:
        return f"load limit of {self.site}"


class SiteLoadLimitPeriod(models.Model):
    """From ``start`` until the next period, the site may use at most this (never more than
    the static connection)."""

    limit = models.ForeignKey(SiteLoadLimit, on_delete=models.CASCADE, related_name="periods")
    start = models.DateTimeField()
    max_power_w = models.PositiveIntegerField(null=True, blank=True)
    max_current_a = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])

    class Meta:
        ordering = ["start"]
        constraints = [models.UniqueConstraint(fields=["limit", "start"], name="site_limit_period_unique_start")]


class SessionLoadState(models.Model):
    """What the load manager knows of one session: what its station is allowed (the last
    profile accepted), and what the car asked for (ISO 15118 charging needs)."""

    session = models.OneToOneField("stations.ChargingSession", on_delete=models.CASCADE, related_name="load_state")
    allowed_power_w = models.PositiveIntegerField(null=True, blank=True)
    allowed_at = models.DateTimeField(null=True, blank=True)
    setpoint_w = models.IntegerField(
        null=True, blank=True, help_text="V2X: the discharge setpoint in force (negative W), as last accepted"
    )
    queued = models.BooleanField(default=False)
    priority = models.SmallIntegerField(default=0)
    departure_at = models.DateTimeField(null=True, blank=True)
    energy_request_wh = models.PositiveIntegerField(null=True, blank=True)
    ev_max_power_w = models.PositiveIntegerField(null=True, blank=True)
    ev_phases = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1: a single-phase car")
    ev_schedule = models.JSONField(null=True, blank=True, help_text="NotifyEVChargingSchedule, as sent")

    @property
    def can_discharge(self) -> bool:
        """The car asked for bidirectional transfer and named a discharge power."""
        return self.requested_energy_transfer in BIDIRECTIONAL_MODES and bool(self.ev_max_discharge_power_w)
    # V2X (OCPP 2.1 V2XChargingParameters): what the car can give back and how low it may go.
    requested_energy_transfer = models.CharField(max_length=15, blank=True, help_text="e.g. AC_BPT, DC_BPT")
    available_energy_transfer = models.JSONField(default=list, blank=True)
    ev_max_discharge_power_w = models.PositiveIntegerField(null=True, blank=True)
    ev_min_energy_request_wh = models.IntegerField(
        null=True, blank=True, help_text="energy to the car's minimum SoC from now (negative: it may give that much)"
    )
    ev_max_energy_request_wh = models.IntegerField(null=True, blank=True, help_text="energy to a full battery")
    target_soc = models.PositiveSmallIntegerField(null=True, blank=True)
    v2x_parameters = models.JSONField(null=True, blank=True, help_text="V2XChargingParameters, as sent")
    allowed_energy_transfer = models.JSONField(
        default=list, blank=True, help_text="modes ChargeNet allowed (NotifyAllowedEnergyTransfer)"
    )
    partner_limit_w = models.PositiveIntegerField(
        null=True, blank=True, help_text="a roaming partner's charging profile for its driver's session (OCPI)"
    )
    updated_at = models.DateTimeField(auto_now=True)


class SiteLoadSample(models.Model):
    """One point of the site's power chart: the limits in force (import and export), what the
    stations were allowed, what the cars drew and what discharging cars fed back."""

    site = models.ForeignKey("stations.Site", on_delete=models.CASCADE, related_name="load_samples")
    at = models.DateTimeField()
    limit_w = models.PositiveIntegerField(null=True, blank=True)
    allocated_w = models.PositiveIntegerField()
    measured_w = models.PositiveIntegerField()
    discharge_w = models.PositiveIntegerField(default=0, help_text="V2X: what discharging cars were set to feed")
    measured_export_w = models.PositiveIntegerField(
        default=0, help_text="V2X: what discharging cars fed back, metered (Power.Active.Export or the export register)"
    )
    export_limit_w = models.PositiveIntegerField(
        null=True, blank=True, help_text="V2X: the site's export limit then (max_export_power_w)"
    )
    sessions = models.PositiveSmallIntegerField(default=0)
    queued = models.PositiveSmallIntegerField(default=0)
    profiles_sent = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["at"]
        indexes = [models.Index(fields=["site", "at"], name="site_load_sample_by_time")]
