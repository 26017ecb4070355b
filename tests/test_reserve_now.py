"""Reservations against a scripted Central System, in virtual time (spec 3.11, 5.1, 5.13, 4.8, 4.9), in the
manner of the official compliance test cases TC_046 to TC_053; and a reservation across a power cut.

Every message of the charge point (its CALLs, and its answers to the Central System's CALLs) is logged in
the order it arrived. The tests compare the log step by step: the messages of one step are those that the
charge point may send in either order (the compliance cases allow it, e.g. TC_053 "step 7 and step 9 may
be reversed"), the steps follow each other.
"""

import random
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from oracle import errors
from scripted_csms import Received, ScriptedCsms
from test_connector import CSMS_TIME, Csms
from test_offline_queue import Station
from trio_websocket import ConnectionClosed

from actors.charge_point import ChargePoint, ChargePointSettings
from actors.clock import WallClock
from actors.ocpp import (
    AuthorizationStatus,
    AuthorizeRequest,
    AuthorizeResponse,
    AvailabilityType,
    BootNotificationRequest,
    BootNotificationResponse,
    CallReceived,
    CancelReservationRequest,
    CancelReservationResponse,
    ChangeAvailabilityRequest,
    ChangeAvailabilityResponse,
    ChangeConfigurationRequest,
    ChangeConfigurationResponse,
    ChargePointErrorCode,
    ChargePointStatus,
    IdTagInfo,
    RegistrationStatus,
    RemoteStartTransactionRequest,
    RemoteStartTransactionResponse,
    ReserveNowRequest,
    ReserveNowResponse,
    ResultReceived,
    StartTransactionRequest,
    StatusNotificationRequest,
    StatusNotificationResponse,
    encode,
)
from actors.reservation import Reservation
from fleet.simulated import EvModel, SimulatedConnector
from storage.memory import MemoryChargePointState

S = ChargePointStatus
EV = EvModel(max_power_w=11_000, battery_wh=100_000)
HOUR = timedelta(hours=1)


class RecordingCsms(Csms):
    """The scripted Central System of ``test_connector``, which also logs every message of the charge point in
    order of arrival, and checks its answers against the official schemas too."""

    def __init__(self, connection: Any, nursery: trio.Nursery) -> None:
        self.log: list[Any] = []
        super().__init__(connection, nursery)

    async def _read(self) -> None:
        while True:
            try:
                text = await self.connection.websocket.get_message()
            except ConnectionClosed:
                return
            now = trio.current_time()
            event = self.connection.session.receive(text)
            if isinstance(event, ResultReceived):
                assert errors(event.response.action, "conf", encode(event.response)) == []
                self.log.append(event.response)
            if not isinstance(event, CallReceived):
                await self._answers_in.send(event)
                continue
            assert errors(event.request.action, "req", encode(event.request)) == []
            self.log.append(event.request)
            if isinstance(event.request, StatusNotificationRequest):
                request = event.request
                self.statuses.append((request.connector_id, request.status, request.info))
                self.status_requests.append(request)
                self.status_times.append(now)
                self._status_arrived.set()
                self._status_arrived = trio.Event()
                await self.connection.websocket.send_message(
                    self.connection.session.result(event.unique_id, StatusNotificationResponse())
                )
            else:
                await self._calls_in.send(Received(now, event.unique_id, event.request))

    async def wait_statuses(self, connector_id: int, count: int) -> list[ChargePointStatus]:
        """The statuses of ``connector_id`` once there are ``count`` of them (waiting if need be)."""
        while len(self.statuses_of(connector_id)) < count:
            await self._status_arrived.wait()
        return self.statuses_of(connector_id)


def assert_exchange(csms: RecordingCsms, *steps: Sequence[str]) -> None:
    """The log is ``steps`` (messages in short, :func:`brief`) one after the other, and nothing more; the
    messages of one step may come in any order."""
    log = [brief(message) for message in csms.log]
    pieces, start = [], 0
    for step in steps:
        pieces.append(sorted(log[start : start + len(step)]))
        start += len(step)
    assert pieces == [sorted(step) for step in steps]
    assert log[start:] == [], "nothing more"


