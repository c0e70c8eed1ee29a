"""Roaming partners (OCPI 2.2.1, ChargeNet as CPO and as eMSP), what we owe them, what we
exchanged, and what CPO partners told us (their locations, tariffs, our drivers' sessions and CDRs).

Tokens: the token a partner calls us with is stored as a SHA-256 digest only (tokens are
long random strings, so a fast digest is enough; a leaked database does not let anyone
call us). The token we call a partner with must be sent as is, so it is stored as given.
"""

import hashlib

from django.db import models

from stations.models import IdToken


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PartnerRole(models.TextChoices):
    """What the partner is to us. CPO_EMSP: both (our drivers charge there, theirs here)."""

    CPO = "CPO", "CPO (its chargers, our drivers)"
    EMSP = "EMSP", "eMSP (our chargers, its drivers)"
    CPO_EMSP = "CPO_EMSP", "CPO and eMSP"
    HUB = "HUB", "hub (many parties through one connection)"
    NSP = "NSP"
    OTHER = "OTHER"


class PartnerStatus(models.TextChoices):
    PENDING = "pending", "pending: token A issued or registration under way"
    REGISTERED = "registered", "registered"
    SUSPENDED = "suspended", "suspended (no pushes, no access)"
    UNREGISTERED = "unregistered", "unregistered"


class Partner(models.Model):
    name = models.CharField(max_length=100, unique=True)
    role = models.CharField(max_length=8, choices=PartnerRole.choices, default=PartnerRole.EMSP)
    country_code = models.CharField(max_length=2, blank=True)
    party_id = models.CharField(max_length=3, blank=True)
    status = models.CharField(max_length=12, choices=PartnerStatus.choices, default=PartnerStatus.PENDING)
    incoming_token_digest = models.CharField(
        max_length=64, unique=True, null=True, blank=True, editable=False,
        help_text="SHA-256 of the token the partner calls us with (A until registered, then B or C)",
    )
    outgoing_token = models.CharField(max_length=255, blank=True, help_text="the token we call the partner with")
    token_base64 = models.BooleanField(
        default=True, help_text="send our token base64-encoded (OCPI 2.2.1); off for peers that expect it plain",
    )
    versions_url = models.URLField(max_length=255, blank=True)
    version = models.CharField(max_length=10, blank=True)
    endpoints = models.JSONField(default=list, blank=True, help_text="[{identifier, role, url}] of the partner")
    roles = models.JSONField(default=list, blank=True, help_text="the partner's credentials roles")
    realtime_authorization = models.BooleanField(
        default=True, help_text="ask this partner about unknown tokens (POST tokens/{uid}/authorize)"
    )
    drain_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        party = f" ({self.country_code}*{self.party_id})" if self.party_id else ""
        return f"{self.name}{party}"

    @property
    def is_hub(self) -> bool:
        return self.role == PartnerRole.HUB

    @property
    def is_cpo(self) -> bool:
        """Its chargers are open to our drivers (a hub reaches CPOs too)."""
        return self.role in (PartnerRole.CPO, PartnerRole.CPO_EMSP, PartnerRole.HUB)

    @property
    def is_emsp(self) -> bool:
        """Its drivers charge at our chargers (a hub reaches eMSPs too)."""
        return self.role in (PartnerRole.EMSP, PartnerRole.CPO_EMSP, PartnerRole.HUB)

    def endpoint(self, identifier: str, role: str | None = None) -> str | None:
        for item in self.endpoints or []:
            if item.get("identifier") == identifier and (role is None or item.get("role") == role):
                return item.get("url")
        return None


