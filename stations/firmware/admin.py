"""Admin for firmware: the catalog, campaigns with their progress bar and per-station state,
pause/resume/cancel, diagnostics files to download, and one-click diagnostics on stations."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import FileResponse, Http404, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from stations.firmware import catalog, rollout, selectors
from stations.firmware.models import CampaignStation, DiagnosticsRequest, FirmwareCampaign, FirmwareImage

PROGRESS_COLOURS = {"scheduled": "#b0bec5", "downloading": "#1e88e5", "installing": "#f9a825",
                    "installed": "#2e7d32", "failed": "#c62828", "skipped": "#757575"}


def _words(text: str) -> list[str]:
    return [w.strip() for w in (text or "").replace("\n", ",").split(",") if w.strip()]


# --- catalog -------------------------------------------------------------------------------


class FirmwareForm(forms.ModelForm):
    station_models_text = forms.CharField(required=False, label="Station models",
                                          help_text="comma-separated; empty: every model of the vendor")

    class Meta:
        model = FirmwareImage
        fields = ["version", "vendor", "file", "signing_certificate", "signature", "notes"]

    def clean(self):
        data = super().clean()
        if bool(data.get("signing_certificate")) != bool(data.get("signature")):
            raise forms.ValidationError("a signed firmware needs both the signing certificate and the signature")
        if FirmwareImage.objects.filter(vendor=data.get("vendor", "").strip(),
                                        version=data.get("version", "").strip()).exists():
            raise forms.ValidationError("this vendor's version is already in the catalog")
        return data


@admin.register(FirmwareImage)
class FirmwareImageAdmin(admin.ModelAdmin):
    list_display = ["vendor", "version", "station_models", "size_bytes", "short_sha256", "is_signed", "created_at"]
    list_filter = ["vendor"]
    search_fields = ["version", "vendor", "sha256"]
    readonly_fields = ["sha256", "size_bytes", "station_models", "uploaded_by", "created_at"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = FirmwareForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:  # a catalog entry is what stations got: its file and signature stay
            return [*self.readonly_fields, "version", "vendor", "file", "signing_certificate", "signature"]
        return self.readonly_fields

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["version", "vendor", "station_models_text", "file", "signing_certificate", "signature", "notes"]
        return super().get_fields(request, obj)

    @admin.display(description="sha256")
    def short_sha256(self, image):
        return image.sha256[:12]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        data = form.cleaned_data
        try:
            created = catalog.add_firmware(
                version=data["version"], vendor=data["vendor"], file=data["file"],
                station_models=_words(data.get("station_models_text")),
                signing_certificate=data.get("signing_certificate", ""), signature=data.get("signature", ""),
                notes=data.get("notes", ""), uploaded_by=request.user,
            )
        except catalog.FirmwareError as error:
            raise PermissionDenied(str(error))
        obj.pk = created.pk


# --- campaigns -----------------------------------------------------------------------------


class CampaignForm(forms.ModelForm):
    sites = forms.ModelMultipleChoiceField(queryset=None, required=False)
    station_models = forms.CharField(required=False, help_text="comma-separated station models")
    current_versions = forms.CharField(required=False, help_text="comma-separated firmware versions")
    stations = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                               help_text="explicit station ids, comma-separated")
    start_now = forms.BooleanField(required=False, initial=False)

    class Meta:
        model = FirmwareCampaign
        fields = ["name", "firmware", "canary_percent", "wave_size", "window_start", "window_end", "max_concurrent",
                  "failure_threshold_percent", "max_attempts", "retry_backoff_s", "station_timeout_s"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from stations.models import Site

        self.fields["sites"].queryset = Site.objects.order_by("name")

    def targets(self) -> dict:
        data = self.cleaned_data
        return {"sites": [s.pk for s in data.get("sites") or []], "models": _words(data.get("station_models")),
                "current_versions": _words(data.get("current_versions")), "stations": _words(data.get("stations"))}

    def clean(self):
        data = super().clean()
        if self.errors or not data.get("firmware"):
            return data
        try:
            rollout.resolve_targets(firmware=data["firmware"], window_start=data.get("window_start"),
                                    window_end=data.get("window_end"), **self.targets())
        except rollout.CampaignError as error:
            raise forms.ValidationError(str(error))
        return data


class MemberInline(admin.TabularInline):
    model = CampaignStation
    extra = 0
    can_delete = False
    fields = ["station", "wave", "state", "attempts", "station_status", "waiting_reason", "error", "reported_version",
              "next_attempt_at", "finished_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("station")


def tick_now(campaign_id: int) -> None:
    """Advance a campaign that was just started or resumed, as the API does, instead of
    leaving it to the next periodic tick; after the admin's transaction has committed."""
    from stations.tasks import advance_firmware_campaign

    transaction.on_commit(lambda: advance_firmware_campaign.delay(campaign_id))


def _campaign_action(what: str, label: str):
    def run(modeladmin, request, queryset):
        for campaign in queryset:
            try:
                rollout.change_campaign(campaign_id=campaign.pk, action=what)
            except rollout.CampaignError as error:
                modeladmin.message_user(request, f"{campaign}: {error}", messages.WARNING)
            else:
                if what in ("start", "resume"):
                    tick_now(campaign.pk)
                modeladmin.message_user(request, f"{campaign}: {what} done", messages.SUCCESS)

    run.__name__ = f"{what}_campaigns"
    run.short_description = label
    run.allowed_permissions = ("change",)
    return run