def brief(message: Any) -> str:
    """A message in short: what the tests compare."""
    match message:
        case StatusNotificationRequest():
            return f"StatusNotification {message.connector_id} {message.status}"
        case AuthorizeRequest():
            return f"Authorize {message.id_tag}"
        case StartTransactionRequest():
            start = f"StartTransaction {message.connector_id} {message.id_tag}"
            return f"{start} reservation {message.reservation_id}"
        case _ if hasattr(message, "status"):
            return f"{message.action}.conf {message.status}"
        case _:
            return str(message.action)


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedCsms]:
    async with trio.open_nursery() as nursery:
        yield ScriptedCsms(nursery)
        nursery.cancel_scope.cancel()


@attrs.define
class Reserving:
    charge_point: ChargePoint
    csms: RecordingCsms
    plugs: list[SimulatedConnector]
    state: MemoryChargePointState

    def wall(self) -> datetime:
        return self.charge_point.clock.now()

    async def reserve(
        self,
        connector_id: int,
        id_tag: str = "TAG-1",
        *,
        reservation_id: int = 1,
        parent: str | None = None,
        lasting: timedelta = HOUR,
    ) -> str:
        """ReserveNow; the status of its answer."""
        request = ReserveNowRequest(
            connector_id=connector_id,
            expiry_date=self.wall() + lasting,
            id_tag=id_tag,
            reservation_id=reservation_id,
            parent_id_tag=parent,
        )
        answer = await self.csms.call(request)
        assert isinstance(answer, ReserveNowResponse)
        return str(answer.status)


async def bring_up(nursery: trio.Nursery, scripted: ScriptedCsms, **configuration: str) -> Reserving:
    """A 2-connector charge point, booted and accepted, its boot statuses taken; the log starts empty."""
    settings = ChargePointSettings(
        "CP-1",
        "ws://csms.test/ocpp",
        connectors=2,
        configuration={"MeterValueSampleInterval": "0", **configuration},
    )
    plugs = [SimulatedConnector(), SimulatedConnector()]
    state = MemoryChargePointState()
    charge_point = ChargePoint(
        settings,
        state,
        dialer=scripted.dial,
        clock=WallClock(CSMS_TIME),
        rng=random.Random(1),
        hardware=plugs,
    )
    nursery.start_soon(charge_point.run)
    connection = await scripted.accept()
    received = await connection.expect_call(BootNotificationRequest)
    answer = BootNotificationResponse(
        status=RegistrationStatus.ACCEPTED, current_time=CSMS_TIME, interval=3600
    )
    await connection.answer(received, answer)
    csms = RecordingCsms(connection, nursery)
    await trio.sleep(1)
    assert csms.statuses == [(0, S.AVAILABLE, None), (1, S.AVAILABLE, None), (2, S.AVAILABLE, None)]
    csms.statuses.clear()
    csms.status_times.clear()
    csms.log.clear()
    return Reserving(charge_point, csms, plugs, state)


async def quiet(seconds: float = 10) -> None:
    """Let ``seconds`` pass, to see that the charge point sends nothing (more) in that time."""
    await trio.sleep(seconds)


ACCEPTED = "ReserveNow.conf Accepted"
RESERVED_1 = "StatusNotification 1 Reserved"


# --- TC_046: a reserved connector is used --------------------------------------------------------------


