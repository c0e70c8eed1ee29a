"""The EXI codec: ISO 15118-2 messages round-trip, fragments differ from documents, bad
input is a clear error, and the server starts the codec before the first EV asks."""

import pytest

from pki.iso15118 import exi

MESSAGE = {"V2G_Message": {"Header": {"SessionID": "0A1B2C3D4E5F6071"},
                           "Body": {"SessionStopReq": {"ChargingSession": "Terminate"}}}}


def test_a_message_round_trips_and_starts_as_iso_15118_2_exi():
    data = exi.encode(MESSAGE)
    assert data[:2] == b"\x80\x98"  # EXI header, then SE(V2G_Message) of the ISO 15118-2 grammar
    assert exi.decode(data) == MESSAGE


def test_an_element_alone_is_an_exi_fragment():
    element = {"eMAID": {"Id": "id4", "value": "ZZCNGC00000000"}}
    assert exi.encode(element) != exi.encode(MESSAGE)
    assert exi.encode(element) == exi.encode(element)  # canonical: digests depend on it


@pytest.mark.parametrize("data", [b"\x80\x98\x02garbage", b"\x00\x01\x02"])
def test_bytes_that_are_no_message_are_an_error(data):
    with pytest.raises(exi.ExiError, match="not an EXI stream"):
        exi.decode(data)


@pytest.mark.parametrize("document", [
    {"V2G_Message": {"Header": {"SessionID": "not hex"}, "Body": {}}},
    {"NoSuchElement": {"Id": "id1"}},
])
def test_a_message_outside_the_schema_is_an_error(document):
    with pytest.raises(exi.ExiError, match="cannot encode"):
        exi.encode(document)


def test_the_codec_is_started_in_the_background_when_the_built_in_provider_answers(settings):
    exi.shutdown()
    settings.PKI_EXI_WARMUP = False
    assert exi.warm_up_in_background() is None
    settings.PKI_EXI_WARMUP = True
    settings.PKI_CONTRACT_PROVIDER = "pki.services.contracts.HttpContractProvider"
    assert exi.warm_up_in_background() is None
    settings.PKI_CONTRACT_PROVIDER = exi.LOCAL_PROVIDER
    thread = exi.warm_up_in_background()
    thread.join(timeout=60)
    assert exi._codec is not None


def test_a_missing_codec_says_what_to_do(settings):
    exi.shutdown()
    settings.PKI_EXI_CODEC_JAR = "/nonexistent/EXICodec.jar"
    try:
        with pytest.raises(exi.ExiUnavailable, match="make install"):
            exi.encode(MESSAGE)
    finally:
        exi.shutdown()
