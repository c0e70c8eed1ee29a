"""Simulated charging stations: the station side of OCPP 1.6J, 2.0.1 and 2.1, for demos, tests and load.

A ``SimulatedStation`` connects as a real charger does (its version's subprotocol, HTTP
Basic credentials), boots, reports its connectors, sends heartbeats and charges in a loop:
authorize, start a transaction, report meter values, stop, pause, again. It answers the
common CSMS-initiated calls; a remote start or stop really starts or stops a session.
When the connection drops it reconnects with backoff, and a session in progress carries
on, as on a real charger. A 2.1 station built ``bidirectional`` has a car that may feed
back (ISO 15118-20 BPT): it tells its V2X charging needs after the start and follows a
discharging setpoint, metering what it feeds on its export register.

Every car that plugs in has a battery (``battery_wh``) at an initial state of charge
(``initial_soc``); its SoC rises with what it draws and falls with what it feeds back, and
goes out with each meter value (measurand SoC, location EV) and, for a bidirectional 2.1 car,
as the energies of its V2X charging needs (to its target, minimum and full SoC).

``SimulatedStation`` knows sessions, not messages: what each step looks like on the wire
lives in one ``ChargePoint`` subclass per OCPP version at the bottom of this module. The
module does not import Django, so it runs in tests, benchmarks and commands alike::

    station = SimulatedStation("CS-1", "a-password-of-16-to-40-chars", version="2.0.1",
                               id_token="04A2B3C4D5E6F7", timing=Timing(session_s=5, pause_s=1))
    task = asyncio.create_task(station.run())
    ...
    station.close()   # ends the running session, disconnects; run() returns
    await task
"""

import asyncio
import base64
import dataclasses
import logging
import random
import time
import urllib.error
import urllib.request
import uuid
import zlib
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import websockets
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp.v21.enums import Action as Action21
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201

logger = logging.getLogger(__name__)

VENDOR = "ChargeNet"
MODEL = "Simulator"
FIRMWARE_VERSION = "sim-1.0"
# A simulated firmware image is a text file that names its version on its first line.
SIM_FIRMWARE_MAGIC = b"CHARGENET-SIM-FIRMWARE "
# How a simulated station goes through a firmware update (tests choose the bad ones).
FIRMWARE_BEHAVIOURS = ("ok", "fail_download", "fail_install", "silent", "wrong_version", "reject")


def sim_firmware(version: str, size_bytes: int = 4096) -> bytes:
    """The bytes of a simulated firmware image of ``version``."""
    head = SIM_FIRMWARE_MAGIC + version.encode() + b"\n"
    return head + b"\0" * max(0, size_bytes - len(head))


def sim_firmware_version(content: bytes) -> str | None:
    if not content.startswith(SIM_FIRMWARE_MAGIC):
        return None
    return content[len(SIM_FIRMWARE_MAGIC):].split(b"\n", 1)[0].decode(errors="replace").strip() or None


@asynccontextmanager
async def websocket_connect(url: str, subprotocol: str, headers: dict, open_timeout: float):
    """The real network: what ``SimulatedStation`` connects with unless told otherwise."""
    async with websockets.connect(url, subprotocols=[subprotocol], additional_headers=headers,
                                  open_timeout=open_timeout, compression=None, proxy=None) as ws:
        yield ws


