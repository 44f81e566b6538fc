"""The schema revision this version of desk works with."""

from __future__ import annotations

SCHEMA_REVISION = "0007"
"""The schema revision this version of desk works with: the newest migration's. Kept here so
that opening a desk need not load Alembic and every migration script to learn it; the test
suite checks that it is the head of ``desk/migrations``."""
