"""The REST API's stations and sites as clients see them: the stations app's serializers
with the ``tariff`` field billing adds. Composed here, above both, so that stations never
imports billing."""

from billing.api.serializers import PlaceListSerializer, TariffedPlaceMixin
from stations.api import serializers as network, views


class SiteSerializer(TariffedPlaceMixin, network.SiteSerializer):
    class Meta(network.SiteSerializer.Meta):
        fields = [*network.SiteSerializer.Meta.fields, "tariff"]
        list_serializer_class = PlaceListSerializer


class StationSerializer(TariffedPlaceMixin, network.StationSerializer):
    class Meta(network.StationSerializer.Meta):
        fields = [*network.StationSerializer.Meta.fields, "tariff"]
        list_serializer_class = PlaceListSerializer


class SiteViewSet(views.SiteViewSet):
    serializer_class = SiteSerializer


class StationViewSet(views.StationViewSet):
    __doc__ = views.StationViewSet.__doc__
    serializer_class = StationSerializer
