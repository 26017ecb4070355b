"""Mailbox: letters first and in order, a letter or a nudge ends the wait for the source at once, a deadline
ends it too, no event of the source is lost, and senders wait while the mailbox is full."""

import trio
import trio.testing

from actors.mailbox import Mailbox


async def taking(
    mailbox: Mailbox[str], events: trio.MemoryReceiveChannel[str], count: int, patience: float = 100
) -> list[tuple[float, str | None]]:
    """What ``count`` calls of ``next`` return, and when."""
    taken: list[tuple[float, str | None]] = []
    for _ in range(count):
        item = await mailbox.next(events.receive, trio.current_time() + patience)
        taken.append((trio.current_time(), item))
    return taken


async def test_letters_come_in_order_before_the_source_is_waited_for(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox = Mailbox[str](4)
    events_in, events = trio.open_memory_channel[str](4)
    events_in.send_nowait("event")
    await mailbox.put("first")
    mailbox.put_nowait("second")
    assert await taking(mailbox, events, 3) == [(0, "first"), (0, "second"), (0, "event")]


async def test_a_letter_ends_the_wait_for_the_source_at_once_and_no_event_is_lost(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox = Mailbox[str](4)
    events_in, events = trio.open_memory_channel[str](4)
    taken: list[tuple[float, str | None]] = []

    async def owner() -> None:
        taken.extend(await taking(mailbox, events, 4))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(owner)
        await trio.sleep(5)
        await mailbox.put("letter")
        await events_in.send("first event")  # in the same instant, while the letter is taken
        await trio.sleep(5)
        await events_in.send("second event")
    assert taken == [(5, "letter"), (5, "first event"), (10, "second event"), (110, None)]


async def test_an_event_taken_just_before_a_letter_arrives_is_not_lost(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox = Mailbox[str](4)
    events_in, events = trio.open_memory_channel[str](4)
    taken: list[tuple[float, str | None]] = []

    async def owner() -> None:
        taken.extend(await taking(mailbox, events, 2))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(owner)
        await trio.sleep(5)
        events_in.send_nowait("event")  # handed to the waiting owner, which has not run yet
        mailbox.put_nowait("letter")  # and its wait is cancelled
    assert taken == [(5, "event"), (5, "letter")]


async def test_a_deadline_already_passed_goes_before_the_letters(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox = Mailbox[str](4)
    _, events = trio.open_memory_channel[str](4)
    mailbox.put_nowait("letter")
    assert await mailbox.next(events.receive, trio.current_time()) is None
    assert await mailbox.next(events.receive, trio.current_time() + 1) == "letter"


async def test_nudges_end_the_wait_once_without_a_letter(autojump_clock: trio.testing.MockClock) -> None:
    mailbox = Mailbox[str](4)
    _, events = trio.open_memory_channel[str](4)
    taken: list[tuple[float, str | None]] = []

    async def owner() -> None:
        taken.extend(await taking(mailbox, events, 3, patience=10))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(owner)
        await trio.sleep(2)
        mailbox.nudge()
        mailbox.nudge()  # in the same instant: one look again is enough
        await trio.sleep(1)
        mailbox.nudge()
        mailbox.put_nowait("letter")  # the look after the letter covers the nudge
    assert taken == [(2, None), (3, "letter"), (13, None)]


async def test_a_put_waits_while_the_mailbox_is_full_and_a_cancelled_one_posts_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox = Mailbox[str](2)
    _, events = trio.open_memory_channel[str](4)
    await mailbox.put("one")
    await mailbox.put("two")
    with trio.move_on_after(1) as given_up:
        await mailbox.put("never")
    assert given_up.cancelled_caught
    posted: list[float] = []

    async def sender() -> None:
        await mailbox.put("three")
        posted.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender)
        await trio.sleep(4)
        assert posted == []
        assert await mailbox.next(events.receive, trio.current_time() + 1) == "one"
    assert posted == [5]
    assert await taking(mailbox, events, 2, patience=1) == [(5, "two"), (5, "three")]


async def test_the_owner_posts_beyond_the_limit_without_waiting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox = Mailbox[str](1)
    _, events = trio.open_memory_channel[str](4)
    await mailbox.put("from another task")
    mailbox.put_nowait("from the owner")
    assert await taking(mailbox, events, 2) == [(0, "from another task"), (0, "from the owner")]


async def test_the_owner_is_idle_only_while_it_waits_for_its_source_with_nothing_posted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox = Mailbox[str](4)
    _events_in, events = trio.open_memory_channel[str](4)
    seen: list[bool] = [mailbox.idle]  # the owner is not waiting yet

    async with trio.open_nursery() as nursery:
        nursery.start_soon(taking, mailbox, events, 2)
        await trio.sleep(1)
        seen.append(mailbox.idle)  # waiting for its source
        mailbox.put_nowait("letter")
        seen.append(mailbox.idle)  # posted to, not yet taken
        await trio.sleep(1)
        seen.append(mailbox.idle)  # waiting again
        mailbox.nudge()
        seen.append(mailbox.idle)
    assert seen == [False, True, False, True, False]
