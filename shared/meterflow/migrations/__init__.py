"""Database migrations (Alembic). `upgrade_to_head` is what `meterflow migrate` and `meterflow run` call."""

from pathlib import Path

from alembic import command
from alembic.config import Config


def upgrade_to_head(database_dsn: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.set_main_option("sqlalchemy.url", database_dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
    command.upgrade(config, "head")
