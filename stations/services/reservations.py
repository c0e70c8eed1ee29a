"""Reservations as stations report them (2.0.1/2.1 ReservationStatusUpdate; 1.6 reports none)."""

from stations.models import Reservation, ReservationStatus

# ReservationUpdateStatusEnumType -> our status
# 2.1 NoTransaction: the reservation's id token came, but no transaction followed; it is spent.
_UPDATES = {
    "Expired": ReservationStatus.EXPIRED,
    "Removed": ReservationStatus.REMOVED,
    "NoTransaction": ReservationStatus.USED,
}


def record_reservation_update(*, station_pk: int, reservation_id: int, status: str) -> bool:
    """Returns whether a reservation of this station was updated (unknown ids are ignored)."""
    new_status = _UPDATES.get(status)
    if new_status is None:
        return False
    return bool(Reservation.objects.filter(pk=reservation_id, station_id=station_pk).update(status=new_status))
