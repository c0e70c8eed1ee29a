"""The admin site: every registered ModelAdmin and inline is scoped by ``chargenet.roles``.

Registration wraps each ModelAdmin (and its inlines) in a subclass that places
``TenantScopedAdmin`` just above Django's ModelAdmin, so a ModelAdmin's own rules (read-only
invoices, finance actions) still apply and its calls to ``super()`` land on the role checks
instead of Django's model permissions. Site owners and finance need no ``is_staff`` and no
model permissions; drivers are kept out. An object outside the user's scope is a 404,
whether its URL is guessed or linked.
"""

from contextvars import ContextVar

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.options import InlineModelAdmin
from django.core.exceptions import ValidationError
from django.http import Http404
from django.urls import path

from chargenet import roles


class TenantScopedAdmin(admin.ModelAdmin):
    def get_queryset(self, request):
        return roles.scope(request.user, super().get_queryset(request))

    def _allowed(self, request, action, obj=None, fallback=None):
        if roles.roles_of(request.user).operator:
            return True  # the Operators group runs the network without per-model permissions
        if not roles.governed(request.user):
            return fallback()
        if not roles.may(request.user, self.model, action):
            return False
        return obj is None or roles.in_scope(request.user, obj)

    def has_module_permission(self, request):
        if roles.roles_of(request.user).operator:
            return True
        if not roles.governed(request.user):
            return super().has_module_permission(request)
        return roles.may(request.user, self.model, roles.VIEW)

    def has_view_permission(self, request, obj=None):
        if roles.governed(request.user) and roles.may(request.user, self.model, roles.CHANGE):
            return self._allowed(request, roles.CHANGE, obj, lambda: True)
        return self._allowed(request, roles.VIEW, obj, lambda: super(TenantScopedAdmin, self).has_view_permission(
            request, obj))

    def has_add_permission(self, request):
        return self._allowed(request, roles.ADD, None, lambda: super(TenantScopedAdmin, self).has_add_permission(
            request))

    def has_change_permission(self, request, obj=None):
        return self._allowed(request, roles.CHANGE, obj, lambda: super(TenantScopedAdmin, self).has_change_permission(
            request, obj))

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request, roles.DELETE, obj, lambda: super(TenantScopedAdmin, self).has_delete_permission(
            request, obj))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and roles.governed(request.user):
            field.queryset = roles.scope(request.user, field.queryset)
        return field

    def get_list_filter(self, request):
        """Filters on a relation offer only what the user's rows point to (another
        organisation's site names never show up as choices)."""
        filters = super().get_list_filter(request)
        if not roles.governed(request.user):
            return filters
        return [_related_only(self.model, item) for item in filters]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and roles.governed(request.user) and db_field.related_model is not type(request.user):
            field.queryset = roles.scope(request.user, field.queryset)
        return field

    def render_change_form(self, request, context, *args, **kwargs):
        """Rendered here, while the request is known to the read-only fields' links (see
        ``guard_readonly_links``); Django would render it after the view returned."""
        response = super().render_change_form(request, context, *args, **kwargs)
        token = _rendering_for.set(request)
        try:
            response.render()
        finally:
            _rendering_for.reset(token)
        return response

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django redirects to the index with a message; a guessed URL gets a plain 404.
        raise Http404


class TenantScopedInline(InlineModelAdmin):
    def get_queryset(self, request):
        return roles.scope(request.user, super().get_queryset(request))

    def _allowed(self, request, action, fallback):
        if roles.roles_of(request.user).operator:
            return True
        if not roles.governed(request.user):
            return fallback()
        return roles.may(request.user, self.model, action)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request, roles.VIEW, lambda: super(TenantScopedInline, self).has_view_permission(
            request, obj)) or self._allowed(request, roles.CHANGE, lambda: False)

    def has_add_permission(self, request, obj):
        return self._allowed(request, roles.ADD, lambda: super(TenantScopedInline, self).has_add_permission(
            request, obj))

    def has_change_permission(self, request, obj=None):
        return self._allowed(request, roles.CHANGE, lambda: super(TenantScopedInline, self).has_change_permission(
            request, obj))

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request, roles.DELETE, lambda: super(TenantScopedInline, self).has_delete_permission(
            request, obj))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and roles.governed(request.user):
            field.queryset = roles.scope(request.user, field.queryset)
        return field


_rendering_for: ContextVar = ContextVar("chargenet_admin_rendering_for", default=None)


def guard_readonly_links() -> None:
    """A read-only relation on a change page links to the related object's page only when
    the viewer may open it; otherwise it is plain text (finance sees a CDR's driver and
    session by name, not as links that answer 403). Django builds those links in
    ``AdminReadonlyField.get_admin_url`` without asking anyone's permission."""
    original = helpers.AdminReadonlyField.get_admin_url
    if getattr(original, "guarded", False):
        return

    def get_admin_url(self, remote_field, remote_obj):
        request = _rendering_for.get()
        if request is not None and not may_open(request, self.model_admin.admin_site, remote_obj):
            return str(remote_obj)
        return original(self, remote_field, remote_obj)

    get_admin_url.guarded = True
    helpers.AdminReadonlyField.get_admin_url = get_admin_url


