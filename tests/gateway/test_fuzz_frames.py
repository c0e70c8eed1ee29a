"""Fuzzing the frame router: 1,500 generated frames per OCPP version (4,500 a run), valid-ish and
broken, through the real ASGI stack on one connection. Every CALL gets exactly one answer
with its id (a CALLRESULT or a CALLERROR in the version's vocabulary), every frame that is
no CALL gets the frame error or nothing, the connection still answers a Heartbeat at the
end, and the process keeps no memory per frame.

Hypothesis generates the frames (strategies over the OCPP-J frame structure); they are sent
in batches over one connection, because a connection that survives thousands of hostile
frames in a row is the property under test.
"""

import gc
import json
import tracemalloc

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gateway.frames import MAX_NESTING_DEPTH
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)

FRAMES_PER_VERSION = 1500
BATCH = 250
MAX_FRAME_BYTES = 16 * 1024  # small, so frames over the limit are cheap to build

CODES = {
    "1.6": {"FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
            "TypeConstraintViolation", "ProtocolError", "NotImplemented", "NotSupported", "SecurityError",
            "GenericError"},
    "2.0.1": {"FormatViolation", "PropertyConstraintViolation", "OccurrenceConstraintViolation",
              "TypeConstraintViolation", "ProtocolError", "NotImplemented", "NotSupported", "SecurityError",
              "GenericError", "RpcFrameworkError", "MessageTypeNotSupported"},
}
CODES["2.1"] = CODES["2.0.1"]
FRAME_ERROR = {"1.6": "FormationViolation", "2.0.1": "RpcFrameworkError", "2.1": "RpcFrameworkError"}
TYPE_ERROR = {"1.6": "FormationViolation", "2.0.1": "MessageTypeNotSupported", "2.1": "MessageTypeNotSupported"}

# An expectation: ("answer", id, allowed codes or None for "CALLRESULT or any allowed code")
# or ("silent",) for frames OCPP-J says to ignore.
SILENT = ("silent",)

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**31), 2**31), st.floats(allow_nan=False,
                      allow_infinity=False), st.text(max_size=20))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
unique_ids = st.text(st.characters(codec="utf-8"), min_size=1, max_size=36)
plain_ids = st.from_regex(r"[a-zA-Z0-9-]{1,36}", fullmatch=True)


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def frames(version: str):
    """Strategies for one frame and what the CSMS must do with it."""
    token = ({"idTag": "TAG"} if version == "1.6" else {"idToken": {"idToken": "TAG", "type": "ISO14443"}})
    status = ({"connectorId": 1, "errorCode": "NoError", "status": "Available"} if version == "1.6" else
              {"timestamp": "2025-03-01T10:00:00Z", "connectorStatus": "Available", "evseId": 1, "connectorId": 1})
    data = st.text(max_size=40) if version == "1.6" else json_value
    any_answer = lambda uid: ("answer", uid, None)  # noqa: E731

    valid_calls = st.tuples(unique_ids, st.sampled_from([
        ("Heartbeat", {}), ("Authorize", token), ("StatusNotification", status),
    ])).map(lambda t: ([2, t[0], *t[1]], ("answer", t[0], "result")))
    # A NUL in a string is refused (PostgreSQL cannot store it): PropertyConstraintViolation.
    data_transfers = st.tuples(unique_ids, data).map(
        lambda t: ([2, t[0], "DataTransfer", {"vendorId": "fuzz", "data": t[1]}],
                   ("answer", t[0], {"PropertyConstraintViolation"} if "\\u0000" in json.dumps(t[1]) else "result")))
    schema_fuzz = st.tuples(unique_ids, st.sampled_from(["Heartbeat", "Authorize", "StatusNotification",
                                                         "DataTransfer", "MeterValues"]),
                            st.dictionaries(st.text(max_size=12), json_value, max_size=5)).map(
        lambda t: ([2, t[0], t[1], t[2]], any_answer(t[0])))
    unknown_actions = st.tuples(unique_ids, st.text(max_size=30), st.dictionaries(st.text(max_size=8), json_leaf,
                                                                                  max_size=3)).map(
        lambda t: ([2, t[0], t[1], t[2]], ("answer", t[0], None)))
    bad_calls = st.tuples(unique_ids, st.lists(json_value, max_size=3)).map(
        lambda t: ([2, t[0], *t[1]], ("answer", t[0], {FRAME_ERROR[version]}))
        if len(t[1]) != 2 or not isinstance(t[1][0], str) or not isinstance(t[1][1], dict)
        else ([2, t[0], *t[1]], any_answer(t[0])))
    stray_answers = st.one_of(
        st.tuples(unique_ids, st.dictionaries(st.text(max_size=8), json_leaf, max_size=3)).map(
            lambda t: ([3, "stray-" + t[0], t[1]], SILENT)),
        st.tuples(unique_ids, st.text(max_size=20), st.text(max_size=20)).map(
            lambda t: ([4, "stray-" + t[0], t[1], t[2], {}], SILENT)),
    )
    known_types = (2, 3, 4, 5, 6) if version == "2.1" else (2, 3, 4)
    wrong_type = st.tuples(st.integers(-(2**53), 2**53).filter(lambda n: n not in known_types), unique_ids).map(
        lambda t: ([t[0], t[1], "Heartbeat", {}], ("answer", t[1], {TYPE_ERROR[version]})))
    # OCPP 2.1's CALLRESULTERROR (5) and SEND (6) are never answered, not even unknown or malformed ones.
    unanswered_21 = st.tuples(st.sampled_from([5, 6]), unique_ids, st.text(max_size=20)).map(
        lambda t: ([t[0], t[1], t[2] or "Heartbeat", {}], SILENT))
    not_arrays = st.one_of(st.dictionaries(st.text(max_size=8), json_leaf, max_size=3), json_leaf,
                           st.just([])).map(lambda value: (json.dumps(value), ("answer", "-1", {FRAME_ERROR[version]})))
    not_json = st.text(max_size=60).map(
        lambda text: ("\x01" + text, ("answer", "-1", {FRAME_ERROR[version]})))
    # Beyond orjson's 1024 levels the frame cannot be parsed: its id is read from its first bytes.
    too_deep = st.tuples(plain_ids, st.integers(MAX_NESTING_DEPTH + 1, 3000)).map(
        lambda t: (f'[2, "{t[0]}", "DataTransfer", {{"vendorId": "fuzz", "data": {nested(t[1])}}}]',
                   ("answer", t[0], {FRAME_ERROR[version]})))
    deep_ok = st.tuples(unique_ids, st.integers(1, MAX_NESTING_DEPTH - 4)).map(
        lambda t: (f'[2, {json.dumps(t[0])}, "DataTransfer", {{"vendorId": "fuzz", "data": {nested(t[1])}}}]',
                   ("answer", t[0], "result" if version != "1.6" else {FRAME_ERROR[version],
                                                                        "TypeConstraintViolation"})))
    too_big = st.tuples(plain_ids,
                        st.integers(MAX_FRAME_BYTES, 2 * MAX_FRAME_BYTES)).map(
        lambda t: (f'[2, "{t[0]}", "DataTransfer", {{"vendorId": "fuzz", "data": "{"x" * t[1]}"}}]',
                   ("answer", t[0], {FRAME_ERROR[version]})))
    return st.one_of(valid_calls, data_transfers, schema_fuzz, unknown_actions, bad_calls, stray_answers,
                     wrong_type, not_arrays, not_json, too_deep, deep_ok, too_big,
                     *([unanswered_21] if version == "2.1" else []))