async def test_tc_046_1_only_the_reserved_id_tag_starts_locally_and_the_start_carries_the_reservation(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        csms, plug = site.csms, site.plugs[0]
        assert await site.reserve(1, "TAG-1", reservation_id=46) == "Accepted"
        await csms.wait_status(1, S.RESERVED)
        plug.present_id_tag("TAG-2")  # not the reserved idTag: no Authorize.req
        await quiet()
        plug.present_id_tag("TAG-1")
        await csms.expect(AuthorizeRequest)
        await csms.wait_status(1, S.PREPARING)
        plug.plug_in(EV)
        start = await csms.expect(StartTransactionRequest)
        await csms.wait_status(1, S.CHARGING)
        assert_exchange(
            csms,
            [ACCEPTED],
            [RESERVED_1],
            ["Authorize TAG-1", "StatusNotification 1 Preparing"],
            ["StartTransaction 1 TAG-1 reservation 46", "StatusNotification 1 Charging"],
        )
        assert start.request.reservation_id == 46
        assert site.charge_point.reservations.reservations == ()
        assert await site.state.load_reservations() == {}
        nursery.cancel_scope.cancel()


async def test_tc_046_2_a_remote_start_of_the_reserved_id_tag_uses_the_reservation(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        csms, plug = site.csms, site.plugs[0]
        assert await site.reserve(1, "TAG-1", reservation_id=462) == "Accepted"
        await csms.wait_status(1, S.RESERVED)
        other = await csms.call(RemoteStartTransactionRequest(id_tag="TAG-2", connector_id=1))
        assert other == RemoteStartTransactionResponse(status="Rejected")
        answer = await csms.call(RemoteStartTransactionRequest(id_tag="TAG-1", connector_id=1))
        assert answer == RemoteStartTransactionResponse(status="Accepted")
        await csms.wait_status(1, S.PREPARING)
        plug.plug_in(EV)
        await csms.expect(StartTransactionRequest)  # AuthorizeRemoteTxRequests is false: no Authorize
        await csms.wait_status(1, S.CHARGING)
        assert_exchange(
            csms,
            [ACCEPTED],
            [RESERVED_1],
            ["RemoteStartTransaction.conf Rejected"],
            ["RemoteStartTransaction.conf Accepted", "StatusNotification 1 Preparing"],
            ["StartTransaction 1 TAG-1 reservation 462", "StatusNotification 1 Charging"],
        )
        nursery.cancel_scope.cancel()


async def test_a_remote_start_without_connector_goes_to_the_connector_reserved_for_its_id_tag(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """5.11 lets the charge point choose the connector: the one reserved for the idTag, else a free one."""
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        csms = site.csms
        assert await site.reserve(2, "TAG-1", reservation_id=2) == "Accepted"
        await csms.wait_status(2, S.RESERVED)
        answer = await csms.call(RemoteStartTransactionRequest(id_tag="TAG-1"))
        assert answer == RemoteStartTransactionResponse(status="Accepted")
        await csms.wait_status(2, S.PREPARING)
        other = await csms.call(RemoteStartTransactionRequest(id_tag="TAG-3"))
        assert other == RemoteStartTransactionResponse(status="Accepted")
        await csms.wait_status(1, S.PREPARING)
        site.plugs[1].plug_in(EV)
        start = await csms.expect(StartTransactionRequest)
        assert (start.request.connector_id, start.request.id_tag, start.request.reservation_id) == (
            2,
            "TAG-1",
            2,
        )
        nursery.cancel_scope.cancel()


# --- TC_047: a reservation expires -----------------------------------------------------------------------


async def test_tc_047_a_reservation_ends_at_its_expiry_date_and_the_connector_is_available_again(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        csms, plug = site.csms, site.plugs[0]
        reserved_at = trio.current_time()
        assert await site.reserve(1, "TAG-1", reservation_id=47, lasting=timedelta(minutes=15)) == "Accepted"
        available_at = await csms.wait_status(1, S.AVAILABLE)
        assert available_at - reserved_at == pytest.approx(15 * 60, abs=1e-3)
        assert_exchange(csms, [ACCEPTED], [RESERVED_1], ["StatusNotification 1 Available"])
        assert await site.state.load_reservations() == {}
        csms.log.clear()
        plug.present_id_tag("TAG-2")  # another idTag may charge now, without the reservation
        await csms.expect(AuthorizeRequest)
        plug.plug_in(EV)
        await csms.expect(StartTransactionRequest)
        await csms.wait_status(1, S.CHARGING)
        assert_exchange(
            csms,
            ["Authorize TAG-2", "StatusNotification 1 Preparing"],
            ["StartTransaction 1 TAG-2 reservation None", "StatusNotification 1 Charging"],
        )
        nursery.cancel_scope.cancel()


# --- TC_048: a connector cannot be reserved ----------------------------------------------------------------


async def test_tc_048_1_a_faulted_connector_is_not_reserved(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        site.plugs[0].fault(ChargePointErrorCode.GROUND_FAILURE)
        await site.csms.wait_status(1, S.FAULTED)
        assert await site.reserve(1) == "Faulted"
        await quiet()
        assert_exchange(site.csms, ["StatusNotification 1 Faulted"], ["ReserveNow.conf Faulted"])
        nursery.cancel_scope.cancel()


async def test_tc_048_2_an_occupied_connector_is_not_reserved(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        site.plugs[0].plug_in(EV)
        await site.csms.wait_status(1, S.PREPARING)
        assert await site.reserve(1) == "Occupied"
        await quiet()
        assert_exchange(site.csms, ["StatusNotification 1 Preparing"], ["ReserveNow.conf Occupied"])
        nursery.cancel_scope.cancel()


async def test_tc_048_3_an_unavailable_connector_is_not_reserved(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        inoperative = ChangeAvailabilityRequest(connector_id=1, type=AvailabilityType.INOPERATIVE)
        assert await site.csms.call(inoperative) == ChangeAvailabilityResponse(status="Accepted")
        await site.csms.wait_status(1, S.UNAVAILABLE)
        assert await site.reserve(1) == "Unavailable"
        await quiet()
        assert_exchange(
            site.csms,
            ["ChangeAvailability.conf Accepted", "StatusNotification 1 Unavailable"],
            ["ReserveNow.conf Unavailable"],
        )
        nursery.cancel_scope.cancel()


async def test_tc_048_4_a_charge_point_configured_not_to_accept_reservations_rejects_them(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        change = ChangeConfigurationRequest(key="ReservationEnabled", value="false")
        assert await site.csms.call(change) == ChangeConfigurationResponse(status="Accepted")
        assert await site.reserve(1) == "Rejected"
        assert await site.reserve(0, reservation_id=2) == "Rejected"
        await quiet()
        assert_exchange(
            site.csms,
            ["ChangeConfiguration.conf Accepted"],
            ["ReserveNow.conf Rejected"],
            ["ReserveNow.conf Rejected"],
        )
        nursery.cancel_scope.cancel()


async def test_a_connector_the_charge_point_does_not_have_or_a_past_expiry_date_is_rejected(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        assert await site.reserve(3) == "Rejected"
        assert await site.reserve(1, lasting=timedelta(0)) == "Rejected"
        await quiet()
        assert site.csms.statuses == []
        nursery.cancel_scope.cancel()


# --- TC_049, TC_050: connector 0 ---------------------------------------------------------------------------


async def test_tc_049_a_reservation_of_the_charge_point_keeps_the_only_free_connector_for_its_id_tag(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """With connector 2 set Unavailable (as the compliance case prepares), connector 1 is the only one left:
    it shows Reserved, refuses other idTags and is used by the reserved one."""
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        csms, plug = site.csms, site.plugs[0]
        inoperative = ChangeAvailabilityRequest(connector_id=2, type=AvailabilityType.INOPERATIVE)
        await csms.call(inoperative)
        await csms.wait_status(2, S.UNAVAILABLE)
        csms.log.clear()
        assert await site.reserve(0, "TAG-1", reservation_id=49) == "Accepted"
        await csms.wait_status(1, S.RESERVED)
        plug.present_id_tag("TAG-2")
        await quiet()
        plug.present_id_tag("TAG-1")
        await csms.expect(AuthorizeRequest)
        plug.plug_in(EV)
        await csms.expect(StartTransactionRequest)
        await csms.wait_status(1, S.CHARGING)
        assert_exchange(
            csms,
            [ACCEPTED],
            [RESERVED_1],
            ["Authorize TAG-1", "StatusNotification 1 Preparing"],
            ["StartTransaction 1 TAG-1 reservation 49", "StatusNotification 1 Charging"],
        )
        assert site.charge_point.reservations.reservations == ()
        nursery.cancel_scope.cancel()


async def test_a_new_transaction_of_another_id_tag_may_not_take_the_last_free_connector(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """Two free connectors and one reservation of the charge point: nothing shows Reserved until another
    idTag charges at connector 1; then connector 2 is kept for the reserved idTag (5.13)."""
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        csms = site.csms
        assert await site.reserve(0, "TAG-1", reservation_id=9) == "Accepted"
        await quiet()
        assert csms.statuses == []
        site.plugs[0].plug_in(EV)
        site.plugs[0].present_id_tag("TAG-2")
        await csms.expect(AuthorizeRequest)
        start = await csms.expect(StartTransactionRequest)
        assert start.request.reservation_id is None
        await csms.wait_status(2, S.RESERVED)
        assert await site.reserve(2, "TAG-5", reservation_id=10) == "Occupied"
        site.plugs[1].present_id_tag("TAG-3")  # refused without Authorize.req: connector 2 is kept
        await quiet()
        site.plugs[1].present_id_tag("tag-1")
        await csms.expect(AuthorizeRequest)
        site.plugs[1].plug_in(EV)
        used = await csms.expect(StartTransactionRequest)
        assert (used.request.connector_id, used.request.reservation_id) == (2, 9)
        await csms.wait_status(2, S.CHARGING)
        assert csms.statuses_of(1) == [S.PREPARING, S.CHARGING]
        assert csms.statuses_of(2) == [S.RESERVED, S.PREPARING, S.CHARGING]
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("case", "configuration", "answer"),
    [
        ("TC_050_1", {}, "Faulted"),
        ("TC_050_2", {}, "Occupied"),
        ("TC_050_3", {}, "Unavailable"),
        ("TC_050_4", {"ReserveConnectorZeroSupported": "false"}, "Rejected"),
    ],
)
async def test_tc_050_a_reservation_of_the_charge_point_that_cannot_be_made(
    autojump_clock: trio.testing.MockClock,
    scripted: ScriptedCsms,
    case: str,
    configuration: dict[str, str],
    answer: str,
) -> None:
    """Every connector Faulted (TC_050_1) or occupied (TC_050_2), the charge point Unavailable (TC_050_3),
    ReserveConnectorZeroSupported false (TC_050_4)."""
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted, **configuration)
        csms = site.csms
        if case == "TC_050_1":
            for plug in site.plugs:
                plug.fault()
            await csms.wait_status(2, S.FAULTED)
            await csms.wait_status(1, S.FAULTED)
        elif case == "TC_050_2":
            for plug in site.plugs:
                plug.plug_in(EV)
            await csms.wait_status(2, S.PREPARING)
            await csms.wait_status(1, S.PREPARING)
        elif case == "TC_050_3":
            await csms.call(ChangeAvailabilityRequest(connector_id=0, type=AvailabilityType.INOPERATIVE))
            await csms.wait_status(0, S.UNAVAILABLE)
            await csms.wait_status(2, S.UNAVAILABLE)
            await csms.wait_status(1, S.UNAVAILABLE)
        await quiet()
        csms.log.clear()
        assert await site.reserve(0) == answer
        await quiet()
        assert_exchange(csms, [f"ReserveNow.conf {answer}"])
        nursery.cancel_scope.cancel()


# --- TC_051, TC_052: CancelReservation ------------------------------------------------------------------


async def test_tc_051_a_cancelled_reservation_frees_the_connector_for_anyone(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        csms, plug = site.csms, site.plugs[0]
        assert await site.reserve(1, "TAG-1", reservation_id=51) == "Accepted"
        await csms.wait_status(1, S.RESERVED)
        answer = await csms.call(CancelReservationRequest(reservation_id=51))
        assert answer == CancelReservationResponse(status="Accepted")
        await csms.wait_status(1, S.AVAILABLE)
        plug.present_id_tag("TAG-2")
        await csms.expect(AuthorizeRequest)
        plug.plug_in(EV)
        start = await csms.expect(StartTransactionRequest)
        await csms.wait_status(1, S.CHARGING)
        assert_exchange(
            csms,
            [ACCEPTED],
            [RESERVED_1],
            ["CancelReservation.conf Accepted"],
            ["StatusNotification 1 Available"],
            ["Authorize TAG-2", "StatusNotification 1 Preparing"],
            ["StartTransaction 1 TAG-2 reservation None", "StatusNotification 1 Charging"],
        )
        assert "reservationId" not in encode(start.request)
        assert await site.state.load_reservations() == {}
        nursery.cancel_scope.cancel()


async def test_tc_052_cancelling_an_unknown_reservation_is_rejected_and_cancels_nothing(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        csms = site.csms
        assert await site.reserve(1, "TAG-1", reservation_id=52) == "Accepted"
        await csms.wait_status(1, S.RESERVED)
        answer = await csms.call(CancelReservationRequest(reservation_id=53))
        assert answer == CancelReservationResponse(status="Rejected")
        await quiet()
        assert_exchange(csms, [ACCEPTED], [RESERVED_1], ["CancelReservation.conf Rejected"])
        assert [r.reservation_id for r in site.charge_point.reservations.reservations] == [52]
        nursery.cancel_scope.cancel()


# --- TC_053: the parentIdTag ------------------------------------------------------------------------------


async def test_tc_053_an_id_tag_of_the_reservations_group_uses_it(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """The parentIdTag of an idTag the charge point does not know comes from Authorize.conf (5.13): another
    group is refused, the reservation's group starts with the reservation."""
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        csms, plug = site.csms, site.plugs[0]
        assert await site.reserve(1, "TAG-1", reservation_id=53, parent="FAMILY") == "Accepted"
        await csms.wait_status(1, S.RESERVED)
        plug.present_id_tag("NEIGHBOUR")
        others = IdTagInfo(status=AuthorizationStatus.ACCEPTED, parent_id_tag="OTHERS")
        await csms.expect(AuthorizeRequest, AuthorizeResponse(id_tag_info=others))
        refused = await csms.wait_statuses(1, 4)  # Preparing while asking, then refused: Reserved again
        assert refused == [S.RESERVED, S.PREPARING, S.AVAILABLE, S.RESERVED], "4.9: into Reserved by A7 only"
        plug.present_id_tag("TAG-2")
        family = IdTagInfo(status=AuthorizationStatus.ACCEPTED, parent_id_tag="FAMILY")
        await csms.expect(AuthorizeRequest, AuthorizeResponse(id_tag_info=family))
        plug.plug_in(EV)
        start = await csms.expect(StartTransactionRequest)
        await csms.wait_status(1, S.CHARGING)
        assert_exchange(
            csms,
            [ACCEPTED],
            [RESERVED_1],
            ["Authorize NEIGHBOUR", "StatusNotification 1 Preparing"],
            ["StatusNotification 1 Available", RESERVED_1],
            ["Authorize TAG-2", "StatusNotification 1 Preparing"],
            ["StartTransaction 1 TAG-2 reservation 53", "StatusNotification 1 Charging"],
        )
        assert start.request.id_tag == "TAG-2"
        nursery.cancel_scope.cancel()


# --- replacing, and what ends a reservation ----------------------------------------------------------------


async def test_a_known_reservation_id_replaces_the_reservation(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        csms = site.csms
        assert await site.reserve(1, "TAG-1", reservation_id=7) == "Accepted"
        await csms.wait_status(1, S.RESERVED)
        replaced_at = site.wall()
        assert await site.reserve(2, "TAG-2", reservation_id=7, lasting=2 * HOUR) == "Accepted"
        await csms.wait_status(2, S.RESERVED)
        await csms.wait_status(1, S.AVAILABLE)
        assert_exchange(
            csms,
            [ACCEPTED],
            [RESERVED_1],
            [ACCEPTED],
            ["StatusNotification 1 Available", "StatusNotification 2 Reserved"],
        )
        assert site.charge_point.reservations.reservations == (
            Reservation(7, 2, "TAG-2", replaced_at + 2 * HOUR),
        )
        assert list(await site.state.load_reservations()) == [7]
        nursery.cancel_scope.cancel()


async def test_a_fault_ends_the_reservation_and_the_connector_comes_back_available(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        csms, plug = site.csms, site.plugs[0]
        assert await site.reserve(1) == "Accepted"
        await csms.wait_status(1, S.RESERVED)
        plug.fault(ChargePointErrorCode.GROUND_FAILURE)
        await csms.wait_status(1, S.FAULTED)
        plug.clear_fault()
        await csms.wait_status(1, S.AVAILABLE)
        assert csms.statuses_of(1) == [S.RESERVED, S.FAULTED, S.AVAILABLE]
        assert site.charge_point.reservations.reservations == ()
        assert await site.state.load_reservations() == {}
        nursery.cancel_scope.cancel()


async def test_unavailability_ends_the_reservation(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    """Reserved to Unavailable is cell G8 of 4.9; once Operative again the connector is Available."""
    async with trio.open_nursery() as nursery:
        site = await bring_up(nursery, scripted)
        csms = site.csms
        assert await site.reserve(1) == "Accepted"
        assert await site.reserve(0, "TAG-9", reservation_id=9) == "Accepted"
        await csms.wait_status(1, S.RESERVED)
        inoperative = ChangeAvailabilityRequest(connector_id=1, type=AvailabilityType.INOPERATIVE)
        assert await csms.call(inoperative) == ChangeAvailabilityResponse(status="Accepted")
        await csms.wait_status(1, S.UNAVAILABLE)
        assert [r.reservation_id for r in site.charge_point.reservations.reservations] == [9]
        await csms.wait_status(2, S.RESERVED)  # now the only spare connector: kept for connector 0's
        operative = ChangeAvailabilityRequest(connector_id=1, type=AvailabilityType.OPERATIVE)
        assert await csms.call(operative) == ChangeAvailabilityResponse(status="Accepted")
        await csms.wait_status(2, S.AVAILABLE)
        whole = ChangeAvailabilityRequest(connector_id=0, type=AvailabilityType.INOPERATIVE)
        assert await csms.call(whole) == ChangeAvailabilityResponse(status="Accepted")
        assert await csms.wait_statuses(1, 4) == [S.RESERVED, S.UNAVAILABLE, S.AVAILABLE, S.UNAVAILABLE]
        assert await csms.wait_statuses(2, 3) == [S.RESERVED, S.AVAILABLE, S.UNAVAILABLE]
        assert site.charge_point.reservations.reservations == ()
        nursery.cancel_scope.cancel()


# --- a power cut -----------------------------------------------------------------------------------------


async def test_a_reservation_survives_a_power_cut_and_still_expires_on_time(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        station = Station(nursery, scripted)
        csms = await station.power_on()
        await csms.online()
        expiry = station.wall() + timedelta(minutes=30)
        request = ReserveNowRequest(connector_id=2, expiry_date=expiry, id_tag="TAG-1", reservation_id=77)
        assert await csms.call(request) == ReserveNowResponse(status="Accepted")
        await csms.wait_status(2, S.RESERVED)
        station.cut_power()
        await trio.sleep(60)
        csms = await station.power_on()
        await csms.online()
        assert csms.statuses == [(0, S.AVAILABLE, None), (1, S.AVAILABLE, None), (2, S.RESERVED, None)]
        await csms.wait_status(2, S.AVAILABLE)
        assert abs(station.wall() - expiry) <= timedelta(milliseconds=1), "at its expiryDate"
        assert await station.state.load_reservations() == {}
        nursery.cancel_scope.cancel()


async def test_a_reservation_survives_a_power_cut_and_is_used_after_it(
    autojump_clock: trio.testing.MockClock, scripted: ScriptedCsms
) -> None:
    async with trio.open_nursery() as nursery:
        station = Station(nursery, scripted)
        csms = await station.power_on()
        await csms.online()
        request = ReserveNowRequest(
            connector_id=1, expiry_date=station.wall() + HOUR, id_tag="TAG-1", reservation_id=78
        )
        assert await csms.call(request) == ReserveNowResponse(status="Accepted")
        await csms.wait_status(1, S.RESERVED)
        station.cut_power()
        csms = await station.power_on()
        await csms.online()
        plug = station.plugs[0]
        plug.present_id_tag("TAG-2")
        await quiet()
        plug.present_id_tag("TAG-1")
        await csms.expect(AuthorizeRequest)
        plug.plug_in(EV)
        start = await csms.expect(StartTransactionRequest)
        assert (start.request.id_tag, start.request.reservation_id) == ("TAG-1", 78)
        nursery.cancel_scope.cancel()
