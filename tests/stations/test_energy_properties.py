"""No energy is counted twice: whatever order and however often a station delivers its
energy register readings, a session's energy is its last register minus its first.

Property tests at the service level. ``hypothesis.extra.django.TestCase`` runs every
example in its own transaction and rolls it back, so examples do not see each other's rows.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from stations.models import ChargingSession, ChargingStation, Measurand, MeterSample, ReadingContext
from stations.services import sessions
from stations.services.meter_values import Sample

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def register(wh: int, at: datetime, context: int = ReadingContext.SAMPLE_PERIODIC) -> Sample:
    return Sample(timestamp=at, measurand=Measurand.ENERGY_ACTIVE_IMPORT_REGISTER, value=float(wh), context=context)


@dataclass(frozen=True)
class Readings:
    """Increasing register readings, one a minute after ``T0``, and an order to deliver them in
    (every index at least once, some more than once, shuffled)."""

    start_wh: int
    values_wh: list[int]
    delivery: list[int]

    def at(self, index: int) -> datetime:
        return T0 + (index + 1) * MINUTE


@st.composite
def readings(draw, min_size: int = 1, max_size: int = 10) -> Readings:
    start_wh = draw(st.integers(min_value=0, max_value=10**8))
    steps = draw(st.lists(st.integers(min_value=0, max_value=50_000), min_size=min_size, max_size=max_size))
    values, total = [], start_wh
    for step in steps:
        total += step
        values.append(total)
    repeats = draw(st.lists(st.sampled_from(range(len(values))), max_size=2 * len(values))) if values else []
    delivery = draw(st.permutations(list(range(len(values))) + repeats))
    return Readings(start_wh=start_wh, values_wh=values, delivery=delivery)


def batches(draw, items: list) -> list[list]:
    """Split ``items`` into consecutive batches of 1 to 3, as stations bundle meterValue entries."""
    result, i = [], 0
    while i < len(items):
        size = draw(st.integers(min_value=1, max_value=3))
        result.append(items[i:i + size])
        i += size
    return result


PROPERTY_SETTINGS = settings(max_examples=60, deadline=None)


class EnergyIsNeverCountedTwice(TestCase):
    station: ChargingStation

    def new_station(self) -> None:
        """Each example makes its own station (setUp runs once per test, not per example)."""
        self.station = ChargingStation.objects.create(station_id="PROP-1")

    def session(self, transaction_id: str) -> ChargingSession:
        return ChargingSession.objects.get(station=self.station, transaction_id=transaction_id)

    # --- 1.6: StartTransaction / MeterValues / StopTransaction -------------------------

    @PROPERTY_SETTINGS
    @given(data=readings(min_size=0), stop_extra_wh=st.integers(min_value=0, max_value=10_000), data_st=st.data())
    def test_16_energy_is_latest_register_minus_meter_start_then_stop_minus_start(
        self, data, stop_extra_wh, data_st
    ):
        self.new_station()
        started = sessions.start_session(
            station_pk=self.station.pk, evse_id=1, connector_id=1, id_token_value="TOKEN-1",
            meter_start_wh=data.start_wh, started_at=T0,
        )
        tx = started.session.transaction_id
        deliveries = [register(data.values_wh[i], data.at(i)) for i in data.delivery]
        for batch in batches(data_st.draw, deliveries):
            sessions.record_meter_values(station_pk=self.station.pk, evse_id=1, samples=batch, transaction_id=tx)

        latest = max(data.values_wh, default=data.start_wh)
        assert self.session(tx).energy_wh == latest - data.start_wh
        assert MeterSample.objects.filter(session__transaction_id=tx).count() == len(data.values_wh)

        stop_wh = latest + stop_extra_wh
        stop_at = data.at(len(data.values_wh))
        for _ in range(2):  # a repeated StopTransaction changes nothing
            sessions.stop_session(
                station_pk=self.station.pk, transaction_id=tx, meter_stop_wh=stop_wh, stopped_at=stop_at
            )
            assert self.session(tx).energy_wh == stop_wh - data.start_wh
        # MeterValues the station replays after the stop do not count again either.
        sessions.record_meter_values(station_pk=self.station.pk, evse_id=1, samples=deliveries, transaction_id=tx)
        assert self.session(tx).energy_wh == stop_wh - data.start_wh

    @PROPERTY_SETTINGS
    @given(data=readings(), data_st=st.data())
    def test_16_repeated_start_transaction_keeps_one_session_and_its_energy(self, data, data_st):
        self.new_station()

        def start():
            return sessions.start_session(
                station_pk=self.station.pk, evse_id=1, connector_id=1, id_token_value="TOKEN-1",
                meter_start_wh=data.start_wh, started_at=T0,
            ).session.transaction_id

        tx = start()
        for i in data.delivery:
            if data_st.draw(st.booleans()):
                assert start() == tx  # the station lost our answer and starts again
            sessions.record_meter_values(
                station_pk=self.station.pk, evse_id=1, samples=[register(data.values_wh[i], data.at(i))],
                transaction_id=tx,
            )
        assert ChargingSession.objects.filter(station=self.station).count() == 1
        assert self.session(tx).energy_wh == max(data.values_wh) - data.start_wh

    # --- 2.0.1: TransactionEvent stream ---------------------------------------------

    @PROPERTY_SETTINGS
    @given(
        data=readings(),
        with_begin=st.booleans(),
        end_extra_wh=st.none() | st.integers(min_value=0, max_value=10_000),
        data_st=st.data(),
    )
    def test_201_energy_is_stop_minus_start_whatever_the_event_order(self, data, with_begin, end_extra_wh, data_st):
        """Started carries Transaction.Begin (or not), each Updated one reading, Ended a
        Transaction.End (or not). Events arrive shuffled and some twice."""
        self.new_station()
        n = len(data.values_wh)
        begin_wh = data.start_wh
        end_wh = None if end_extra_wh is None else max(data.values_wh) + end_extra_wh
        end_at = data.at(n)

        def event(seq_no: int) -> sessions.TransactionEvent:
            if seq_no == 0:
                kind, at = "Started", T0
                samples = [register(begin_wh, T0, ReadingContext.TRANSACTION_BEGIN)] if with_begin else []
            elif seq_no == n + 1:
                kind, at = "Ended", end_at
                samples = [register(end_wh, end_at, ReadingContext.TRANSACTION_END)] if end_wh is not None else []
            else:
                kind, at = "Updated", data.at(seq_no - 1)
                samples = [register(data.values_wh[seq_no - 1], at)]
            return sessions.TransactionEvent(
                event_type=kind, transaction_id="TX-1", seq_no=seq_no, timestamp=at,
                trigger_reason="MeterValuePeriodic", evse_id=1, connector_id=1, samples=samples,
            )

        # Reading i travels in event seqNo i + 1; Started and Ended go somewhere in the stream.
        seq_nos = [i + 1 for i in data.delivery]
        for seq_no in (0, n + 1):
            seq_nos.insert(data_st.draw(st.integers(min_value=0, max_value=len(seq_nos))), seq_no)
        seq_nos += data_st.draw(st.lists(st.sampled_from([0, n + 1]), max_size=2))  # late repeats
        for seq_no in seq_nos:
            sessions.apply_transaction_event(station_pk=self.station.pk, event=event(seq_no))

        start = begin_wh if with_begin else data.values_wh[0]
        stop = end_wh if end_wh is not None else max(data.values_wh)
        session = self.session("TX-1")
        assert (session.meter_start_wh, session.meter_stop_wh) == (start, stop)
        assert session.energy_wh == stop - start
        assert session.events.count() == n + 2
        assert session.status == "Completed"
