from rest_framework import viewsets

from stations.api.serializers import SessionSerializer, StationSerializer
from stations.selectors import sessions_visible_to, stations_visible_to


class StationViewSet(viewsets.ReadOnlyModelViewSet):
    """Stations with their live state: online, last seen, identity, EVSEs and connectors."""

    serializer_class = StationSerializer
    lookup_field = "station_id"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        queryset = stations_visible_to(self.request.user)
        online = self.request.query_params.get("online")
        if online in ("true", "false"):
            queryset = queryset.filter(is_online=online == "true")
        return queryset


class SessionViewSet(viewsets.ReadOnlyModelViewSet):
    """Charging sessions (1.6 and 2.0.1 transactions alike)."""

    serializer_class = SessionSerializer

    def get_queryset(self):
        queryset = sessions_visible_to(self.request.user)
        params = self.request.query_params
        if params.get("station"):
            queryset = queryset.filter(station__station_id=params["station"])
        if params.get("status"):
            queryset = queryset.filter(status=params["status"])
        return queryset
