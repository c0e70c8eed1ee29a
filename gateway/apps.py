from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class GatewayConfig(AppConfig):
    """The OCPP WebSocket layer: it sits above the domain apps and calls their services."""

    name = "gateway"
    verbose_name = "OCPP gateway"

    def ready(self) -> None:
        from gateway import station_cache
        from stations.models import ChargingStation

        # A changed password or profile counts from the next handshake on.
        post_save.connect(station_cache.on_station_saved, sender=ChargingStation, dispatch_uid="gateway-station-saved")
        post_delete.connect(
            station_cache.on_station_deleted, sender=ChargingStation, dispatch_uid="gateway-station-deleted"
        )
