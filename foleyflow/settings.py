"""Typed settings read from the environment (one place for every path and URL)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """foleyflow settings; each field reads ``FOLEYFLOW_<NAME>`` from the environment."""

    model_config = SettingsConfigDict(env_prefix="FOLEYFLOW_", extra="ignore")

    home: Path = Field(
        default=Path("foleyflow-data"),
        description="Where the catalog (SQLite default), keyframes and cleaned video live.",
    )
    catalog_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the catalog; default sqlite:///<home>/catalog.db. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db",
    )

    generator: str = Field(
        default="builtin:foley-mini",
        description="The sound generator runs use unless told otherwise: builtin:foley-mini, or "
        "local:<directory> of a diffusers pipeline saved with save_pretrained.",
    )
    media_url: str = Field(
        default="http://127.0.0.1:4210",
        description="Base URL of `foleyflow media-server` (which serves <home>/films); the review "
        "artifacts in the Prefect UI link candidate WAVs and delivered films under it.",
    )

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_catalog_url(self) -> str:
        if self.catalog_url:
            return self.catalog_url
        return f"sqlite:///{self.resolved_home / 'catalog.db'}"

    def film_dir(self, sha256: str) -> Path:
        """Folder of everything the pipeline writes for one film (content-addressed)."""
        return self.resolved_home / "films" / sha256[:16]


@lru_cache(maxsize=1)
def _cached() -> Settings:
    return Settings()


def get_settings(*, fresh: bool = False) -> Settings:
    """The process settings; ``fresh=True`` re-reads the environment (tests, CLI options)."""
    if fresh:
        _cached.cache_clear()
    return _cached()
