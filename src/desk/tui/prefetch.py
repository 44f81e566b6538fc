"""The main screen's first figures and rows, read by a process of its own while the desk starts.

Loading the data layer (SQLAlchemy, SQLModel and desk's tables) takes longer than loading the
screen. When bare ``desk`` opens a SQLite file, a child forked as the command starts loads it
while this process checks the desk and its agent, then reads what the main screen shows first:
each list's count and first page, and the side panels' figures, with the same code the screen
would use. It hands them over through a pipe, one at a time, while this process builds and
draws the screen; this process loads the data layer only when it first needs it afterwards.
Anything the child could not read is read again here, the usual way, and a failure is then
told as usual.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from datetime import datetime
from typing import IO, Any

from desk.config import Settings

STATS = "stats"
"""The key of the side panels' figures (the lists' keys are their sources)."""


class NotRead(Exception):
    """The starting child could not read something; it is read again the usual way."""


class Reader:
    """A child process, forked at once, that loads the data layer while this process decides
    whether the desk opens here (the checks, the settings), then reads what it is asked to."""

    def __init__(self) -> None:
        request_read, request_write = os.pipe()
        result_read, result_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            status = 0
            try:
                os.close(request_write)
                os.close(result_read)
                # A short life: collecting garbage would only slow loading the data layer.
                gc.disable()
                _serve(request_read, result_write)
            except BaseException:
                status = 1
            finally:
                os._exit(status)  # never this process's exit handlers, buffers or terminal
        os.close(request_read)
        os.close(result_write)
        self._pid = pid
        self._requests: int | None = request_write
        self._results = result_read

    def read(
        self,
        *,
        url: str,
        busy_timeout_s: float,
        settings: Settings,
        agent_name: str,
        story_end: datetime | None,
        sources: Iterable[object],
    ) -> dict[object, Future[Any]]:
        """Ask the child to read each list's first page and the panels' figures (as of the
        desk's clock: the story's end and on, or now); a future for each, filled by a thread
        of this process as the child sends them, in that order."""
        sources = list(sources)
        futures: dict[object, Future[Any]] = {key: Future() for key in [*sources, STATS]}
        request = {
            "url": url,
            "busy_timeout_s": busy_timeout_s,
            "settings": settings,
            "agent_name": agent_name,
            "story_end": story_end,
            "sources": sources,
        }
        assert self._requests is not None, "a reader reads once"
        with os.fdopen(self._requests, "wb") as requests:
            self._requests = None
            pickle.dump(request, requests, protocol=pickle.HIGHEST_PROTOCOL)
        threading.Thread(
            target=_collect,
            args=(self._results, self._pid, futures),
            name="desk-first-reads",
            daemon=True,
        ).start()
        return futures

    def cancel(self) -> None:
        """Nothing is to be read: end the child."""
        if self._requests is not None:
            os.close(self._requests)
            self._requests = None
        os.close(self._results)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self._pid, 0)


def start(
    *,
    url: str,
    busy_timeout_s: float,
    settings: Settings,
    agent_name: str,
    story_end: datetime | None,
    sources: Iterable[object],
) -> dict[object, Future[Any]]:
    """Fork a child and have it read each list's first page and the panels' figures."""
    return Reader().read(
        url=url,
        busy_timeout_s=busy_timeout_s,
        settings=settings,
        agent_name=agent_name,
        story_end=story_end,
        sources=sources,
    )


def _serve(request_fd: int, result_fd: int) -> None:
    """In the child: load the data layer, then read what is asked for (nothing, when the
    request pipe closes unused)."""
    loaded: BaseException | None = None
    try:
        import desk.dashboard
        import desk.db
        import desk.metrics.reasons
        import desk.metrics.response
        import desk.metrics.retention
        import desk.metrics.revenue
        import desk.store.queue  # noqa: F401
    except BaseException as error:
        loaded = error
    with os.fdopen(request_fd, "rb") as requests:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
    with os.fdopen(result_fd, "wb") as out:
        if loaded is not None:
            _send(out, None, loaded)
            return
        _read_all(out, **request)


def _read_all(
    out: IO[bytes],
    url: str,
    busy_timeout_s: float,
    settings: Settings,
    agent_name: str,
    story_end: datetime | None,
    sources: list[object],
) -> None:
    """In the child: read each thing in a read unit of work of its own and send it at once."""
    try:
        from desk import clock as clocks
        from desk import dashboard, db
        from desk.store.lists import RowSource, first_page

        clock = clocks.story_clock(story_end) if story_end else clocks.system_now
        engine = db.make_engine(url, busy_timeout_s=busy_timeout_s, create=False)
    except BaseException as error:
        _send(out, None, error)
        return

    def stats(session: Any) -> dashboard.Dashboard:
        return dashboard.snapshot(
            session=session,
            now=clock(),
            tz=settings.tz,
            agent_name=agent_name,
            dormancy_days=settings.dormancy_days,
        )

    def rows(source: RowSource[Any]) -> Callable[[Any], tuple[int, list[Any]]]:
        return lambda session: first_page(source, session)

    readers: list[tuple[object, Callable[[Any], Any]]] = [
        *((source, rows(source)) for source in sources),  # type: ignore[arg-type]
        (STATS, stats),
    ]
    try:
        for key, read in readers:
            try:
                with db.read_session(engine) as session:
                    value = read(session)
            except Exception as error:
                _send(out, key, error)
            else:
                _send(out, key, value, ok=True)
    finally:
        engine.dispose()


def _send(out: IO[bytes], key: object, value: Any, *, ok: bool = False) -> None:
    if not ok:
        value = f"{type(value).__name__}: {value}"
    pickle.dump((key, ok, value), out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


def _collect(read_end: int, pid: int, futures: dict[object, Future[Any]]) -> None:
    """In this process: fill each future as its value arrives; whatever did not arrive fails
    (and is read again the usual way)."""
    why = "the starting reads ended early"
    try:
        with os.fdopen(read_end, "rb") as source:
            while True:
                try:
                    key, ok, value = pickle.load(source)
                except EOFError:
                    break
                if key is None:  # nothing could be read
                    why = str(value)
                    break
                future = futures.get(key)
                if future is None or future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(NotRead(str(value)))
    except Exception as error:  # a broken hand-over: read again here
        why = f"{type(error).__name__}: {error}"
    finally:
        for future in futures.values():
            if not future.done():
                future.set_exception(NotRead(why))
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
