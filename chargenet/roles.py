"""Roles and tenancy: who is what, and which rows of which model each role may see and change.

One place for the admin (``chargenet.admin_site`` mixes ``scope``/``may`` into every
registered ModelAdmin), the portal and dashboard views and the live WebSocket consumer; the
REST API reads through the same selectors (``stations.selectors``, ``billing.selectors``,
``billing.invoice_selectors``) that the predicates below come from.

- operator: superuser or the "Operators" group: everything.
- site owner: member of an Organization: the sites of their organisations and what hangs off
  them (stations, EVSEs, connectors, sessions, meter values, commands, events, tokens seen
  there, CDRs), in the admin and on the dashboard.
- finance: the "Finance" group: billing only (invoices, exports, CDRs, tariffs), read-only
  except for the invoice actions billing offers.
- driver: ``user.driver``: the portal, their own sessions, tokens and invoices; never the admin.

A model without an entry below is for operators only: a new admin page is closed to
site owners and finance until someone decides otherwise here.
"""

from dataclasses import dataclass

from django.apps import apps
from django.contrib.auth.models import AnonymousUser
from django.db.models import Model, QuerySet

from stations.selectors import is_operator, is_site_owner

OPERATOR = "operator"
SITE_OWNER = "site_owner"
FINANCE = "finance"
DRIVER = "driver"

FINANCE_GROUP = "Finance"

VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"

# model label -> (lookup from that model to the owning Organization's members, what a site owner may do)
_SITE_OWNER_POLICY: dict[str, tuple[str, frozenset[str]]] = {
    "stations.organization": ("members", frozenset({VIEW})),
    "stations.site": ("organization__members", frozenset({VIEW, CHANGE})),
    "stations.chargingstation": ("site__organization__members", frozenset({VIEW, CHANGE})),
    "stations.evse": ("station__site__organization__members", frozenset({VIEW, CHANGE})),
    "stations.connector": ("evse__station__site__organization__members", frozenset({VIEW})),
    "stations.connectorstatuschange": ("connector__evse__station__site__organization__members", frozenset({VIEW})),
    "stations.chargingsession": ("station__site__organization__members", frozenset({VIEW})),
    "stations.metersample": ("station__site__organization__members", frozenset({VIEW})),
    "stations.stationevent": ("station__site__organization__members", frozenset({VIEW})),
    "stations.devicemodelvariable": ("station__site__organization__members", frozenset({VIEW})),
    "stations.commandlog": ("station__site__organization__members", frozenset({VIEW})),
    "stations.reservation": ("station__site__organization__members", frozenset({VIEW})),
    # Tokens belong to drivers, not organisations: an owner sees those used at their sites.
    "stations.idtoken": ("sessions__station__site__organization__members", frozenset({VIEW})),
    "billing.chargedetailrecord": ("session__station__site__organization__members", frozenset({VIEW})),
    # Smart charging: a site owner sets their sites' grid connection and sees the profiles sent.
    "stations.siteloadlimit": ("site__organization__members", frozenset({VIEW, ADD, CHANGE, DELETE})),
    "stations.siteloadlimitperiod": ("limit__site__organization__members", frozenset({VIEW, ADD, CHANGE, DELETE})),
    "stations.chargingprofile": ("station__site__organization__members", frozenset({VIEW})),
    "stations.periodiceventstream": ("station__site__organization__members", frozenset({VIEW})),
}

# model label -> what finance may do (on every row: finance works network-wide)
_FINANCE_POLICY: dict[str, frozenset[str]] = {
    "billing.invoice": frozenset({VIEW}),
    "billing.invoiceline": frozenset({VIEW}),
    "billing.chargedetailrecord": frozenset({VIEW}),
    "billing.cdrvatline": frozenset({VIEW}),
    "billing.tariff": frozenset({VIEW}),
    "billing.tariffassignment": frozenset({VIEW}),
    "billing.drivergroup": frozenset({VIEW}),
    "billing.sessiontariff": frozenset({VIEW}),
    # Roaming: what partner CPOs charged for our drivers, and its settlement report.
    "roaming.roamingcdr": frozenset({VIEW}),
}


@dataclass(frozen=True)
class Roles:
    operator: bool = False
    site_owner: bool = False
    finance: bool = False
    driver: bool = False

    @property
    def any_admin_role(self) -> bool:
        return self.operator or self.site_owner or self.finance


def roles_of(user) -> Roles:
    """The roles of a user, worked out once per user object (one request)."""
    if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated or not user.is_active:
        return Roles()
    cached = getattr(user, "_chargenet_roles", None)
    if cached is not None:
        return cached
    from stations.models import Driver

    roles = Roles(
        operator=is_operator(user),
        site_owner=is_site_owner(user),
        finance=user.groups.filter(name=FINANCE_GROUP).exists(),
        driver=Driver.objects.filter(user=user).exists(),
    )
    user._chargenet_roles = roles
    return roles


def may_use_admin(user) -> bool:
    """Operators, site owners and finance. A driver never (the portal is theirs), and a plain
    staff account keeps Django's own model permissions."""
    roles = roles_of(user)
    if roles.any_admin_role:
        return True
    return bool(user and user.is_authenticated and user.is_active and user.is_staff and not roles.driver)


def may_use_dashboard(user) -> bool:
    roles = roles_of(user)
    return roles.operator or roles.site_owner


def driver_of(user):
    """The user's Driver, or None."""
    if not roles_of(user).driver:
        return None
    from stations.models import Driver

    return Driver.objects.get(user=user)


def _label(model: type[Model]) -> str:
    return model._meta.label_lower


def governed(user) -> bool:
    """True when the role tables decide for this user; False for operators (everything) and
    plain staff (Django's model permissions decide)."""
    roles = roles_of(user)
    return not roles.operator and (roles.site_owner or roles.finance or roles.driver)


def may(user, model: type[Model], action: str) -> bool:
    """May a governed user ``action`` (view/add/change/delete) rows of ``model`` at all?"""
    roles = roles_of(user)
    if roles.operator:
        return True
    label = _label(model)
    allowed = False
    if roles.site_owner and label in _SITE_OWNER_POLICY:
        allowed = action in _SITE_OWNER_POLICY[label][1]
    if roles.finance and label in _FINANCE_POLICY:
        allowed = allowed or action in _FINANCE_POLICY[label]
    return allowed


def scope(user, queryset: QuerySet) -> QuerySet:
    """The rows of ``queryset`` the user may see."""
    roles = roles_of(user)
    if roles.operator:
        return queryset
    model = queryset.model
    label = _label(model)
    if roles.finance and label in _FINANCE_POLICY:
        return queryset
    if roles.site_owner and label in _SITE_OWNER_POLICY:
        path = _SITE_OWNER_POLICY[label][0]
        return queryset.filter(pk__in=model._default_manager.filter(**{path: user}).values("pk"))
    return queryset.none()


def in_scope(user, obj: Model) -> bool:
    return scope(user, type(obj)._default_manager.filter(pk=obj.pk)).exists()


def organization_ids_of(user) -> list[int]:
    """Organisations whose sites the user watches on the dashboard (operators: all of them,
    but they listen to the network-wide group instead)."""
    Organization = apps.get_model("stations", "Organization")
    return list(Organization.objects.filter(members=user).values_list("pk", flat=True))
