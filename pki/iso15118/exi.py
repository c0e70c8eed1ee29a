"""EXI encoding and decoding of ISO 15118-2 and -20 messages and fragments.

Messages are plain dicts in the codec's JSON shape: element names as keys, attributes
(``Id``, ``Algorithm``, ``URI``) as keys too, base64Binary content as base64 strings,
hexBinary as hex strings, simple content under ``value``. A whole message is
``{"V2G_Message": {...}}``; any other single element (``{"SignedInfo": ...}``,
``{"CertificateInstallationReq": ...}``) is encoded as an EXI fragment, which is what
ISO 15118-2 signatures digest.

ISO 15118-20 (namespace ``COMMON_MESSAGES``) has no ``V2G_Message`` wrapper: a message is its
root element with the ``Header`` inside (``{"CertificateInstallationReq": {"Header": ...}}``).
The codec encodes the -20 elements it knows as signed (``OEMProvisioningCertificateChain``,
``PnC_AReqAuthorizationMode``) as fragments; every other element, ``SignedInstallationData``
included, as a document of that root element. Signature digests take that encoding as it is.

The codec is a Java program (see ``fetch_codec``), started once per process on first use
and reached through py4j. Calls block; run them off the event loop.
"""

import json
import logging
import os
import shutil
import threading
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

LOCAL_PROVIDER = "pki.services.contracts.LocalContractProvider"
MSG_DEF = "urn:iso:15118:2:2013:MsgDef"
COMMON_MESSAGES = "urn:iso:std:iso:15118:-20:CommonMessages"  # ISO 15118-20: messages are root elements
XMLDSIG = "http://www.w3.org/2000/09/xmldsig#"


class ExiUnavailable(RuntimeError):
    """No codec in this process: no Java runtime, or the jar is missing."""


class ExiError(ValueError):
    """The bytes are not EXI of the schema, or the dict is not a valid message."""


_lock = threading.Lock()
_gateway = None
_codec = None


def _start():
    global _gateway, _codec
    jar = Path(settings.PKI_EXI_CODEC_JAR)
    if not jar.is_file():
        raise ExiUnavailable(f"EXI codec not found at {jar}: run `make install` or set PKI_EXI_CODEC_JAR")
    java = shutil.which(settings.PKI_JAVA)
    if java is None:
        raise ExiUnavailable(f"no Java runtime ({settings.PKI_JAVA!r} not found) for the EXI codec: install one "
                             "(Debian: default-jre-headless) or set PKI_JAVA")
    from py4j.java_gateway import JavaGateway

    logging.getLogger("py4j").setLevel(logging.WARNING)
    try:
        _gateway = JavaGateway.launch_gateway(
            classpath=str(jar), java_path=java, die_on_exit=True,
            # Small and quick to warm: C1 only, serial GC, 96 MB heap (about 135 MB resident).
            javaopts=["-Xmx96m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                      "--add-opens", "java.base/java.lang=ALL-UNNAMED"],
        )
        _lower_priority(_gateway.java_process.pid)
        _codec = _gateway.jvm.com.siemens.ct.exi.main.cmd.EXICodec()
    except Exception as error:  # py4j raises plain exceptions when the JVM does not come up
        _gateway = _codec = None
        raise ExiUnavailable(f"the EXI codec did not start: {error}") from error
    logger.info("EXI codec %s started", _codec.get_version())


def _lower_priority(pid: int) -> None:
    """Nice 10 for the JVM's threads (Linux): its start must not hold up the OCPP server."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for tid in tasks:
        try:
            os.setpriority(os.PRIO_PROCESS, int(tid), 10)
        except OSError:
            pass


def _call(method: str, *args):
    """Call the codec under the lock (it keeps its last error per instance); one restart
    if the JVM went away."""
    from py4j.protocol import Py4JError, Py4JJavaError

    with _lock:
        for attempt in (1, 2):
            if _codec is None:
                _start()
            try:
                result = getattr(_codec, method)(*args)
                error = None if result is not None else (
                    _codec.get_last_encoding_error() if method == "encode" else _codec.get_last_decoding_error()
                )
                return result, error
            except Py4JJavaError as failure:  # the codec threw: bad input, the JVM is fine
                return None, str(failure.java_exception)
            except Py4JError as failure:
                logger.warning("EXI codec call failed (%s); restarting it", failure)
                shutdown()
                if attempt == 2:
                    raise ExiUnavailable(f"the EXI codec failed: {failure}") from failure
    raise AssertionError("unreachable")


def encode(document: dict, namespace: str = MSG_DEF) -> bytes:
    result, error = _call("encode", json.dumps(document, separators=(",", ":")), namespace)
    if result is None:
        raise ExiError(f"cannot encode {next(iter(document), '?')}: {error or 'unknown error'}")
    return bytes(result)


def decode(data: bytes, namespace: str = MSG_DEF) -> dict:
    if not data:
        raise ExiError("empty EXI stream")
    result, error = _call("decode", bytearray(data), namespace)
    if result is None:
        raise ExiError(f"not an EXI stream of {namespace}: {error or 'unknown error'}")
    try:
        return json.loads(result)
    except ValueError as failure:
        raise ExiError(f"the codec returned no JSON: {failure}") from failure


def warm_up_in_background() -> threading.Thread | None:
    """Start the codec and run it once on a thread, so that the first EV does not wait for the
    JVM (ISO 15118-2 gives the car 5 s for its certificate installation, the CSMS included).
    Only where the built-in contract provider answers and PKI_EXI_WARMUP is not false."""
    if not settings.PKI_EXI_WARMUP or settings.PKI_CONTRACT_PROVIDER != LOCAL_PROVIDER:
        return None

    def warm() -> None:
        try:
            encode({"eMAID": {"Id": "id1", "value": "ZZCNGC00000000"}})
        except (ExiUnavailable, ExiError) as error:
            logger.warning("Plug & Charge contract installation is unavailable: %s", error)

    thread = threading.Thread(target=warm, name="exi-warm-up", daemon=True)
    thread.start()
    return thread


def shutdown() -> None:
    global _gateway, _codec
    gateway, _gateway, _codec = _gateway, None, None
    if gateway is not None:
        try:
            gateway.shutdown()
        except Exception:  # the JVM may be gone already
            pass
