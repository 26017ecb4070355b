"""Tasks that exist only while they have something to do.

A charge point has many watchers that are idle nearly all the time: a reservation's expiry timer, the sender
of status reports, the storage retry while writes fail, the reboot that a Reset asks for. A trio task parked
for the whole life of a charge point costs a few KiB and a share of every cancellation; at thousands of charge
points per process those parked tasks would be most of the fleet's memory. An :class:`OnDemandTask` runs its
work in its owner's nursery when woken, again as long as it was woken meanwhile, and then ends.
"""

from collections.abc import Awaitable, Callable

import trio

__all__ = ["OnDemandTask"]


class OnDemandTask:
    """Runs ``work`` in a nursery each time it is woken; at most one run at a time.

    A wake during a run makes the run start over once it ends (or ends :meth:`sleep_until` early), so no
    wake is lost. Before :meth:`start` and after :meth:`stop` wakes are remembered, and the work runs once
    the task is started again; :meth:`stop` cancels a run under way.
    """

    # a dozen per charge point
    __slots__ = ("_name", "_nursery", "_run_scope", "_running", "_wanted", "_woken", "_work")

    def __init__(self, work: Callable[[], Awaitable[object]], *, name: str | None = None) -> None:
        self._work = work
        self._name = name
        self._nursery: trio.Nursery | None = None
        self._run_scope: trio.CancelScope | None = None
        self._running = False
        self._wanted = False
        self._woken: trio.Event | None = None  # made when a run sleeps: most never do

    @property
    def running(self) -> bool:
        """Whether the work runs now (or is about to)."""
        return self._running

    def start(self, nursery: trio.Nursery) -> None:
        """Run in ``nursery`` from now on; a wake not yet served runs the work now."""
        self._nursery = nursery
        if self._wanted and not self._running:
            self._spawn()

    def stop(self) -> None:
        """Run no more until started again, and cancel a run under way: the owner's nursery is closing, or
        the owner leaves a nursery that lives on."""
        self._nursery = None
        if self._run_scope is not None:
            self._run_scope.cancel()

    def wake(self) -> None:
        """Have the work run (again) soon."""
        self._wanted = True
        if self._woken is not None:
            self._woken.set()
        if not self._running and self._nursery is not None:
            self._spawn()

    async def sleep_until(self, deadline: float) -> bool:
        """For the work: sleep until ``deadline`` (trio time) or a wake, whichever is first; whether woken.

        A wake that ends the sleep is consumed: the work is expected to look again at what it waits for.
        """
        if not self._wanted:
            self._woken = trio.Event()
            with trio.move_on_at(deadline):
                await self._woken.wait()
        if not self._wanted:
            return False
        self._consume()
        return True

    def _spawn(self) -> None:
        assert self._nursery is not None
        try:
            self._nursery.start_soon(self._run, name=self._name)
        except RuntimeError:  # the nursery closed without stop(): the wake waits for the next start
            self._nursery = None
            return
        self._running = True

    def _consume(self) -> None:
        self._wanted = False
        self._woken = None

    async def _run(self) -> None:
        self._run_scope = scope = trio.CancelScope()
        try:
            with scope:
                while self._wanted and self._nursery is not None:  # stopped before it began: not at all
                    self._consume()
                    await self._work()
        finally:
            self._running = False
            self._run_scope = None
