"""The charging network: who owns what, what is plugged where, and what was charged.

One vocabulary for both OCPP versions: a 1.6 connector N is EVSE N with connector 1,
a 1.6 idTag and a 2.0.1 idToken are both an ``IdToken``, a 1.6 transaction and a 2.0.1
transaction are both a ``ChargingSession``.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class Organization(models.Model):
    """A site owner's company: the unit of tenancy for site owners."""

    name = models.CharField(max_length=200, unique=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="organizations"
    )

    def __str__(self) -> str:
        return self.name


class Site(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="sites", null=True, blank=True
    )
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=255, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    city = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Berlin")
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="site_name_unique_per_org")
        ]

    def __str__(self) -> str:
        return self.name


class RegistrationStatus(models.TextChoices):
    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class ChargingStation(models.Model):
    station_id = models.CharField(
        max_length=48, unique=True, help_text="The identity the station connects with: /ocpp/<station_id>"
    )
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True, related_name="stations")
    password_hash = models.CharField(max_length=200, blank=True, editable=False)
    security_profile = models.PositiveSmallIntegerField(
        default=1, help_text="0: no authentication, 1: HTTP Basic, 2: TLS + Basic, 3: TLS client certificate"
    )
    registration_status = models.CharField(
        max_length=10, choices=RegistrationStatus.choices, default=RegistrationStatus.ACCEPTED
    )
    vendor = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=50, blank=True)
    serial_number = models.CharField(max_length=50, blank=True)
    firmware_version = models.CharField(max_length=50, blank=True)
    iccid = models.CharField(max_length=20, blank=True)
    imsi = models.CharField(max_length=20, blank=True)
    ocpp_version = models.CharField(max_length=8, blank=True)
    # Station-wide availability (1.6 connector 0).
    status = models.CharField(max_length=20, blank=True)
    status_at = models.DateTimeField(null=True, blank=True)
    is_online = models.BooleanField(default=False)
    connection_id = models.CharField(max_length=64, blank=True, editable=False)
    connected_at = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    last_boot_at = models.DateTimeField(null=True, blank=True)
    boot_reason = models.CharField(max_length=30, blank=True)
    firmware_status = models.CharField(max_length=40, blank=True)
    firmware_status_at = models.DateTimeField(null=True, blank=True)
    diagnostics_status = models.CharField(max_length=40, blank=True)
    diagnostics_status_at = models.DateTimeField(null=True, blank=True)
    local_list_version = models.IntegerField(
        default=0, help_text="version of the local authorisation list last accepted by the station"
    )
    charging_rate_unit = models.CharField(
        max_length=1, choices=[("A", "amperes"), ("W", "watts")], default="A",
        help_text="unit of the charging profiles the load manager sends",
    )
    accepts_profiles = models.BooleanField(
        null=True, blank=True, help_text="unknown until it answers a charging profile; No: counted at its maximum"
    )
    accepts_dynamic_profiles = models.BooleanField(
        null=True, blank=True,
        help_text="2.1: takes Dynamic charging profiles (unknown until it answers one); No: Absolute profiles",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["station_id"]

    def __str__(self) -> str:
        return self.station_id


class Evse(models.Model):
    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="evses")
    evse_id = models.PositiveIntegerField(help_text="1-based, as the station numbers it")
    # What the load manager may give this EVSE at most, and how it is wired to the site.
    max_current_a = models.FloatField(default=32.0, help_text="per phase used")
    max_power_w = models.PositiveIntegerField(null=True, blank=True, help_text="e.g. 22000; DC chargers")
    phases = models.PositiveSmallIntegerField(default=3, choices=[(1, "single phase"), (3, "three phases")])
    phase = models.PositiveSmallIntegerField(
        default=1, choices=[(1, "L1"), (2, "L2"), (3, "L3")], help_text="site phase a single-phase car draws from"
    )

    class Meta:
        verbose_name, verbose_name_plural = "EVSE", "EVSEs"
        ordering = ["station", "evse_id"]
        constraints = [models.UniqueConstraint(fields=["station", "evse_id"], name="evse_unique_per_station")]

    def __str__(self) -> str:
        return f"{self.station.station_id}/{self.evse_id}"


