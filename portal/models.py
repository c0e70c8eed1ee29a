from django.db import models


class LiveWatch(models.Model):
    """A live session page is open (a WebSocket, in whichever process holds it). Meter values
    are relayed only for watched sessions, so the OCPP hot path pays nothing for the portal
    while nobody looks. The consumer renews the lease while connected; a crashed process's
    rows simply expire."""

    session = models.ForeignKey("stations.ChargingSession", on_delete=models.CASCADE, related_name="+")
    channel_name = models.CharField(max_length=200, unique=True)
    expires_at = models.DateTimeField(db_index=True)
