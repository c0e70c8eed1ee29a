"""Tariffs (the OCPI 2.2.1 Tariff object), where they apply, and CDRs.

Roles: every signed-in user reads tariffs (public price lists). Operators create and change
any tariff; site owners create tariffs for their organisation and change only those; drivers
and everyone else get 403 on writes. Tariff assignments: operators everywhere, site owners at
their own sites, stations and EVSEs. CDRs are read-only: operators and the Finance group see
all, site owners their sites', drivers their own.
"""

from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response

from billing.api.serializers import CdrSerializer, TariffAssignmentSerializer
from billing.models import ChargeDetailRecord, Tariff, TariffAssignment
from billing.selectors import (
    can_manage_place,
    can_manage_tariff,
    cdrs_visible_to,
    tariff_assignments_visible_to,
    tariffs_visible_to,
)
from billing.tariffs import TariffAssignmentError, TariffSerializer, assign_tariff, tariff_to_ocpi
from stations.selectors import is_operator, is_site_owner, organizations_of


class BillingPermission(BasePermission):
    """Reads: any signed-in user (querysets are scoped). Writes: operators, and site owners on
    what belongs to their organisations."""

    message = "Your role may not change tariffs or where they apply."

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated:
            return False
        return request.method in SAFE_METHODS or is_operator(user) or is_site_owner(user)

    def has_object_permission(self, request, view, obj):
        if request.method in SAFE_METHODS:
            return True
        if isinstance(obj, Tariff):
            return can_manage_tariff(request.user, obj)
        if isinstance(obj, TariffAssignment):
            return can_manage_place(request.user, obj.place)
        return is_operator(request.user)


class TariffFilter(filters.FilterSet):
    date_from = filters.IsoDateTimeFilter(field_name="last_updated", lookup_expr="gte",
                                          help_text="last_updated at or after (OCPI pagination)")
    date_to = filters.IsoDateTimeFilter(field_name="last_updated", lookup_expr="lt",
                                        help_text="last_updated before (OCPI pagination)")
    network_wide = filters.BooleanFilter(field_name="organization", lookup_expr="isnull",
                                         help_text="true: tariffs of no organisation")

    class Meta:
        model = Tariff
        fields = ["currency", "type", "organization", "date_from", "date_to", "network_wide"]


ORGANIZATION_PARAMETER = OpenApiParameter(
    "organization", OpenApiTypes.INT, OpenApiParameter.QUERY,
    description="The organisation that owns the new tariff. Operators: omit for a network-wide tariff. "
    "Site owners: one of their organisations (may be omitted when they belong to only one).",
)


@extend_schema_view(create=extend_schema(parameters=[ORGANIZATION_PARAMETER]))
class TariffViewSet(viewsets.ModelViewSet):
    """Tariffs as OCPI 2.2.1 Tariff objects: what you POST is what you GET and what roaming
    partners receive. PATCH replaces the top-level fields it names (a new ``elements`` list
    replaces the whole list) and the result is validated as a whole."""

    serializer_class = TariffSerializer
    permission_classes = [BillingPermission]
    lookup_field = "tariff_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = "[^/]+"
    filterset_class = TariffFilter
    ordering_fields = ["tariff_id", "last_updated"]

    def get_queryset(self):
        return tariffs_visible_to(self.request.user)

    def get_object(self):
        tariff = get_object_or_404(self.get_queryset(), tariff_id__iexact=self.kwargs[self.lookup_url_kwarg])
        self.check_object_permissions(self.request, tariff)
        return tariff

    def perform_create(self, serializer):
        serializer.save(organization=self._owner_of_new_tariff())

    def update(self, request, *args, **kwargs):
        tariff = self.get_object()
        data = request.data
        if kwargs.get("partial"):
            if not isinstance(data, dict):
                raise ValidationError({"non_field_errors": ["send a JSON object"]})
            data = {**tariff_to_ocpi(tariff), **data}
        serializer = self.get_serializer(tariff, data=data)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)

    def _owner_of_new_tariff(self):
        user = self.request.user
        wanted = self.request.query_params.get("organization")
        if wanted:
            organization = organizations_of(user).filter(pk=wanted).first() if wanted.isdigit() else None
            if organization is None:
                raise ValidationError({"organization": [f"no organisation {wanted!r} of yours"]})
            return organization
        if is_operator(user):
            return None
        mine = list(organizations_of(user)[:2])
        if len(mine) != 1:
            raise ValidationError({"organization": ["you belong to several organisations: name one with "
                                                    "?organization=<id>"]})
        return mine[0]


class TariffAssignmentFilter(filters.FilterSet):
    tariff = filters.CharFilter(field_name="tariff__tariff_id", lookup_expr="iexact")
    station = filters.CharFilter(field_name="station__station_id")

    class Meta:
        model = TariffAssignment
        fields = ["tariff", "site", "station", "evse", "driver_group"]


class TariffAssignmentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Where tariffs apply: at a site, a station or an EVSE (the most specific wins), for
    everyone or for one driver group (which beats the public tariff at the same place).
    ``PATCH /api/v1/stations/<id>/`` with ``{"tariff": ...}`` sets the public one at a station."""

    serializer_class = TariffAssignmentSerializer
    permission_classes = [BillingPermission]
    filterset_class = TariffAssignmentFilter

    def get_queryset(self):
        return tariff_assignments_visible_to(self.request.user)

    @extend_schema(responses={200: TariffAssignmentSerializer, 201: TariffAssignmentSerializer},
                   description="Set the tariff at a place for everyone or for one driver group, replacing the "
                   "one there: 201 when new, 200 when replaced.")
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            assignment, created = assign_tariff(
                tariff=data["tariff"], place=data["place"], driver_group=data.get("driver_group")
            )
        except TariffAssignmentError as error:
            raise ValidationError({"tariff": [str(error)]})
        return Response(self.get_serializer(assignment).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class CdrFilter(filters.FilterSet):
    station = filters.CharFilter(field_name="station_id_text")
    ended_after = filters.IsoDateTimeFilter(field_name="end_date_time", lookup_expr="gte")
    ended_before = filters.IsoDateTimeFilter(field_name="end_date_time", lookup_expr="lt")

    class Meta:
        model = ChargeDetailRecord
        fields = ["station", "driver", "currency", "ended_after", "ended_before"]


class CdrViewSet(viewsets.ReadOnlyModelViewSet):
    """Charge detail records: priced sessions, immutable, with the tariff they were priced with."""

    serializer_class = CdrSerializer
    lookup_field = "cdr_id"
    filterset_class = CdrFilter
    ordering_fields = ["end_date_time", "total_cost_incl_vat"]

    def get_queryset(self):
        return cdrs_visible_to(self.request.user)