class PartnerToken(models.Model):
    """A token an eMSP pushed to us (or allowed in real time), kept beside the network's
    IdToken so that OCPP authorisation finds it locally and its sessions reach the partner."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="tokens")
    id_token = models.OneToOneField(IdToken, on_delete=models.CASCADE, related_name="roaming")
    country_code = models.CharField(max_length=2)
    party_id = models.CharField(max_length=3)
    uid = models.CharField(max_length=36)
    type = models.CharField(max_length=12)
    contract_id = models.CharField(max_length=36)
    data = models.JSONField(help_text="the OCPI Token object as last received")
    realtime = models.BooleanField(default=False, help_text="learnt from a real-time authorization")
    authorization_reference = models.CharField(max_length=36, blank=True)
    last_updated = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["country_code", "party_id", "uid", "type"], name="partner_token_unique")
        ]

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id}*{self.uid}"


class OutboxStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed", "failed (gave up)"


class OutboxEntry(models.Model):
    """One push owed to a partner, written in the transaction that caused it and sent in order."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="outbox")
    module = models.CharField(max_length=20, help_text="OCPI module: locations, sessions, cdrs, commands")
    method = models.CharField(max_length=6)
    path = models.CharField(max_length=255, blank=True, help_text="appended to the module's endpoint URL")
    url = models.URLField(max_length=500, blank=True, help_text="absolute URL (e.g. a response_url) instead")
    object_key = models.CharField(max_length=80, blank=True, help_text="e.g. session:12, evse:3")
    to_country_code = models.CharField(max_length=2, blank=True,
                                       help_text="through a hub: the party the push is for (OCPI-to-* headers)")
    to_party_id = models.CharField(max_length=3, blank=True)
    payload = models.JSONField()
    status = models.CharField(max_length=8, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "outbox entries"
        indexes = [
            models.Index(fields=["partner", "status", "id"], name="outbox_by_partner"),
            models.Index(fields=["object_key", "-id"], name="outbox_by_object"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.module}{self.path} → {self.partner}"


class RequestLog(models.Model):
    """Every OCPI request to or from a partner, for the admin."""

    class Direction(models.TextChoices):
        IN = "in"
        OUT = "out"

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, null=True, blank=True, related_name="log")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    method = models.CharField(max_length=7)
    url = models.CharField(max_length=500)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    ocpi_status = models.PositiveIntegerField(null=True, blank=True)
    request_body = models.TextField(blank=True)
    response_body = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["partner", "-at"], name="request_log_by_partner")]

    def __str__(self) -> str:
        return f"{self.direction} {self.method} {self.url} {self.http_status}"


class PartnerReservation(models.Model):
    """A partner's reservation id (RESERVE_NOW) and the reservation it became here."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="reservations")
    ocpi_id = models.CharField(max_length=36)
    reservation = models.ForeignKey("stations.Reservation", on_delete=models.CASCADE, related_name="roaming_ids")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "ocpi_id"], name="partner_reservation_unique")]


# --- ChargeNet as eMSP: what CPO partners tell us --------------------------------------------


class PartyObject(models.Model):
    """An OCPI object a partner (or a party behind a hub) owns: keyed by country code, party id
    and its id, kept whole as last received (``data``) with the fields we query beside it."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE)
    country_code = models.CharField(max_length=2)
    party_id = models.CharField(max_length=3)
    ocpi_id = models.CharField(max_length=39)
    data = models.JSONField()
    last_updated = models.DateTimeField()

    class Meta:
        abstract = True


class RoamingLocation(PartyObject):
    """A partner CPO's Location (with its EVSEs and connectors inside ``data``)."""

    name = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=45, blank=True)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    roaming_allowed = models.BooleanField(
        default=True, help_text="our drivers may charge here (real-time authorization answers NOT_ALLOWED if off)"
    )

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["partner", "country_code", "party_id", "ocpi_id"],
                                               name="roaming_location_unique")]

    def __str__(self) -> str:
        return self.name or self.ocpi_id


class RoamingTariff(PartyObject):
    """A partner CPO's published Tariff: what its CDRs are checked against."""

    currency = models.CharField(max_length=3)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "country_code", "party_id", "ocpi_id"],
                                               name="roaming_tariff_unique")]

    def __str__(self) -> str:
        return self.ocpi_id


