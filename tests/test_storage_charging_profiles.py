"""The charging profiles a charge point keeps (``storage.charging_profiles``), the same suite in memory and in
SQLite: bodies by id, replacement in one atomic change, removal, and what a reopened database gives back."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_storage_state import Backend


@pytest.fixture(params=["memory", "sqlite"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    backend = Backend(request.param, tmp_path / "state.db")
    await backend.open()
    yield backend
    await backend.close()


def body(profile_id: int, connector_id: int = 1) -> dict[str, object]:
    return {"request": {"connectorId": connector_id, "profileId": profile_id}, "transaction": None}


async def test_profiles_are_kept_by_id_and_survive_a_reopen(backend: Backend) -> None:
    state = backend.state()
    assert await state.load_charging_profiles() == {}
    await state.save_charging_profile(7, body(7))
    await state.save_charging_profile(3, body(3, connector_id=0))
    await backend.state("CP-2").save_charging_profile(7, body(7, connector_id=2))
    await backend.reopen()
    assert await backend.state().load_charging_profiles() == {3: body(3, connector_id=0), 7: body(7)}
    assert list(await backend.state().load_charging_profiles()) == [3, 7]
    assert await backend.state("CP-2").load_charging_profiles() == {7: body(7, connector_id=2)}


async def test_a_profile_replaces_the_same_id_and_those_it_replaces_in_one_change(backend: Backend) -> None:
    state = backend.state()
    for profile_id in (1, 2, 3):
        await state.save_charging_profile(profile_id, body(profile_id))
    await state.save_charging_profile(2, body(2, connector_id=0), replacing=[1, 9])
    await backend.reopen()
    assert await backend.state().load_charging_profiles() == {2: body(2, connector_id=0), 3: body(3)}


async def test_profiles_are_deleted_and_unknown_ids_are_no_error(backend: Backend) -> None:
    state = backend.state()
    for profile_id in (1, 2, 3):
        await state.save_charging_profile(profile_id, body(profile_id))
    await state.delete_charging_profiles([1, 3, 42])
    await state.delete_charging_profiles([])
    await backend.reopen()
    assert await backend.state().load_charging_profiles() == {2: body(2)}


async def test_a_body_that_is_not_json_is_refused_before_anything_is_written(backend: Backend) -> None:
    state = backend.state()
    await state.save_charging_profile(2, body(2))
    with pytest.raises(ValueError, match="JSON"):
        await state.save_charging_profile(1, {"limit": float("nan")}, replacing=[2])
    assert await state.load_charging_profiles() == {2: body(2)}
