"""Reservations in the state of a charge point (``storage.reservations``), the same for both implementations:
kept across a reboot, replaced by id, forgotten, per charge point."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_storage_state import Backend

BODY = {"connectorId": 1, "expiryDate": "2026-05-04T10:00:00Z", "idTag": "TAG-1", "reservationId": 7}


@pytest.fixture(params=["memory", "sqlite"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    backend = Backend(request.param, tmp_path / "state.db")
    await backend.open()
    yield backend
    await backend.close()


async def test_reservations_survive_a_reboot_and_are_replaced_by_id(backend: Backend) -> None:
    state = backend.state()
    assert await state.load_reservations() == {}
    await state.save_reservation(7, BODY)
    await state.save_reservation(3, {**BODY, "reservationId": 3, "connectorId": 0})
    await state.save_reservation(7, {**BODY, "idTag": "TAG-2", "parentIdTag": "FAMILY"})
    await backend.state("CP-2").save_reservation(7, BODY)
    await backend.reopen()
    assert await backend.state().load_reservations() == {
        3: {**BODY, "reservationId": 3, "connectorId": 0},
        7: {**BODY, "idTag": "TAG-2", "parentIdTag": "FAMILY"},
    }
    assert list(await backend.state().load_reservations()) == [3, 7], "by id"
    assert await backend.state("CP-2").load_reservations() == {7: BODY}


async def test_a_forgotten_reservation_stays_forgotten(backend: Backend) -> None:
    state = backend.state()
    await state.save_reservation(7, BODY)
    await state.delete_reservation(7)
    await state.delete_reservation(8)  # not kept: nothing happens
    await backend.reopen()
    assert await backend.state().load_reservations() == {}


async def test_a_body_that_is_not_json_is_refused_before_anything_is_written(backend: Backend) -> None:
    state = backend.state()
    with pytest.raises(TypeError):
        await state.save_reservation(7, {"expiryDate": object()})
    assert await state.load_reservations() == {}
