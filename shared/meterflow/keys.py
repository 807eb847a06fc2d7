"""Creating API keys from the CLI, against the same database the running services use."""

from meterflow.adapters.catalog_repository import CatalogRepository
from meterflow.adapters.postgres import create_pool
from meterflow.domain.api_keys import hash_api_key, new_api_key
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.settings import Settings


async def create_api_key(settings: Settings, mode: Mode) -> str:
    key = new_api_key(mode)
    pool = await create_pool(settings.database_dsn)
    try:
        await CatalogRepository(pool).add_api_key(new_id(IdKind.API_KEY), mode, hash_api_key(key))
    finally:
        await pool.close()
    return key
