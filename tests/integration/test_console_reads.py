"""The reads the ops console adds to the repositories, against Postgres: customer search (an id or external id
exactly, a part of a name or email in any case, `%` and `_` taken literally, one mode only) and the close
failures of one mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.close_failure_repository import CloseFailureRepository
from meterflow.adapters.postgres import Pool
from meterflow.domain.catalog import Customer
from meterflow.domain.close_failures import CloseFailure, CloseStage
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.periods import Period
from tests.support import unique

pytestmark = pytest.mark.postgres


async def _customer(catalog: CatalogRepository, mode: Mode, name: str, email: str | None = None) -> Customer:
    customer = Customer(new_id(IdKind.CUSTOMER), mode, unique("ext"), name, email, {}, datetime.now(UTC))
    await catalog.add_customer(customer)
    return customer


async def test_customers_are_found_by_id_external_id_or_part_of_a_name_or_email(pool: Pool) -> None:
    catalog, tag = CatalogRepository(pool), unique("Tag")
    acme = await _customer(catalog, Mode.TEST, f"Acme {tag} Ltd", f"billing@{tag.lower()}.test")
    percent = await _customer(catalog, Mode.TEST, f"100% {tag}")
    other_mode = await _customer(catalog, Mode.LIVE, f"Acme {tag} Live")

    async def found(text: str) -> set[str]:
        return {c.id for c in await catalog.search_customers(Mode.TEST, text, 50)}

    assert await found(acme.id) == {acme.id}
    assert await found(acme.external_id) == {acme.id}
    assert await found(tag.upper()) == {acme.id, percent.id}  # any case; never the live customer
    assert await found(f"@{tag.lower()}.") == {acme.id}
    assert await found(f"100% {tag}") == {percent.id}
    assert await found(f"1_0% {tag}") == set()  # `_` is a character, not a wildcard
    assert other_mode.id in {c.id for c in await catalog.search_customers(Mode.LIVE, tag, 50)}
    newest = await catalog.search_customers(Mode.TEST, "", 2)
    assert len(newest) == 2 and newest[0].created_at >= newest[1].created_at


async def test_close_failures_are_listed_for_one_mode_or_both(pool: Pool) -> None:
    failures, now = CloseFailureRepository(pool), datetime.now(UTC)
    period = Period(now - timedelta(days=1), now)
    test, live = (CloseFailure(new_id(IdKind.SUBSCRIPTION), mode, period, CloseStage.COMPUTE, "Unavailable", "x",
                               now + timedelta(days=3650)) for mode in (Mode.TEST, Mode.LIVE))
    await failures.record([test, live])
    try:
        assert test.subscription_id in {f.subscription_id for f in await failures.listing(10, Mode.TEST)}
        assert live.subscription_id not in {f.subscription_id for f in await failures.listing(10, Mode.TEST)}
        assert {test.subscription_id, live.subscription_id} <= {f.subscription_id for f in await failures.listing(10)}
    finally:
        await failures.clear([test.subscription_id, live.subscription_id])
