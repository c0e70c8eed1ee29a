"""Site load management: share a site's grid connection among the sessions charging there.

Plain functions on plain dataclasses (no models, no database, no OCPP), so the rules can be
read, tested and simulated on their own. The load manager service turns sessions and meter
values into ``SessionDemand``, calls ``allocate`` on session start, stop and meter values, asks
a ``RebalancePolicy`` which stations must hear about it, and sends those charging profiles.
``plan_schedule`` shifts sessions that have a departure time towards cheap or green hours;
``fallback_default_limit`` is the TxDefaultProfile that keeps the site safe when the CSMS is
unreachable. ``plan_v2x`` plans charging and discharging for sites with bidirectional (V2X)
cars: peak shaving, feeding a car the limit holds back, selling high and buying low, within
the import and export limits and never leaving a car with less than it would get without V2X.

Units: power in W, current in A on each phase, voltage in V phase-to-neutral, energy in Wh.
A three-phase car drawing P W puts P/3 on each phase, a single-phase car puts all of it on
its phase; a phase carrying C W draws C/V A.

The invariant everything here keeps: the chargers' limits add up to no more than the site
limit, in total and on each phase, at every instant. Limits are rounded down (to 1 W and
0.1 A) so rounding never breaks it, and checks are done in integers: W for the total,
thirds of a W for each phase, so that a three-phase share is exact.
"""

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

MIN_CURRENT_A = 6.0
"""IEC 61851: below 6 A a car cannot charge, so a smaller limit means "pause"."""

INF = math.inf
TOTAL, L1, L2, L3 = range(4)
_CONSTRAINTS = (TOTAL, L1, L2, L3)


# --- the site ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteLimitPeriod:
    """From ``start`` until the next period starts, the site may use at most this.

    A period can only lower the static limit (building load forecast, PV that is not there,
    a cheap-energy window ending): the grid connection is never exceeded. ``None`` means the
    static limit applies."""

    start: datetime
    max_power_w: float | None = None
    max_current_a: float | None = None


@dataclass(frozen=True)
class LimitInForce:
    """The site limit over some span of time: total W and/or A on each phase."""

    max_power_w: float | None
    max_current_a: float | None
    voltage_v: float

    def capacity(self) -> tuple[float, float, float, float]:
        """Integer capacity per constraint: total in W, each phase in thirds of a W
        (``math.inf`` where there is no limit). Rounded down."""
        total = INF if self.max_power_w is None else max(0, _down(self.max_power_w))
        phase = INF if self.max_current_a is None else max(0, _down(3 * self.max_current_a * self.voltage_v))
        return (total, phase, phase, phase)


@dataclass(frozen=True)
class SiteLimit:
    """A site's grid connection: ``max_power_w`` (e.g. 110 kW) and/or ``max_current_a`` on
    each of the three phases (e.g. 3x160 A) at ``voltage_v`` (phase-to-neutral), optionally
    lowered over time by ``schedule`` (periods in increasing ``start`` order)."""

    max_power_w: float | None = None
    max_current_a: float | None = None
    voltage_v: float = 230.0
    schedule: tuple[SiteLimitPeriod, ...] = ()

    def __post_init__(self):
        if self.voltage_v <= 0:
            raise ValueError("voltage_v must be positive")
        starts = [period.start for period in self.schedule]
        if starts != sorted(set(starts)):
            raise ValueError("schedule periods must have increasing, distinct starts")
        if self.max_power_w is None and self.max_current_a is None:
            if not self.schedule:
                raise ValueError("a site limit needs max_power_w, max_current_a or a schedule")
            if any(p.max_power_w is None and p.max_current_a is None for p in self.schedule):
                raise ValueError("without a static limit, every schedule period needs a limit")

    def lowest(self, start: datetime, end: datetime | None = None) -> LimitInForce:
        """The lowest limit in force at any instant of [start, end) (at ``start`` alone when
        ``end`` is None). Limits sent now must hold until the next re-balance, so the
        allocator looks ahead to it."""
        in_force = [p for p in self.schedule if p.start <= start][-1:]
        if not in_force and self.max_power_w is None and self.max_current_a is None:
            raise ValueError(f"no site limit in force at {start.isoformat()}: the schedule starts later")
        if end is not None:
            in_force += [p for p in self.schedule if start < p.start < end]
        power = _lowest([self.max_power_w, *(p.max_power_w for p in in_force)])
        current = _lowest([self.max_current_a, *(p.max_current_a for p in in_force)])
        return LimitInForce(max_power_w=power, max_current_a=current, voltage_v=self.voltage_v)

    def lowest_ever(self) -> LimitInForce:
        """The lowest limit the site ever has: what a CSMS that cannot follow the schedule
        (because it is offline) must assume."""
        power = _lowest([self.max_power_w, *(p.max_power_w for p in self.schedule)])
        current = _lowest([self.max_current_a, *(p.max_current_a for p in self.schedule)])
        return LimitInForce(max_power_w=power, max_current_a=current, voltage_v=self.voltage_v)

    def next_change(self, after: datetime) -> datetime | None:
        """When the next schedule period starts: the service re-balances then."""
        return next((p.start for p in self.schedule if p.start > after), None)


