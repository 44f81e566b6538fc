"""One real-terminal smoke test: desk starts in tmux on a demo desk, fills its panels, and quits
cleanly on ``q``. On SQLite the desk is a copy of sample.db, on PostgreSQL a small demo."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from desk import db
from desk.demo import build_demo

SAMPLE = Path(__file__).resolve().parent.parent / "sample.db"


def _screen(session: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True, check=False
    ).stdout


def _wait_for(session: str, text: str, seconds: float) -> str:
    end = time.monotonic() + seconds
    screen = ""
    while time.monotonic() < end:
        screen = _screen(session)
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; the terminal shows:\n{screen}")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux for a real terminal")
def test_desk_starts_shows_numbers_and_quits_with_q(db_url: str, tmp_path: Path) -> None:
    if db.sqlite_path(db_url) is not None:
        copy = tmp_path / "sample.db"
        shutil.copy(SAMPLE, copy)
        target = str(copy)
    else:
        engine = db.make_engine(db_url)
        story_end = datetime(2025, 11, 20, 15, tzinfo=UTC)
        build_demo(engine, seed=7, customers=200, calls=1500, months=6, end=story_end)
        engine.dispose()
        target = db_url
    status = tmp_path / "status"
    exe = shutil.which("desk") or str(Path(sys.executable).parent / "desk")
    session = f"desk-smoke-{uuid.uuid4().hex[:8]}"
    command = f"'{exe}' --db '{target}' --agent 'Anna Berg'; echo $? > '{status}'"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", command], check=True
    )
    try:
        screen = _wait_for(session, "retained", 30)
        assert "DEMO" in screen and "Anna Berg" in screen
        _wait_for(session, "%", 10)  # the retention rate is a number, not a placeholder
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        end = time.monotonic() + 15
        while not status.exists() and time.monotonic() < end:
            time.sleep(0.2)
        assert status.exists(), "desk did not quit on q"
        assert status.read_text().strip() == "0"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)