class ConnectorStatus(models.TextChoices):
    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EVSE = "SuspendedEVSE"
    SUSPENDED_EV = "SuspendedEV"
    FINISHING = "Finishing"
    OCCUPIED = "Occupied"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"
    UNKNOWN = "Unknown"


class Connector(models.Model):
    evse = models.ForeignKey(Evse, on_delete=models.CASCADE, related_name="connectors")
    connector_id = models.PositiveIntegerField()
    standard = models.CharField(max_length=40, blank=True, help_text="e.g. IEC_62196_T2, IEC_62196_T2_COMBO")
    max_power_w = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=ConnectorStatus.choices, default=ConnectorStatus.UNKNOWN)
    error_code = models.CharField(max_length=50, blank=True)
    info = models.CharField(max_length=50, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    status_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["evse", "connector_id"]
        constraints = [
            models.UniqueConstraint(fields=["evse", "connector_id"], name="connector_unique_per_evse")
        ]

    def __str__(self) -> str:
        return f"{self.evse}/{self.connector_id}"


class ConnectorStatusChange(models.Model):
    """The history of a connector's status, as reported."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="status_history")
    status = models.CharField(max_length=20, choices=ConnectorStatus.choices)
    error_code = models.CharField(max_length=50, blank=True)
    info = models.CharField(max_length=50, blank=True)
    timestamp = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name, verbose_name_plural = "status change", "status changes"
        ordering = ["-timestamp"]
        indexes = [models.Index(fields=["connector", "-timestamp"], name="status_change_by_connector")]


class Driver(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="driver"
    )
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200, blank=True)
    # The portal shows times in it: set at signup from the browser, changed on the profile page.
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Berlin")
    # The postal address invoices are made out to (billing copies it onto each invoice).
    address = models.TextField(blank=True, help_text="postal address for invoices, one line per line")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name or self.email


class Car(models.Model):
    """A driver's car. V2X permission and the minimum charge are the car's: a driver may let
    the family car feed the site and keep the one they commute with charging only.

    Which car a session charges is known from its token: a card assigned to the car, or the
    eMAID of the car's Plug & Charge contract (``pki.Vehicle`` links here). A session whose
    token is on no car never discharges."""

    driver = models.ForeignKey(Driver, on_delete=models.CASCADE, related_name="cars")
    name = models.CharField(max_length=100)
    allow_discharge = models.BooleanField(
        default=False,
        help_text="V2X: the load manager may discharge it (never below its minimum charge; it leaves with "
                  "what it asked for)",
    )
    min_soc_percent = models.PositiveSmallIntegerField(
        "minimum charge (%)", null=True, blank=True, validators=[MaxValueValidator(100)],
        help_text="never discharged below this state of charge; empty: the car's own minimum only",
    )
    min_energy_kwh = models.DecimalField(
        "minimum charge (kWh)", max_digits=5, decimal_places=1, null=True, blank=True,
        validators=[MinValueValidator(0)], help_text="never discharged below this much energy in the battery",
    )
    battery_capacity_kwh = models.DecimalField(
        "battery (kWh)", max_digits=5, decimal_places=1, null=True, blank=True,
        validators=[MinValueValidator(1)],
        help_text="usable capacity: turns the state of charge into energy when the charger does not report it",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["driver", "name", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(min_soc_percent__lte=100), name="car_min_soc_at_most_100"),
            models.CheckConstraint(condition=Q(min_energy_kwh__gte=0), name="car_min_energy_not_negative"),
            models.CheckConstraint(condition=Q(battery_capacity_kwh__gt=0), name="car_battery_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.driver})"

    @property
    def has_minimum(self) -> bool:
        return bool(self.min_soc_percent) or bool(self.min_energy_kwh)

    def clean(self):
        if self.min_energy_kwh is not None and self.battery_capacity_kwh is not None \
                and self.min_energy_kwh > self.battery_capacity_kwh:
            raise ValidationError({"min_energy_kwh": "cannot be more than the battery holds"})


class IdTokenType(models.TextChoices):
    CENTRAL = "Central"
    EMAID = "eMAID"
    ISO14443 = "ISO14443"
    ISO15693 = "ISO15693"
    KEY_CODE = "KeyCode"
    LOCAL = "Local"
    MAC_ADDRESS = "MacAddress"
    NO_AUTHORIZATION = "NoAuthorization"


class IdTokenStatus(models.TextChoices):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"


class IdToken(models.Model):
    """An authorisation token: RFID card, eMAID, key code, ...

    One value identifies one token (a 1.6 idTag carries no type), so the value is unique.
    """

    value = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=20, choices=IdTokenType.choices, default=IdTokenType.ISO14443)
    status = models.CharField(max_length=10, choices=IdTokenStatus.choices, default=IdTokenStatus.ACCEPTED)
    expires_at = models.DateTimeField(null=True, blank=True)
    group_id = models.CharField(max_length=36, blank=True, help_text="Parent id / group id token")
    driver = models.ForeignKey(Driver, on_delete=models.SET_NULL, null=True, blank=True, related_name="id_tokens")
    car = models.ForeignKey(
        Car, on_delete=models.SET_NULL, null=True, blank=True, related_name="id_tokens",
        help_text="the driver's car this token charges (V2X permission and minimum charge); none: never discharged",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name, verbose_name_plural = "token", "tokens"

    def __str__(self) -> str:
        return self.value

    def clean(self):
        if self.car_id is not None and self.car.driver_id != self.driver_id:
            raise ValidationError({"car": "a token charges one of its own driver's cars"})


class SessionStatus(models.TextChoices):
    ACTIVE = "Active"
    COMPLETED = "Completed"


class ChargingSession(models.Model):
    """One charging transaction, whichever OCPP version reported it.

    ``transaction_id`` is what the station calls it: for 1.6 the integer we assigned,
    for 2.0.1 the station's own string.
    """

    station = models.ForeignKey(ChargingStation, on_delete=models.PROTECT, related_name="sessions")
    evse = models.ForeignKey(Evse, on_delete=models.PROTECT, null=True, blank=True, related_name="sessions")
    connector = models.ForeignKey(
        Connector, on_delete=models.PROTECT, null=True, blank=True, related_name="sessions"
    )
    transaction_id = models.CharField(max_length=36)
    id_token = models.ForeignKey(IdToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="sessions")
    id_token_value = models.CharField(max_length=255, blank=True)
    authorization_status = models.CharField(max_length=20, blank=True)
    driver = models.ForeignKey(Driver, on_delete=models.SET_NULL, null=True, blank=True, related_name="sessions")
    status = models.CharField(max_length=10, choices=SessionStatus.choices, default=SessionStatus.ACTIVE)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    meter_start_wh = models.BigIntegerField(null=True, blank=True)
    meter_start_at = models.DateTimeField(null=True, blank=True)
    # True when the start register came from the station as such (1.6 meterStart,
    # a Transaction.Begin sample); otherwise the earliest reading seen stands in.
    meter_start_fixed = models.BooleanField(default=False)
    meter_stop_wh = models.BigIntegerField(null=True, blank=True)
    meter_last_wh = models.BigIntegerField(null=True, blank=True)
    meter_last_at = models.DateTimeField(null=True, blank=True)
    energy_wh = models.BigIntegerField(default=0)
    # V2X: Energy.Active.Export.Register, kept apart from the import register above. Energy
    # given back is last export reading minus first, as for import.
    export_start_wh = models.BigIntegerField(null=True, blank=True)
    export_start_at = models.DateTimeField(null=True, blank=True)
    export_last_wh = models.BigIntegerField(null=True, blank=True)
    export_last_at = models.DateTimeField(null=True, blank=True)
    energy_exported_wh = models.BigIntegerField(default=0, help_text="V2X: energy the car fed back")
    operation_mode = models.CharField(max_length=20, blank=True, help_text="OCPP 2.1 operationMode in force")
    # The car's state of charge as the station last reported it (measurand SoC, or a DC car's
    # charging needs); every reading is kept in the meter data too.
    soc_percent = models.FloatField(null=True, blank=True, help_text="the car's state of charge, %, latest")
    soc_at = models.DateTimeField(null=True, blank=True, help_text="when the car reported that state of charge")
    stop_reason = models.CharField(max_length=40, blank=True)
    charging_state = models.CharField(max_length=20, blank=True)
    last_seq_no = models.PositiveIntegerField(null=True, blank=True)
    offline = models.BooleanField(default=False, help_text="Reported from the station's offline queue")
    remote_start_id = models.IntegerField(null=True, blank=True)
    reservation_id = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["station", "transaction_id"], name="transaction_unique_per_station")
        ]
        indexes = [
            models.Index(fields=["status", "station"], name="session_status_station"),
            models.Index(fields=["driver", "-started_at"], name="session_by_driver"),
        ]

    def __str__(self) -> str:
        return f"{self.station.station_id} #{self.transaction_id}"

    @property
    def duration_s(self) -> int | None:
        if self.started_at is None or self.stopped_at is None:
            return None
        return int((self.stopped_at - self.started_at).total_seconds())


class TransactionEventRecord(models.Model):
    """Each 2.0.1 TransactionEvent applied to a session; its seqNo makes repeats harmless."""

    session = models.ForeignKey(ChargingSession, on_delete=models.CASCADE, related_name="events")
    seq_no = models.PositiveIntegerField()
    event_type = models.CharField(max_length=10)
    trigger_reason = models.CharField(max_length=40)
    timestamp = models.DateTimeField()
    offline = models.BooleanField(default=False)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "seq_no"]
        constraints = [models.UniqueConstraint(fields=["session", "seq_no"], name="event_seq_unique_per_session")]


class Measurand(models.IntegerChoices):
    ENERGY_ACTIVE_IMPORT_REGISTER = 1, "Energy.Active.Import.Register"
    ENERGY_ACTIVE_EXPORT_REGISTER = 2, "Energy.Active.Export.Register"
    ENERGY_REACTIVE_IMPORT_REGISTER = 3, "Energy.Reactive.Import.Register"
    ENERGY_REACTIVE_EXPORT_REGISTER = 4, "Energy.Reactive.Export.Register"
    ENERGY_ACTIVE_IMPORT_INTERVAL = 5, "Energy.Active.Import.Interval"
    ENERGY_ACTIVE_EXPORT_INTERVAL = 6, "Energy.Active.Export.Interval"
    ENERGY_REACTIVE_IMPORT_INTERVAL = 7, "Energy.Reactive.Import.Interval"
    ENERGY_REACTIVE_EXPORT_INTERVAL = 8, "Energy.Reactive.Export.Interval"
    ENERGY_ACTIVE_NET = 9, "Energy.Active.Net"
    ENERGY_REACTIVE_NET = 10, "Energy.Reactive.Net"
    ENERGY_APPARENT_NET = 11, "Energy.Apparent.Net"
    ENERGY_APPARENT_IMPORT = 12, "Energy.Apparent.Import"
    ENERGY_APPARENT_EXPORT = 13, "Energy.Apparent.Export"
    POWER_ACTIVE_IMPORT = 20, "Power.Active.Import"
    POWER_ACTIVE_EXPORT = 21, "Power.Active.Export"
    POWER_REACTIVE_IMPORT = 22, "Power.Reactive.Import"
    POWER_REACTIVE_EXPORT = 23, "Power.Reactive.Export"
    POWER_OFFERED = 24, "Power.Offered"
    POWER_FACTOR = 25, "Power.Factor"
    CURRENT_IMPORT = 30, "Current.Import"
    CURRENT_EXPORT = 31, "Current.Export"
    CURRENT_OFFERED = 32, "Current.Offered"
    VOLTAGE = 40, "Voltage"
    FREQUENCY = 41, "Frequency"
    TEMPERATURE = 42, "Temperature"
    SOC = 43, "SoC"
    RPM = 44, "RPM"
    DISPLAY_PRESENT_SOC = 45, "Display.PresentSOC"
    DISPLAY_MINIMUM_SOC = 46, "Display.MinimumSOC"
    DISPLAY_TARGET_SOC = 47, "Display.TargetSOC"
    DISPLAY_MAXIMUM_SOC = 48, "Display.MaximumSOC"
    DISPLAY_REMAINING_TIME_TO_MIN_SOC = 49, "Display.RemainingTimeToMinimumSOC"
    DISPLAY_REMAINING_TIME_TO_TARGET_SOC = 50, "Display.RemainingTimeToTargetSOC"
    DISPLAY_REMAINING_TIME_TO_MAX_SOC = 51, "Display.RemainingTimeToMaximumSOC"
    DISPLAY_CHARGING_COMPLETE = 52, "Display.ChargingComplete"
    DISPLAY_BATTERY_ENERGY_CAPACITY = 53, "Display.BatteryEnergyCapacity"
    DISPLAY_INLET_HOT = 54, "Display.InletHot"


class Phase(models.IntegerChoices):
    NONE = 0, ""
    L1 = 1, "L1"
    L2 = 2, "L2"
    L3 = 3, "L3"
    N = 4, "N"
    L1_N = 5, "L1-N"
    L2_N = 6, "L2-N"
    L3_N = 7, "L3-N"
    L1_L2 = 8, "L1-L2"
    L2_L3 = 9, "L2-L3"
    L3_L1 = 10, "L3-L1"


class ReadingContext(models.IntegerChoices):
    SAMPLE_PERIODIC = 0, "Sample.Periodic"
    SAMPLE_CLOCK = 1, "Sample.Clock"
    TRANSACTION_BEGIN = 2, "Transaction.Begin"
    TRANSACTION_END = 3, "Transaction.End"
    INTERRUPTION_BEGIN = 4, "Interruption.Begin"
    INTERRUPTION_END = 5, "Interruption.End"
    TRIGGER = 6, "Trigger"
    OTHER = 7, "Other"


class Location(models.IntegerChoices):
    OUTLET = 0, "Outlet"
    INLET = 1, "Inlet"
    BODY = 2, "Body"
    CABLE = 3, "Cable"
    EV = 4, "EV"
    UPSTREAM = 5, "Upstream"  # 2.1: before the station's own consumption (grid side)


class MeterSample(models.Model):
    """One sampled value, normalised to base units (Wh, varh, W, var, A, V, Hz, Celsius, %).

    Small integer codes instead of strings keep a row near 60 bytes, so millions of
    samples stay cheap. The unique constraint makes a station's retry harmless.
    """

    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="+")
    session = models.ForeignKey(
        ChargingSession, on_delete=models.CASCADE, null=True, blank=True, related_name="meter_samples"
    )
    evse_id = models.PositiveSmallIntegerField(default=0)
    timestamp = models.DateTimeField()
    measurand = models.PositiveSmallIntegerField(choices=Measurand.choices)
    phase = models.PositiveSmallIntegerField(choices=Phase.choices, default=Phase.NONE)
    location = models.PositiveSmallIntegerField(choices=Location.choices, default=Location.OUTLET)
    context = models.PositiveSmallIntegerField(choices=ReadingContext.choices, default=ReadingContext.SAMPLE_PERIODIC)
    value = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["station", "evse_id", "timestamp", "measurand", "phase", "location"],
                name="meter_sample_unique",
            )
        ]
        indexes = [
            models.Index(fields=["session", "timestamp"], name="meter_sample_by_session",
                         condition=Q(session__isnull=False)),
        ]


class DeviceModelVariable(models.Model):
    """One attribute of a 2.0.1 device model variable, as reported by NotifyReport."""

    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="device_model")
    component = models.CharField(max_length=50)
    component_instance = models.CharField(max_length=50, blank=True)
    evse_id = models.PositiveIntegerField(default=0, help_text="0: not tied to an EVSE")
    connector_id = models.PositiveIntegerField(default=0, help_text="0: not tied to a connector")
    variable = models.CharField(max_length=50)
    variable_instance = models.CharField(max_length=50, blank=True)
    attribute_type = models.CharField(max_length=10, default="Actual")
    value = models.CharField(max_length=2500, blank=True)
    mutability = models.CharField(max_length=10, blank=True)
    persistent = models.BooleanField(null=True)
    constant = models.BooleanField(null=True)
    characteristics = models.JSONField(default=dict, blank=True)
    reported_at = models.DateTimeField()

    class Meta:
        ordering = ["component", "variable"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "station", "component", "component_instance", "evse_id", "connector_id",
                    "variable", "variable_instance", "attribute_type",
                ],
                name="device_model_variable_unique",
            )
        ]


class StationEvent(models.Model):
    """Things a station tells that are not state: NotifyEvent, SecurityEventNotification,
    DataTransfer, and frames that were refused."""

    class Kind(models.TextChoices):
        NOTIFY_EVENT = "NotifyEvent"
        SECURITY_EVENT = "SecurityEvent"
        DATA_TRANSFER = "DataTransfer"
        PROTOCOL_ERROR = "ProtocolError"
        UNKNOWN_TRANSACTION = "UnknownTransaction"
        CHARGING_LIMIT = "ChargingLimit"
        DER = "DER", "DER control (2.1)"
        PRIORITY_CHARGING = "PriorityCharging"

    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    timestamp = models.DateTimeField()
    summary = models.CharField(max_length=255, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [models.Index(fields=["station", "kind", "-timestamp"], name="station_event_lookup")]


class CommandOutcome(models.TextChoices):
    PENDING = "pending"
    ACCEPTED = "accepted"  # the station answered and agreed
    REJECTED = "rejected"  # the station answered and refused (status other than Accepted)
    ERROR = "error"  # the station answered with a CALLERROR
    TIMEOUT = "timeout"  # no answer in time
    OFFLINE = "offline"  # no connection to send it on


class CommandLog(models.Model):
    """Every CSMS-initiated command: who asked, what was sent, what came back, how fast."""

    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="commands")
    command = models.CharField(max_length=40)
    params = models.JSONField(default=dict, blank=True)
    ocpp_action = models.CharField(max_length=50, blank=True)
    ocpp_request = models.JSONField(null=True, blank=True)
    ocpp_response = models.JSONField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=CommandOutcome.choices, default=CommandOutcome.PENDING)
    status = models.CharField(max_length=40, blank=True, help_text="the station's status answer, if any")
    error = models.CharField(max_length=500, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=20, default="api", help_text="api, admin, cli, task, ...")
    requested_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name, verbose_name_plural = "command", "commands"
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["station", "-requested_at"], name="command_log_by_station")]

    def __str__(self) -> str:
        return f"{self.command} → {self.station.station_id}: {self.outcome}"


class ReservationStatus(models.TextChoices):
    REQUESTED = "Requested"
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    CANCELLED = "Cancelled"
    EXPIRED = "Expired"
    USED = "Used"
    REMOVED = "Removed"


class Reservation(models.Model):
    """A reservation of an EVSE (or the whole station) for an id token until ``expires_at``."""

    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="reservations")
    evse_id = models.PositiveIntegerField(default=0, help_text="0: any EVSE of the station")
    id_token_value = models.CharField(max_length=255)
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=ReservationStatus.choices, default=ReservationStatus.REQUESTED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]


# Firmware rollout and diagnostics live in their own module; Django finds them through here.
from stations.firmware.models import (  # noqa: E402, F401
    CampaignStation,
    DiagnosticsRequest,
    FirmwareCampaign,
    FirmwareImage,
)
from stations.smart_charging.models import (  # noqa: E402,F401  (models of this app, kept in their own module)
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ProfileSource,
    ProfileStatus,
    RecurrencyKind,
    SessionLoadState,
    SiteLoadLimit,
    SiteLoadLimitPeriod,
    SiteLoadSample,
)
from stations.streams.models import PeriodicEventSample, PeriodicEventStream  # noqa: E402,F401


class DisplayMessage(models.Model):
    """A message on a 2.0.1 station's display (block O): what we set with SetDisplayMessage,
    or what the station reported in NotifyDisplayMessages. One row per station and message id."""

    class Source(models.TextChoices):
        SET = "set", "set by ChargeNet"
        REPORTED = "reported", "reported by the station"

    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="display_messages")
    message_id = models.PositiveIntegerField()
    priority = models.CharField(max_length=12, help_text="AlwaysFront, InFront or NormalCycle")
    state = models.CharField(max_length=12, blank=True, help_text="Charging, Faulted, Idle, Unavailable; empty: always")
    content = models.CharField(max_length=512)
    language = models.CharField(max_length=8, blank=True)
    format = models.CharField(max_length=5, default="UTF8")
    start_at = models.DateTimeField(null=True, blank=True)
    end_at = models.DateTimeField(null=True, blank=True)
    transaction_id = models.CharField(max_length=36, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["station", "message_id"]
        constraints = [
            models.UniqueConstraint(fields=["station", "message_id"], name="display_message_unique_per_station"),
        ]

    def __str__(self) -> str:
        return f"{self.station.station_id} #{self.message_id}: {self.content[:40]}"
