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


NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "sshfs", "afs", "9p", "ncpfs", "davfs"}
)
"""File systems on which SQLite cannot lock a database file safely."""


def filesystem_type(path: Path) -> str | None:
    """The type of the file system holding ``path`` (from /proc/mounts), if it can be told."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    target = path.resolve()
    best: tuple[int, str] | None = None
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount_point = parts[1].replace("\\040", " ")
        mount = Path(mount_point)
        if (target == mount or mount in target.parents) and (
            best is None or len(mount_point) > best[0]
        ):
            best = (len(mount_point), parts[2])
    return best[1] if best else None