def progress_bar(counts: dict) -> str:
    total = counts["total"] or 1
    segments = format_html_join(
        "", '<div title="{}: {}" style="width:{}%;background:{};height:14px"></div>',
        ((state, counts[state], round(100 * counts[state] / total, 2), colour)
         for state, colour in PROGRESS_COLOURS.items() if counts[state]),
    )
    legend = " · ".join(f"{state} {counts[state]}" for state in PROGRESS_COLOURS)
    return format_html('<div style="display:flex;width:240px;border:1px solid #ccc">{}</div><small>{}</small>',
                       segments, legend)


@admin.register(FirmwareCampaign)
class FirmwareCampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "firmware", "status", "progress", "current_wave", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "firmware__version"]
    inlines = [MemberInline]
    add_form_template = "admin/stations/firmwarecampaign/add_form.html"
    actions = [_campaign_action("start", "Start"), _campaign_action("pause", "Pause"),
               _campaign_action("resume", "Resume"), _campaign_action("cancel", "Cancel")]

    def get_queryset(self, request):
        return selectors.campaigns_visible_to(request.user)

    def get_urls(self):
        return [
            path("targets/", self.admin_site.admin_view(self.targets_view), name="stations_firmwarecampaign_targets"),
        ] + super().get_urls()

    def targets_view(self, request):
        """How many stations the targets on the add form match, before saving (the form's
        script asks as the operator picks sites, models, versions or stations)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        firmware = FirmwareImage.objects.filter(pk=request.GET.get("firmware") or 0).first()
        if firmware is None:
            return JsonResponse({"error": "choose a firmware first"}, status=400)
        try:
            targets = rollout.resolve_targets(
                firmware=firmware, sites=[int(s) for s in request.GET.getlist("sites") if s.isdigit()],
                models=_words(request.GET.get("station_models")),
                current_versions=_words(request.GET.get("current_versions")),
                stations=_words(request.GET.get("stations")))
        except rollout.CampaignError as error:
            return JsonResponse({"error": str(error)}, status=400)
        return JsonResponse({"count": len(targets), "stations": [t.station_id for t in targets[:20]],
                             "already_on_version": sum(t.firmware_version == firmware.version for t in targets)})

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []  # members come from the targets

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = CampaignForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "firmware", "sites", "station_models", "current_versions", "stations", "canary_percent",
                    "wave_size", "window_start", "window_end", "max_concurrent", "failure_threshold_percent",
                    "max_attempts", "retry_backoff_s", "station_timeout_s", "start_now"]
        return ["name", "firmware", "status", "progress", "target", "current_wave", "halted_reason",
                "canary_percent", "wave_size", "window_start", "window_end", "max_concurrent",
                "failure_threshold_percent", "max_attempts", "retry_backoff_s", "station_timeout_s",
                "created_by", "started_at", "finished_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    @admin.display(description="progress")
    def progress(self, campaign):
        return progress_bar(rollout.progress(campaign))

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        created = rollout.create_campaign(
            name=data["name"], firmware=data["firmware"], created_by=request.user, start=data.get("start_now", False),
            **{k: data[k] for k in ["canary_percent", "wave_size", "window_start", "window_end", "max_concurrent",
                                    "failure_threshold_percent", "max_attempts", "retry_backoff_s",
                                    "station_timeout_s"]},
            **form.targets(),
        )
        obj.pk = created.pk
        if data.get("start_now"):
            tick_now(created.pk)

    def save_related(self, request, form, formsets, change):
        pass  # the members are the service's to write


# --- diagnostics ---------------------------------------------------------------------------


@admin.register(DiagnosticsRequest)
class DiagnosticsRequestAdmin(admin.ModelAdmin):
    list_display = ["station", "log_type", "requested_at", "outcome", "status", "download", "size_bytes",
                    "requested_by"]
    list_filter = ["log_type", "status", "outcome"]
    search_fields = ["station__station_id", "file_name"]
    readonly_fields = ["station", "log_type", "request_id", "outcome", "status", "file_name", "size_bytes",
                       "requested_by", "requested_at", "uploaded_at", "download"]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False  # requested from a station (action) or the API

    def get_queryset(self, request):
        return selectors.diagnostics_visible_to(request.user)

    @admin.display(description="file")
    def download(self, request_obj):
        if not request_obj.file:
            return "—"
        url = reverse("admin:stations_diagnosticsrequest_download", args=[request_obj.pk])
        return format_html('<a href="{}">{}</a>', url, request_obj.file_name or "download")

    def get_urls(self):
        return [
            path("<int:pk>/download/", self.admin_site.admin_view(self.download_view),
                 name="stations_diagnosticsrequest_download"),
        ] + super().get_urls()

    def download_view(self, request, pk):
        request_obj = self.get_queryset(request).filter(pk=pk).first()
        if request_obj is None or not self.has_view_permission(request, request_obj):
            raise Http404
        if not request_obj.file:
            raise Http404("no file uploaded yet")
        return FileResponse(request_obj.file.open("rb"), as_attachment=True,
                            filename=request_obj.file_name or "diagnostics.log")


@admin.action(description="Get diagnostics / log (one click)")
def request_diagnostics(modeladmin, request, queryset):
    from stations.tasks import request_diagnostics as task

    for station in queryset:
        result = task.delay(station.pk, "DiagnosticsLog", request.user.pk)
        if not result.ready():
            modeladmin.message_user(request, f"{station}: diagnostics requested", messages.INFO)
            continue
        try:
            created = DiagnosticsRequest.objects.get(pk=result.get())
        except Exception as error:
            modeladmin.message_user(request, f"{station}: {error}", messages.WARNING)
            continue
        level = messages.SUCCESS if created.outcome == "accepted" else messages.WARNING
        modeladmin.message_user(request, f"{station}: diagnostics {created.outcome}; the file appears under "
                                         f"Diagnostics requests once uploaded", level)