class RoamingSession(PartyObject):
    """A session of one of our drivers at a partner CPO's charger."""

    id_token = models.ForeignKey(IdToken, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="roaming_sessions")
    driver = models.ForeignKey("stations.Driver", on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="roaming_sessions")
    status = models.CharField(max_length=12)
    start_date_time = models.DateTimeField()
    end_date_time = models.DateTimeField(null=True, blank=True)
    kwh = models.DecimalField(max_digits=12, decimal_places=3, default=0)
    currency = models.CharField(max_length=3, blank=True)
    total_cost_incl_vat = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    location_id = models.CharField(max_length=36, blank=True)
    evse_uid = models.CharField(max_length=36, blank=True)

    class Meta:
        ordering = ["-start_date_time", "-id"]
        constraints = [models.UniqueConstraint(fields=["partner", "country_code", "party_id", "ocpi_id"],
                                               name="roaming_session_unique")]

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id} session {self.ocpi_id}"


class TariffCheck(models.TextChoices):
    MATCH = "match", "matches the published tariff"
    MISMATCH = "mismatch", "differs from the published tariff"
    UNKNOWN = "unknown", "no published tariff to check against"


class RoamingCdr(PartyObject):
    """A CDR a partner CPO sent us for one of our drivers: what we owe it, and (once billed)
    the invoice line we charge our driver at our roaming price."""

    id_token = models.ForeignKey(IdToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="roaming_cdrs")
    driver = models.ForeignKey("stations.Driver", on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="roaming_cdrs")
    session_ocpi_id = models.CharField(max_length=36, blank=True)
    start_date_time = models.DateTimeField()
    end_date_time = models.DateTimeField()
    currency = models.CharField(max_length=3)
    total_energy_kwh = models.DecimalField(max_digits=12, decimal_places=3)
    total_cost_excl_vat = models.DecimalField(max_digits=12, decimal_places=2)
    total_cost_incl_vat = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    tariff_check = models.CharField(max_length=8, choices=TariffCheck.choices, default=TariffCheck.UNKNOWN)
    expected_cost_excl_vat = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True,
                                                 help_text="the CDR priced with the tariff the partner published")
    billed_cdr = models.OneToOneField("billing.ChargeDetailRecord", on_delete=models.PROTECT, null=True,
                                      blank=True, related_name="roaming_source",
                                      help_text="our CDR for the driver, at our roaming price: what gets invoiced")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-end_date_time", "-id"]
        constraints = [models.UniqueConstraint(fields=["partner", "country_code", "party_id", "ocpi_id"],
                                               name="roaming_cdr_unique")]

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id} CDR {self.ocpi_id}"


class RemoteCommand(models.Model):
    """A command we sent to a partner CPO for one of our drivers (START_SESSION, STOP_SESSION)
    or a charging profile we set; the partner answers at once and later POSTs the result to
    our response_url, which names ``uid``."""

    uid = models.CharField(max_length=36, unique=True)
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="remote_commands")
    module = models.CharField(max_length=20, default="commands")
    command = models.CharField(max_length=20)
    driver = models.ForeignKey("stations.Driver", on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="remote_commands")
    request = models.JSONField()
    response = models.CharField(max_length=20, blank=True, help_text="CommandResponse.result")
    result = models.CharField(max_length=24, blank=True, help_text="CommandResult.result, when it came")
    result_data = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.command} at {self.partner}: {self.result or self.response or 'sent'}"


class HubClient(models.Model):
    """A party reachable through a hub (OCPI hubclientinfo ClientInfo)."""

    hub = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="hub_clients")
    country_code = models.CharField(max_length=2)
    party_id = models.CharField(max_length=3)
    role = models.CharField(max_length=6)
    status = models.CharField(max_length=9, help_text="CONNECTED, OFFLINE, PLANNED, SUSPENDED")
    last_updated = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hub", "country_code", "party_id"], name="hub_client_unique")]

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id} ({self.role}, {self.status})"
