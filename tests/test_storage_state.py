"""The state of a charge point, the same suite for both implementations: in memory and in SQLite.

"Reopening" closes and opens the SQLite database (a reboot); the in-memory state survives it as it survives a
simulated reboot.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import storage
from storage import ChargePointState, Database, MemoryStorage, open_database
from storage.queue import overflow_victim

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Backend:
    """Opens the state of charge points, and reopens it as a reboot would."""

    def __init__(self, kind: str, path: Path) -> None:
        self.kind = kind
        self._path = path
        self._memory = MemoryStorage()
        self._database: Database | None = None

    async def open(self) -> None:
        if self.kind == "sqlite":
            self._database = await open_database(self._path, synchronous="NORMAL")

    async def close(self) -> None:
        if self._database is not None:
            await self._database.aclose()
            self._database = None

    async def reopen(self) -> None:
        await self.close()
        await self.open()

    def state(self, charge_point_id: str = "CP-1", **limits: int) -> ChargePointState:
        if self._database is None:
            return self._memory.charge_point(charge_point_id, **limits)
        return self._database.charge_point(charge_point_id, **limits)


@pytest.fixture(params=["memory", "sqlite"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    backend = Backend(request.param, tmp_path / "state.db")
    await backend.open()
    yield backend
    await backend.close()


def test_every_exported_name_exists() -> None:
    for name in storage.__all__:
        assert hasattr(storage, name), name


async def test_configuration_round_trips(backend: Backend) -> None:
    await backend.state().save_configuration("HeartbeatInterval", "60")
    await backend.state().save_configuration("HeartbeatInterval", "90")
    await backend.state("CP-2").save_configuration("HeartbeatInterval", "30")
    await backend.reopen()
    assert await backend.state().load_configuration() == {"HeartbeatInterval": "90"}
    assert await backend.state("CP-2").load_configuration() == {"HeartbeatInterval": "30"}


# The offline queue


async def drain(state: ChargePointState) -> list[tuple[int, str, dict[str, object]]]:
    drained = []
    while (message := await state.head()) is not None:
        drained.append((message.seq, message.action, message.payload))
        await state.remove(message.seq)
    return drained


async def test_the_queue_keeps_creation_order_across_connectors_and_reboots(backend: Backend) -> None:
    state = backend.state()
    other = backend.state("CP-2")
    sent = []
    for n, connector_id in enumerate([1, 2, 2, 1, 3, 1]):
        payload = {"connectorId": connector_id, "n": n}
        sent.append(
            ("MeterValues", payload, await state.enqueue("MeterValues", payload, local_transaction=-1))
        )
        await other.enqueue("MeterValues", {"other": n})
    assert [seq for _, _, seq in sent] == sorted(seq for _, _, seq in sent)
    await backend.reopen()
    state = backend.state()
    assert await state.depth() == 6
    assert await drain(state) == [(seq, action, payload) for action, payload, seq in sent]
    assert await state.depth() == 0
    assert await backend.state("CP-2").depth() == 6


async def test_sequence_numbers_are_never_reused(backend: Backend) -> None:
    state = backend.state()
    seqs = [await state.enqueue("MeterValues", {"n": n}) for n in range(3)]
    await state.remove(seqs[-1])
    await state.remove(seqs[-1])  # gone already: nothing happens
    await backend.reopen()
    state = backend.state()
    new = await state.enqueue("MeterValues", {"n": 3})
    assert new > seqs[-1]
    assert [seq for seq, _, _ in await drain(state)] == [*seqs[:-1], new]


async def test_failed_attempts_are_counted_and_kept(backend: Backend) -> None:
    state = backend.state()
    seq = await state.enqueue("StopTransaction", {"transactionId": 5})
    then = datetime(2025, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert await state.record_attempt(seq, then) == 1
    assert await state.record_attempt(seq, then + timedelta(seconds=60)) == 2
    await backend.reopen()
    head = await backend.state().head()
    assert head is not None
    assert (head.attempts, head.next_attempt_at) == (2, datetime(2025, 3, 1, 12, 1, tzinfo=UTC))
    assert head.next_attempt_at is not None
    assert head.next_attempt_at.tzinfo is UTC
    with pytest.raises(KeyError):
        await backend.state().record_attempt(seq + 1, None)


async def test_local_transactions_get_the_central_systems_id(backend: Backend) -> None:
    state = backend.state()
    first = await state.new_local_transaction()
    second = await state.new_local_transaction()
    assert (first, second) == (-1, -2)
    await state.enqueue("StartTransaction", {"connectorId": 1}, local_transaction=first)
    await state.enqueue("MeterValues", {"connectorId": 1}, local_transaction=first)
    head = await state.head()
    assert head is not None
    assert (head.local_transaction, head.transaction_id) == (first, None)
    await state.set_transaction_id(first, 4711)
    await backend.reopen()
    state = backend.state()
    assert await state.new_local_transaction() == -3
    assert await state.transaction_id(first) == 4711
    assert await state.transaction_id(second) is None
    await state.remove(head.seq)
    head = await state.head()
    assert head is not None
    assert (head.action, head.transaction_id) == ("MeterValues", 4711)


async def test_dropping_a_transaction_drops_its_messages_and_its_id(backend: Backend) -> None:
    state = backend.state()
    await state.enqueue("StartTransaction", {"connectorId": 1}, local_transaction=-1)
    await state.enqueue("StartTransaction", {"connectorId": 2}, local_transaction=-2)
    await state.enqueue("MeterValues", {"connectorId": 1}, local_transaction=-1)
    await state.enqueue("StopTransaction", {"connectorId": 2}, local_transaction=-2)
    await state.enqueue("StopTransaction", {"connectorId": 1}, local_transaction=-1)
    await state.set_transaction_id(-1, 1)
    await state.set_transaction_id(-2, 2)
    assert await state.drop_transaction(-1) == 3
    assert await state.transaction_id(-1) is None
    assert await state.transaction_id(-2) == 2
    assert [payload for _, _, payload in await drain(state)] == [{"connectorId": 2}, {"connectorId": 2}]
    assert await state.drop_transaction(-1) == 0


async def test_a_full_queue_drops_the_oldest_meter_values_after_the_head(backend: Backend) -> None:
    state = backend.state(queue_limit=4)
    await state.enqueue("MeterValues", {"n": "head"})
    await state.enqueue("StartTransaction", {"n": "start"})
    await state.enqueue("MeterValues", {"n": "a"})
    await state.enqueue("MeterValues", {"n": "b"})
    await state.enqueue("StopTransaction", {"n": "stop"})  # drops a
    await state.enqueue("MeterValues", {"n": "c"})  # drops b
    assert await state.depth() == 4
    await state.enqueue("StopTransaction", {"n": "stop 2"})  # drops c
    await state.enqueue("MeterValues", {"n": "d"})  # nothing to drop: the queue grows
    assert [payload["n"] for _, _, payload in await drain(state)] == [
        "head",
        "start",
        "stop",
        "stop 2",
        "d",
    ]


@pytest.mark.parametrize(
    ("depth", "actions", "victim"),
    [
        (2, ["MeterValues", "MeterValues"], None),  # not full
        (3, ["MeterValues", "MeterValues", "MeterValues"], 1),
        (3, ["MeterValues", "StartTransaction", "StopTransaction"], None),
        (3, ["StartTransaction", "StopTransaction", "MeterValues"], 2),
        (4, ["StartTransaction", "StopTransaction", "StartTransaction", "StopTransaction"], None),
    ],
)
def test_the_overflow_policy(depth: int, actions: list[str], victim: int | None) -> None:
    assert overflow_victim(depth, 3, enumerate(actions)) == victim


async def test_bodies_that_are_not_json_fail_before_anything_is_written(backend: Backend) -> None:
    state = backend.state()
    with pytest.raises(TypeError):
        await state.enqueue("MeterValues", {"value": object()})
    with pytest.raises(ValueError, match="JSON"):
        await state.save_transaction(1, {"energy": float("nan")})
    assert await state.depth() == 0
    assert await state.load_transactions() == {}


async def test_naive_datetimes_are_refused(backend: Backend) -> None:
    state = backend.state()
    with pytest.raises(ValueError, match="naive"):
        await state.save_meter(1, 1.0, {}, datetime(2025, 1, 1))  # naive on purpose
    with pytest.raises(ValueError, match="naive"):
        await state.cache_put("TAG", {}, status="Accepted", expiry=None, now=datetime(2025, 1, 1))
    assert await state.load_meters() == {}
    assert await state.cache_size() == 0


# The Authorization Cache


async def test_the_cache_ignores_case_and_keeps_the_latest_info(backend: Backend) -> None:
    state = backend.state()
    expiry = T0 + timedelta(days=1)
    await state.cache_put("Tag-1", {"status": "Blocked"}, status="Blocked", expiry=None, now=T0)
    await state.cache_put("TAG-1", {"status": "Accepted"}, status="Accepted", expiry=expiry, now=T0)
    await backend.reopen()
    entry = await backend.state().cache_get("tag-1")
    assert entry is not None
    assert (entry.id_tag, entry.info, entry.status, entry.expiry) == (
        "TAG-1",
        {"status": "Accepted"},
        "Accepted",
        expiry,
    )
    assert await backend.state().cache_size() == 1
    assert await backend.state("CP-2").cache_get("TAG-1") is None
    await backend.state().cache_clear()
    assert await backend.state().cache_get("TAG-1") is None


async def test_a_full_cache_evicts_not_valid_entries_first_then_the_least_recently_used(
    backend: Backend,
) -> None:
    state = backend.state(cache_limit=3)
    await state.cache_put("valid-old", {}, status="Accepted", expiry=None, now=T0)
    await state.cache_put("blocked", {}, status="Blocked", expiry=None, now=T0)
    await state.cache_put("expires", {}, status="Accepted", expiry=T0 + timedelta(hours=1), now=T0)
    await state.cache_put("new-1", {}, status="Accepted", expiry=None, now=T0)  # evicts blocked
    assert await state.cache_get("blocked") is None
    later = T0 + timedelta(hours=2)
    await state.cache_put(
        "new-2", {}, status="Accepted", expiry=None, now=later
    )  # evicts expires (expired now)
    assert await state.cache_get("expires") is None
    assert await state.cache_get("valid-old") is not None  # now the most recently used
    await state.cache_put("new-3", {}, status="Accepted", expiry=None, now=later)  # evicts new-1, the LRU
    assert await state.cache_get("new-1") is None
    for id_tag in ("valid-old", "new-2", "new-3"):
        assert await state.cache_get(id_tag) is not None, id_tag


# The Local Authorization List


async def test_the_local_list_full_and_differential_updates(backend: Backend) -> None:
    state = backend.state()
    assert (await state.local_list_version(), await state.local_list_size()) == (0, 0)
    await state.local_list_replace(3, {"Tag-A": {"status": "Accepted"}, "tag-b": {"status": "Blocked"}})
    await state.local_list_update(4, {"TAG-B": None, "tag-c": {"status": "Expired"}, "tag-z": None})
    await backend.reopen()
    state = backend.state()
    assert await state.local_list_version() == 4
    assert await state.local_list_size() == 2
    assert await state.local_list_get("TAG-a") == {"status": "Accepted"}
    assert await state.local_list_get("tag-b") is None
    assert await state.local_list_get("Tag-C") == {"status": "Expired"}
    await state.local_list_replace(5, {})
    assert (await state.local_list_version(), await state.local_list_size()) == (5, 0)
    assert await backend.state("CP-2").local_list_version() == 0


# Connectors


async def test_availability_transactions_and_meters_round_trip(backend: Backend) -> None:
    state = backend.state()
    await state.save_availability(0, "Operative")
    await state.save_availability(1, "Inoperative")
    await state.save_availability(2, "Scheduled-Inoperative")
    await state.save_availability(2, "Inoperative")
    await state.save_transaction(1, {"idTag": "TAG", "meterStart": 100, "local": -1})
    await state.save_transaction(2, {"idTag": "OTHER"})
    await state.delete_transaction(2)
    await state.delete_transaction(3)  # none: nothing happens
    at = datetime(2025, 3, 1, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    await state.save_meter(1, 1234, {"measurand": "Energy.Active.Import.Register"}, at)
    await state.save_meter(1, 1500.5, {"n": 2}, at + timedelta(seconds=10))
    await backend.reopen()
    state = backend.state()
    assert await state.load_availability() == {0: "Operative", 1: "Inoperative", 2: "Inoperative"}
    assert await state.load_transactions() == {1: {"idTag": "TAG", "meterStart": 100, "local": -1}}
    meters = await state.load_meters()
    assert list(meters) == [1]
    assert (meters[1].energy_wh, meters[1].reading) == (1500.5, {"n": 2})
    assert meters[1].at == at + timedelta(seconds=10)
    assert meters[1].at.tzinfo is UTC
    assert await backend.state("CP-2").load_availability() == {}


async def test_the_power_on_read_returns_what_each_load_returns(backend: Backend) -> None:
    state = backend.state()
    empty = await state.load_power_on()
    assert empty == storage.PowerOnState(
        configuration={},
        availability={},
        transactions={},
        meters={},
        reservations={},
        charging_profiles={},
        firmware=None,
        queue_depth=0,
    )
    await state.save_configuration("HeartbeatInterval", "300")
    await state.save_availability(0, "Inoperative")
    await state.save_transaction(1, {"local": -1, "id_tag": "TAG"})
    await state.save_meter(2, 1234.5, {"timestamp": "2025-03-01T12:00:00Z"}, T0)
    await state.save_reservation(7, {"connectorId": 1, "idTag": "TAG"})
    await state.save_charging_profile(3, {"chargingProfileId": 3, "stackLevel": 0})
    await state.save_firmware("2.0.0", reported=False)
    await state.enqueue("MeterValues", {"connectorId": 1, "meterValue": []})
    await backend.reopen()
    state = backend.state()
    kept = await state.load_power_on()
    assert kept == storage.PowerOnState(
        configuration=await state.load_configuration(),
        availability=await state.load_availability(),
        transactions=await state.load_transactions(),
        meters=await state.load_meters(),
        reservations=await state.load_reservations(),
        charging_profiles=await state.load_charging_profiles(),
        firmware=await state.load_firmware(),
        queue_depth=await state.depth(),
    )
    assert kept.configuration == {"HeartbeatInterval": "300"}
    assert kept.availability == {0: "Inoperative"}
    assert kept.transactions == {1: {"local": -1, "id_tag": "TAG"}}
    assert kept.meters[2].energy_wh == 1234.5
    assert kept.reservations == {7: {"connectorId": 1, "idTag": "TAG"}}
    assert kept.charging_profiles == {3: {"chargingProfileId": 3, "stackLevel": 0}}
    assert kept.firmware == storage.FirmwareRecord(version="2.0.0", reported=False)
    assert kept.queue_depth == 1
