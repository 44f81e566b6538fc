"""Where desk keeps its files on this machine."""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


def data_dir() -> Path:
    """Directory of the per-user default database."""
    return _xdg("XDG_DATA_HOME", ".local/share") / "desk"


def config_dir() -> Path:
    """Directory of the per-user settings file."""
    return _xdg("XDG_CONFIG_HOME", ".config") / "desk"


def default_db_path() -> Path:
    """The database used when neither ``--db`` nor ``DESK_DB`` names one."""
    return data_dir() / "desk.db"


def settings_file() -> Path:
    """The settings file (TOML), overridable with ``DESK_CONFIG``."""
    override = os.environ.get("DESK_CONFIG")
    return Path(override) if override else config_dir() / "config.toml"