def _lowest(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


# --- the sessions -----------------------------------------------------------------------


@dataclass(frozen=True)
class SessionDemand:
    """One session charging at the site, as the allocator sees it.

    ``max_power_w`` and/or ``max_current_a`` (on each phase used) are the EVSE's maximum,
    lowered to the car's when that is known. ``phases`` is 1 or 3; a single-phase car sits on
    site phase ``phase`` (1-3, after the station's phase rotation). ``measured_power_w`` is
    the latest meter value (None if unknown) and ``allowed_power_w`` the limit the station
    holds now (last profile sent, or its default profile); together they tell a car that
    charges slower than allowed. ``min_power_w`` defaults to 6 A on each phase used.
    A station that rejects profiles or is offline cannot be limited: it is counted at its
    maximum. ``suspended_ev`` is OCPP's SuspendedEV: the car takes no energy though offered
    it (full, or waiting for its own timer); such a car only gets what no other car can use.
    The service sets it from status or meter values, and clears it when the car draws again
    or, now and then, to offer a car that is only pausing power again. Higher ``priority`` is served first; ``arrival``
    (lower came first, e.g. the session's database id) orders sessions of equal priority.
    ``departure`` and ``energy_request_wh`` are only used by ``plan_schedule``."""

    session_id: str
    max_power_w: float | None = None
    max_current_a: float | None = None
    phases: int = 3
    phase: int = 1
    measured_power_w: float | None = None
    allowed_power_w: float | None = None
    priority: int = 0
    min_power_w: float | None = None
    profile_rejected: bool = False
    offline: bool = False
    suspended_ev: bool = False
    departure: datetime | None = None
    energy_request_wh: float | None = None
    arrival: int = 0

    def __post_init__(self):
        if self.phases not in (1, 3):
            raise ValueError(f"{self.session_id}: phases must be 1 or 3")
        if self.phase not in (1, 2, 3):
            raise ValueError(f"{self.session_id}: phase must be 1, 2 or 3")
        if self.max_power_w is None and self.max_current_a is None:
            raise ValueError(f"{self.session_id}: an EVSE maximum (max_power_w or max_current_a) is needed")
        for name in ("max_power_w", "max_current_a", "min_power_w", "measured_power_w", "allowed_power_w"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{self.session_id}: {name} must not be negative")

    @property
    def controlled(self) -> bool:
        """Whether a charging profile reaches this station and is obeyed."""
        return not (self.profile_rejected or self.offline)


def _rank(session: SessionDemand) -> tuple:
    """Who is served first: cars that take energy before suspended ones, then by priority
    and arrival."""
    return (session.suspended_ev, -session.priority, session.arrival, session.session_id)


def _weights(phases: int, phase: int) -> tuple[int, int, int, int]:
    """What 1 W of this session uses of each constraint: 1 W of the total and, per phase,
    1 third of a W (three-phase) or 3 thirds on its phase (single-phase)."""
    if phases == 3:
        return (1, 1, 1, 1)
    return (1, *(3 if p == phase else 0 for p in (1, 2, 3)))


def _evse_max_w(session: SessionDemand, voltage_v: float) -> float:
    by_power = INF if session.max_power_w is None else session.max_power_w
    by_current = INF if session.max_current_a is None else session.max_current_a * voltage_v * session.phases
    return min(by_power, by_current)


def _min_w(session: SessionDemand, voltage_v: float) -> int:
    wanted = MIN_CURRENT_A * voltage_v * session.phases if session.min_power_w is None else session.min_power_w
    return min(_up(wanted), _down(_evse_max_w(session, voltage_v)))


def _down(value: float) -> int:
    """Rounded down to a whole unit, once float noise below a millionth is gone
    (18.7 A x 220 V is 4113.999999999999 in floats, and 4114 W)."""
    return math.floor(round(value, 6))


def _up(value: float) -> int:
    return math.ceil(round(value, 6))


def _amps(power_w: int, phases: int, voltage_v: float) -> float:
    """Current on each phase used at ``power_w``, rounded down to 0.1 A."""
    return _down(10 * power_w / (voltage_v * phases)) / 10


def _fit(slack: Sequence[float], weights: Sequence[int]) -> float:
    """The most W a session with these weights can add without exceeding ``slack``."""
    return min(slack[c] if slack[c] == INF else slack[c] // w for c, w in enumerate(weights) if w)


# --- allocation -------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionLimit:
    """What one session may draw: ``limit_w``, or ``limit_a`` on each phase used (for
    stations that take ampere profiles). 0 when queued. ``max_w`` is what it would get with
    capacity to spare (EVSE maximum; for a slow car measured power plus headroom; for a
    suspended car its minimum); ``min_w`` the least it can charge at. A session that is not ``controlled`` (profile
    rejected, offline) gets no profile: its limit is its maximum, counted against the site."""

    session_id: str
    limit_w: int
    limit_a: float
    phases: int
    phase: int
    max_w: int
    min_w: int
    queued: bool = False
    controlled: bool = True


@dataclass(frozen=True)
class Allocation:
    """The limit per session at ``at`` (in ``limits``, highest rank first), under ``site``.
    ``queued`` sessions wait at 0 because their minimum does not fit. ``unused_w`` and
    ``unused_a`` (per phase) are what is left of the site limit. ``overloaded`` is set when
    stations that cannot be limited already exceed the site limit on their own."""

    at: datetime
    site: LimitInForce
    limits: Mapping[str, SessionLimit]
    queued: tuple[str, ...]
    unused_w: int | None
    unused_a: tuple[float, float, float] | None
    overloaded: bool = False

    @property
    def total_w(self) -> int:
        return sum(limit.limit_w for limit in self.limits.values())


@dataclass
class _Claim:
    """A controlled, admitted session while it is being filled."""

    session_id: str
    weights: tuple[int, int, int, int]
    low: int
    high: int
    power: float = 0.0


def allocate(
    site_limit: SiteLimit,
    sessions: Iterable[SessionDemand],
    *,
    at: datetime,
    until: datetime | None = None,
    headroom_a: float = 1.0,
    headroom_ratio: float = 0.1,
) -> Allocation:
    """Share the site limit in force over [at, until) among ``sessions``.

    1. Stations that reject profiles or are offline are counted at their maximum.
    2. Admission, by priority then arrival: a session is admitted if its minimum fits next to
       the minimums of those admitted before it, on the total and on each phase it uses;
       otherwise it is queued at 0 (a later, smaller or other-phase session may still fit).
       A session whose minimum is 0 (its EVSE maximum is 0) is never queued.
    3. Each session's ceiling is its EVSE maximum, except for a car that charges slower than
       allowed: headroom = max(headroom_a on each phase used, headroom_ratio x measured); if
       measured + headroom < allowed it is capped at measured + headroom, so others get the
       rest; if it draws within headroom/2 of what it is allowed it may want more and gets
       its EVSE maximum; in between it keeps what it is allowed (hysteresis, so its limit
       does not flap).
    4. Water-filling, highest priority first: within a priority every admitted session
       starts at its minimum and a common level rises (equal W for all, max-min fair) until
       a session reaches its ceiling or a constraint it uses (the total or one of its
       phases) is full; those stop, the others rise on. Lower priorities share what is left.
    5. Limits are rounded down to 1 W and 0.1 A.
    6. Suspended cars (SuspendedEV) come last: once every other car has its share, each in
       turn gets its minimum, to resume with, if that still fits; otherwise it is queued.

    Capacity is left unused only when every admitted session is at its ceiling or uses a
    full constraint (e.g. its phase). The result does not depend on the order of
    ``sessions``.
    """
    sessions = sorted(sessions, key=_rank)
    if len({s.session_id for s in sessions}) != len(sessions):
        raise ValueError("session ids must be unique")
    site = site_limit.lowest(at, until)
    voltage = site.voltage_v
    capacity = site.capacity()
    headroom = {"headroom_a": headroom_a, "headroom_ratio": headroom_ratio}

    used = [0, 0, 0, 0]
    for session in sessions:
        if not session.controlled:
            power = _up(_evse_max_w(session, voltage))
            for c, w in enumerate(_weights(session.phases, session.phase)):
                used[c] += w * power
    overloaded = any(used[c] > capacity[c] for c in _CONSTRAINTS)

    active = [s for s in sessions if s.controlled and not s.suspended_ev]
    claims, queued = _admit(active, capacity, used, voltage, **headroom)
    slack = [capacity[c] - used[c] for c in _CONSTRAINTS]
    for priority in sorted({session.priority for session in active}, reverse=True):
        _fill([claim for session, claim in claims if session.priority == priority], slack)
    used = _round_down([claim for _, claim in claims], capacity, used)

    suspended = [s for s in sessions if s.controlled and s.suspended_ev]
    more_claims, more_queued = _admit(suspended, capacity, used, voltage, **headroom)
    granted = {claim.session_id: claim for _, claim in claims + more_claims}
    queued += more_queued
    waiting = set(queued)

    limits: dict[str, SessionLimit] = {}
    for session in sessions:
        sid = session.session_id
        if not session.controlled:
            power = _up(_evse_max_w(session, voltage))
            low, high = _min_w(session, voltage), power
        elif sid in granted:
            power, low, high = int(granted[sid].power), granted[sid].low, granted[sid].high
        else:
            power, low, high = 0, _min_w(session, voltage), _down(_evse_max_w(session, voltage))
        limits[sid] = SessionLimit(
            session_id=sid,
            limit_w=power,
            limit_a=_amps(power, session.phases, voltage),
            phases=session.phases,
            phase=session.phase,
            max_w=high,
            min_w=low,
            queued=sid in waiting,
            controlled=session.controlled,
        )

    return Allocation(
        at=at,
        site=site,
        limits=limits,
        queued=tuple(queued),
        unused_w=_unused_w(site, limits.values()),
        unused_a=_unused_a(site, limits.values()),
        overloaded=overloaded,
    )


def _admit(
    sessions: list[SessionDemand],
    capacity: Sequence[float],
    used: list[int],
    voltage_v: float,
    *,
    headroom_a: float,
    headroom_ratio: float,
) -> tuple[list[tuple[SessionDemand, _Claim]], list[str]]:
    """Claims at their minimum for the sessions whose minimum fits, in order, next to
    ``used`` (which they are added to); the ids of the others."""
    claims, queued = [], []
    for session in sessions:
        weights = _weights(session.phases, session.phase)
        low = _min_w(session, voltage_v)
        if low == 0 or all(used[c] + w * low <= capacity[c] for c, w in enumerate(weights) if w):
            for c, w in enumerate(weights):
                used[c] += w * low
            headroom_w = headroom_a * voltage_v * session.phases
            high = _ceiling_w(session, voltage_v, low, headroom_w, headroom_ratio)
            claims.append((session, _Claim(session.session_id, weights, low, high, float(low))))
        else:
            queued.append(session.session_id)
    return claims, queued


def _ceiling_w(session: SessionDemand, voltage_v: float, low: int, headroom_w: float, headroom_ratio: float) -> int:
    evse_max = _down(_evse_max_w(session, voltage_v))
    measured, allowed = session.measured_power_w, session.allowed_power_w
    if session.suspended_ev:  # takes nothing: its minimum, to resume with, is enough
        return low
    if measured is None or allowed is None:
        return max(low, evse_max)
    headroom = max(headroom_w, headroom_ratio * measured)
    if measured + headroom < allowed:
        ceiling = _down(measured + headroom)
    elif measured < allowed - headroom / 2:
        ceiling = _down(allowed)
    else:
        ceiling = evse_max
    return max(low, min(evse_max, ceiling))


def _fill(claims: list[_Claim], slack: list[float]) -> None:
    """Progressive filling of one priority: raise a common level, each claim at
    clamp(level, low, high), until every claim is frozen by its ceiling or a full
    constraint. Consumes ``slack`` (per constraint, in the units of ``_weights``).
    Events (a claim starts rising, reaches its ceiling, a constraint fills) are taken in
    level order, so this is O(n log n)."""
    rate = [0, 0, 0, 0]  # d(usage)/d(level) of the rising claims
    level = 0.0
    frozen = {i for i, claim in enumerate(claims) if claim.low >= claim.high}
    rising: set[int] = set()
    starts = sorted((claim.low, i) for i, claim in enumerate(claims) if i not in frozen)
    stops: list[tuple[int, int]] = []  # heap of (high, i) of rising claims
    next_start = 0

    def freeze(i: int) -> None:
        frozen.add(i)
        claims[i].power = min(claims[i].high, max(claims[i].low, level))
        if i in rising:
            rising.discard(i)
            for c, w in enumerate(claims[i].weights):
                rate[c] -= w

    def close(c: int) -> None:
        slack[c] = max(0.0, slack[c])
        for i, claim in enumerate(claims):
            if i not in frozen and claim.weights[c]:
                freeze(i)

    for c in _CONSTRAINTS:
        if slack[c] <= 0:
            close(c)
    while True:
        while stops and (stops[0][1] in frozen or stops[0][0] <= level):
            _, i = heapq.heappop(stops)
            if i not in frozen:
                freeze(i)
        while next_start < len(starts) and starts[next_start][0] <= level:
            _, i = starts[next_start]
            next_start += 1
            if i not in frozen:
                rising.add(i)
                for c, w in enumerate(claims[i].weights):
                    rate[c] += w
                heapq.heappush(stops, (claims[i].high, i))
        while next_start < len(starts) and starts[next_start][1] in frozen:
            next_start += 1

        fills = {c: level + slack[c] / rate[c] for c in _CONSTRAINTS if rate[c] and slack[c] != INF}
        target = min(
            starts[next_start][0] if next_start < len(starts) else INF,
            stops[0][0] if stops else INF,
            *fills.values(),
        )
        if target == INF:
            break
        for c in fills:
            slack[c] -= rate[c] * (target - level)
        level = target
        for c, fill_level in fills.items():
            if fill_level <= level or slack[c] <= 1e-9:
                close(c)
    for i in range(len(claims)):
        if i not in frozen:
            freeze(i)


def _round_down(claims: list[_Claim], capacity: Sequence[float], used_by_minimums: Sequence[int]) -> list[int]:
    """Floor every claim to whole W, then check the constraints in exact integers and, should
    float error have left one over its capacity, take 1 W at a time from the lowest-ranked
    claims above their minimum that use it. Returns what is used then."""
    for claim in claims:
        claim.power = max(claim.low, min(claim.high, math.floor(claim.power)))
    used = list(used_by_minimums)
    for claim in claims:
        for c, w in enumerate(claim.weights):
            used[c] += w * (int(claim.power) - claim.low)
    for c in _CONSTRAINTS:
        for claim in reversed(claims):
            if used[c] <= capacity[c]:
                break
            while used[c] > capacity[c] and claim.weights[c] and claim.power > claim.low:
                claim.power -= 1
                for k, w in enumerate(claim.weights):
                    used[k] -= w
    return used


def _usage(limits: Iterable[SessionLimit]) -> list[int]:
    used = [0, 0, 0, 0]
    for limit in limits:
        for c, w in enumerate(_weights(limit.phases, limit.phase)):
            used[c] += w * limit.limit_w
    return used


def _unused_w(site: LimitInForce, limits: Iterable[SessionLimit]) -> int | None:
    total, phase, _, _ = site.capacity()
    room = min(total, phase)  # three phases of `phase` thirds of a W each make `phase` W
    if room == INF:
        return None
    return max(0, int(room) - _usage(limits)[TOTAL])


def _unused_a(site: LimitInForce, limits: Iterable[SessionLimit]) -> tuple[float, float, float] | None:
    if site.max_current_a is None:
        return None
    capacity, used = site.capacity(), _usage(limits)
    return tuple(max(0.0, _down(10 * (capacity[c] - used[c]) / (3 * site.voltage_v)) / 10) for c in (L1, L2, L3))


# --- re-balancing without flooding the stations ----------------------------------------


@dataclass(frozen=True)
class SentProfile:
    """The limit a station holds for a session, and when it was sent."""

    limit_w: int
    sent_at: datetime


@dataclass(frozen=True)
class RebalancePolicy:
    """Which sessions get a new charging profile after a re-allocation.

    - A new session (none sent yet) gets one now: its station holds only the default profile.
    - A decrease larger than the dead-band, and any decrease to 0 (queued), is sent now:
      others' increases may rely on it.
    - An increase larger than the dead-band, or from 0, is sent once ``min_interval`` has
      passed since that session's last profile; until then the station keeps a lower limit,
      which is safe.
    - A change within the dead-band (below max(dead_band_w, dead_band_ratio x held limit))
      is not sent, unless the limits the stations would hold then exceed the site limit:
      then withheld decreases are added, largest first, until they do not. Sending every
      decrease always restores the site limit, as every held limit is then at most its new
      allocation.
    - Stations that reject profiles or are offline get none.
    """

    min_interval: timedelta = timedelta(minutes=5)
    dead_band_w: float = 700.0
    dead_band_ratio: float = 0.1

    def due(self, allocation: Allocation, sent: Mapping[str, SentProfile]) -> list[str]:
        """Session ids whose station must get a profile with its new limit now, in the order
        to send them: new sessions, then decreases (largest first), then increases; send the
        increases once the decreases are accepted, and the stations never hold more than the
        site limit meanwhile. ``sent`` holds what each station was last sent; the caller
        updates it for the sessions returned and forgets sessions that ended."""
        now = allocation.at
        due: list[str] = []
        withheld_decreases: list[tuple[int, str]] = []
        held: dict[str, int] = {}
        for sid, limit in allocation.limits.items():
            previous = sent.get(sid)
            if not limit.controlled:
                held[sid] = limit.limit_w
                continue
            if previous is None:
                due.append(sid)
                continue
            held[sid] = previous.limit_w
            change = limit.limit_w - previous.limit_w
            outside_band = abs(change) >= max(self.dead_band_w, self.dead_band_ratio * previous.limit_w)
            if change < 0 and (outside_band or limit.limit_w == 0):
                due.append(sid)
            elif change > 0 and (outside_band or previous.limit_w == 0):
                if now - previous.sent_at >= self.min_interval:
                    due.append(sid)
            elif change < 0:
                withheld_decreases.append((change, sid))
        change_of = {sid: allocation.limits[sid].limit_w - held[sid] for sid in due if sid in held}
        for sid in due:
            held[sid] = allocation.limits[sid].limit_w

        capacity = allocation.site.capacity()
        withheld_decreases.sort()
        while withheld_decreases and not _within(capacity, allocation.limits, held):
            change, sid = withheld_decreases.pop(0)
            due.append(sid)
            change_of[sid] = change
            held[sid] = allocation.limits[sid].limit_w
        order = {sid: i for i, sid in enumerate(allocation.limits)}
        return sorted(due, key=lambda sid: (sid in change_of, change_of.get(sid, 0), order[sid]))


def _within(capacity: Sequence[float], limits: Mapping[str, SessionLimit], held: Mapping[str, int]) -> bool:
    used = [0, 0, 0, 0]
    for sid, power in held.items():
        limit = limits[sid]
        for c, w in enumerate(_weights(limit.phases, limit.phase)):
            used[c] += w * power
    return all(used[c] <= capacity[c] for c in _CONSTRAINTS)


# --- the safe default when the CSMS is unreachable -------------------------------------


@dataclass(frozen=True)
class DefaultLimit:
    """A TxDefaultProfile limit for every EVSE: in W, or in A on each phase used."""

    limit_w: int
    limit_a: float


def fallback_default_limit(
    site_limit: SiteLimit,
    evse_count: int,
    *,
    evse_max_power_w: float | None = None,
    evse_max_current_a: float | None = None,
    unmanaged: Iterable[SessionDemand] = (),
) -> DefaultLimit:
    """The default limit that keeps the site safe however many of its ``evse_count`` EVSEs
    charge, whatever the cars, at any time of the schedule, with no CSMS to re-balance.

    The site limit is the lowest it ever is. EVSEs that do not take profiles (``unmanaged``,
    described like sessions: maximum, phases, phase) are counted at their maximum. Then the
    worst cases: every EVSE at its limit; for a W limit, single-phase cars all on the same
    phase; for an ampere limit, all on the same phase too, and three-phase cars for the
    total. Never above the EVSE maximum; rounded down. Below 6 A this means cars wait for
    the CSMS: that is the price of never overloading the site."""
    if evse_count <= 0:
        raise ValueError("evse_count must be positive")
    site = site_limit.lowest_ever()
    voltage, n = site.voltage_v, evse_count
    capacity = list(site.capacity())
    for session in unmanaged:
        power = _up(_evse_max_w(session, voltage))
        for c, w in enumerate(_weights(session.phases, session.phase)):
            capacity[c] -= w * power
    total, phases = capacity[TOTAL], min(capacity[L1:])  # W; thirds of a W
    power_w = [total / n, phases / (3 * n)]
    current_a = [total / (3 * voltage * n), phases / (3 * voltage * n)]
    if evse_max_power_w is not None:
        power_w.append(evse_max_power_w)
        current_a.append(evse_max_power_w / voltage)
    if evse_max_current_a is not None:
        power_w.append(evse_max_current_a * voltage * 3)
        current_a.append(evse_max_current_a)
    if min(power_w) == INF:
        raise ValueError("no limit: give the site limit or the EVSE maximum")
    return DefaultLimit(
        limit_w=max(0, _down(min(power_w))),
        limit_a=max(0.0, _down(10 * min(current_a)) / 10),
    )


# --- schedules against a price or PV curve ---------------------------------------------

Curve = Sequence[tuple[datetime, float]]
"""A step function: each (start, value) holds until the next start. Prices per kWh, PV
production in W, CO2 intensity: anything whose lowest or highest values are the best hours."""


@dataclass(frozen=True)
class SchedulePeriod:
    """Shaped like OCPP ChargingSchedulePeriod: from ``start_period_s`` after the schedule
    starts, at most ``limit_w`` (or ``limit_a`` on each of ``number_phases``)."""

    start_period_s: int
    limit_w: int
    limit_a: float
    number_phases: int


@dataclass(frozen=True)
class ChargingSchedule:
    """A session's plan from ``start_schedule`` for ``duration_s`` (until departure).
    ``planned_energy_wh`` may exceed the request by what the minimum power forces;
    ``shortfall_wh`` is what does not fit before departure."""

    session_id: str
    start_schedule: datetime
    duration_s: int
    periods: tuple[SchedulePeriod, ...] = ()
    planned_energy_wh: float = 0.0
    shortfall_wh: float = 0.0

    def limit_at(self, when: datetime) -> int:
        """The planned limit in W at ``when`` (0 outside the schedule). The service caps the
        session's ``max_power_w`` with it, so ``allocate`` still guards the site limit."""
        offset = (when - self.start_schedule).total_seconds()
        if offset < 0 or offset >= self.duration_s:
            return 0
        current = 0
        for period in self.periods:
            if period.start_period_s <= offset:
                current = period.limit_w
        return current


def plan_schedule(
    site_limit: SiteLimit,
    sessions: Iterable[SessionDemand],
    *,
    start: datetime,
    curve: Curve,
    prefer: Literal["lowest", "highest"] = "lowest",
    slot: timedelta = timedelta(minutes=15),
) -> dict[str, ChargingSchedule]:
    """Charging schedules for the sessions with a departure and an energy request.

    Time from ``start`` is cut into slots; each slot's capacity is the lowest site limit in
    it, less stations that cannot be limited (at their maximum). Sessions are planned earliest
    departure first (then priority, arrival); each takes the best slots before its departure
    (``prefer="lowest"`` for a price curve, ``"highest"`` for PV production; ties: earlier
    first) at up to its EVSE maximum and what the slot has left on the total and on its
    phases, never below its minimum, until its energy is planned. A greedy plan, not an
    optimal one: a session that departs later may find the best hours taken.

    Sessions without a departure or energy request are not planned and reserve nothing here:
    ``allocate`` shares the site among everyone live, with planned sessions capped by
    ``ChargingSchedule.limit_at``. The value of ``curve`` at a slot's start stands for the slot.
    """
    points = list(curve)
    if not points or points[0][0] > start:
        raise ValueError("the curve must start at or before the schedule start")
    if slot <= timedelta(0):
        raise ValueError("slot must be positive")
    sessions = sorted(sessions, key=_rank)
    voltage = site_limit.voltage_v
    planned = sorted(
        (
            s
            for s in sessions
            if s.controlled and s.departure is not None and s.energy_request_wh is not None and s.energy_request_wh > 0
        ),
        key=lambda s: (s.departure, *_rank(s)),
    )
    horizon = max((s.departure for s in planned), default=start)
    slots: list[tuple[datetime, datetime]] = []
    slot_start = start
    while slot_start < horizon:
        slots.append((slot_start, min(slot_start + slot, horizon)))
        slot_start += slot

    slack = []
    for begin, end in slots:
        capacity = list(site_limit.lowest(begin, end).capacity())
        for s in sessions:
            if not s.controlled:
                power = _up(_evse_max_w(s, voltage))
                capacity = [capacity[c] - w * power for c, w in enumerate(_weights(s.phases, s.phase))]
        slack.append(capacity)

    sign = 1 if prefer == "lowest" else -1
    values = [_curve_value(points, begin) for begin, _ in slots]
    best_first = sorted(range(len(slots)), key=lambda j: (sign * values[j], j))

    schedules: dict[str, ChargingSchedule] = {}
    for session in planned:
        weights = _weights(session.phases, session.phase)
        low = _min_w(session, voltage)
        high = _down(_evse_max_w(session, voltage))
        remaining = session.energy_request_wh
        power = [0] * len(slots)
        for j in best_first:
            if remaining <= 0:
                break
            begin, end = slots[j]
            seconds = (min(end, session.departure) - begin).total_seconds()
            if seconds <= 0:
                continue
            room = min(high, _fit(slack[j], weights))
            if room <= 0 or room < low:
                continue
            needed = math.ceil(remaining * 3600 / seconds)
            power[j] = int(min(room, max(low, needed)))
            slack[j] = [slack[j][c] - w * power[j] for c, w in enumerate(weights)]
            remaining -= power[j] * seconds / 3600
        schedules[session.session_id] = _schedule(session, start, slots, power, voltage, remaining)
    return schedules


def _curve_value(points: Curve, when: datetime) -> float:
    value = points[0][1]
    for begin, v in points:
        if begin > when:
            break
        value = v
    return value


def _schedule(
    session: SessionDemand,
    start: datetime,
    slots: list[tuple[datetime, datetime]],
    power: list[int],
    voltage_v: float,
    remaining_wh: float,
) -> ChargingSchedule:
    periods: list[SchedulePeriod] = []
    energy_wh = 0.0
    for (begin, end), watts in zip(slots, power, strict=True):
        if begin >= session.departure:
            break
        energy_wh += watts * (min(end, session.departure) - begin).total_seconds() / 3600
        if periods and periods[-1].limit_w == watts:
            continue
        periods.append(
            SchedulePeriod(
                start_period_s=int((begin - start).total_seconds()),
                limit_w=watts,
                limit_a=_amps(watts, session.phases, voltage_v),
                number_phases=session.phases,
            )
        )
    return ChargingSchedule(
        session_id=session.session_id,
        start_schedule=start,
        duration_s=max(0, int((session.departure - start).total_seconds())),
        periods=tuple(periods),
        planned_energy_wh=energy_wh,
        shortfall_wh=max(0.0, remaining_wh),
    )


# --- V2X: charging and discharging schedules ---------------------------------------------


@dataclass(frozen=True)
class V2xDemand:
    """A car plugged in at a site that has bidirectional (V2X) chargers, as the planner sees it.

    ``energy_request_wh`` is the net energy it still needs by ``departure`` (what it draws
    less what it gives back). ``may_discharge`` is the permission: the car asked for a
    bidirectional mode (ISO 15118-20 BPT), its driver allowed discharge, and its station
    speaks OCPP 2.1; without it ``max_discharge_w`` is ignored and the car only ever charges.
    ``floor_wh`` is the least net energy it may hold at any moment, counted from now (≤ 0:
    e.g. the energy above its minimum state of charge); ``ceiling_wh`` the most (a full
    battery), None for no bound. Phases as in ``SessionDemand``."""

    session_id: str
    max_charge_w: float
    departure: datetime
    energy_request_wh: float = 0.0
    max_discharge_w: float = 0.0
    may_discharge: bool = False
    floor_wh: float = 0.0
    ceiling_wh: float | None = None
    phases: int = 3
    phase: int = 1
    arrival: int = 0
    plugged_in: datetime | None = None  # a day-ahead plan may know cars still to come

    def __post_init__(self):
        if self.phases not in (1, 3) or self.phase not in (1, 2, 3):
            raise ValueError(f"{self.session_id}: phases must be 1 or 3, phase 1-3")
        if self.max_charge_w < 0 or self.max_discharge_w < 0 or self.energy_request_wh < 0:
            raise ValueError(f"{self.session_id}: powers and the request must not be negative")
        if self.floor_wh > 0:
            raise ValueError(f"{self.session_id}: floor_wh counts from now and must be ≤ 0")

    @property
    def discharge_w(self) -> float:
        return self.max_discharge_w if self.may_discharge else 0.0


@dataclass(frozen=True)
class V2xPlan:
    """Power per car and slot (W, negative = discharge) from ``start``, and what the site
    then draws (``grid_w``, negative = export). ``overload_w`` is import above the site
    limit that no plan could avoid: the site's other load alone exceeds it and the cars
    could not cover all of it. ``energy_wh`` is each car's net energy by its departure and
    ``shortfall_wh`` what is missing to its request."""

    start: datetime
    slots: tuple[tuple[datetime, datetime], ...]
    power_w: Mapping[str, tuple[float, ...]]
    grid_w: tuple[float, ...]
    overload_w: tuple[float, ...]
    energy_wh: Mapping[str, float]
    shortfall_wh: Mapping[str, float]

    def power_at(self, session_id: str, when: datetime) -> float:
        """The planned power of a car at ``when`` (0 outside the plan)."""
        for (begin, end), watts in zip(self.slots, self.power_w.get(session_id, ()), strict=False):
            if begin <= when < end:
                return watts
        return 0.0

    def exported_wh(self) -> float:
        """Energy the site fed into the grid."""
        return sum(
            -watts * (end - begin).total_seconds() / 3600
            for watts, (begin, end) in zip(self.grid_w, self.slots, strict=True)
            if watts < 0
        )


_EPS = 1e-6


class _V2xState:
    """The plan while it is built: powers, and the site's total and per-phase flow."""

    def __init__(self, cars, slots, base_w, import_w, phase_cap, export_w):
        self.cars, self.slots = cars, slots
        self.base, self.import_cap, self.phase_cap, self.export_cap = base_w, import_w, phase_cap, export_w
        n = len(slots)
        self.power = {car.session_id: [0.0] * n for car in cars}
        # seconds of each slot before the car's departure: its energy there is power x this
        self.seconds = {
            car.session_id: [
                max(0.0, (min(end, car.departure) - max(begin, car.plugged_in or begin)).total_seconds())
                for begin, end in slots
            ]
            for car in cars
        }
        self.total = list(base_w)  # W
        self.phase = [[b, b, b] for b in base_w]  # thirds of a W on L1-L3 (base load is balanced)
        self._weights = {car.session_id: _weights(car.phases, car.phase)[1:] for car in cars}
        # held_wh per car, dropped whenever the car's power changes: the planner asks for it far
        # more often (every tried move) than it changes (every move made)
        self._held: dict[str, list[float]] = {}
        self.changed: list[int] = []  # the slot of every change to the plan, in turn
        self._room: dict[str, list] = {}  # slots_with_room: [changes seen, has room per slot, order, list]

    def weights(self, car: V2xDemand) -> tuple[int, int, int]:
        return self._weights[car.session_id]

    def up_room(self, car: V2xDemand, j: int) -> float:
        """How much more the car may draw in slot j (W)."""
        room = min(car.max_charge_w - self.power[car.session_id][j], self.import_cap[j] - self.total[j])
        for k, w in enumerate(self.weights(car)):
            if w:
                room = min(room, (self.phase_cap[j] - self.phase[j][k]) / w)
        return max(0.0, room)

    def down_room(self, car: V2xDemand, j: int) -> float:
        """How much less the car may draw in slot j (W): down to its discharge limit, never
        exporting beyond the export limit nor beyond a phase's limit the other way."""
        room = min(self.power[car.session_id][j] + car.discharge_w, self.total[j] + self.export_cap)
        for k, w in enumerate(self.weights(car)):
            if w:
                room = min(room, (self.phase[j][k] + self.phase_cap[j]) / w)
        return max(0.0, room)

    def can_lower(self, car: V2xDemand, a: int) -> bool:
        """Whether ``move`` could take anything from slot a at all (it moves nothing at or
        below _EPS Wh)."""
        return self.down_room(car, a) * self.seconds[car.session_id][a] / 3600 > _EPS

    def slots_with_room(self, car: V2xDemand, order: list[int]) -> list[int]:
        """The slots of ``order`` (in that order) where the car may draw more than _EPS Wh:
        where ``move`` could put energy. Kept per car and brought up to date with the slots
        changed since (``changed``): the planner asks far more often than the plan changes."""
        cached = self._room.get(car.session_id)
        if cached is None or cached[2] is not order:
            has_room = [self._has_room(car, b) for b in range(len(self.slots))]
            cached = self._room[car.session_id] = [len(self.changed), has_room, order, None]
        elif cached[0] < len(self.changed):
            has_room = cached[1]
            for b in set(self.changed[cached[0]:]):
                room = self._has_room(car, b)
                if room != has_room[b]:
                    has_room[b] = room
                    cached[3] = None
            cached[0] = len(self.changed)
        if cached[3] is None:
            has_room = cached[1]
            cached[3] = [b for b in order if has_room[b]]
        return cached[3]

    def _has_room(self, car: V2xDemand, b: int) -> bool:
        """``up_room(car, b)`` is worth more than _EPS Wh in slot b."""
        sb = self.seconds[car.session_id][b]
        return sb > 0 and self.up_room(car, b) * sb / 3600 > _EPS

    def add(self, car: V2xDemand, j: int, watts: float) -> None:
        self.changed.append(j)
        self._held.pop(car.session_id, None)
        self.power[car.session_id][j] += watts
        self.total[j] += watts
        for k, w in enumerate(self.weights(car)):
            self.phase[j][k] += w * watts

    def held_wh(self, car: V2xDemand) -> list[float]:
        """Net energy the car holds at the end of each slot, from now (callers must not change it)."""
        held = self._held.get(car.session_id)
        if held is None:
            held, total = [], 0.0
            for watts, seconds in zip(self.power[car.session_id], self.seconds[car.session_id], strict=True):
                total += watts * seconds / 3600
                held.append(total)
            self._held[car.session_id] = held
        return held

    def move(self, car: V2xDemand, a: int, b: int, wanted_wh: float) -> float:
        """Take energy from slot a and give it back in slot b (the car's energy by departure
        stays the same); returns the Wh moved, limited by both slots and by the car's floor
        and ceiling in between."""
        sa, sb = self.seconds[car.session_id][a], self.seconds[car.session_id][b]
        if sa <= 0 or sb <= 0 or a == b:
            return 0.0
        amount = min(wanted_wh, self.down_room(car, a) * sa / 3600)
        if amount <= _EPS:
            return 0.0
        amount = min(amount, self.up_room(car, b) * sb / 3600)
        if amount <= _EPS:
            return 0.0
        held = self.held_wh(car)
        if b > a:  # less first, more later: the car holds less in between
            amount = min(amount, min(held[a:b]) - car.floor_wh)
        elif car.ceiling_wh is not None:  # more first: the car holds more in between
            amount = min(amount, car.ceiling_wh - max(held[b:a]))
        if amount <= _EPS:
            return 0.0
        self.add(car, a, -amount * 3600 / sa)
        self.add(car, b, amount * 3600 / sb)
        return amount

    def excess(self, j: int, car: V2xDemand | None = None) -> tuple[float, int]:
        """The largest excess over the import limits in slot j that ``car`` can relieve (any,
        without a car), in W of that car's power, and its weight on that constraint."""
        worst, weight = self.total[j] - self.import_cap[j], 1
        weights = self.weights(car) if car is not None else (1, 1, 1)
        for k, w in enumerate(weights):
            if w and (self.phase[j][k] - self.phase_cap[j]) / w > worst:
                worst, weight = (self.phase[j][k] - self.phase_cap[j]) / w, w
        return worst, weight


def _feed(state: _V2xState, giver: V2xDemand, taker: V2xDemand, j: int, needed_wh: float, order: list[int]) -> float:
    """``giver`` discharges (or charges less) in slot j so that ``taker`` may charge more
    there; the giver wins the energy back in other slots (in ``order``). Returns the Wh the
    taker gained; a move that frees nothing the taker can use is undone."""
    gained = 0.0
    sg, st = state.seconds[giver.session_id][j], state.seconds[taker.session_id][j]
    if taker.phases == 1:
        on_phase = state.weights(giver)[taker.phase - 1]
        if not on_phase:
            return 0.0  # it cannot free the taker's phase
        factor = 3 / on_phase  # W the giver frees per W the taker gains
    else:
        factor = 1.0
    def wanted_w() -> float:
        watts = min(taker.max_charge_w - state.power[taker.session_id][j], (needed_wh - gained) * 3600 / st)
        if taker.ceiling_wh is not None:  # a full battery takes no more
            watts = min(watts, (taker.ceiling_wh - max(state.held_wh(taker)[j:])) * 3600 / st)
        return watts

    # The plan changes only when a move succeeds: what the taker wants, and whether the giver
    # can give anything more in slot j, are computed again only then. A giver that cannot go
    # lower in slot j frees nothing whatever slot it would win the energy back in.
    giver_seconds = state.seconds[giver.session_id]
    if sg <= 0 or not state.can_lower(giver, j):
        return 0.0
    want_w = wanted_w() - state.up_room(taker, j)
    # Only slots where the giver could draw more can take its energy back (``move`` moves
    # nothing elsewhere). A move changes slots j and b only, so the list stays true for the
    # slots still ahead of b.
    for b in state.slots_with_room(giver, order):
        if want_w <= _EPS:
            break
        if b == j:
            continue
        moved_wh = state.move(giver, j, b, want_w * factor * sg / 3600)
        if moved_wh <= 0:
            continue
        take = max(0.0, min(state.up_room(taker, j), wanted_w()))
        surplus_wh = moved_wh - take * factor * sg / 3600
        if surplus_wh > _EPS:  # freed more than the taker can use: give the rest back exactly
            state.add(giver, b, -surplus_wh * 3600 / giver_seconds[b])
            state.add(giver, j, surplus_wh * 3600 / sg)
        if take > _EPS:
            state.add(taker, j, take)
            gained += take * st / 3600
        if not state.can_lower(giver, j):
            break
        want_w = wanted_w() - state.up_room(taker, j)
    return gained


def plan_v2x(
    site_limit: SiteLimit,
    cars: Iterable[V2xDemand],
    *,
    start: datetime,
    export_limit_w: float = 0.0,
    site_load: Curve = (),
    price: Curve = (),
    min_spread: float = 0.0,
    slot: timedelta = timedelta(minutes=15),
) -> V2xPlan:
    """Charge and discharge the cars at a site with bidirectional chargers.

    ``site_load`` is the rest of the site's consumption (W, balanced over the phases, a step
    curve; none: 0); ``price`` a price per kWh (step curve; none: no price optimisation).

    1. Charging, as without V2X: each car (earliest departure first) takes the cheapest slots
       before its departure (the earliest, without a price) at up to its maximum and what the
       import limits leave, until its request is planned. Every later step moves a car's
       energy in time and never takes it away, so a car leaves with at least this.
    2. Peak shaving: where the site's other load alone exceeds an import limit (total or a
       phase), cars that may discharge feed the site, latest departure first, and win the
       energy back in the cheapest slots before they leave where the limits have room. Then,
       for a car the limits kept below its request, cars that may discharge feed it where
       the limit stops it and win that energy back elsewhere.
    3. Prices: a car that may discharge gives energy in expensive slots and takes it back in
       cheap ones while the price differs by more than ``min_spread``.

    Every step keeps the import limits, the export limit (``export_limit_w``, total; each phase's
    current limit holds both ways), each car's maximum charge and discharge, and its floor
    and ceiling at every slot. Cars without permission never discharge. A greedy plan, not an
    optimal one."""
    if slot <= timedelta(0):
        raise ValueError("slot must be positive")
    if export_limit_w < 0:
        raise ValueError("export_limit_w must not be negative")
    cars = sorted(cars, key=lambda c: (c.departure, c.arrival, c.session_id))
    if len({c.session_id for c in cars}) != len(cars):
        raise ValueError("session ids must be unique")
    horizon = max((c.departure for c in cars), default=start)
    slots: list[tuple[datetime, datetime]] = []
    begin = start
    while begin < horizon:
        slots.append((begin, min(begin + slot, horizon)))
        begin += slot
    load_points, price_points = list(site_load), list(price)
    base = [max(0.0, _curve_value(load_points, b)) if load_points else 0.0 for b, _ in slots]
    prices = [_curve_value(price_points, b) if price_points else 0.0 for b, _ in slots]
    limits = [site_limit.lowest(b, e).capacity() for b, e in slots]
    state = _V2xState(
        cars, slots, base,
        import_w=[float(c[TOTAL]) for c in limits],
        phase_cap=[float(c[L1]) for c in limits],
        export_w=float(export_limit_w),
    )
    cheapest = sorted(range(len(slots)), key=lambda j: (prices[j], j))

    # 1. charging only
    for car in cars:
        remaining = car.energy_request_wh
        for j in cheapest:
            seconds = state.seconds[car.session_id][j]
            if remaining <= _EPS or seconds <= 0:
                continue
            watts = min(state.up_room(car, j), remaining * 3600 / seconds)
            if car.ceiling_wh is not None:
                watts = min(watts, max(0.0, (car.ceiling_wh - max(state.held_wh(car)[j:])) * 3600 / seconds))
            if watts > _EPS:
                state.add(car, j, watts)
                remaining -= watts * seconds / 3600

    # 2. peak shaving
    givers = sorted((c for c in cars if c.discharge_w > 0), key=lambda c: (c.departure, c.session_id), reverse=True)
    for j in range(len(slots)):
        for car in givers * 2:  # a second round: a car may help on the total after another fixed a phase
            if state.excess(j)[0] <= _EPS:
                break
            over, _ = state.excess(j, car)
            if over <= _EPS or state.seconds[car.session_id][j] <= 0:
                continue
            wanted_wh = over * state.seconds[car.session_id][j] / 3600
            for b in cheapest:
                if wanted_wh <= _EPS:
                    break
                if b != j and state.excess(b)[0] < -_EPS:
                    wanted_wh -= state.move(car, j, b, wanted_wh)

    # 2b. cars that could not get their request: another car feeds them where the limit
    # is what stops them, and wins its energy back elsewhere
    for car in cars:
        needed = car.energy_request_wh - state.held_wh(car)[-1] if slots else 0.0
        for j in cheapest:
            if needed <= _EPS:
                break
            seconds = state.seconds[car.session_id][j]
            if seconds <= 0:
                continue
            for giver in givers:
                own_room = car.max_charge_w - state.power[car.session_id][j]
                if needed <= _EPS or own_room <= _EPS or state.up_room(car, j) >= own_room - _EPS:
                    break  # the car is at its own maximum here, not held back by the site
                if giver is car or state.seconds[giver.session_id][j] <= 0:
                    continue
                needed -= _feed(state, giver, car, j, needed, cheapest)

    # 3. price arbitrage
    if price_points:
        dearest = sorted(range(len(slots)), key=lambda j: (-prices[j], j))
        for car in givers:
            for a in dearest:
                if not state.can_lower(car, a):
                    continue  # nothing to sell in slot a: every move from it would move nothing
                for b in cheapest:
                    if prices[a] - prices[b] <= min_spread:
                        break
                    if state.move(car, a, b, math.inf) > 0 and not state.can_lower(car, a):
                        break

    energy = {car.session_id: (state.held_wh(car)[-1] if slots else 0.0) for car in cars}
    overload = [max(0.0, state.total[j] - state.import_cap[j], *(
        (state.phase[j][k] - state.phase_cap[j]) / 3 for k in range(3)  # thirds of a W -> W on the phase
    )) for j in range(len(slots))]
    return V2xPlan(
        start=start,
        slots=tuple(slots),
        power_w={sid: tuple(p) for sid, p in state.power.items()},
        grid_w=tuple(state.total),
        overload_w=tuple(overload),
        energy_wh=energy,
        shortfall_wh={car.session_id: max(0.0, car.energy_request_wh - energy[car.session_id]) for car in cars},
    )
