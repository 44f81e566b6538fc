"""Settings: command-line options win over the environment (``DESK_*``), which wins over the file."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from desk import locations


class Settings(BaseSettings):
    """Everything a desk can be told about itself, read from ``DESK_*`` and the settings file."""

    model_config = SettingsConfigDict(env_prefix="DESK_", extra="ignore")

    db: str | None = None
    """Database path or URL (``DESK_DB``); None means the per-user default file."""

    agent: str | None = None
    """Name of the agent working this desk (``DESK_AGENT``)."""

    timezone: str = "UTC"
    """IANA time zone in which times without an offset are read and months begin."""

    dormancy_days: int = Field(default=90, ge=1)
    """A buyer whose previous purchase is older than this many days counts as revived."""

    busy_timeout_s: float = Field(default=10.0, gt=0)
    """How long a write waits for another agent's write to finish before giving up."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)"
            ) from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=locations.settings_file())
        return (init_settings, env_settings, toml)


def load_settings(**overrides: object) -> Settings:
    """Settings with explicit overrides (command-line options) applied; None values are ignored."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**given)  # type: ignore[arg-type]


def settings_path() -> Path:
    """Where the settings file is read from."""
    return locations.settings_file()
