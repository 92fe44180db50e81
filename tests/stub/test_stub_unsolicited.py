"""The stub's delayed unasked-for answer (`unsolicited_response_delay_ms`)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.stub.conftest import ClientFor, RawConnect, StartStub

WEATHER = "/data/2.5/weather?q=London,GB&appid=k"


async def test_the_unasked_for_answer_comes_that_many_ms_later_on_its_own(
    make_stub: StartStub, raw_connect: RawConnect
) -> None:
    """With a delay, the answer arrives alone; the second one only after the delay has passed."""
    server = await make_stub(trailing_response_rate=1, unsolicited_response_delay_ms=1000)
    connection = await raw_connect(server)
    sent_at = time.monotonic()
    await connection.request(WEATHER)
    asked = await connection.read_response()
    assert b"London" in asked.body
    # Nothing else is there yet: the extra answer is not in the same write.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(connection.reader.read(1), 0.1)
    unasked = await connection.read_response()
    assert time.monotonic() - sent_at >= 1.0  # scheduled once the request had been read
    assert b"Decoyville" in unasked.body
    assert server.stats.snapshot()["requests_total"] == 1
    assert server.stats.snapshot()["unsolicited_sent"] == 1


async def test_no_unasked_for_answer_is_written_to_a_closed_connection(
    make_stub: StartStub, raw_connect: RawConnect
) -> None:
    """A client that hangs up before the delay ends gets nothing written, and nothing is counted."""
    server = await make_stub(trailing_response_rate=1, unsolicited_response_delay_ms=100)
    connection = await raw_connect(server)
    await connection.request(WEATHER)
    await connection.read_response()
    connection.writer.close()
    await asyncio.sleep(0.3)
    assert server.stats.snapshot()["unsolicited_sent"] == 0


async def test_the_delay_is_set_over_http(make_stub: StartStub, client_for: ClientFor) -> None:
    """`PUT /_stub/config` sets `unsolicited_response_delay_ms` and refuses a negative one."""
    server = await make_stub()
    async with client_for(server) as http:
        put = await http.put("/_stub/config", json={"unsolicited_response_delay_ms": 50})
        assert put.json()["unsolicited_response_delay_ms"] == 50
        refused = await http.put("/_stub/config", json={"unsolicited_response_delay_ms": -1})
        assert refused.status_code == 400
    assert server.config.unsolicited_response_delay_ms == 50
