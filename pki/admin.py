"""PKI in the admin, for operators only: CAs (create, import), certificates (revoke, what
expires), signing requests (approve, reject), what stations hold. Private keys never appear."""

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from pki import models
from pki.services.ca import CaError, create_ca, ensure_hierarchy, import_ca_chain
from pki.services.certificates import CertificateError
from pki.services.revocation import RevocationError, revoke_certificate
from pki.services.signing import (
    CsrRejected,
    approve_signing_request,
    deliver_signed_certificate_sync,
    reject_signing_request,
)
from stations.selectors import is_operator


class OperatorOnly:
    def has_module_permission(self, request):
        return is_operator(request.user)

    def has_view_permission(self, request, obj=None):
        return is_operator(request.user)

    def has_change_permission(self, request, obj=None):
        return is_operator(request.user)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return is_operator(request.user)


class CreateCaForm(forms.Form):
    name = forms.CharField(max_length=100)
    role = forms.ChoiceField(choices=models.CaRole.choices)
    parent = forms.ModelChoiceField(
        queryset=models.CertificateAuthority.objects.exclude(encrypted_private_key=None), required=False,
        help_text="empty: a self-signed root",
    )
    path_length = forms.IntegerField(min_value=0, required=False, help_text="ISO 15118-2: sub-CA 1 = 1, sub-CA 2 = 0")
    domain = forms.CharField(max_length=20, required=False, help_text="DC: V2G, CPO, MO, OEM")


class ImportCaForm(forms.Form):
    name = forms.CharField(max_length=100)
    role = forms.ChoiceField(choices=models.CaRole.choices)
    certificate_chain = forms.CharField(widget=forms.Textarea(attrs={"rows": 12, "cols": 80}),
                                        help_text="PEM: the CA certificate first, then its issuers")
    private_key = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}), required=False,
        help_text="optional PEM (unencrypted PKCS#8): lets this CA sign here. Sealed at once, never shown again.",
    )


@admin.register(models.CertificateAuthority)
class CertificateAuthorityAdmin(OperatorOnly, admin.ModelAdmin):
    list_display = ["name", "role", "parent", "subject", "not_after", "has_private_key", "is_trust_anchor", "active"]
    list_filter = ["role", "is_trust_anchor", "active"]
    fields = ["name", "role", "parent", "certificate", "is_trust_anchor", "active", "has_private_key", "created_at"]
    readonly_fields = ["name", "role", "parent", "certificate", "has_private_key", "created_at"]
    actions = ["create_hierarchy"]

    @admin.display(description="subject")
    def subject(self, ca):
        return ca.certificate.subject

    @admin.display(description="valid until")
    def not_after(self, ca):
        return ca.certificate.not_after

    @admin.display(boolean=True, description="key here")
    def has_private_key(self, ca):
        return ca.has_private_key

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="pki_certificateauthority_import"),
        ] + super().get_urls()

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CreateCaForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                ca = create_ca(name=data["name"], role=data["role"], parent=data["parent"],
                               path_length=data["path_length"], domain=data["domain"] or None)
            except CaError as error:
                form.add_error(None, str(error))
            else:
                self.message_user(request, f"Created {ca.name}: {ca.certificate.subject}")
                return redirect("admin:pki_certificateauthority_changelist")
        return self._form(request, form, "Create a certificate authority", "Create",
                          "A new secp256r1 key is generated here and sealed; or import an external CA at "
                          "import/.")

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportCaForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                ca = import_ca_chain(pem=data["certificate_chain"], role=data["role"], name=data["name"],
                                     private_key_pem=data["private_key"] or None)
            except (CaError, CertificateError) as error:
                form.add_error(None, str(error))
            else:
                self.message_user(request, f"Imported {ca.name}: {ca.certificate.subject}")
                return redirect("admin:pki_certificateauthority_changelist")
        return self._form(request, form, "Import an external CA", "Import", "")

    def _form(self, request, form, title, submit_label, intro):
        context = {**self.admin_site.each_context(request), "form": form, "title": title,
                   "submit_label": submit_label, "intro": intro, "opts": self.model._meta}
        return TemplateResponse(request, "admin/pki/form.html", context)

    @admin.action(description="Create the missing CAs of the hierarchy (pki_init)")
    def create_hierarchy(self, request, queryset):
        try:
            created = ensure_hierarchy()
        except CaError as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        self.message_user(request, f"Created: {', '.join(ca.name for ca in created) or 'nothing'}")


class ExpiringFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expiry"

    def lookups(self, request, model_admin):
        return [("soon", f"within {settings.PKI_RENEWAL_WINDOW_DAYS} days"), ("expired", "expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "soon":
            window = timedelta(days=settings.PKI_RENEWAL_WINDOW_DAYS)
            return queryset.filter(not_after__gt=now, not_after__lte=now + window)
        if self.value() == "expired":
            return queryset.filter(not_after__lte=now)
        return queryset


@admin.register(models.Certificate)
class CertificateAdmin(OperatorOnly, admin.ModelAdmin):
    list_display = ["common_name", "kind", "station", "serial_number", "not_after", "expires_soon", "revoked_at",
                    "renewal_requested_at"]
    list_filter = ["kind", ExpiringFilter, ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["common_name", "serial_number", "sha256_fingerprint", "emaid", "station__station_id"]
    readonly_fields = [f.name for f in models.Certificate._meta.fields]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.display(boolean=True, description="renew soon")
    def expires_soon(self, certificate):
        return certificate.not_after <= timezone.now() + timedelta(days=settings.PKI_RENEWAL_WINDOW_DAYS)

    @admin.action(description="Revoke (OCSP and CRL report it at once)")
    def revoke(self, request, queryset):
        for certificate in queryset:
            try:
                revoke_certificate(certificate_pk=certificate.pk)
            except RevocationError as error:
                self.message_user(request, f"{certificate}: {error}", messages.ERROR)
            else:
                self.message_user(request, f"Revoked {certificate}")


@admin.register(models.SigningRequest)
class SigningRequestAdmin(OperatorOnly, admin.ModelAdmin):
    list_display = ["station", "certificate_type", "common_name", "status", "reason", "created_at", "decided_by"]
    list_filter = ["status", "certificate_type"]
    search_fields = ["station__station_id", "common_name"]
    readonly_fields = [f.name for f in models.SigningRequest._meta.fields]
    actions = ["approve", "reject"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Approve: sign and send CertificateSigned")
    def approve(self, request, queryset):
        for signing_request in queryset:
            try:
                approve_signing_request(request_pk=signing_request.pk, approved_by=request.user)
            except (CsrRejected, CaError) as error:
                self.message_user(request, f"{signing_request}: {error}", messages.ERROR)
                continue
            outcome = deliver_signed_certificate_sync(request_pk=signing_request.pk)
            level = messages.SUCCESS if outcome == "accepted" else messages.WARNING
            self.message_user(request, f"{signing_request.station}: signed; delivery {outcome}", level)

    @admin.action(description="Reject")
    def reject(self, request, queryset):
        for signing_request in queryset:
            try:
                reject_signing_request(request_pk=signing_request.pk, reason="rejected by an operator",
                                       rejected_by=request.user)
            except CsrRejected as error:
                self.message_user(request, f"{signing_request}: {error}", messages.ERROR)


@admin.register(models.InstalledCertificate)
class InstalledCertificateAdmin(OperatorOnly, admin.ModelAdmin):
    list_display = ["station", "certificate_type", "serial_number", "certificate", "reported_at"]
    list_filter = ["certificate_type"]
    search_fields = ["station__station_id", "serial_number"]
    readonly_fields = [f.name for f in models.InstalledCertificate._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(models.Vehicle)
class VehicleAdmin(OperatorOnly, admin.ModelAdmin):
    """Cars registered for Plug & Charge: the PCID names the driver a contract is issued for."""

    list_display = ["pcid", "name", "driver", "car", "emaid", "active", "last_provisioned_at"]
    list_filter = ["active"]
    search_fields = ["pcid", "name", "emaid", "driver__email"]
    autocomplete_fields = ["driver", "car"]
    readonly_fields = ["emaid", "last_provisioned_at", "created_at"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if "car" in form.base_fields:
            form.base_fields["car"].required = False
            form.base_fields["car"].help_text = "the driver's car; empty: a new car named after the vehicle"
        return form

    def save_model(self, request, obj, form, change):
        from pki.services.vehicles import contract_charges_car
        from stations.services.cars import create_car

        if obj.car_id is None:
            obj.car = create_car(driver=obj.driver, name=obj.name or obj.pcid)
        super().save_model(request, obj, form, change)
        contract_charges_car(vehicle=obj)

    def has_delete_permission(self, request, obj=None):
        return is_operator(request.user)
