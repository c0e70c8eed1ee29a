"""Firmware images, rollout campaigns and diagnostics uploads (imported by stations.models)."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class FirmwareImage(models.Model):
    """One firmware file in the catalog, for one vendor and some of its models."""

    version = models.CharField(max_length=50)
    vendor = models.CharField(max_length=50, help_text="as the station reports it in BootNotification")
    station_models = models.JSONField(default=list, blank=True, help_text="station models it fits; empty: every one")
    file = models.FileField(upload_to="firmware/")
    sha256 = models.CharField(max_length=64, editable=False)
    size_bytes = models.BigIntegerField(editable=False)
    # 2.0.1 signed firmware update (PEM certificate, base64 signature of the file).
    signing_certificate = models.TextField(blank=True)
    signature = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["vendor", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["vendor", "version"], name="firmware_version_unique_per_vendor")]

    def __str__(self) -> str:
        return f"{self.vendor} {self.version}"

    @property
    def is_signed(self) -> bool:
        return bool(self.signing_certificate and self.signature)

    def fits(self, *, vendor: str, model: str) -> bool:
        return vendor == self.vendor and (not self.station_models or model in self.station_models)


class CampaignStatus(models.TextChoices):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    HALTED = "halted"  # too many failures in a wave; an operator looks, then resumes or cancels
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class FirmwareCampaign(models.Model):
    name = models.CharField(max_length=200)
    firmware = models.ForeignKey(FirmwareImage, on_delete=models.PROTECT, related_name="campaigns")
    status = models.CharField(max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    # What was asked for (the members are resolved from it once, at creation).
    target = models.JSONField(default=dict, blank=True,
                              help_text="sites, models, current_versions, stations: as given at creation")
    canary_percent = models.PositiveSmallIntegerField(default=5)
    wave_size = models.PositiveIntegerField(default=50)
    window_start = models.TimeField(null=True, blank=True, help_text="site-local; empty: any time")
    window_end = models.TimeField(null=True, blank=True, help_text="site-local; may be before the start (overnight)")
    max_concurrent = models.PositiveIntegerField(default=20, help_text="stations updating at once")
    failure_threshold_percent = models.PositiveSmallIntegerField(
        default=10, help_text="halt when more than this share of a wave has failed"
    )
    max_attempts = models.PositiveSmallIntegerField(default=3)
    retry_backoff_s = models.PositiveIntegerField(default=300, help_text="doubled after each failed attempt")
    station_timeout_s = models.PositiveIntegerField(
        default=3600, help_text="a station that reports nothing this long has failed its attempt"
    )
    current_wave = models.PositiveIntegerField(default=0)
    # Failures of waves before this one were accepted by an operator resuming a halted campaign.
    threshold_from_wave = models.PositiveIntegerField(default=0)
    halted_reason = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(wave_size__gte=1), name="campaign_wave_size_positive"),
            models.CheckConstraint(condition=Q(max_concurrent__gte=1), name="campaign_concurrency_positive"),
            models.CheckConstraint(condition=Q(canary_percent__lte=100), name="campaign_canary_percent_range"),
            models.CheckConstraint(condition=Q(failure_threshold_percent__lte=100),
                                   name="campaign_threshold_percent_range"),
            models.CheckConstraint(condition=Q(max_attempts__gte=1), name="campaign_attempts_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class MemberState(models.TextChoices):
    SCHEDULED = "scheduled"  # waiting for its wave, its window, an idle station, or a retry
    SENDING = "sending"  # claimed by a worker; UpdateFirmware on its way
    DOWNLOADING = "downloading"  # accepted; the station fetches (Downloading, Downloaded, SignatureVerified)
    INSTALLING = "installing"  # Installing ... Installed / InstallRebooting: the next boot tells
    INSTALLED = "installed"  # booted with the new version
    FAILED = "failed"  # out of attempts
    SKIPPED = "skipped"  # already on the version, or the campaign was cancelled before its turn


IN_FLIGHT_STATES = (MemberState.SENDING, MemberState.DOWNLOADING, MemberState.INSTALLING)
FINAL_STATES = (MemberState.INSTALLED, MemberState.FAILED, MemberState.SKIPPED)


class CampaignStation(models.Model):
    """One station in a campaign: its wave and how far its update has come."""

    campaign = models.ForeignKey(FirmwareCampaign, on_delete=models.CASCADE, related_name="members")
    station = models.ForeignKey("stations.ChargingStation", on_delete=models.CASCADE,
                                related_name="firmware_updates")
    wave = models.PositiveIntegerField(help_text="0: canaries")
    state = models.CharField(max_length=12, choices=MemberState.choices, default=MemberState.SCHEDULED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    request_id = models.IntegerField(null=True, blank=True, help_text="2.0.1 requestId of the current attempt")
    station_status = models.CharField(max_length=40, blank=True, help_text="the station's last firmware status")
    version_before = models.CharField(max_length=50, blank=True)
    reported_version = models.CharField(max_length=50, blank=True)
    waiting_reason = models.CharField(max_length=100, blank=True)
    error = models.CharField(max_length=255, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True, help_text="last step forward; timeouts count from it")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["campaign", "wave", "station__station_id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "station"], name="campaign_station_once"),
            # Never two updates in flight on one station, whichever campaigns ask.
            models.UniqueConstraint(fields=["station"], condition=Q(state__in=["sending", "downloading", "installing"]),
                                    name="one_firmware_update_in_flight_per_station"),
        ]
        indexes = [models.Index(fields=["campaign", "wave", "state"], name="campaign_member_wave_state")]

    def __str__(self) -> str:
        return f"{self.campaign} / {self.station}"


class DiagnosticsKind(models.TextChoices):
    DIAGNOSTICS = "DiagnosticsLog"
    SECURITY = "SecurityLog"


class DiagnosticsRequest(models.Model):
    """A request for a station's diagnostics (1.6) or log (2.0.1) and the file it uploaded."""

    station = models.ForeignKey("stations.ChargingStation", on_delete=models.CASCADE,
                                related_name="diagnostics_requests")
    log_type = models.CharField(max_length=20, choices=DiagnosticsKind.choices, default=DiagnosticsKind.DIAGNOSTICS)
    request_id = models.IntegerField(help_text="2.0.1 requestId; kept for 1.6 too")
    outcome = models.CharField(max_length=20, blank=True, help_text="how the station answered the request")
    status = models.CharField(max_length=40, blank=True, help_text="last DiagnosticsStatus / UploadLogStatus")
    file_name = models.CharField(max_length=255, blank=True, help_text="as the station named it")
    file = models.FileField(upload_to="diagnostics/", blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"{self.station} {self.log_type} #{self.request_id}"