async def http_request(method: str, url: str, body: bytes | None = None, timeout_s: float = 60) -> tuple[int, bytes]:
    """(status, body) of an HTTP request; status 0 when nothing answered."""
    def send() -> tuple[int, bytes]:
        request = urllib.request.Request(url, data=body, method=method,
                                         headers={"Content-Type": "application/octet-stream"} if body else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (OSError, ValueError):
            return 0, b""

    return await asyncio.to_thread(send)


@dataclass
class Timing:
    """How fast the simulated world turns, in seconds; tests shrink all of it."""

    heartbeat_interval_s: float | None = None  # None: the interval the CSMS sets at boot
    meter_interval_s: float = 60.0
    session_s: float = 1800.0
    pause_s: float = 600.0
    response_timeout_s: float = 30.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0


@dataclass
class SimulationStats:
    """Counters one station or a whole fleet adds to."""

    connections: int = 0
    messages_sent: int = 0  # CALLs this side sent
    sessions_completed: int = 0  # stopped and acknowledged by the CSMS
    rejected_tokens: int = 0
    call_errors: int = 0  # CALLERROR answers
    timeouts: int = 0
    refused: int = 0  # handshakes the CSMS refused
    disconnects: int = 0  # connections lost, or not opened
    costs_shown: int = 0  # running and final costs the CSMS put on the displays

    @property
    def errors(self) -> int:
        return self.call_errors + self.timeouts + self.refused + self.disconnects


@dataclass
class StartRequest:
    id_token: str
    id_token_type: str = "ISO14443"
    remote: bool = False  # asked for by the CSMS: no local Authorize
    remote_start_id: int | None = None  # 2.0.1 remoteStartId


@dataclass
class Session:
    request: StartRequest
    meter_start_wh: int
    started_at: str
    ends_at: float  # time.monotonic()
    transaction_id: int | str | None = None  # 1.6: the CSMS's integer; 2.0.1: ours
    seq_no: int = 0  # 2.0.1: the next TransactionEvent's seqNo
    stop_reason: str | None = None  # set when the session should end, and why

    def next_seq_no(self) -> int:
        self.seq_no += 1
        return self.seq_no - 1


TARGET_SOC = 80.0  # % a bidirectional car asks to leave with
MIN_SOC = 20.0  # % below which it never discharges (its V2X minimum)


@dataclass
class Car:
    """The car plugged into an EVSE: a battery whose SoC follows the energy through the outlet."""

    battery_wh: float
    soc_at_start: float  # %
    import_start_wh: int  # the EVSE's registers when it plugged in
    export_start_wh: int

    def soc(self, imported_wh: int, exported_wh: int) -> float:
        """State of charge (%, 0-100) after this much drawn and fed back since plug-in."""
        held_wh = self.soc_at_start / 100 * self.battery_wh + (imported_wh - self.import_start_wh) - (
            exported_wh - self.export_start_wh)
        return max(0.0, min(100.0, 100 * held_wh / self.battery_wh))

    def energy_to(self, soc: float, now_soc: float) -> int:
        """Wh from ``now_soc`` to ``soc`` (negative: it may give that much)."""
        return round((soc - now_soc) / 100 * self.battery_wh)


class Evse:
    """One EVSE with one connector and its own energy meter."""

    def __init__(self, evse_id: int, power_w: int, meter_wh: int):
        self.evse_id = evse_id
        self.power_w = power_w
        self.available = True
        self.session: Session | None = None
        self.start_request: StartRequest | None = None  # a remote start waiting to be served
        self.idle_until = 0.0  # time.monotonic() before which no session starts by itself
        self.wake = asyncio.Event()  # something changed: a remote start or stop, shutting down
        self._register_wh = float(meter_wh)
        self._export_wh = 0.0  # V2X: what the car fed back
        self._charging_since: float | None = None
        # Charging profiles the station obeys: its session's TxProfile, else the default.
        self.tx_limit_w: float | None = None
        self.default_limit_w: float | None = None
        self.setpoint_w: float | None = None  # 2.1 CentralSetpoint; negative: the car discharges
        self.car: Car | None = None  # plugged in for the session

    @property
    def charging(self) -> bool:
        return self._charging_since is not None

    @property
    def free(self) -> bool:
        return self.available and self.session is None and self.start_request is None

    def meter_wh(self) -> int:
        """The energy register: it never goes back, and grows by the power drawn while charging."""
        wh = self._register_wh
        if self._charging_since is not None:
            wh += self.drawn_w() * (time.monotonic() - self._charging_since) / 3600
        return int(wh)

    def export_wh(self) -> int:
        """The export register (V2X): grows by the power fed back while discharging."""
        wh = self._export_wh
        if self._charging_since is not None:
            wh += self.fed_w() * (time.monotonic() - self._charging_since) / 3600
        return int(wh)

    def fed_w(self) -> int:
        """What the car feeds back: a negative setpoint, at most its own maximum."""
        if self.setpoint_w is None or self.setpoint_w >= 0:
            return 0
        return int(min(self.power_w, -self.setpoint_w))

    def drawn_w(self) -> int:
        """What the car draws: its own maximum, or less when a charging profile limits it
        (below 6 A on one phase a car cannot charge at all); nothing while it discharges."""
        if self.fed_w():
            return 0
        limit = self.tx_limit_w if self.tx_limit_w is not None else self.default_limit_w
        if limit is None:
            return self.power_w
        return 0 if limit < 6 * 230 else int(min(self.power_w, limit))

    def power_now_w(self) -> int:
        return self.drawn_w() if self.charging else 0

    def plug_in(self, *, battery_wh: float, soc: float) -> None:
        self.car = Car(battery_wh=battery_wh, soc_at_start=soc, import_start_wh=self.meter_wh(),
                       export_start_wh=self.export_wh())

    def soc(self) -> float | None:
        """The plugged-in car's state of charge now (%), None without a car."""
        return None if self.car is None else self.car.soc(self.meter_wh(), self.export_wh())

    def limit(self, *, tx_limit_w: float | None = None, default_limit_w: float | None = None,
              clear_tx: bool = False, setpoint_w: float | None = None) -> None:
        """Apply a charging profile's limit from now on (the registers keep what was drawn and fed)."""
        if self._charging_since is not None:
            now = time.monotonic()
            self._register_wh += self.drawn_w() * (now - self._charging_since) / 3600
            self._export_wh += self.fed_w() * (now - self._charging_since) / 3600
            self._charging_since = now
        if clear_tx:
            self.tx_limit_w = None
            self.setpoint_w = None
        if tx_limit_w is not None:
            self.tx_limit_w = tx_limit_w
            self.setpoint_w = setpoint_w
        if default_limit_w is not None:
            self.default_limit_w = default_limit_w

    def start_charging(self) -> None:
        if self._charging_since is None:
            self._charging_since = time.monotonic()

    def stop_charging(self) -> None:
        if self._charging_since is not None:
            elapsed = time.monotonic() - self._charging_since
            self._register_wh += self.drawn_w() * elapsed / 3600
            self._export_wh += self.fed_w() * elapsed / 3600
            self._charging_since = None
        self.tx_limit_w = None  # a TxProfile ends with its transaction
        self.setpoint_w = None


class SimulatedStation:
    """A charging station of one OCPP version, with ``evse_count`` EVSEs of one connector each."""

    # Configuration keys (1.6 names) a CSMS may change -> the Timing field behind each.
    WRITABLE_CONFIGURATION = {
        "HeartbeatInterval": "heartbeat_interval_s",
        "MeterValueSampleInterval": "meter_interval_s",
    }

    def __init__(
        self,
        station_id: str,
        password: str | None,
        *,
        url: str = "ws://127.0.0.1:8000/ocpp",
        version: str = "1.6",
        id_token: str,
        evse_count: int = 1,
        power_w: int = 11_000,
        timing: Timing | None = None,
        stats: SimulationStats | None = None,
        firmware_version: str = FIRMWARE_VERSION,
        firmware_behaviour: str = "ok",
        bidirectional: bool = False,
        departure_s: float = 6 * 3600,
        battery_wh: float = 60_000,
        initial_soc: float = 40.0,
        connect=websocket_connect,
        http=http_request,
    ):
        if version not in PROTOCOLS:
            raise ValueError(f"OCPP version must be one of {', '.join(PROTOCOLS)}, not {version!r}")
        self.station_id = station_id
        self.password = password
        self.url = url.rstrip("/")
        self.version = version
        self.id_token = id_token
        self.timing = dataclasses.replace(timing or Timing())  # our own copy: the CSMS may change it
        self.stats = stats if stats is not None else SimulationStats()
        # Each station's meters start somewhere of their own, so a CSMS that takes a meter
        # reading for the energy of a session gets caught.
        first_reading_wh = zlib.crc32(station_id.encode()) % 1_000_000
        self.evses = [Evse(n, power_w, first_reading_wh) for n in range(1, evse_count + 1)]
        self.boot_interval_s = 300.0
        self.connected = False
        self._closing = False  # run() returns once the sessions are stopped
        self._rebooting = False  # run() reconnects at once once the sessions are stopped
        self._wake = asyncio.Event()
        if firmware_behaviour not in FIRMWARE_BEHAVIOURS:
            raise ValueError(f"firmware_behaviour must be one of {', '.join(FIRMWARE_BEHAVIOURS)}")
        self.firmware_version = firmware_version
        self.firmware_behaviour = firmware_behaviour
        self.bidirectional = bidirectional  # 2.1: its cars may discharge
        self.departure_s = departure_s  # 2.1 V2X: when its car says it leaves, from the start
        if battery_wh <= 0 or not 0 <= initial_soc <= 100:
            raise ValueError("a car's battery needs a capacity above 0 Wh and an initial SoC of 0-100 %")
        self.battery_wh = battery_wh  # each car that plugs in
        self.initial_soc = initial_soc
        self.firmware_busy = False  # an update or upload in progress: a second one is refused
        self.pending_installed: int | None = None  # 2.0.1: report Installed (this requestId) after the boot
        self.reboot_reason = "RemoteReset"
        # What the display showed (2.0.1 tariff and cost, block I; display messages, block O):
        # per transaction its price text, running costs and final cost; messages by id.
        self.shown: dict[str, dict] = {}
        self.display_messages: dict[int, str] = {}
        self._connect = connect
        self.http = http

    # --- what the outside asks of a station ------------------------------------------

    async def run(self) -> None:
        """Stay connected until ``close()``; reconnect with backoff when the connection drops."""
        protocol_class = PROTOCOLS[self.version]
        backoff_s = self.timing.reconnect_min_s
        boot_reason = "PowerUp"
        while not self._closing:
            try:
                async with self._connect(
                    f"{self.url}/{quote(self.station_id, safe='')}",
                    protocol_class.subprotocol,
                    self._auth_headers(),
                    self.timing.response_timeout_s,
                ) as ws:
                    if ws.subprotocol != protocol_class.subprotocol:
                        raise ConnectionError(f"the CSMS did not accept {protocol_class.subprotocol}")
                    self.stats.connections += 1
                    backoff_s = self.timing.reconnect_min_s
                    await self._serve(protocol_class(self, ws), boot_reason)
            except websockets.InvalidStatus as error:
                self.stats.refused += 1
                logger.warning("%s: handshake refused: HTTP %s", self.station_id, error.response.status_code)
            except (OSError, TimeoutError, websockets.ConnectionClosed, websockets.InvalidHandshake) as error:
                self.stats.disconnects += 1
                logger.info("%s: connection lost or not opened: %r", self.station_id, error)
            finally:
                self.connected = False
            if self._rebooting:
                self._rebooting = False
                boot_reason, self.reboot_reason = self.reboot_reason, "RemoteReset"
                continue
            boot_reason = "PowerUp"
            if not self._closing:
                await _nap(self._wake, backoff_s * random.uniform(0.5, 1.0))
                backoff_s = min(backoff_s * 2, self.timing.reconnect_max_s)

    def close(self, stop_reason: str = "Other") -> None:
        """Stop the running sessions, disconnect, and let ``run()`` return."""
        self._closing = True
        self._wind_down(stop_reason)

    def reboot(self, stop_reason: str) -> None:
        """Stop the running sessions, disconnect, reconnect and boot again."""
        self._rebooting = True
        self._wind_down(stop_reason)

    @property
    def heartbeat_interval_s(self) -> float:
        return self.timing.heartbeat_interval_s or self.boot_interval_s

    # --- what the protocol handlers ask of it ----------------------------------------

    def evses_at(self, evse_id: int | None) -> list[Evse]:
        """The EVSE with this id; all of them for None or 0 (the station as a whole)."""
        return [evse for evse in self.evses if not evse_id or evse.evse_id == evse_id]

    def reserve(self, request: StartRequest, evse_id: int | None) -> bool:
        """Take a remote start for a free EVSE; ``wake()`` then starts it."""
        evse = next((evse for evse in self.evses_at(evse_id) if evse.free), None)
        if evse is None or self._winding_down:
            return False
        evse.start_request = request
        return True

    def end_session(self, transaction_id: int | str, stop_reason: str) -> bool:
        """Mark the session with this transaction id to stop; ``wake()`` then stops it."""
        for evse in self.evses:
            if evse.session is not None and evse.session.transaction_id == transaction_id:
                evse.session.stop_reason = evse.session.stop_reason or stop_reason
                return True
        return False

    def set_availability(self, evse_id: int | None, available: bool) -> bool:
        """Change availability; True when a session on one of the EVSEs delays it (Scheduled)."""
        evses = self.evses_at(evse_id)
        for evse in evses:
            evse.available = available
            if not available:
                evse.start_request = None
        return any(evse.session is not None for evse in evses)

    def wake(self) -> None:
        """Let the EVSEs act on what changed: a reserved start, a session to stop, availability."""
        for evse in self.evses:
            evse.wake.set()

    def show(self, transaction_id: str, *, price: str | None = None, running: float | None = None,
             final: float | None = None) -> None:
        """Put a price or cost on the display (and keep it, for the simulation's report)."""
        entry = self.shown.setdefault(transaction_id, {"price": None, "running": [], "final": None})
        if price is not None:
            entry["price"] = price
        if running is not None:
            entry["running"].append(running)
            self.stats.costs_shown += 1
        if final is not None:
            entry["final"] = final
            self.stats.costs_shown += 1

    def configuration(self) -> dict[str, str]:
        return {
            "HeartbeatInterval": f"{self.heartbeat_interval_s:g}",
            "MeterValueSampleInterval": f"{self.timing.meter_interval_s:g}",
            "NumberOfConnectors": str(len(self.evses)),
        }

    def configure(self, key: str, value: str) -> str:
        """Accepted, Rejected (read-only or a bad value) or NotSupported (unknown key)."""
        if key not in self.configuration():
            return "NotSupported"
        field = self.WRITABLE_CONFIGURATION.get(key)
        try:
            seconds = float(value)
        except ValueError:
            return "Rejected"
        if field is None or seconds <= 0:
            return "Rejected"
        setattr(self.timing, field, seconds)
        return "Accepted"

    def accept_firmware_update(self) -> bool:
        if self.firmware_busy or self._winding_down or self.firmware_behaviour == "reject":
            return False
        self.firmware_busy = True
        return True

    async def update_firmware(self, protocol: "_Protocol", location: str, request_id: int | None) -> None:
        """Downloading -> Downloaded -> Installing -> Installed, then a reboot into the new version
        (or the failure this station was made to show)."""
        try:
            if self.firmware_behaviour == "silent":
                return  # accepted, then never a word: the CSMS's timeout has to notice
            await protocol.firmware_status("Downloading", request_id)
            try:
                status, content = await self.http("GET", location)
            except Exception as error:  # whatever the transport, a failed download is reported as such
                logger.warning("%s: firmware download failed: %r", self.station_id, error)
                status, content = 0, b""
            new_version = sim_firmware_version(content) if status == 200 else None
            if self.firmware_behaviour == "fail_download" or new_version is None:
                await protocol.firmware_status("DownloadFailed", request_id)
                return
            await protocol.firmware_status("Downloaded", request_id)
            await protocol.firmware_status("Installing", request_id)
            if self.firmware_behaviour == "fail_install":
                await protocol.firmware_status("InstallationFailed", request_id)
                return
            if self.firmware_behaviour != "wrong_version":
                self.firmware_version = new_version
            if protocol.subprotocol == "ocpp1.6":
                await protocol.firmware_status("Installed", request_id)
            else:
                await protocol.firmware_status("InstallRebooting", request_id)
                self.pending_installed = request_id
            self.reboot_reason = "FirmwareUpdate"
            self.reboot(stop_reason="Reboot")
        finally:
            self.firmware_busy = False

    async def upload_log(self, protocol: "_Protocol", location: str, file_name: str, request_id: int | None) -> None:
        """Uploading, then the file PUT to ``location``/file name: Uploaded or the failure."""
        await protocol.log_status("Uploading", request_id)
        body = "\n".join([f"{now_iso()} {self.station_id} firmware={self.firmware_version}",
                          *(f"evse {e.evse_id}: meter {e.meter_wh()} Wh, available={e.available}"
                            for e in self.evses)]).encode() + b"\n"
        status, _ = await self.http("PUT", f"{location.rstrip('/')}/{file_name}", body)
        await protocol.log_status("Uploaded" if 200 <= status < 300 else "UploadFailed", request_id)

    # --- the station's life on one connection ----------------------------------------

    @property
    def _winding_down(self) -> bool:
        return self._closing or self._rebooting

    def _wind_down(self, stop_reason: str) -> None:
        for evse in self.evses:
            evse.start_request = None
            if evse.session is not None and evse.session.stop_reason is None:
                evse.session.stop_reason = stop_reason
        self.wake()
        self._wake.set()

    def _auth_headers(self) -> dict[str, str]:
        if self.password is None:
            return {}
        basic = base64.b64encode(f"{self.station_id}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}

    async def _serve(self, protocol: "_Protocol", boot_reason: str) -> None:
        """Read frames and live on this connection until one of the two ends."""
        self.connected = True
        reader = asyncio.create_task(protocol.start())
        life = asyncio.create_task(self._live(protocol, boot_reason))
        try:
            done, _ = await asyncio.wait({reader, life}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, life):
                task.cancel()
            await asyncio.gather(reader, life, return_exceptions=True)
        for task in (reader, life):  # the reader first: a closed connection explains a failed send
            if task in done and task.exception() is not None:
                raise task.exception()

    async def _live(self, protocol: "_Protocol", boot_reason: str) -> None:
        if not await self._boot(protocol, boot_reason):
            return
        if self.pending_installed is not None:
            await protocol.firmware_status("Installed", self.pending_installed)
            self.pending_installed = None
        for evse in self.evses:
            await protocol.send_status(evse)
        tasks = [asyncio.create_task(self._send_heartbeats(protocol))]
        tasks += [asyncio.create_task(self._run_evse(protocol, evse)) for evse in self.evses]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _boot(self, protocol: "_Protocol", reason: str) -> bool:
        """BootNotification until Accepted; False when told to wind down first."""
        while not self._winding_down:
            result = await protocol.boot(reason)
            if result is not None and result.interval > 0:
                self.boot_interval_s = result.interval
            if result is not None and result.status == "Accepted":
                return True
            await _nap(self._wake, self.boot_interval_s if result is not None else self.timing.reconnect_max_s)
        return False

    async def _send_heartbeats(self, protocol: "_Protocol") -> None:
        while True:
            await _nap(self._wake, self.heartbeat_interval_s)  # woken only to wind down
            if self._winding_down:
                return
            await protocol.heartbeat()

    async def _run_evse(self, protocol: "_Protocol", evse: Evse) -> None:
        while True:
            if evse.session is None:
                await self._idle(evse)
                if self._winding_down:
                    return
                if evse.available:
                    request, evse.start_request = evse.start_request or StartRequest(self.id_token), None
                    await self._start_session(protocol, evse, request)
            if evse.session is not None:  # just started, or begun before the connection dropped
                await self._charge(protocol, evse)
                await self._stop_session(protocol, evse)

    async def _idle(self, evse: Evse) -> None:
        """Until a remote start, the end of the pause (on an available EVSE), or winding down."""
        while evse.start_request is None and not self._winding_down:
            pause_left_s = evse.idle_until - time.monotonic()
            if evse.available and pause_left_s <= 0:
                return
            await _nap(evse.wake, pause_left_s if evse.available else self.timing.pause_s)

    async def _start_session(self, protocol: "_Protocol", evse: Evse, request: StartRequest) -> None:
        if not request.remote and not await protocol.authorize(request.id_token):
            self.stats.rejected_tokens += 1
            evse.idle_until = time.monotonic() + self.timing.pause_s
            return
        session = Session(
            request=request,
            meter_start_wh=evse.meter_wh(),
            started_at=now_iso(),
            ends_at=time.monotonic() + self.timing.session_s,
        )
        evse.plug_in(battery_wh=self.battery_wh, soc=self.initial_soc)
        evse.start_charging()
        accepted = await protocol.start_transaction(evse, session)
        if session.transaction_id is None:  # the CSMS did not open a transaction
            evse.stop_charging()
            evse.car = None
            evse.idle_until = time.monotonic() + self.timing.pause_s
            await protocol.send_status(evse)
            return
        evse.session = session
        if not accepted:
            session.stop_reason = "DeAuthorized"

    async def _charge(self, protocol: "_Protocol", evse: Evse) -> None:
        """Report meter values until the session is due to end or is told to."""
        session = evse.session
        next_sample = time.monotonic() + self.timing.meter_interval_s
        while session.stop_reason is None:
            now = time.monotonic()
            if now >= session.ends_at:
                session.stop_reason = "Local"  # the driver ends it at the station
                break
            if now >= next_sample:
                await protocol.send_meter_values(evse)
                next_sample = now + self.timing.meter_interval_s
            await _nap(evse.wake, min(next_sample, session.ends_at) - time.monotonic())

    async def _stop_session(self, protocol: "_Protocol", evse: Evse) -> None:
        evse.stop_charging()
        if await protocol.stop_transaction(evse, evse.session) is not None:
            self.stats.sessions_completed += 1
        evse.session = None
        evse.car = None  # the car leaves
        evse.idle_until = time.monotonic() + self.timing.pause_s
        await protocol.send_status(evse)


async def _nap(event: asyncio.Event, seconds: float) -> None:
    """Sleep for ``seconds`` or until ``event`` is set, whichever comes first."""
    try:
        await asyncio.wait_for(event.wait(), max(seconds, 0))
    except TimeoutError:
        pass
    event.clear()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def run_fleet(
    stations: list[SimulatedStation],
    *,
    duration_s: float = 0,
    ramp_s: float = 0,
    stop: asyncio.Event | None = None,
    close_timeout_s: float = 30,
) -> None:
    """Run stations side by side, started evenly over ``ramp_s``, until ``duration_s`` has
    passed (0: no limit) or ``stop`` is set; then close them, letting them end their sessions."""

    async def start(station: SimulatedStation, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await station.run()

    count = max(len(stations), 1)
    tasks = [asyncio.create_task(start(s, ramp_s * n / count)) for n, s in enumerate(stations)]
    waiters = [asyncio.create_task((stop or asyncio.Event()).wait())]
    try:
        await asyncio.wait(tasks + waiters, timeout=duration_s or None, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for station in stations:
            station.close()
        for waiter in waiters:
            waiter.cancel()
        _, unfinished = await asyncio.wait(tasks, timeout=close_timeout_s)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()


async def wait_for_server(url: str, timeout_s: float) -> bool:
    """True once something accepts TCP connections at the URL's host and port."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme in ("wss", "https") else 80)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _, writer = await asyncio.open_connection(parts.hostname, port)
        except OSError:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.5)
        else:
            writer.close()
            return True


# --- the wire: one ChargePoint subclass per OCPP version ------------------------------------
#
# Each offers the same steps to SimulatedStation (boot, heartbeat, send_status, authorize,
# start_transaction, send_meter_values, stop_transaction) and answers the CSMS's calls.
# An @on handler decides and records; the matching @after handler, run once the answer is
# on the wire, wakes the station to act on it (a session must not start before the CSMS
# has read "Accepted"). Calls are never made from an @on handler: that would deadlock.


class _Protocol:
    """What both versions share: counting calls and turning failures into None."""

    subprotocol: str

    def __init__(self, station: SimulatedStation, ws):
        super().__init__(station.station_id, ws, response_timeout=station.timing.response_timeout_s)
        self.station = station
        self._firmware_accepted = False  # the last UpdateFirmware was taken on

    async def request(self, payload):
        """Send a CALL; its result, or None after a CALLERROR or a timeout (both counted)."""
        stats = self.station.stats
        stats.messages_sent += 1
        try:
            return await self.call(payload, suppress=False)
        except OCPPError as error:
            stats.call_errors += 1
            logger.warning("%s: %s failed: %r", self.id, type(payload).__name__, error)
        except TimeoutError:
            stats.timeouts += 1
            logger.warning("%s: %s got no answer in time", self.id, type(payload).__name__)
        return None


def _sampled_values(evse: Evse, context: str, *, with_power: bool = True) -> list[dict]:
    """Energy register (Wh), optionally active power (W), and the plugged-in car's state of
    charge (%): keys in 1.6 spelling."""
    values = [{"value": evse.meter_wh(), "measurand": "Energy.Active.Import.Register", "unit": "Wh",
               "context": context}]
    if with_power:
        values.append({"value": evse.power_now_w(), "measurand": "Power.Active.Import", "unit": "W",
                       "context": context})
    soc = evse.soc()
    if soc is not None:
        values.append({"value": round(soc, 1), "measurand": "SoC", "unit": "Percent", "location": "EV",
                       "context": context})
    return values


class Station16(_Protocol, ChargePoint16):
    subprotocol = "ocpp1.6"

    async def boot(self, reason: str):
        return await self.request(call16.BootNotification(
            charge_point_vendor=VENDOR, charge_point_model=MODEL,
            charge_point_serial_number=self.id[:25], firmware_version=self.station.firmware_version,
        ))

    async def heartbeat(self):
        return await self.request(call16.Heartbeat())

    async def send_status(self, evse: Evse, status: str | None = None):
        if status is None:
            status = "Charging" if evse.charging else "Available" if evse.available else "Unavailable"
        return await self.request(call16.StatusNotification(
            connector_id=evse.evse_id, error_code="NoError", status=status, timestamp=now_iso()
        ))

    async def authorize(self, id_token: str) -> bool:
        result = await self.request(call16.Authorize(id_tag=id_token))
        return result is not None and result.id_tag_info["status"] == "Accepted"

    async def start_transaction(self, evse: Evse, session: Session) -> bool:
        await self.send_status(evse, "Preparing")
        result = await self.request(call16.StartTransaction(
            connector_id=evse.evse_id, id_tag=session.request.id_token,
            meter_start=session.meter_start_wh, timestamp=session.started_at,
        ))
        if result is None:
            return False
        session.transaction_id = result.transaction_id
        accepted = result.id_tag_info["status"] == "Accepted"
        if accepted:
            await self.send_status(evse, "Charging")
        return accepted

    async def send_meter_values(self, evse: Evse, context: str = "Sample.Periodic"):
        return await self.request(call16.MeterValues(
            connector_id=evse.evse_id,
            transaction_id=evse.session.transaction_id if evse.session else None,
            meter_value=[self._meter_value(_sampled_values(evse, context))],
        ))

    async def stop_transaction(self, evse: Evse, session: Session):
        begin = [{"value": session.meter_start_wh, "measurand": "Energy.Active.Import.Register",
                  "unit": "Wh", "context": "Transaction.Begin"}]
        end = _sampled_values(evse, "Transaction.End", with_power=False)
        result = await self.request(call16.StopTransaction(
            transaction_id=session.transaction_id, meter_stop=evse.meter_wh(), timestamp=now_iso(),
            id_tag=session.request.id_token, reason=session.stop_reason,
            transaction_data=[self._meter_value(begin, session.started_at), self._meter_value(end)],
        ))
        await self.send_status(evse, "Finishing")
        return result

    @staticmethod
    def _meter_value(sampled_values: list[dict], timestamp: str | None = None) -> dict:
        # 1.6 sends every value as a string.
        return {"timestamp": timestamp or now_iso(),
                "sampled_value": [{**sv, "value": str(sv["value"])} for sv in sampled_values]}

    # --- CSMS-initiated calls ---

    @on(Action16.remote_start_transaction)
    def on_remote_start_transaction(self, id_tag, connector_id=None, **_):
        accepted = self.station.reserve(StartRequest(id_tag, remote=True), connector_id)
        return result16.RemoteStartTransaction(status="Accepted" if accepted else "Rejected")

    @on(Action16.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id, **_):
        accepted = self.station.end_session(transaction_id, "Remote")
        return result16.RemoteStopTransaction(status="Accepted" if accepted else "Rejected")

    @after(Action16.remote_start_transaction)
    def after_remote_start_transaction(self, **_):
        self.station.wake()

    @after(Action16.remote_stop_transaction)
    def after_remote_stop_transaction(self, **_):
        self.station.wake()

    @on(Action16.reset)
    def on_reset(self, type, **_):
        return result16.Reset(status="Accepted")

    @after(Action16.reset)
    def after_reset(self, type, **_):
        self.station.reboot(stop_reason="HardReset" if type == "Hard" else "SoftReset")

    @on(Action16.change_availability)
    def on_change_availability(self, connector_id, type, **_):
        scheduled = self.station.set_availability(connector_id, available=type == "Operative")
        return result16.ChangeAvailability(status="Scheduled" if scheduled else "Accepted")

    @after(Action16.change_availability)
    async def after_change_availability(self, connector_id, **_):
        self.station.wake()
        for evse in self.station.evses_at(connector_id):
            if evse.session is None:
                await self.send_status(evse)

    @on(Action16.unlock_connector)
    def on_unlock_connector(self, connector_id, **_):
        return result16.UnlockConnector(status="Unlocked")

    @on(Action16.get_configuration)
    def on_get_configuration(self, key=None, **_):
        values = self.station.configuration()
        keys = key or list(values)
        known = [k for k in keys if k in values]
        return result16.GetConfiguration(
            configuration_key=[
                {"key": k, "readonly": k not in self.station.WRITABLE_CONFIGURATION, "value": values[k]}
                for k in known
            ],
            unknown_key=[k for k in keys if k not in values] or None,
        )

    @on(Action16.change_configuration)
    def on_change_configuration(self, key, value, **_):
        return result16.ChangeConfiguration(status=self.station.configure(key, value))

    TRIGGERABLE = {"BootNotification", "Heartbeat", "StatusNotification", "MeterValues"}

    @on(Action16.trigger_message)
    def on_trigger_message(self, requested_message, **_):
        return result16.TriggerMessage(
            status="Accepted" if requested_message in self.TRIGGERABLE else "NotImplemented"
        )

    @after(Action16.trigger_message)
    async def after_trigger_message(self, requested_message, connector_id=None, **_):
        if requested_message == "BootNotification":
            await self.boot("Triggered")
        elif requested_message == "Heartbeat":
            await self.heartbeat()
        for evse in self.station.evses_at(connector_id):
            if requested_message == "StatusNotification":
                await self.send_status(evse)
            elif requested_message == "MeterValues":
                await self.send_meter_values(evse, context="Trigger")

    @on(Action16.clear_cache)
    def on_clear_cache(self, **_):
        return result16.ClearCache(status="Accepted")

    @on(Action16.data_transfer)
    def on_data_transfer(self, vendor_id, **_):
        return result16.DataTransfer(status="Accepted")

    # --- firmware and diagnostics ---

    async def firmware_status(self, status: str, request_id: int | None = None):
        return await self.request(call16.FirmwareStatusNotification(status=status))

    async def log_status(self, status: str, request_id: int | None = None):
        return await self.request(call16.DiagnosticsStatusNotification(
            status="UploadFailed" if status == "UploadFailure" else status
        ))

    @on(Action16.update_firmware)
    def on_update_firmware(self, location, retrieve_date, **_):
        # 1.6 has no way to refuse; a busy station just does not start a second download.
        self._firmware_accepted = self.station.accept_firmware_update()
        return result16.UpdateFirmware()

    @after(Action16.update_firmware)
    async def after_update_firmware(self, location, **_):
        if self._firmware_accepted:
            await self.station.update_firmware(self, location, None)

    @on(Action16.get_diagnostics)
    def on_get_diagnostics(self, location, **_):
        return result16.GetDiagnostics(file_name=f"{self.id}-diagnostics.log")

    @after(Action16.get_diagnostics)
    async def after_get_diagnostics(self, location, **_):
        await self.station.upload_log(self, location, f"{self.id}-diagnostics.log", None)

    @on(Action16.set_charging_profile)
    def on_set_charging_profile(self, connector_id, cs_charging_profiles, **_):
        schedule = cs_charging_profiles["charging_schedule"]
        apply_profile(self.station.evses_at(connector_id or None), cs_charging_profiles["charging_profile_purpose"],
                      schedule["charging_rate_unit"], schedule["charging_schedule_period"])
        return result16.SetChargingProfile(status="Accepted")

    @on(Action16.clear_charging_profile)
    def on_clear_charging_profile(self, **_):
        for evse in self.station.evses:
            evse.limit(clear_tx=True)
        return result16.ClearChargingProfile(status="Accepted")

    @on(Action16.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id, duration, **_):
        evses = self.station.evses_at(connector_id or None)
        return result16.GetCompositeSchedule(
            status="Accepted", connector_id=connector_id, schedule_start=now_iso(),
            charging_schedule={"duration": duration, "charging_rate_unit": "W", "charging_schedule_period": [
                {"start_period": 0, "limit": float(sum(e.drawn_w() for e in evses))}]},
        )


def apply_profile(evses, purpose: str, unit: str, periods: list[dict]) -> None:
    """Obey the first period of a profile (a simulation: later periods are not followed).
    2.1: a CentralSetpoint period's setpoint is followed (negative: discharge)."""
    first = periods[0]
    scale = 1 if unit == "W" else 230 * first.get("number_phases", 3)
    limit_w = first.get("limit", 0) * scale
    setpoint_w = None
    if first.get("operation_mode") == "CentralSetpoint" and first.get("setpoint") is not None:
        setpoint_w = first["setpoint"] * scale
    for evse in evses:
        if purpose == "TxProfile":
            evse.limit(tx_limit_w=limit_w, setpoint_w=setpoint_w)
        elif purpose == "TxDefaultProfile":
            evse.limit(default_limit_w=limit_w)


class Station201(_Protocol, ChargePoint201):
    subprotocol = "ocpp2.0.1"

    # Device-model variables (component, variable) -> the station's configuration key.
    VARIABLES = {
        ("OCPPCommCtrlr", "HeartbeatInterval"): "HeartbeatInterval",
        ("SampledDataCtrlr", "TxUpdatedInterval"): "MeterValueSampleInterval",
    }
    # How a stop reason shows as the trigger of the Ended event.
    ENDED_TRIGGERS = {"Local": "StopAuthorized", "Remote": "RemoteStop", "DeAuthorized": "Deauthorized",
                      "ImmediateReset": "ResetCommand"}

    async def boot(self, reason: str):
        return await self.request(call201.BootNotification(
            charging_station={"vendor_name": VENDOR, "model": MODEL, "serial_number": self.id[:25],
                              "firmware_version": self.station.firmware_version},
            reason=reason,
        ))

    async def heartbeat(self):
        return await self.request(call201.Heartbeat())

    async def send_status(self, evse: Evse, status: str | None = None):
        if status is None:
            status = "Occupied" if evse.session else "Available" if evse.available else "Unavailable"
        return await self.request(call201.StatusNotification(
            timestamp=now_iso(), connector_status=status, evse_id=evse.evse_id, connector_id=1
        ))

    async def authorize(self, id_token: str) -> bool:
        result = await self.request(call201.Authorize(id_token={"id_token": id_token, "type": "ISO14443"}))
        return result is not None and result.id_token_info["status"] == "Accepted"

    async def start_transaction(self, evse: Evse, session: Session) -> bool:
        # The station owns a 2.0.1 transaction: it runs even if the CSMS does not answer.
        await self.send_status(evse, "Occupied")
        session.transaction_id = str(uuid.uuid4())
        request = session.request
        result = await self._transaction_event(
            evse, session, "Started", "RemoteStart" if request.remote else "Authorized", "Transaction.Begin",
            info={"remote_start_id": request.remote_start_id},
            fields={"evse": {"id": evse.evse_id, "connector_id": 1},
                    "id_token": {"id_token": request.id_token, "type": request.id_token_type}},
        )
        return result is None or (result.id_token_info or {"status": "Accepted"})["status"] == "Accepted"

    async def send_meter_values(self, evse: Evse, context: str = "Sample.Periodic"):
        if evse.session is None:
            return await self.request(call201.MeterValues(
                evse_id=evse.evse_id, meter_value=[self._meter_value(_sampled_values(evse, context))]
            ))
        trigger = "Trigger" if context == "Trigger" else "MeterValuePeriodic"
        return await self._transaction_event(evse, evse.session, "Updated", trigger, context)

    async def stop_transaction(self, evse: Evse, session: Session):
        return await self._transaction_event(
            evse, session, "Ended", self.ENDED_TRIGGERS.get(session.stop_reason, "AbnormalCondition"),
            "Transaction.End", info={"stopped_reason": session.stop_reason},
        )

    async def _transaction_event(self, evse: Evse, session: Session, event_type: str, trigger_reason: str,
                                 context: str, *, info: dict | None = None, fields: dict | None = None):
        transaction_info = {"transaction_id": session.transaction_id,
                            "charging_state": "Charging" if evse.charging else "EVConnected", **(info or {})}
        result = await self.request(call201.TransactionEvent(
            event_type=event_type, timestamp=now_iso(), trigger_reason=trigger_reason,
            seq_no=session.next_seq_no(), transaction_info=transaction_info,
            meter_value=[self._meter_value(_sampled_values(evse, context, with_power=evse.charging))],
            **(fields or {}),
        ))
        if result is not None:
            message = (result.id_token_info or {}).get("personal_message") or {}
            self.station.show(session.transaction_id, price=message.get("content"), final=result.total_cost)
        return result

    @staticmethod
    def _meter_value(sampled_values: list[dict]) -> dict:
        # 2.0.1 sends numbers, with the unit in unitOfMeasure.
        return {"timestamp": now_iso(), "sampled_value": [
            {"value": sv["value"], "measurand": sv["measurand"], "context": sv["context"],
             "unit_of_measure": {"unit": sv["unit"]}, **({"location": sv["location"]} if "location" in sv else {})}
            for sv in sampled_values
        ]}

    # --- CSMS-initiated calls ---

    @on(Action201.request_start_transaction)
    def on_request_start_transaction(self, id_token, remote_start_id, evse_id=None, **_):
        request = StartRequest(id_token["id_token"], id_token["type"], remote=True, remote_start_id=remote_start_id)
        accepted = self.station.reserve(request, evse_id)
        return result201.RequestStartTransaction(status="Accepted" if accepted else "Rejected")

    @on(Action201.request_stop_transaction)
    def on_request_stop_transaction(self, transaction_id, **_):
        accepted = self.station.end_session(transaction_id, "Remote")
        return result201.RequestStopTransaction(status="Accepted" if accepted else "Rejected")

    @after(Action201.request_start_transaction)
    def after_request_start_transaction(self, **_):
        self.station.wake()

    @after(Action201.request_stop_transaction)
    def after_request_stop_transaction(self, **_):
        self.station.wake()

    @on(Action201.reset)
    def on_reset(self, type, evse_id=None, **_):
        # Resetting a single EVSE is optional in 2.0.1; this station resets only as a whole.
        return result201.Reset(status="Rejected" if evse_id else "Accepted")

    @after(Action201.reset)
    def after_reset(self, type, evse_id=None, **_):
        if not evse_id:
            self.station.reboot(stop_reason="ImmediateReset")

    @on(Action201.change_availability)
    def on_change_availability(self, operational_status, evse=None, **_):
        scheduled = self.station.set_availability((evse or {}).get("id"), operational_status == "Operative")
        return result201.ChangeAvailability(status="Scheduled" if scheduled else "Accepted")

    @after(Action201.change_availability)
    async def after_change_availability(self, evse=None, **_):
        self.station.wake()
        for station_evse in self.station.evses_at((evse or {}).get("id")):
            if station_evse.session is None:
                await self.send_status(station_evse)

    @on(Action201.unlock_connector)
    def on_unlock_connector(self, evse_id, connector_id, **_):
        return result201.UnlockConnector(status="Unlocked")

    @on(Action201.get_variables)
    def on_get_variables(self, get_variable_data, **_):
        values = self.station.configuration()
        results = []
        for item in get_variable_data:
            key = self.VARIABLES.get((item["component"]["name"], item["variable"]["name"]))
            results.append({
                "attribute_status": "Accepted" if key else self._unknown(item),
                "attribute_value": values[key] if key else None,
                "component": item["component"], "variable": item["variable"],
            })
        return result201.GetVariables(get_variable_result=results)

    @on(Action201.set_variables)
    def on_set_variables(self, set_variable_data, **_):
        results = []
        for item in set_variable_data:
            key = self.VARIABLES.get((item["component"]["name"], item["variable"]["name"]))
            status = self.station.configure(key, item["attribute_value"]) if key else self._unknown(item)
            results.append({"attribute_status": status, "component": item["component"], "variable": item["variable"]})
        return result201.SetVariables(set_variable_result=results)

    def _unknown(self, item: dict) -> str:
        known_components = {component for component, _ in self.VARIABLES}
        return "UnknownVariable" if item["component"]["name"] in known_components else "UnknownComponent"

    @on(Action201.cost_updated)
    def on_cost_updated(self, total_cost, transaction_id, **_):
        self.station.show(transaction_id, running=total_cost)
        return result201.CostUpdated()

    @on(Action201.set_display_message)
    def on_set_display_message(self, message, **_):
        self.station.display_messages[message["id"]] = message["message"]["content"]
        return result201.SetDisplayMessage(status="Accepted")

    @on(Action201.clear_display_message)
    def on_clear_display_message(self, id, **_):
        found = self.station.display_messages.pop(id, None) is not None
        return result201.ClearDisplayMessage(status="Accepted" if found else "Unknown")

    @on(Action201.get_base_report)
    def on_get_base_report(self, request_id, report_base, **_):
        return result201.GetBaseReport(status="Accepted")

    @after(Action201.get_base_report)
    async def after_get_base_report(self, request_id, **_):
        values = self.station.configuration()
        await self.request(call201.NotifyReport(
            request_id=request_id, generated_at=now_iso(), seq_no=0, tbc=False,
            report_data=[
                {"component": {"name": component}, "variable": {"name": variable},
                 "variable_attribute": [{"type": "Actual", "value": values[key], "mutability": "ReadWrite"}],
                 "variable_characteristics": {"data_type": "decimal", "unit": "s", "supports_monitoring": False}}
                for (component, variable), key in self.VARIABLES.items()
            ] + [
                # The display shows tariffs and costs (TariffCostCtrlr, functional block I).
                {"component": {"name": "TariffCostCtrlr"}, "variable": {"name": "Enabled", "instance": kind},
                 "variable_attribute": [{"type": "Actual", "value": "true", "mutability": "ReadWrite"}],
                 "variable_characteristics": {"data_type": "boolean", "supports_monitoring": False}}
                for kind in ("Tariff", "Cost")
            ],
        ))

    TRIGGERABLE = {"BootNotification", "Heartbeat", "StatusNotification", "MeterValues", "TransactionEvent"}

    @on(Action201.trigger_message)
    def on_trigger_message(self, requested_message, **_):
        return result201.TriggerMessage(
            status="Accepted" if requested_message in self.TRIGGERABLE else "NotImplemented"
        )

    @after(Action201.trigger_message)
    async def after_trigger_message(self, requested_message, evse=None, **_):
        if requested_message == "BootNotification":
            await self.boot("Triggered")
        elif requested_message == "Heartbeat":
            await self.heartbeat()
        for station_evse in self.station.evses_at((evse or {}).get("id")):
            if requested_message == "StatusNotification":
                await self.send_status(station_evse)
            elif requested_message == "MeterValues":
                await self.request(call201.MeterValues(
                    evse_id=station_evse.evse_id,
                    meter_value=[self._meter_value(_sampled_values(station_evse, "Trigger"))],
                ))
            elif requested_message == "TransactionEvent" and station_evse.session is not None:
                await self._transaction_event(station_evse, station_evse.session, "Updated", "Trigger", "Trigger")

    @on(Action201.clear_cache)
    def on_clear_cache(self, **_):
        return result201.ClearCache(status="Accepted")

    @on(Action201.data_transfer)
    def on_data_transfer(self, vendor_id, **_):
        return result201.DataTransfer(status="Accepted")

    # --- firmware and logs ---

    async def firmware_status(self, status: str, request_id: int | None = None):
        return await self.request(call201.FirmwareStatusNotification(status=status, request_id=request_id))

    async def log_status(self, status: str, request_id: int | None = None):
        return await self.request(call201.LogStatusNotification(
            status="UploadFailure" if status == "UploadFailed" else status, request_id=request_id
        ))

    @on(Action201.update_firmware)
    def on_update_firmware(self, request_id, firmware, **_):
        self._firmware_accepted = self.station.accept_firmware_update()
        return result201.UpdateFirmware(status="Accepted" if self._firmware_accepted else "Rejected")

    @after(Action201.update_firmware)
    async def after_update_firmware(self, request_id, firmware, **_):
        if self._firmware_accepted:
            await self.station.update_firmware(self, firmware["location"], request_id)

    @on(Action201.get_log)
    def on_get_log(self, log_type, request_id, log, **_):
        return result201.GetLog(status="Accepted", filename=f"{self.id}-{log_type}.log")

    @after(Action201.get_log)
    async def after_get_log(self, log_type, request_id, log, **_):
        await self.station.upload_log(self, log["remote_location"], f"{self.id}-{log_type}.log", request_id)

    @on(Action201.set_charging_profile)
    def on_set_charging_profile(self, evse_id, charging_profile, **_):
        schedule = charging_profile["charging_schedule"][0]
        apply_profile(self.station.evses_at(evse_id or None), charging_profile["charging_profile_purpose"],
                      schedule["charging_rate_unit"], schedule["charging_schedule_period"])
        return result201.SetChargingProfile(status="Accepted")

    @on(Action201.clear_charging_profile)
    def on_clear_charging_profile(self, **_):
        for evse in self.station.evses:
            evse.limit(clear_tx=True)
        return result201.ClearChargingProfile(status="Accepted")

    @on(Action201.get_composite_schedule)
    def on_get_composite_schedule(self, duration, evse_id, **_):
        evses = self.station.evses_at(evse_id or None)
        return result201.GetCompositeSchedule(status="Accepted", schedule={
            "evse_id": evse_id, "duration": duration, "schedule_start": now_iso(), "charging_rate_unit": "W",
            "charging_schedule_period": [{"start_period": 0, "limit": float(sum(e.drawn_w() for e in evses))}],
        })


class Station21(Station201):
    """2.1 speaks 2.0.1's messages with 2.1's schemas, plus V2X: a bidirectional car's
    charging needs, its export register, discharging setpoints."""

    subprotocol = "ocpp2.1"
    _ocpp_version = "2.1"
    _call = call21
    _call_result = result21

    async def _handle_call(self, msg):
        # ocpp 2.1.0 answers nothing for an action without a handler; a charger says NotImplemented.
        if msg.action not in self.route_map:
            raise OcppNotImplemented(details={"cause": f"the simulator does not handle {msg.action}"})
        return await super()._handle_call(msg)

    async def start_transaction(self, evse: Evse, session: Session) -> bool:
        accepted = await super().start_transaction(evse, session)
        if accepted and self.station.bidirectional:
            departure = datetime.now(UTC).timestamp() + self.station.departure_s
            car, soc = evse.car, evse.soc()
            target_wh = max(0, car.energy_to(TARGET_SOC, soc))
            await self.request(call21.NotifyEVChargingNeeds(evse_id=evse.evse_id, charging_needs={
                "requested_energy_transfer": "AC_BPT",
                "available_energy_transfer": ["AC_three_phase", "AC_BPT"],
                "departure_time": datetime.fromtimestamp(departure, UTC).isoformat(timespec="seconds"),
                "ac_charging_parameters": {"energy_amount": target_wh, "ev_min_current": 6, "ev_max_current": 16,
                                           "ev_max_voltage": 400},
                "v2x_charging_parameters": {
                    "max_charge_power": evse.power_w, "max_discharge_power": evse.power_w,
                    "ev_target_energy_request": target_wh, "ev_min_energy_request": car.energy_to(MIN_SOC, soc),
                    "ev_max_energy_request": car.energy_to(100.0, soc), "target_soc": int(TARGET_SOC),
                },
            }))
        return accepted

    async def _transaction_event(self, evse: Evse, session: Session, event_type: str, trigger_reason: str,
                                 context: str, *, info: dict | None = None, fields: dict | None = None):
        values = _sampled_values(evse, context, with_power=evse.charging)
        if self.station.bidirectional:
            values.append({"value": evse.export_wh(), "measurand": "Energy.Active.Export.Register", "unit": "Wh",
                           "context": context})
            if evse.charging:
                values.append({"value": evse.fed_w(), "measurand": "Power.Active.Export", "unit": "W",
                               "context": context})
        transaction_info = {"transaction_id": session.transaction_id,
                            "charging_state": "Charging" if evse.charging else "EVConnected", **(info or {})}
        if evse.setpoint_w is not None:
            transaction_info["operation_mode"] = "CentralSetpoint"
        return await self.request(call21.TransactionEvent(
            event_type=event_type, timestamp=now_iso(), trigger_reason=trigger_reason,
            seq_no=session.next_seq_no(), transaction_info=transaction_info,
            meter_value=[self._meter_value(values)], **(fields or {}),
        ))

    @on(Action21.set_charging_profile)
    def on_set_charging_profile(self, evse_id, charging_profile, **_):
        """As 2.0.1; a Dynamic profile is remembered, so UpdateDynamicSchedule can move its period."""
        answer = super().on_set_charging_profile(evse_id, charging_profile)
        if charging_profile["charging_profile_kind"] == "Dynamic":
            schedule = charging_profile["charging_schedule"][0]
            self._dynamic = getattr(self, "_dynamic", {})
            self._dynamic[charging_profile["id"]] = (
                evse_id, charging_profile["charging_profile_purpose"], schedule["charging_rate_unit"],
                dict(schedule["charging_schedule_period"][0]))
        return answer

    @on(Action21.update_dynamic_schedule)
    def on_update_dynamic_schedule(self, charging_profile_id, schedule_update, **_):
        held = getattr(self, "_dynamic", {}).get(charging_profile_id)
        if held is None:
            return result21.UpdateDynamicSchedule(status="Rejected", status_info={"reason_code": "UnknownProfile"})
        evse_id, purpose, unit, period = held
        period.update({k: v for k, v in schedule_update.items() if k in ("limit", "setpoint", "discharge_limit")})
        apply_profile(self.station.evses_at(evse_id or None), purpose, unit, [period])
        return result21.UpdateDynamicSchedule(status="Accepted")

    @on(Action21.notify_allowed_energy_transfer)
    def on_notify_allowed_energy_transfer(self, transaction_id, allowed_energy_transfer, **_):
        return result21.NotifyAllowedEnergyTransfer(status="Accepted")

    @on(Action21.afrr_signal)
    def on_afrr_signal(self, timestamp, signal, **_):
        return result21.AFRRSignal(status="Accepted")


PROTOCOLS: dict[str, type[_Protocol]] = {"1.6": Station16, "2.0.1": Station201, "2.1": Station21}
VERSIONS = tuple(PROTOCOLS)  # "1.6", "2.0.1", "2.1"