def generate(version: str, count: int) -> list:
    """``count`` frames drawn by hypothesis (its search, not ``.example()``), in batches."""
    drawn: list = []

    @settings(max_examples=count // BATCH, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(st.lists(frames(version), min_size=BATCH, max_size=BATCH))
    def draw(batch):
        drawn.append(batch)

    draw()
    return [frame for batch in drawn for frame in batch]


def check(version: str, sent, expectation, answer: list | None) -> None:
    if expectation == SILENT:
        raise AssertionError(f"answered a frame OCPP-J says to ignore: {sent!r:.200} -> {answer!r:.200}")
    _, unique_id, allowed = expectation
    assert answer is not None, f"no answer to {sent!r:.200}"
    assert answer[1] == unique_id, f"answer {answer!r:.200} for {sent!r:.200}"
    if answer[0] == 3:
        assert allowed in (None, "result"), f"CALLRESULT {answer!r:.200} for {sent!r:.200}"
        assert isinstance(answer[2], dict)
        return
    assert answer[0] == 4 and len(answer) == 5, f"{answer!r:.200} for {sent!r:.200}"
    assert allowed != "result", f"{answer!r:.300} for valid {sent!r:.200}"
    assert answer[2] in (allowed or CODES[version]), f"{answer!r:.300} for {sent!r:.200}"
    assert isinstance(answer[3], str) and isinstance(answer[4], dict)


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
async def test_thousands_of_fuzzed_frames_get_the_right_answer_and_the_connection_lives(
    make_station, make_token, ocpp, settings, version
):
    settings.OCPP_MAX_FRAME_BYTES = MAX_FRAME_BYTES
    await adb(make_token)("TAG")
    await adb(make_station)("CP-1")
    generated = generate(version, FRAMES_PER_VERSION)
    assert len(generated) >= FRAMES_PER_VERSION
    warm_up, fuzz = generated[:BATCH], generated[BATCH:]

    async with ocpp(version=version) as client:

        async def run(batch):
            for frame, expectation in batch:
                await client.send_frame(frame if isinstance(frame, str) else json.dumps(frame))
                if expectation == SILENT:
                    continue
                try:
                    answer = await client.receive_frame(timeout=10)
                except TimeoutError:
                    raise AssertionError(f"no answer within 10 s to {frame!r:.500}") from None
                check(version, frame, expectation, answer)
            # Nothing else may be on the wire: the next answer is the Heartbeat's.
            heartbeat = await client.call("Heartbeat", {}, unique_id="after-batch")
            assert heartbeat[0] == 3 and "currentTime" in heartbeat[2], heartbeat

        await run(warm_up)
        gc.collect()
        tracemalloc.start()
        try:
            for start in range(0, len(fuzz), BATCH):
                await run(fuzz[start:start + BATCH])
            gc.collect()
            kept, _peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert await client.communicator.receive_nothing(timeout=0.1)
    # What the fuzz left allocated: nothing grows per frame (no queue of stray answers, no log).
    assert kept < 2 * 1024 * 1024, f"{kept / 1024:.0f} KiB still allocated after {len(fuzz)} frames"
