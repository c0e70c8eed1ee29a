from django.db import models


class LiveWatch(models.Model):
    """A live page is open (a WebSocket, in whichever process holds it) on a group: a session,
    an organisation's dashboard, the network. Events are relayed only to watched groups, so
    the OCPP hot path pays nothing for the portal while nobody looks. The consumer renews
    the lease while connected; a crashed process's rows simply expire."""

    channel_name = models.CharField(max_length=200)
    group = models.CharField(max_length=100)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel_name", "group"], name="live_watch_unique")]
