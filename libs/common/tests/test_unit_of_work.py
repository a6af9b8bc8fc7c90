"""The one commit rule: `committing(uow)` commits on success and for `KeepsChanges` errors only."""

from __future__ import annotations

import pytest
from commontest_schema import things
from scifikpi_common.db import UnitOfWorkFactory, committing
from scifikpi_common.errors import Conflict, KeepsChanges
from sqlalchemy import func, insert, select


class SoldOut(KeepsChanges, Conflict):
    slug, title = "sold-out", "Sold out"


async def _count(uow_factory: UnitOfWorkFactory) -> int:
    async with uow_factory() as uow:
        return (await uow.session.execute(select(func.count()).select_from(things))).scalar_one()


async def test_success_commits(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow, committing(uow):
        await uow.session.execute(insert(things).values(id=1, note="kept"))
    assert await _count(uow_factory) == 1


async def test_an_ordinary_error_rolls_back(uow_factory: UnitOfWorkFactory) -> None:
    with pytest.raises(Conflict):
        async with uow_factory() as uow, committing(uow):
            await uow.session.execute(insert(things).values(id=2, note="lost"))
            raise Conflict("no")
    assert await _count(uow_factory) == 0


async def test_a_keeps_changes_error_commits_then_propagates(
    uow_factory: UnitOfWorkFactory,
) -> None:
    with pytest.raises(SoldOut):
        async with uow_factory() as uow, committing(uow):
            await uow.session.execute(insert(things).values(id=3, note="attempt recorded"))
            raise SoldOut("none left")
    assert await _count(uow_factory) == 1


async def test_leaving_without_commit_rolls_back(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.session.execute(insert(things).values(id=4, note="never committed"))
    assert await _count(uow_factory) == 0
