"""Periodic event streams. Imported by ``stations.models``: part of the stations app.

A 2.1 station opens a stream for one of its variable monitors (OpenPeriodicEventStream)
and then sends the monitored variable's values without waiting for an answer
(NotifyPeriodicEventStream, an OCPP-J SEND). Values are kept as sent (strings): a stream
may carry any variable, not only a number."""

from django.db import models


class PeriodicEventStream(models.Model):
    station = models.ForeignKey("stations.ChargingStation", on_delete=models.CASCADE, related_name="event_streams")
    stream_id = models.PositiveIntegerField(help_text="the station's id of the stream")
    variable_monitoring_id = models.PositiveIntegerField()
    interval_s = models.PositiveIntegerField(null=True, blank=True, help_text="data sent this often (params.interval)")
    values = models.PositiveIntegerField(null=True, blank=True, help_text="items sent together (params.values)")
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    last_value = models.CharField(max_length=2500, blank=True)
    last_value_at = models.DateTimeField(null=True, blank=True)
    samples_received = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["station", "stream_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "stream_id"], condition=models.Q(closed_at__isnull=True),
                name="periodic_event_stream_open_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.station} stream {self.stream_id} (monitor {self.variable_monitoring_id})"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class PeriodicEventSample(models.Model):
    """One value of a stream at ``timestamp`` (basetime + t). A station's retry is harmless."""

    stream = models.ForeignKey(PeriodicEventStream, on_delete=models.CASCADE, related_name="samples")
    timestamp = models.DateTimeField()
    value = models.CharField(max_length=2500)

    class Meta:
        ordering = ["stream", "timestamp"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "timestamp"], name="periodic_event_sample_unique")
        ]
