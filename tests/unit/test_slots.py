"""``Slots``: the session's limit on requests in flight (and the export's on sessions)."""

from __future__ import annotations

import anyio
import pytest

from aioica._limits import Slots


async def _crowd(slots: Slots, n: int) -> tuple[list[int], list[int], int]:
    """``n`` tasks through ``slots``: the order they asked in, the order they got in, and the
    most holders at once."""
    holding = most = 0
    called: list[int] = []
    order: list[int] = []

    async def use(i: int) -> None:
        nonlocal holding, most
        called.append(i)  # no checkpoint between this and joining the queue
        async with slots:
            order.append(i)
            holding += 1
            most = max(most, holding)
            await anyio.sleep(0.01)
            holding -= 1

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(use, i)
    return called, order, most


@pytest.mark.anyio
async def test_never_more_holders_than_slots() -> None:
    slots = Slots(3)
    _, order, most = await _crowd(slots, 10)
    assert most == 3
    assert sorted(order) == list(range(10))
    assert slots.borrowed == 0


@pytest.mark.anyio
async def test_waiters_are_served_in_the_order_they_asked() -> None:
    # One slot: one hand-over per step, so the order they get in is the hand-over order.
    # (With more slots, trio may resume two waiters woken in the same step in either order.)
    slots = Slots(1)
    called, order, most = await _crowd(slots, 10)
    assert most == 1
    assert order == called
    assert slots.borrowed == 0


@pytest.mark.anyio
async def test_a_free_slot_is_taken_without_yielding() -> None:
    slots = Slots(2)
    ran = False

    async def other() -> None:
        nonlocal ran
        ran = True

    async with anyio.create_task_group() as tg:
        tg.start_soon(other)
        await slots.acquire()
        await slots.acquire()
        assert not ran  # no pass of the event loop yet: `other` has not started
        assert slots.borrowed == 2
        slots.release()
        slots.release()
    assert ran and slots.borrowed == 0


@pytest.mark.anyio
async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    slots = Slots(1)
    await slots.acquire()
    with anyio.move_on_after(0.01):
        await slots.acquire()
    slots.release()
    assert slots.borrowed == 0
    await slots.acquire()  # the slot is free, not promised to the cancelled waiter
    assert slots.borrowed == 1


@pytest.mark.anyio
async def test_a_slot_handed_to_a_waiter_being_cancelled_is_passed_on() -> None:
    slots = Slots(1)
    await slots.acquire()
    got: list[str] = []
    release_second = anyio.Event()

    async def wait(name: str, scope: anyio.CancelScope) -> None:
        with scope:
            async with slots:
                got.append(name)
                await release_second.wait()

    first, second = anyio.CancelScope(), anyio.CancelScope()
    async with anyio.create_task_group() as tg:
        tg.start_soon(wait, "first", first)
        await anyio.sleep(0.01)
        tg.start_soon(wait, "second", second)
        await anyio.sleep(0.01)  # both queue up, in this order
        first.cancel()  # "first" is being cancelled...
        slots.release()  # ...when the slot is handed to it, in the same step
        await anyio.sleep(0.01)
        assert got == ["second"]
        assert slots.borrowed == 1  # held by "second": nothing lost, nothing doubled
        release_second.set()
    assert slots.borrowed == 0


@pytest.mark.anyio
async def test_a_cancelled_holder_gives_its_slot_back() -> None:
    slots = Slots(1)
    with anyio.move_on_after(0.01):
        async with slots:
            await anyio.sleep(1)
    assert slots.borrowed == 0
