"""A faulty Central System against a real charge point, in virtual time, so that hours run in milliseconds
(OCPP-J transport rules; spec 3.7.1, 4.2, 4.9).

The Central System never answers, answers slowly, closes mid-call, refuses the WebSocket upgrade, accepts it
without the ``ocpp1.6`` subprotocol, closes right after accepting, or never answers pings. The charge point
carries on: its transaction messages wait in order, it reconnects with exponential back-off and jitter
(actors.backoff: the n-th wait drawn from the upper half of ``min(300, 2**n)`` seconds), never in a tight
loop, and when the Central System recovers it sends a BootNotification only after a reboot and, after a
reconnect, StatusNotifications only for the connectors whose status changed.
"""

import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import trio
import trio.testing
from hostile_csms import (
    FIRST_TRANSACTION_ID,
    FaultyCsms,
    RawPeer,
    charge_point_settings,
    dial_gaps,
    start_charge_point,
    within_backoff_law,
)
from test_hostile_csms import EV, charging, online

from actors.connection import OCPP16
from actors.ocpp import (
    AuthorizeRequest,
    BootNotificationRequest,
    ChargePointStatus,
    MeterValuesRequest,
    MeterValuesResponse,
    StartTransactionRequest,
    StatusNotificationRequest,
)
from fleet.simulated import SimulatedConnector
from storage.memory import MemoryChargePointState

HOUR = 3600.0
MOST_DIALS_PER_HOUR = 31
"""The most dials the back-off law allows in an hour when every attempt fails: the waits are at least
1, 2, 4, ... 128 s (eight of them, 255 s) and then at least 150 s: 1 + 8 + (3600 - 255) // 150 = 31."""


@pytest.fixture
async def csms() -> AsyncIterator[FaultyCsms]:
    async with trio.open_nursery() as nursery:
        yield FaultyCsms(nursery)
        nursery.cancel_scope.cancel()


def assert_backed_off(dial_times: list[float], *, first_failure: int = 1) -> None:
    """Dials spaced by the back-off law, the k-th wait after ``first_failure + k`` failures; bounded."""
    gaps = dial_gaps(dial_times)
    for failures, gap in enumerate(gaps, start=first_failure):
        assert within_backoff_law(gap, failures), (failures, gap)
    capped = [gap for failures, gap in enumerate(gaps, start=first_failure) if 2**failures >= 300]
    assert len(capped) >= 5
    assert len(set(capped)) == len(capped), "capped waits still differ: jitter"


# --- the Central System cannot be used: refusals ---------------------------------------------------------


