from rest_framework.permissions import SAFE_METHODS, BasePermission

from stations.models import ChargingStation, Site
from stations.selectors import can_manage_station, is_operator, is_site_owner, organizations_of


class NetworkPermission(BasePermission):
    """Reads: any signed-in user, through querysets scoped by ``stations.selectors``.
    Writes: operators everywhere; site owners on their organisation's sites and stations
    (where the view sets ``site_owners_may_write``)."""

    message = "Your role may not change this."

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if request.method in SAFE_METHODS or is_operator(user):
            return True
        return getattr(view, "site_owners_may_write", False) and is_site_owner(user)

    def has_object_permission(self, request, view, obj):
        if request.method in SAFE_METHODS or is_operator(request.user):
            return True
        if isinstance(obj, ChargingStation):
            return can_manage_station(request.user, obj)
        if isinstance(obj, Site):
            return bool(obj.organization_id and organizations_of(request.user).filter(pk=obj.organization_id).exists())
        return False
