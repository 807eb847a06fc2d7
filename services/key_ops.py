"""API keys from the CLI (create, list, revoke), against the same database the running services use."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.postgres import create_pool
from meterflow.domain.api_keys import ApiKey, KeyScope, hash_api_key, new_api_key
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.settings import Settings

T = TypeVar("T")


async def _with_catalog(settings: Settings, action: Callable[[CatalogRepository], Awaitable[T]]) -> T:
    pool = await create_pool(settings.database_dsn)
    try:
        return await action(CatalogRepository(pool))
    finally:
        await pool.close()


async def create_api_key(settings: Settings, mode: Mode, scope: KeyScope = KeyScope.FULL) -> str:
    key = new_api_key(mode)
    await _with_catalog(settings, lambda c: c.add_api_key(new_id(IdKind.API_KEY), mode, hash_api_key(key), scope))
    return key


async def list_api_keys(settings: Settings) -> list[ApiKey]:
    return await _with_catalog(settings, lambda c: c.api_keys())


async def revoke_api_key(settings: Settings, key_id: str, at: datetime | None = None) -> bool:
    """Refused within the gateways' key-cache age (`MF_API_KEY_CACHE_S`) everywhere."""
    return await _with_catalog(settings, lambda c: c.revoke_api_key(key_id, at or datetime.now(UTC)))
