"""The main screen's first rows and figures, read with sqlite3 while the desk starts.

Loading the data layer (SQLAlchemy, SQLModel and desk's tables) takes longer than loading and
drawing the screen. When bare ``desk`` opens a SQLite file, what the main screen shows first
(each list's count and first page, and the side panels' figures) is read on plain sqlite3
connections, with the very statements the screen itself runs (``desk.reads``), while the
screen is loaded and built. The reading happens in a forked child process where there is fork,
so that it never waits for this process's interpreter (rows are fetched one at a time, each
needing it), and the child hands each result over by pipe; elsewhere it happens in threads.
The data layer is loaded when the desk first needs it afterwards. Anything that could not be
read here is read again the usual way, and a failure is then told as usual.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import sqlite3
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from desk.config import Settings

STATS = "stats"
"""The key of the side panels' figures (the lists' keys are their sources)."""


class NotRead(Exception):
    """Something could not be read while the desk started; it is read again the usual way."""


def start(
    *,
    path: str,
    busy_timeout_s: float,
    settings: Settings,
    agent_name: str,
    clock: Callable[[], datetime],
    sources: Iterable[object],
) -> dict[object, Future[Any]]:
    """Start reading each list's first page and the panels' figures (as of ``clock()``) from
    the SQLite file at ``path``, each in a thread and a read transaction of its own; a future
    for each."""
    # Loaded here, before the reading starts: what it runs needs nothing loaded meanwhile.
    import desk.metrics.glance
    import desk.metrics.reasons
    import desk.metrics.retention
    import desk.metrics.revenue  # noqa: F401
    from desk import dashboard
    from desk.store.lists import RowSource, first_page

    def stats(connection: sqlite3.Connection) -> Any:
        return dashboard.snapshot(
            session=connection,
            now=clock(),
            tz=settings.tz,
            agent_name=agent_name,
            dormancy_days=settings.dormancy_days,
        )

    def rows(source: RowSource[Any]) -> Callable[[sqlite3.Connection], Any]:
        return lambda connection: first_page(source, connection)

    # The figures first: they take longest to read, and the screen waits for all of it.
    reads: list[tuple[object, Callable[[sqlite3.Connection], Any]]] = [
        (STATS, stats),
        *((source, rows(source)) for source in sources),  # type: ignore[arg-type]
    ]
    futures: dict[object, Future[Any]] = {key: Future() for key, _ in reads}
    if hasattr(os, "fork"):
        _fork(futures, path, busy_timeout_s, reads)
    else:
        for key, read in reads:
            threading.Thread(
                target=_read,
                args=(futures[key], path, busy_timeout_s, read),
                name="desk-first-reads",
                daemon=True,
            ).start()
    return futures


def _fork(
    futures: dict[object, Future[Any]],
    path: str,
    busy_timeout_s: float,
    reads: list[tuple[object, Callable[[sqlite3.Connection], Any]]],
) -> None:
    """Read everything in a child process; a thread here fills the futures as results come."""
    result_read, result_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        status = 0
        try:
            os.close(result_read)
            gc.disable()  # a short life
            with os.fdopen(result_write, "wb") as out:
                for key, read in reads:
                    done: Future[Any] = Future()
                    _read(done, path, busy_timeout_s, read)
                    error = done.exception()
                    answer = (key, True, done.result()) if error is None else (key, False, error)
                    pickle.dump(answer, out, protocol=pickle.HIGHEST_PROTOCOL)
                    out.flush()
        except BaseException:
            status = 1
        finally:
            os._exit(status)  # never this process's exit handlers, buffers or terminal
    os.close(result_write)
    threading.Thread(
        target=_collect, args=(result_read, pid, futures), name="desk-first-reads", daemon=True
    ).start()


def _collect(result_read: int, pid: int, futures: dict[object, Future[Any]]) -> None:
    """Fill each future as its result arrives; whatever did not arrive fails (and is read
    again the usual way)."""
    why = "the first reads ended early"
    try:
        with os.fdopen(result_read, "rb") as results:
            while True:
                try:
                    key, ok, value = pickle.load(results)
                except EOFError:
                    break
                future = futures.get(key)
                if future is None or future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
    except Exception as error:  # a broken hand-over: read again the usual way
        why = f"{type(error).__name__}: {error}"
    finally:
        for future in futures.values():
            if not future.done():
                future.set_exception(NotRead(why))
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _read(
    future: Future[Any],
    path: str,
    busy_timeout_s: float,
    read: Callable[[sqlite3.Connection], Any],
) -> None:
    try:
        connection = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
        try:
            connection.execute("BEGIN")  # one snapshot for everything read here
            value = read(connection)
        finally:
            connection.close()
    except Exception as error:
        future.set_exception(NotRead(f"{type(error).__name__}: {error}"))
    else:
        future.set_result(value)