def may_open(request, site: admin.AdminSite, obj) -> bool:
    """May this request's user open ``obj``'s admin page?"""
    model_admin = site._registry.get(type(obj))
    return model_admin is not None and model_admin.has_view_permission(request, obj)


def _related_only(model, item):
    if isinstance(item, str) and "__" not in item:
        field = model._meta.get_field(item)
        if field.is_relation:
            return (item, admin.RelatedOnlyFieldListFilter)
    return item


def _scoped(cls, mixin):
    if issubclass(cls, mixin):
        return cls
    return type(cls.__name__, (cls, mixin), {"__module__": cls.__module__, "__doc__": cls.__doc__})


class RoleAuthenticationForm(AdminAuthenticationForm):
    def confirm_login_allowed(self, user):
        if not roles.may_use_admin(user):
            raise ValidationError(self.error_messages["invalid_login"], code="invalid_login",
                                  params={"username": self.username_field.verbose_name})


# The admin's navigation by task, not by Django app: model label -> section. A model not
# listed here stays in a last "Other" section (so nothing disappears when one is added).
TASK_SECTIONS = {
    "Network": ["stations.organization", "stations.site", "stations.chargingstation", "stations.evse",
                "stations.connector", "stations.connectorstatuschange", "stations.stationevent",
                "stations.devicemodelvariable", "stations.commandlog", "stations.siteloadlimit",
                "stations.chargingprofile", "stations.displaymessage", "stations.periodiceventstream"],
    "Sessions": ["stations.chargingsession", "stations.reservation", "stations.idtoken", "stations.driver",
                 "stations.car"],
    "Billing": ["billing.invoice", "billing.chargedetailrecord", "billing.tariff", "billing.tariffassignment",
                "billing.drivergroup", "billing.sessiontariff", "billing.marketpricefeed", "billing.marketprice",
                "roaming.roamingcdr"],  # what partners bill us for our drivers: finance settles it
    "Firmware": ["stations.firmwarecampaign", "stations.firmwareimage", "stations.diagnosticsrequest"],
    "Certificates": ["pki.certificateauthority", "pki.certificate", "pki.signingrequest",
                     "pki.installedcertificate", "pki.vehicle"],
    "Roaming": ["roaming.partner", "roaming.partnertoken", "roaming.outboxentry", "roaming.requestlog",
                "roaming.roaminglocation", "roaming.roamingtariff", "roaming.roamingsession",
                "roaming.remotecommand", "roaming.hubclient"],
    "Users": ["auth.user", "auth.group", "authtoken.tokenproxy", "admin_interface.theme"],
}


def group_by_task(app_list: list[dict]) -> list[dict]:
    """Django's app list (already filtered by permission) regrouped into TASK_SECTIONS."""
    by_label = {}
    for app in app_list:
        for model in app["models"]:
            by_label[f"{app['app_label']}.{model['object_name'].lower()}"] = model
    if "authtoken.tokenproxy" in by_label:  # DRF's "Tokens" beside the drivers' tokens
        by_label["authtoken.tokenproxy"] = {**by_label["authtoken.tokenproxy"], "name": "API tokens"}
    if "admin_interface.theme" in by_label:  # django-admin-interface's colours and options
        by_label["admin_interface.theme"] = {**by_label["admin_interface.theme"], "name": "Admin theme"}
    sections = []
    for name, labels in [*TASK_SECTIONS.items(), ("Other", sorted(set(by_label) - {
            label for labels in TASK_SECTIONS.values() for label in labels}))]:
        models = [by_label[label] for label in labels if label in by_label]
        if models:
            sections.append({"name": name, "app_label": name.lower(), "app_url": "", "has_module_perms": True,
                             "models": models})
    return sections


class ChargeNetAdminSite(admin.AdminSite):
    site_header = "ChargeNet"
    site_title = "ChargeNet admin"
    index_title = "Charging network"
    login_form = RoleAuthenticationForm
    index_template = "admin/chargenet_index.html"

    def has_permission(self, request):
        return request.user.is_active and roles.may_use_admin(request.user)

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = _scoped(admin_class or admin.ModelAdmin, TenantScopedAdmin)
        admin_class.inlines = [_scoped(inline, TenantScopedInline) for inline in admin_class.inlines]
        return super().register(model_or_iterable, admin_class, **options)

    def each_context(self, request):
        context = super().each_context(request)
        context["may_use_dashboard"] = roles.may_use_dashboard(request.user)
        # "View site" leads to the dashboard (there is no public site at /).
        context["site_url"] = "/admin/dashboard/" if context["may_use_dashboard"] else None
        return context

    def get_app_list(self, request, app_label=None):
        app_list = super().get_app_list(request, app_label)
        return app_list if app_label else group_by_task(app_list)

    def index(self, request, extra_context=None):
        from chargenet.overview import overview_for

        return super().index(request, {**(extra_context or {}), "overview": overview_for(request, self)})

    def get_urls(self):
        from portal import dashboard

        return [
            path("dashboard/", self.admin_view(dashboard.dashboard_view), name="dashboard"),
            path("dashboard/state.json", self.admin_view(dashboard.dashboard_state_view), name="dashboard_state"),
        ] + super().get_urls()