@pytest.mark.parametrize("status", [401, 404, 500])
async def test_a_refused_upgrade_is_retried_with_backoff_and_jitter_until_the_csms_accepts(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    """Two charge points (different random draws) refused for an hour: each dials by the back-off law, at
    most 31 times, and not in lock-step; once the Central System accepts, each registers at its next dial."""
    caplog.set_level(logging.INFO, logger="actors")
    async with trio.open_nursery() as nursery:
        first, second = FaultyCsms(nursery), FaultyCsms(nursery)
        charge_points = []
        for seed, faulty in enumerate((first, second), start=1):
            faulty.reject_status = status
            charge_point, _ = start_charge_point(
                nursery, faulty, MemoryChargePointState(), charge_point_settings(), seed=seed
            )
            charge_points.append(charge_point)
        await trio.sleep(HOUR)
        for faulty, charge_point in zip((first, second), charge_points, strict=True):
            assert faulty.dial_times[0] == 0
            assert faulty.accepted == 0
            assert len(faulty.dial_times) <= MOST_DIALS_PER_HOUR
            assert_backed_off(faulty.dial_times)
            assert not charge_point.connected
            assert charge_point.boots == 1
        assert set(first.dial_times[1:]).isdisjoint(second.dial_times[1:]), "no lock-step"
        refused = f"CP-H: cannot connect: the Central System refused the WebSocket upgrade with HTTP {status}"
        assert sum(record.getMessage() == refused for record in caplog.records) == len(
            first.dial_times
        ) + len(second.dial_times)
        first.reject_status = None
        recovered_at = trio.current_time()
        peer = RawPeer(await first.accept(), nursery)
        assert first.dial_times[-1] > recovered_at, "at the next dial the back-off law gives"
        await peer.wait_for(StatusNotificationRequest, 3)
        assert [type(received.request) for received in peer.calls[:1]] == [BootNotificationRequest]
        assert [received.request.connector_id for received in peer.requests(StatusNotificationRequest)] == [
            0,
            1,
            2,
        ]
        assert charge_points[0].connected
        assert charge_points[0].registration.accepted
        nursery.cancel_scope.cancel()


async def test_an_upgrade_without_the_ocpp16_subprotocol_is_a_failed_connection_retried_with_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A Central System that accepts the WebSocket but not ``ocpp1.6``: the charge point closes it, sends
    nothing on it, and dials again by the back-off law until the Central System agrees."""
    async with trio.open_nursery() as nursery:
        faulty = FaultyCsms(nursery, subprotocol=None)
        charge_point, _ = start_charge_point(
            nursery, faulty, MemoryChargePointState(), charge_point_settings()
        )
        await trio.sleep(HOUR)
        assert faulty.accepted == len(faulty.dial_times) <= MOST_DIALS_PER_HOUR
        assert_backed_off(faulty.dial_times)
        assert not charge_point.connected
        assert faulty.unexpected == [], "nothing is sent on such a connection"
        faulty.subprotocol = OCPP16
        peer = RawPeer(await faulty.accept(), nursery)
        (boot,) = await peer.wait_for(BootNotificationRequest)
        assert peer.calls[0] is boot
        assert charge_point.boots == 1
        nursery.cancel_scope.cancel()


async def test_closing_right_after_accepting_is_retried_with_backoff_before_and_after_registration(
    autojump_clock: trio.testing.MockClock, csms: FaultyCsms
) -> None:
    """A Central System that closes each connection as soon as it has accepted it is no working connection:
    the charge point backs off as if refused, before its first registration and also once it was accepted
    (it must not reconnect every second because it was registered once). When the Central System recovers,
    the charge point reconnects without a BootNotification and reports only the connector that changed."""
    csms.close_at_once = True
    state = MemoryChargePointState()
    async with trio.open_nursery() as nursery:
        charge_point, plugs = start_charge_point(nursery, csms, state, charge_point_settings())
        await trio.sleep(HOUR)
        assert csms.accepted == len(csms.dial_times) <= MOST_DIALS_PER_HOUR
        assert_backed_off(csms.dial_times)
        csms.close_at_once = False
        peer = RawPeer(await csms.accept(), nursery)
        await peer.wait_for(StatusNotificationRequest, 3)
        assert isinstance(peer.calls[0].request, BootNotificationRequest)

        csms.close_at_once = True  # now the charge point is registered
        csms.dial_times.clear()
        await peer.connection.close()
        closed_at = trio.current_time()
        plugs[1].plug_in()  # connector 2 becomes Preparing while it cannot reach the Central System
        await trio.sleep(HOUR)
        assert len(csms.dial_times) <= MOST_DIALS_PER_HOUR, "no tight loop after a registration"
        assert within_backoff_law(csms.dial_times[0] - closed_at, 0), "that connection had worked"
        assert_backed_off(csms.dial_times)
        csms.close_at_once = False
        again = RawPeer(await csms.accept(), nursery)
        (status,) = await again.wait_for(StatusNotificationRequest)
        now = charge_point.connectors[2].status
        assert now is not ChargePointStatus.AVAILABLE
        assert (status.request.connector_id, status.request.status) == (2, now)
        await trio.sleep(HOUR - 1)
        assert again.calls == [status], "no BootNotification, no status of an unchanged connector"
        assert charge_point.boots == 1
        nursery.cancel_scope.cancel()


# --- the Central System is connected but does not answer as it should ------------------------------------


async def test_a_csms_that_never_answers_gets_each_transaction_message_again_until_it_does(
    autojump_clock: trio.testing.MockClock, csms: FaultyCsms
) -> None:
    """For an hour nothing is answered: the oldest MeterValues goes again every answer timeout (30 s) plus
    TransactionMessageRetryInterval (60 s), never dropped (no answer is no failure to process); the samples
    wait behind it; the charge point stays connected and answers the Central System's CALLs. Once answered,
    every sample follows at once, in order, with the transaction's id."""
    state = MemoryChargePointState()
    async with trio.open_nursery() as nursery:
        charge_point, peer, plugs = await online(nursery, csms, state)
        start = await charging(peer, plugs[0])
        await trio.testing.wait_all_tasks_blocked()
        peer.withheld = {"MeterValues", "Heartbeat", "StatusNotification", "Authorize"}
        await trio.sleep(HOUR - 15)  # the 40th sending waits for its answer
        sent = peer.requests(MeterValuesRequest)
        assert [received.time - start.time for received in sent] == [60.0 + 90 * n for n in range(40)]
        assert all(received.request == sent[0].request for received in sent)
        assert len({received.unique_id for received in sent}) == len(sent)
        assert await state.depth() == 59, "a sample a minute, all kept"
        assert await peer.exchange() == [], "it answers the Central System all the while"
        assert charge_point.connected
        assert len(csms.dial_times) == 1
        peer.withheld.clear()
        await peer.answer(sent[-1], MeterValuesResponse())
        samples = await peer.wait_for(MeterValuesRequest, len(sent) + 58)
        assert [received.time for received in samples[len(sent) :]] == [trio.current_time()] * 58
        delivered = [sent[0], *samples[len(sent) :]]
        offsets = [
            received.request.meter_value[0].timestamp - start.request.timestamp for received in delivered
        ]
        assert offsets == [timedelta(seconds=60 * n) for n in range(1, 60)]
        assert {received.request.transaction_id for received in delivered} == {FIRST_TRANSACTION_ID}
        await trio.testing.wait_all_tasks_blocked()
        assert await state.depth() == 0
        assert charge_point.outbox_counts.failures == 0
        assert charge_point.outbox_counts.given_up == 0
        nursery.cancel_scope.cancel()


async def test_answers_just_within_the_answer_timeout_are_taken(
    autojump_clock: trio.testing.MockClock, csms: FaultyCsms
) -> None:
    """Every answer takes 29 s (the timeout is 30 s): the charge point registers, charges, and sends each
    sample once, when taken."""
    state = MemoryChargePointState()
    settings = charge_point_settings(ConnectionTimeout="600")  # the Authorize waits behind 29 s answers
    async with trio.open_nursery() as nursery:
        charge_point, plugs = start_charge_point(nursery, csms, state, settings)
        peer = RawPeer(await csms.accept(), nursery)
        peer.delay = 29
        await peer.wait_for(StatusNotificationRequest, 3)
        start = await charging(peer, plugs[0])
        await trio.sleep(HOUR)
        samples = peer.requests(MeterValuesRequest)
        assert len(samples) >= 59
        for number, sample in enumerate(samples, start=1):
            (meter_value,) = sample.request.meter_value
            assert meter_value.timestamp - start.request.timestamp == timedelta(seconds=60 * number)
            assert sample.time == samples[0].time + 60 * (number - 1), "each sent once, when taken"
            assert sample.request.transaction_id == FIRST_TRANSACTION_ID
        assert charge_point.outbox_counts.timeouts == 0
        assert [received.time for received in peer.requests(BootNotificationRequest)] == [0]
        nursery.cancel_scope.cancel()


async def test_answers_after_the_timeout_are_dropped_and_the_boot_is_retried_with_backoff(
    autojump_clock: trio.testing.MockClock, csms: FaultyCsms, caplog: pytest.LogCaptureFixture
) -> None:
    """Every answer takes 31 s: each BootNotification times out at 30 s and its Accepted comes too late to
    count; the next goes after the back-off law's wait (never in a tight loop), and the charge point sends
    nothing else. Once the Central System is quick again, the next BootNotification registers it."""
    state = MemoryChargePointState()
    async with trio.open_nursery() as nursery:
        charge_point, _ = start_charge_point(nursery, csms, state, charge_point_settings())
        peer = RawPeer(await csms.accept(), nursery)
        peer.delay = 31
        await trio.sleep(HOUR)
        boots = peer.requests(BootNotificationRequest)
        assert peer.calls == boots
        assert not charge_point.registration.accepted
        for failures, gap in enumerate(dial_gaps([received.time for received in boots])):
            assert within_backoff_law(gap - 30, failures), (failures, gap)
        assert len(boots) <= 1 + 3600 // 30
        late = [record.getMessage() for record in caplog.records if "late answer" in record.getMessage()]
        assert late == [f"CP-H: late answer to CALL {received.unique_id} dropped" for received in boots[:-1]]
        peer.delay = 0
        await peer.wait_for(StatusNotificationRequest, 3)
        assert charge_point.registration.accepted
        assert len(csms.dial_times) == 1
        nursery.cancel_scope.cancel()


async def test_a_connection_closed_mid_call_sends_the_message_again_after_reconnecting(
    autojump_clock: trio.testing.MockClock, csms: FaultyCsms
) -> None:
    """The Central System closes the connection while our MeterValues waits for its answer: not an attempt
    (OCPP-J): the same message is the first thing sent on the next connection, a back-off step after the
    close; no BootNotification, no StatusNotification (nothing changed), and the samples go on in order."""
    state = MemoryChargePointState()
    async with trio.open_nursery() as nursery:
        charge_point, peer, plugs = await online(nursery, csms, state)
        start = await charging(peer, plugs[0])
        peer.withheld.add("MeterValues")
        (cut,) = await peer.wait_for(MeterValuesRequest)
        await peer.connection.close()
        closed_at = trio.current_time()
        again = RawPeer(await csms.accept(), nursery)
        assert within_backoff_law(csms.dial_times[1] - closed_at, 0)
        (first, *_) = await again.wait_for(MeterValuesRequest)
        assert again.calls[0] is first
        assert first.request == cut.request
        await trio.sleep(HOUR)
        samples = [first, *again.requests(MeterValuesRequest)[1:]]
        offsets = [
            received.request.meter_value[0].timestamp - start.request.timestamp for received in samples
        ]
        assert offsets == [timedelta(seconds=60 * n) for n in range(1, len(samples) + 1)]
        assert len(samples) == (trio.current_time() - start.time) // 60
        assert not again.requests(StatusNotificationRequest)
        assert not again.requests(BootNotificationRequest)
        counts = charge_point.outbox_counts
        assert (counts.failures, counts.timeouts, charge_point.boots) == (0, 0, 1)
        nursery.cancel_scope.cancel()


async def test_a_csms_deaf_to_pings_is_left_after_the_pong_timeout_and_redialled_with_backoff(
    autojump_clock: trio.testing.MockClock, csms: FaultyCsms
) -> None:
    """No pong comes back: each connection is closed WebSocketPingInterval (60 s) + pong timeout (10 s)
    after it opened, and the charge point dials again by the back-off law (a connection on which nothing of
    ours was answered does not reset it). When pongs come back, the connection stays, without a
    BootNotification."""
    csms.swallow_pongs = True
    state = MemoryChargePointState()
    async with trio.open_nursery() as nursery:
        charge_point, _ = start_charge_point(nursery, csms, state, charge_point_settings())
        peer = RawPeer(await csms.accept(), nursery)
        await peer.wait_for(StatusNotificationRequest, 3)
        await trio.sleep(HOUR)
        gaps = dial_gaps(csms.dial_times)
        assert within_backoff_law(gaps[0] - 70, 0), "the first connection worked: registered"
        for failures, gap in enumerate(gaps[1:], start=1):
            assert within_backoff_law(gap - 70, failures), (failures, gap)
        assert len(csms.dial_times) <= 1 + 3600 // 70
        assert [swallower.swallowed for swallower in csms.swallowers[:-1]] == [1] * (len(csms.dial_times) - 1)
        csms.swallow_pongs = False
        dials = len(csms.dial_times)  # the last connection still swallows: it ends, then one that stays
        await trio.sleep(HOUR)
        assert len(csms.dial_times) == dials + 1, "the new connection stayed"
        assert len(csms.swallowers) == dials
        assert charge_point.connected
        assert charge_point.boots == 1
        nursery.cancel_scope.cancel()


async def test_a_status_change_lost_with_the_connection_is_reported_after_reconnecting(
    autojump_clock: trio.testing.MockClock, csms: FaultyCsms
) -> None:
    """The network goes silent just before connector 2 is plugged in: its StatusNotification goes into the
    void and times out. The Central System never heard of the change, so it is reported after reconnecting
    (spec 4.9: the current status), and nothing else is."""
    settings = charge_point_settings(ConnectionTimeout="3600")
    state = MemoryChargePointState()
    async with trio.open_nursery() as nursery:
        charge_point, _peer, plugs = await online(nursery, csms, state, settings)
        csms.refusing = True
        csms.partition()
        plugs[1].plug_in()
        await trio.sleep(300)
        assert not charge_point.connected
        csms.refusing = False
        again = RawPeer(await csms.accept(), nursery)
        (status,) = await again.wait_for(StatusNotificationRequest)
        assert (status.request.connector_id, status.request.status) == (2, ChargePointStatus.PREPARING)
        await trio.sleep(600)
        assert again.calls == [status]
        nursery.cancel_scope.cancel()


class StiffLock(SimulatedConnector):
    """A connector whose cable lock does not move until :attr:`freed` is set: while it unlocks, its
    connector takes nothing else from its inbox."""

    def __init__(self) -> None:
        super().__init__()
        self.freed = trio.Event()

    async def unlock(self) -> bool:
        await self.freed.wait()
        return await super().unlock()


async def test_a_status_change_whose_report_the_lost_connection_never_took_is_reported_at_the_next(
    autojump_clock: trio.testing.MockClock, csms: FaultyCsms
) -> None:
    """Connector 2, busy unlocking, is plugged in as the connection drops. After reconnecting, the charge
    point asks it what to report, but that connection closes before connector 2 answers; it answers only
    then, to nobody. The Central System never heard of the change, so it is reported on the connection after
    (spec 4.9), and nothing else is."""
    settings = charge_point_settings(ConnectionTimeout="3600")
    state = MemoryChargePointState()
    stiff = StiffLock()
    async with trio.open_nursery() as nursery:
        plugs = [SimulatedConnector(), stiff]
        charge_point, peer, _ = await online(nursery, csms, state, settings, plugs=plugs)
        await peer.send(json.dumps([2, "unlock-2", "UnlockConnector", {"connectorId": 2}]))
        await trio.testing.wait_all_tasks_blocked()
        stiff.plug_in()
        await peer.connection.close()
        cut = RawPeer(await csms.accept(), nursery)
        await trio.testing.wait_all_tasks_blocked()
        await cut.connection.close()
        await trio.testing.wait_all_tasks_blocked()
        assert cut.calls == [], "connector 2 had not answered"
        stiff.freed.set()
        again = RawPeer(await csms.accept(), nursery)
        (status,) = await again.wait_for(StatusNotificationRequest, within=1)
        assert (status.request.connector_id, status.request.status) == (2, ChargePointStatus.PREPARING)
        await trio.sleep(600)
        assert again.calls == [status]
        assert charge_point.boots == 1
        nursery.cancel_scope.cancel()


async def test_an_authorization_answered_after_the_connection_timeout_starts_nothing_and_kills_nothing(
    autojump_clock: trio.testing.MockClock, csms: FaultyCsms
) -> None:
    """Answers take 29 s, so the Authorize of an idTag presented with the plug leaves behind three
    StatusNotifications and is answered after ConnectionTimeout (60 s) cancelled the incipient transaction
    (9.1.6): no transaction starts, the connector lives on (unplugged, it is Available again), and the next
    session starts as usual."""
    state = MemoryChargePointState()
    async with trio.open_nursery() as nursery:
        charge_point, plugs = start_charge_point(nursery, csms, state, charge_point_settings())
        peer = RawPeer(await csms.accept(), nursery)
        peer.delay = 29
        await peer.wait_for(StatusNotificationRequest, 3)
        plugs[0].plug_in(EV)
        plugs[0].present_id_tag("TAG-1")
        (authorize,) = await peer.wait_for(AuthorizeRequest)
        presented = trio.current_time() - authorize.time
        await trio.sleep(60)
        assert authorize.time + 29 > presented + 60, "answered after the ConnectionTimeout"
        assert not peer.requests(StartTransactionRequest)
        assert charge_point.connectors[1].transaction is None
        peer.delay = 0
        plugs[0].unplug()
        statuses = await peer.wait_for(StatusNotificationRequest, 6)
        S = ChargePointStatus
        ones = [received.request.status for received in statuses if received.request.connector_id == 1]
        assert ones == [S.AVAILABLE, S.PREPARING, S.FINISHING, S.AVAILABLE]  # 4.9 A2, B6, F1
        await charging(peer, plugs[0])
        assert charge_point.connectors[1].transaction is not None
        nursery.cancel_scope.cancel()
