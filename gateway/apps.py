from django.apps import AppConfig


class GatewayConfig(AppConfig):
    """The OCPP WebSocket layer: it sits above the domain apps and calls their services."""

    name = "gateway"
    verbose_name = "OCPP gateway"
