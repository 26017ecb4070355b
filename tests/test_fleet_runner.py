"""The fleet supervisor stops a charge point with its simulated EVs, whenever it is removed, and keeps the EVs
through a power cut."""

import functools
from collections.abc import Iterator

import trio
import trio.testing

from actors.connection import CsmsAddress
from fleet.fleetfile import ChargePointSpec
from fleet.runner import Fleet
from storage import MemoryStorage

DELAY = 10.0  # seconds between a remote start and the EV plugging in


def spec(charge_point_id: str) -> ChargePointSpec:
    return ChargePointSpec(
        id=charge_point_id,
        serial=None,
        connectors=1,
        vendor="Acme",
        model="AC22",
        firmware=None,
        csms_url="ws://csms.test/ocpp",
        configuration={},
        remote_start_delay=DELAY,
    )


async def unreachable(address: CsmsAddress) -> trio.abc.Stream:
    await trio.sleep_forever()
    raise AssertionError("never reached")


def task_names() -> Iterator[str]:
    def walk(task: trio.lowlevel.Task) -> Iterator[str]:
        yield task.name
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                yield from walk(child)

    return walk(trio.lowlevel.current_root_task())


def running(charge_point_id: str) -> list[str]:
    """The tasks of one charge point (the charge point actor's, its supervisor's, its EVs')."""
    return [name for name in task_names() if charge_point_id in name or "_run_charge_point" in name]


async def test_a_removal_right_after_the_start_stops_the_charge_point(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # trio runs a batch of tasks in random order: the removal comes before its start or after it
    for _ in range(8):
        fleet = Fleet([spec("CP-1"), spec("CP-2")], storage=MemoryStorage(), dialer=unreachable)
        async with trio.open_nursery() as nursery:
            await nursery.start(functools.partial(fleet.run, ramp=0))
            with trio.fail_after(1):  # at once: it never waits for the charge point to end on its own
                await fleet.remove("CP-1")
            assert fleet.get("CP-1") is None
            assert [charge_point.settings.charge_point_id for charge_point in fleet.charge_points] == ["CP-2"]
            assert fleet.counts().started == 1
            await trio.sleep(1)
            assert [name for name in task_names() if "_run_charge_point" in name] != []  # CP-2 runs on
            nursery.cancel_scope.cancel()


async def test_a_removed_charge_point_takes_its_ev_on_the_way_with_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fleet = Fleet([spec("CP-1")], storage=MemoryStorage(), dialer=unreachable)
    async with trio.open_nursery() as nursery:
        await nursery.start(functools.partial(fleet.run, ramp=0))
        await trio.sleep(1)
        (connector,) = fleet.hardware["CP-1"]
        connector.cable_wanted()  # as a remote start does
        await trio.sleep(DELAY / 2)
        assert "bring an EV to CP-1#1/ev" in task_names()
        with trio.fail_after(1):
            await fleet.remove("CP-1")
        await trio.testing.wait_all_tasks_blocked()  # the EV's task, cancelled, may not have unwound yet
        assert running("CP-1") == []
        await trio.sleep(2 * DELAY)
        assert not connector.plugged
        nursery.cancel_scope.cancel()


async def test_an_ev_on_the_way_comes_through_a_power_cut(autojump_clock: trio.testing.MockClock) -> None:
    fleet = Fleet([spec("CP-1")], storage=MemoryStorage(), dialer=unreachable)
    async with trio.open_nursery() as nursery:
        await nursery.start(functools.partial(fleet.run, ramp=0))
        await trio.sleep(1)
        (connector,) = fleet.hardware["CP-1"]
        connector.cable_wanted()
        await trio.sleep(DELAY / 2)
        fleet.cut_power("CP-1")
        await trio.sleep(DELAY)
        assert connector.plugged
        assert fleet.power_cuts == 1
        assert fleet.counts().started == 1
        nursery.cancel_scope.cancel()
