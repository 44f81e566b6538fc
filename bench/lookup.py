"""Customer lookup as you type on demo desks of growing size: index, keystrokes, TUI, refresh.

Usage::

    python bench/lookup.py [--calls N ...] [--samples K] [--builds R] [--bulk B] [--json]

For each size (``--calls``, repeatable; default: ``demo_db.SIZES``, i.e. 10,000, 100,000 and
1,000,000 calls with a fifth as many customers) the demo desk is taken from the benchmark cache
(``demo_db.demo_database``, built with ``desk demo`` on first use) and measured, each part in a
child process of its own so that its memory figures are its own:

a. **index**: the lookup index built from the database ``--builds`` times (the first time in a
   fresh process, as the desk does at start); the median time, and the memory: what the built
   index keeps and the peak while building (``tracemalloc``, in a separate child, since tracing
   slows the build), and the child's resident memory before and after the first build. Then
   once more in a thread while the main thread sleeps a millisecond at a time, as a screen
   waiting for keys would: how late it wakes is how long the build kept it from running.
b. **keystrokes**: realistic queries typed one character at a time, each prefix looked up the
   way the call modal does it (its own read-only unit of work, ``find_customers_now``): names of
   real customers of the desk, the same names with two letters swapped, the start of their
   e-mail address, their phone number written another way (``+49 171 6104556`` as ``0171 610
   45 56``), their ref, a name nobody has and single letters. p50 / p95 / max per kind and
   overall against the 50 ms target, and what each query found when typed in full (the top
   match must be the customer typed). First, **cold**: the first query typed while a warm-up
   thread builds the index, as when an agent starts typing right after start; those keys are
   answered straight from the table until the index is ready, and say so.
c. **TUI**: the real desk headless (Textual's pilot, clock frozen at ``demo_db.STORY_END``): as
   soon as the main screen is up, ``n`` opens the call modal and the queries are typed into its
   customer field, one key event at a time as the terminal driver sends them. Cold: the first
   name, a key every 150 ms from the moment the field has focus (the index is still being
   built): each key's echo (until the field shows it), every change of the suggestions shown
   (when, for which text, from the table or the index), and how long after the last key the
   suggestions for the whole name, and the fully ranked ones, were there. Warm (once the desk
   has settled): all kinds, each key sent when the previous one's suggestions are shown; per
   key the echo and the keypress to suggestions (until the list holds the matches for the
   text typed so far; the screen is drawn at its next refresh).
d. **refresh**: on a private copy of the desk, a colleague's desk (another engine) adds a
   customer, renames another and then adds ``--bulk`` (500) in one go; the lookup's next
   keystroke after each commit is timed and must find the change. The refresh alone (nothing
   changed) is timed too: it runs at every keystroke.
e. **growth**: the figures of every size side by side, as ratios to the smallest size next to
   the growth of the data.

Percentiles are nearest-rank. Exit status 0 when every part ran and every typed customer was
found, 1 otherwise; speed never changes the exit status, it is reported with its verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import demo_db

TARGET_MS = 50.0
"""The issue's target for one keystroke of the lookup."""
KINDS = ("name", "typo", "email", "phone", "ref", "nothing", "letter")
KIND_TITLES = {
    "name": "name",
    "typo": "name, typo",
    "email": "e-mail start",
    "phone": "phone, other format",
    "ref": "ref",
    "nothing": "no match",
    "letter": "one letter",
}
TUI_KINDS = ("name", "typo", "email", "phone", "ref", "letter")
PACE_S = 0.15
"""Time between two keys of the name typed at once in the TUI (an agent typing steadily)."""
NOTHING = ("Xqvz Jqpkw", "Qqxv Zzkrt", "Wqzx Vjqpo", "Zxqv Kwqjp", "Jqxz Pvwqk", "Vqzj Xkwqp")
LETTERS = "amsklbewrt"
BULK = 500
"""Customers the colleague adds in one transaction in the refresh part (``--bulk``)."""
CHILD_TIMEOUT_S = 1800.0
STEP_TIMEOUT_S = 60.0


# --- the lookup as the desk calls it ---------------------------------------------------------


def lookup(engine: Any, text: str) -> Any:
    """One keystroke's lookup, as the call modal runs it: its own read-only unit of work, and
    never waiting for the index (a ``CustomerLookup``: matches, and whether provisional)."""
    from desk import db
    from desk.store.lookup_customers import find_customers_now

    with db.read_session(engine) as session:
        return find_customers_now(text, session=session, limit=8)


def build_index(engine: Any) -> Any:
    """A new lookup index of the database, built from scratch."""
    from desk import db
    from desk.store.lookup_customers import CustomerIndex

    index = CustomerIndex()
    with db.read_session(engine) as session:
        index.refresh(session)
    return index


def warm_up(engine: Any) -> None:
    """What the desk does at start: build (or refresh) the database's shared lookup index."""
    from desk import db
    from desk.store.lookup_customers import customer_index

    with db.read_session(engine) as session:
        customer_index(session=session)


# --- small helpers -----------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summary(values_ms: list[float]) -> dict[str, Any]:
    """Count, p50, p95 and max of some timings in milliseconds."""
    if not values_ms:
        return {"count": 0, "p50_ms": None, "p95_ms": None, "max_ms": None}
    return {
        "count": len(values_ms),
        "p50_ms": round(percentile(values_ms, 0.5), 3),
        "p95_ms": round(percentile(values_ms, 0.95), 3),
        "max_ms": round(max(values_ms), 3),
    }


def fold(text: str) -> str:
    """Lower case without accents, for comparing names as the lookup does."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).split())


def digits(text: str | None) -> str:
    """A phone number's digits without leading zeros."""
    return "".join(ch for ch in text or "" if ch.isdigit()).lstrip("0")


def rss_mib() -> float:
    """This process's resident memory now (Linux), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def engine_for(path: str) -> Any:
    from desk import db

    return db.make_engine(db.database_url(path))


# --- choosing what to type ---------------------------------------------------------------------


def with_typo(name: str) -> str | None:
    """``name`` with two neighbouring letters of its longest word swapped (None if it has no
    word of four letters or more whose letters differ there)."""
    words = name.split(" ")
    longest = max(range(len(words)), key=lambda i: len(words[i]))
    word = words[longest]
    if len(word) < 4 or not word.isalpha():
        return None
    at = len(word) // 2 - 1
    if word[at].lower() == word[at + 1].lower():
        at += 1
        if at + 1 >= len(word) or word[at].lower() == word[at + 1].lower():
            return None
    words[longest] = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    return " ".join(words)


def other_phone_format(phone: str) -> str | None:
    """The same number written another way: ``+49 171 6104556`` -> ``0171 610 45 56`` and
    ``030 1234567`` -> ``+49 30 123 45 67`` (None if it has too few digits)."""
    groups = phone.replace("(", " ").replace(")", " ").replace("-", " ").replace("/", " ").split()
    if not groups or sum(len(g) for g in groups) < 7:
        return None
    if groups[0].startswith("+"):
        area, rest = "0" + groups[1], "".join(groups[2:])
    else:
        area, rest = "+49 " + groups[0].lstrip("0"), "".join(groups[1:])
    if len(rest) < 4:
        return None
    pairs = [rest[i : i + 2] for i in range(3, len(rest), 2)]
    return " ".join([area, rest[:3], *pairs])


def choose_queries(path: Path, samples: int, seed: int) -> list[dict[str, Any]]:
    """What the benchmark types on this desk: ``samples`` queries of each kind, each taken
    from a real customer (chosen at random with ``seed``) where the kind needs one."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        low, high = connection.execute("SELECT min(id), max(id) FROM customers").fetchone()
        rng = random.Random(seed)
        ids = rng.sample(range(low, high + 1), min(high - low + 1, 40 * samples))
        marks = ",".join("?" * len(ids))
        rows = connection.execute(
            f"SELECT id, ref, name, email, phone FROM customers WHERE id IN ({marks})", ids
        ).fetchall()
    finally:
        connection.close()
    rows.sort(key=lambda row: ids.index(row[0]))
    queries: list[dict[str, Any]] = []

    def add(kind: str, text: str, row: tuple[Any, ...] | None) -> None:
        queries.append(
            {
                "kind": kind,
                "text": text,
                "ref": row[1] if row else None,
                "name": row[2] if row else None,
                "phone": row[4] if row else None,
            }
        )

    # Each kind takes its customers from its own stretch of the random sample.
    stretch = len(rows) // 5
    for kind, offset in (("name", 0), ("typo", 1), ("email", 2), ("phone", 3), ("ref", 4)):
        wanted = samples
        for row in rows[offset * stretch :] + rows[: offset * stretch]:
            if not wanted:
                break
            _, ref, name, email, phone = row
            text: str | None = {
                "name": name,
                "typo": with_typo(name),
                "email": email[: email.index("@") + 4] if email and "@" in email else None,
                "phone": other_phone_format(phone) if phone else None,
                "ref": ref,
            }[kind]
            if text:
                add(kind, text, row)
                wanted -= 1
    for text in NOTHING[:samples]:
        add("nothing", text, None)
    for letter in LETTERS[:samples]:
        add("letter", letter, None)
    return queries


def judge(query: dict[str, Any], matches: list[Any]) -> dict[str, Any]:
    """What the full query found, and whether that is the customer typed."""
    top = matches[0] if matches else None
    kind = query["kind"]
    names = [fold(match.name) for match in matches]
    refs = [match.ref for match in matches]
    if kind == "name":
        found = top is not None and fold(top.name) == fold(query["name"])
    elif kind == "typo":
        found = fold(query["name"]) in names
    elif kind in ("email", "ref"):
        found = top is not None and top.ref == query["ref"]
    elif kind == "phone":
        found = (
            top is not None
            and top.matched_on == "phone"
            and digits(top.phone) == digits(query["phone"])
            and query["ref"] in refs
        )
    elif kind == "nothing":
        found = not matches
    else:
        found = bool(matches)
    return {
        "found": found,
        "matches": len(matches),
        "top": None
        if top is None
        else {
            "ref": top.ref,
            "name": top.name,
            "email": top.email,
            "phone": top.phone,
            "matched_on": top.matched_on,
            "score": top.score,
        },
        "rank": names.index(fold(query["name"])) + 1
        if query.get("name") and fold(query["name"]) in names
        else None,
    }


# --- children ----------------------------------------------------------------------------------


def child_build(path: str, builds: int) -> dict[str, Any]:
    """(a) Build the index ``builds`` times, the first in this fresh process; time and memory."""
    from desk import db

    engine = engine_for(path)
    with db.read_session(engine) as session:  # connect and import everything first
        session.connection()
    before = rss_mib()
    seconds: list[float] = []
    after = 0.0
    for run in range(builds):
        started = time.perf_counter()
        index = build_index(engine)
        seconds.append(time.perf_counter() - started)
        if run == 0:
            after = rss_mib()
        del index
    # Once more in a thread, as the desk builds it, while this thread wakes every millisecond
    # as a screen would: how late it woke tells how long the build held the interpreter.
    done: list[float] = []

    def build_aside() -> None:
        started = time.perf_counter()
        build_index(engine)
        done.append(time.perf_counter() - started)

    lags: list[float] = []
    aside = threading.Thread(target=build_aside)
    aside.start()
    while not done:
        slept = time.perf_counter()
        time.sleep(0.001)
        lags.append((time.perf_counter() - slept - 0.001) * 1000)
    aside.join()
    return {
        "aside_s": round(done[0], 4),
        "stall": {**summary(lags), "over_50ms": sum(1 for lag in lags if lag >= 50)},
        "runs_s": [round(s, 4) for s in seconds],
        "first_s": round(seconds[0], 4),
        "median_s": round(statistics.median(seconds), 4),
        "rss_before_mib": round(before, 1),
        "rss_after_first_mib": round(after, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def child_memory(path: str) -> dict[str, Any]:
    """(a) What the built index keeps, and the peak while building it (traced allocations)."""
    import gc
    import tracemalloc

    from desk import db

    engine = engine_for(path)
    with db.read_session(engine) as session:
        session.connection()
    gc.collect()
    tracemalloc.start()
    index = build_index(engine)
    gc.collect()
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert index is not None
    return {"index_mib": round(kept / 2**20, 2), "build_peak_mib": round(peak / 2**20, 2)}


def type_queries(engine: Any, queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Type each query a character at a time, timing the lookup of every prefix."""
    typed: list[dict[str, Any]] = []
    for query in queries:
        times: list[float] = []
        provisional: list[bool] = []
        matches: list[Any] = []
        for end in range(1, len(query["text"]) + 1):
            started = time.perf_counter()
            found = lookup(engine, query["text"][:end])
            times.append((time.perf_counter() - started) * 1000)
            matches = found.matches
            provisional.append(found.provisional)
        typed.append(
            {
                **query,
                "keystrokes": len(times),
                "ms": times,
                "provisional": provisional,
                **judge(query, matches),
            }
        )
    return typed


def child_keys(path: str, queries_file: str) -> dict[str, Any]:
    """(b) The first query typed while a warm-up thread builds the index, then every query."""
    from desk import db

    queries: list[dict[str, Any]] = json.loads(Path(queries_file).read_text())
    engine = engine_for(path)
    with db.read_session(engine) as session:
        session.connection()
    first = next(query for query in queries if query["kind"] == "name")
    ready: list[float] = []
    started = time.perf_counter()

    def warm() -> None:
        warm_up(engine)
        ready.append(time.perf_counter() - started)

    warming = threading.Thread(target=warm)
    warming.start()
    cold = type_queries(engine, [first])[0]
    cold_done = time.perf_counter() - started
    warming.join()
    warm_results = type_queries(engine, queries)
    return {
        "cold": {
            **cold,
            "index_ready_s": round(ready[0], 4),
            "typed_in_s": round(cold_done, 4),
        },
        "queries": warm_results,
    }


def child_refresh(path: str, actor: str, bulk: int) -> dict[str, Any]:
    """(d) A colleague's desk changes customers; the next keystroke here must see each change."""
    from desk import db
    from desk.models import CustomerCreate
    from desk.store import customers
    from desk.store.lookup_customers import customer_index

    now = demo_db.STORY_END
    engine = engine_for(path)
    colleague = engine_for(path)
    warm_up(engine)
    with db.read_session(engine) as session:
        index = customer_index(session=session)
    unchanged: list[float] = []
    for _ in range(40):
        with db.read_session(engine) as session:
            started = time.perf_counter()
            index.refresh(session)
            unchanged.append((time.perf_counter() - started) * 1000)

    def next_keystroke(text: str) -> tuple[float, list[Any]]:
        started = time.perf_counter()
        matches = lookup(engine, text).matches
        return (time.perf_counter() - started) * 1000, matches

    steps: dict[str, Any] = {}
    with db.write_session(colleague) as session:
        added = customers.add_customer(
            CustomerCreate(
                name="Zelda Quirinus", email="zelda@quirinus.example", phone="0421 99887766"
            ),
            session=session,
            actor=actor,
            now=now,
        )
    ms, matches = next_keystroke("Zelda Quirinus")
    steps["add"] = {
        "ms": round(ms, 3),
        "ref": added.ref,
        "seen": bool(matches) and matches[0].ref == added.ref,
    }
    ms, matches = next_keystroke("0421 9988")
    steps["add_phone"] = {"ms": round(ms, 3), "seen": bool(matches) and matches[0].ref == added.ref}
    with db.read_session(engine) as session:
        renamed_ref = (
            session.connection()
            .exec_driver_sql("SELECT ref FROM customers ORDER BY id LIMIT 1 OFFSET 7")
            .scalar_one()
        )
    with db.write_session(colleague) as session:
        customers.update_customer(
            renamed_ref, {"name": "Zacharias Oberwinkler"}, session=session, actor=actor, now=now
        )
    ms, matches = next_keystroke("Zacharias Oberwinkler")
    steps["rename"] = {
        "ms": round(ms, 3),
        "ref": renamed_ref,
        "seen": bool(matches) and matches[0].ref == renamed_ref,
    }
    with db.write_session(colleague) as session:
        for number in range(bulk):
            customers.add_customer(
                CustomerCreate(name=f"Bulkhard Neuzugang{number:04d}"),
                session=session,
                actor=actor,
                now=now,
            )
    last = f"Bulkhard Neuzugang{bulk - 1:04d}"
    ms, matches = next_keystroke(last)
    steps["bulk"] = {
        "ms": round(ms, 3),
        "added": bulk,
        "seen": bool(matches) and matches[0].name == last,
    }
    after_bulk: list[float] = []
    for text in ("V", "Ve", "Ver", "Vera", "Vera ", "Vera F", "Vera Fr", "Bulk", "Bulkhard N"):
        ms, _ = next_keystroke(text)
        after_bulk.append(ms)
    colleague.dispose()
    engine.dispose()
    return {
        "unchanged": summary(unchanged),
        "steps": steps,
        "keystrokes_after_bulk": summary(after_bulk),
    }


async def _tui(path: str, agent: str, queries: list[dict[str, Any]]) -> dict[str, Any]:
    from textual import events
    from textual.keys import _character_to_key
    from textual.widgets import Input

    from desk.clock import frozen
    from desk.config import Settings
    from desk.models import AgentRead, Role
    from desk.tui.app import DeskApp
    from desk.tui.screens.call_modal import CallModal
    from desk.tui.screens.main import MainScreen

    engine = engine_for(path)
    app = DeskApp(
        engine=engine,
        agent=AgentRead(name=agent, role=Role.supervisor, active=True),
        settings=Settings(),
        clock=frozen(demo_db.STORY_END),
        story_end=demo_db.STORY_END,
    )
    started = time.perf_counter()

    async def until(condition: Callable[[], bool], what: str) -> None:
        deadline = time.perf_counter() + STEP_TIMEOUT_S
        while not condition():
            if time.perf_counter() > deadline:
                raise TimeoutError(what)
            await asyncio.sleep(0.001)

    def send_key(character: str) -> None:
        # As the terminal driver does: a key event posted to the app, nothing waited for.
        key = "space" if character == " " else character
        if not key.isalnum():
            key = _character_to_key(key)
        event = events.Key(key, character)
        event.set_sender(app)
        driver = app._driver
        assert driver is not None
        driver.send_message(event)

    def shows(field: Input, text: str) -> bool:
        return bool(field.value == text)

    def suggests(modal: CallModal, text: str) -> bool:
        return modal.matches_for == text

    async def type_into(modal: CallModal, text: str) -> dict[str, Any]:
        field = modal.query_one("#call-lookup", Input)
        echo: list[float] = []
        shown: list[float] = []
        provisional: list[bool] = []
        for end in range(1, len(text) + 1):
            now_typed = text[:end]
            pressed = time.perf_counter()
            send_key(now_typed[-1])
            await until(partial(shows, field, now_typed), "the field to show the key")
            echo.append((time.perf_counter() - pressed) * 1000)
            await until(partial(suggests, modal, now_typed), "the suggestions")
            shown.append((time.perf_counter() - pressed) * 1000)
            provisional.append(modal.provisional)
        return {
            "echo_ms": echo,
            "shown_ms": shown,
            "provisional": provisional,
            "matches": list(modal.matches),
        }

    async def type_at_pace(modal: CallModal, query: dict[str, Any]) -> dict[str, Any]:
        """Type ``query`` a key every ``PACE_S`` whatever the suggestions do, as an agent who
        starts at once; meanwhile note every change of the suggestions shown."""
        field = modal.query_one("#call-lookup", Input)
        text = query["text"]
        shown: list[tuple[float, str, bool]] = []
        typing = True

        async def watch() -> None:
            last = ("", False)
            while typing or modal.matches_for != text or modal.provisional:
                now = (modal.matches_for, modal.provisional)
                if now != last and now[0]:
                    shown.append((time.perf_counter(), *now))
                last = now
                await asyncio.sleep(0.001)
            shown.append((time.perf_counter(), modal.matches_for, modal.provisional))

        watcher = asyncio.create_task(watch())
        began = time.perf_counter()
        echo: list[float] = []
        for end in range(1, len(text) + 1):
            due = began + (end - 1) * PACE_S
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            pressed = time.perf_counter()
            send_key(text[end - 1])
            await until(partial(shows, field, text[:end]), "the field to show the key")
            echo.append((time.perf_counter() - pressed) * 1000)
        last_key = pressed
        typing = False
        await asyncio.wait_for(watcher, STEP_TIMEOUT_S)
        for_text = next(at for at, what, _ in shown if what == text)
        return {
            **query,
            "keystrokes": len(echo),
            "echo_ms": echo,
            "pace_ms": PACE_S * 1000,
            # Each change of the suggestions while typing: when (from the first key), for
            # which text, and whether they came straight from the table.
            "shown": [
                {"at_ms": round((at - began) * 1000, 1), "text": what, "provisional": provisional}
                for at, what, provisional in shown
            ],
            "first_shown_ms": round((shown[0][0] - began) * 1000, 1),
            "last_key_to_shown_ms": round((for_text - last_key) * 1000, 1),
            "last_key_to_full_ms": round((shown[-1][0] - last_key) * 1000, 1),
            "began": began,
            "full_at": shown[-1][0],
            **judge(query, list(modal.matches)),
        }

    result: dict[str, Any] = {}
    async with app.run_test(size=(160, 50)) as pilot:
        await until(lambda: isinstance(app.screen, MainScreen), "the main screen")
        await until(lambda: app.screen.is_mounted, "the main screen to be mounted")
        send_key("n")
        await until(lambda: isinstance(app.screen, CallModal), "the call modal")
        result["modal_open_s"] = round(time.perf_counter() - started, 3)
        modal = app.screen
        assert isinstance(modal, CallModal)
        await until(
            lambda: (
                modal.is_mounted and app.focused is not None and app.focused.id == "call-lookup"
            ),
            "the lookup field to have focus",
        )
        first = next(query for query in queries if query["kind"] == "name")
        result["cold"] = await type_at_pace(modal, first)
        result["cold"]["typing_began_s"] = round(result["cold"].pop("began") - started, 3)
        result["cold"]["full_ranking_s"] = round(result["cold"].pop("full_at") - started, 3)
        # The warm figures: once everything the desk started has finished.
        deadline = time.perf_counter() + STEP_TIMEOUT_S
        while app.workers and time.perf_counter() < deadline:
            busy = [w for w in app.workers if w.group not in ("watch",) and not w.is_finished]
            if not busy:
                break
            await asyncio.sleep(0.05)
        field = modal.query_one("#call-lookup", Input)
        warm: list[dict[str, Any]] = []
        for query in queries:
            if query["kind"] not in TUI_KINDS:
                continue
            field.value = ""
            await until(lambda: modal.matches_for == "", "the lookup to clear")
            await pilot.pause()
            typed = await type_into(modal, query["text"])
            warm.append(
                {
                    **query,
                    "keystrokes": len(typed["shown_ms"]),
                    "echo_ms": typed["echo_ms"],
                    "ms": typed["shown_ms"],
                    "provisional": typed["provisional"],
                    **judge(query, typed["matches"]),
                }
            )
        result["queries"] = warm
    engine.dispose()
    result["peak_rss_mib"] = round(peak_rss_mib(), 1)
    return result


def child_tui(path: str, agent: str, queries_file: str) -> dict[str, Any]:
    """(c) Typing into the real call modal, cold (at start) and warm."""
    queries: list[dict[str, Any]] = json.loads(Path(queries_file).read_text())
    return asyncio.run(_tui(path, agent, queries))


# --- the parent --------------------------------------------------------------------------------


def run_child(args: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float]:
    """Run this script as a child; its JSON answer and its peak memory in MiB (``wait4``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *args],
            stdout=out,
            stderr=err,
            env=env,
        )
        started = time.perf_counter()
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > CHILD_TIMEOUT_S:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
        out.seek(0)
        err.seek(0)
        text, errors = out.read().decode(), err.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"child {args[:2]} failed ({code}):\n{errors[-3000:]}")
    return json.loads(text), usage.ru_maxrss / 1024


def first_supervisor(path: Path) -> str:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = connection.execute(
            "SELECT name FROM agents WHERE active AND role = 'supervisor' ORDER BY id LIMIT 1"
        ).fetchone()
    finally:
        connection.close()
    return str(row[0])


def count_customers(path: Path) -> int:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(connection.execute("SELECT count(*) FROM customers").fetchone()[0])
    finally:
        connection.close()


def keystroke_figures(queries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per kind and overall: keystrokes and p50 / p95 / max, with the verdict."""
    kinds: dict[str, Any] = {}
    every: list[float] = []
    for kind in KINDS:
        times = [ms for query in queries if query["kind"] == kind for ms in query["ms"]]
        if times:
            kinds[kind] = summary(times)
            every += times
    overall = summary(every)
    over = sum(1 for ms in every if ms >= TARGET_MS)
    return {
        "kinds": kinds,
        "overall": overall,
        "over_target": over,
        "target_ms": TARGET_MS,
        "target_met": overall["p95_ms"] is not None and overall["p95_ms"] < TARGET_MS,
    }


def measure(
    calls: int, samples: int, builds: int, bulk: int, workdir: Path, quiet: bool
) -> dict[str, Any]:
    """Every part at one size."""
    path = demo_db.demo_database(calls, quiet=quiet)
    customers = count_customers(path)
    here = str(Path(__file__).resolve().parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, (here, os.environ.get("PYTHONPATH")))),
    }
    queries = choose_queries(path, samples, seed=calls)
    queries_file = workdir / f"queries-{calls}.json"
    queries_file.write_text(json.dumps(queries))
    actor = first_supervisor(path)
    build, build_peak = run_child(["--child", "build", str(path), "--builds", str(builds)], env)
    memory, _ = run_child(["--child", "memory", str(path)], env)
    keys, _ = run_child(["--child", "keys", str(path), "--queries", str(queries_file)], env)
    tui, tui_peak = run_child(
        ["--child", "tui", str(path), "--queries", str(queries_file), "--actor", actor], env
    )
    copy = demo_db.private_copy(path, workdir / f"copy-{calls}")
    try:
        refresh, _ = run_child(
            ["--child", "refresh", str(copy), "--actor", actor, "--bulk", str(bulk)], env
        )
    finally:
        shutil.rmtree(copy.parent, ignore_errors=True)
    keys["figures"] = keystroke_figures(keys["queries"])
    keys["cold"]["figures"] = summary(keys["cold"]["ms"])
    for part in (tui["cold"], *tui["queries"]):
        part["echo"] = summary(part["echo_ms"])
    tui["figures"] = keystroke_figures(tui["queries"])
    tui["echo"] = summary([ms for query in tui["queries"] for ms in query["echo_ms"]])
    tui["process_peak_rss_mib"] = round(tui_peak, 1)
    build["process_peak_rss_mib"] = round(build_peak, 1)
    checks = [query["found"] for query in keys["queries"]]
    checks += [keys["cold"]["found"], tui["cold"]["found"]]
    checks += [query["found"] for query in tui["queries"]]
    checks += [step["seen"] for step in refresh["steps"].values()]
    return {
        "calls": calls,
        "customers": customers,
        "database": str(path),
        "index": {**build, **memory},
        "keystrokes": keys,
        "tui": tui,
        "refresh": refresh,
        "verified": all(checks),
    }


def growth(sizes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each size's figures as ratios to the first (smallest) size's, beside the data's."""
    if not sizes:
        return []
    base = sizes[0]

    def figures(size: dict[str, Any]) -> dict[str, float | None]:
        return {
            "customers": size["customers"],
            "build_s": size["index"]["median_s"],
            "index_mib": size["index"]["index_mib"],
            "key_p50_ms": size["keystrokes"]["figures"]["overall"]["p50_ms"],
            "key_p95_ms": size["keystrokes"]["figures"]["overall"]["p95_ms"],
            "key_max_ms": size["keystrokes"]["figures"]["overall"]["max_ms"],
            "tui_p95_ms": size["tui"]["figures"]["overall"]["p95_ms"],
            "refresh_p50_ms": size["refresh"]["unchanged"]["p50_ms"],
        }

    first = figures(base)
    rows = []
    for size in sizes:
        values = figures(size)
        ratios: dict[str, float | None] = {}
        for key, value in values.items():
            reference = first[key]
            ratios[key] = round(value / reference, 2) if value and reference else None
        rows.append({"calls": size["calls"], "figures": values, "ratios": ratios})
    return rows


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def render(result: dict[str, Any]) -> str:
    lines: list[str] = []
    for size in result["sizes"]:
        index, keys, tui, refresh = size["index"], size["keystrokes"], size["tui"], size["refresh"]
        lines.append(f"== {size['calls']:,} calls, {size['customers']:,} customers ==")
        lines.append(
            f"index     build {index['median_s'] * 1000:,.0f} ms median of "
            f"{len(index['runs_s'])} (first {index['first_s'] * 1000:,.0f} ms); keeps "
            f"{index['index_mib']:.1f} MiB, build peak {index['build_peak_mib']:.1f} MiB traced; "
            f"process {index['rss_before_mib']:.0f} -> {index['rss_after_first_mib']:.0f} MiB, "
            f"peak {index['process_peak_rss_mib']:.0f} MiB"
        )
        stall = index["stall"]
        lines.append(
            f"          built in a thread in {index['aside_s'] * 1000:,.0f} ms, another thread "
            f"woke late by p95 {ms(stall['p95_ms'])}, max {ms(stall['max_ms'])} ms "
            f"({stall['over_50ms']} times 50 ms or more)"
        )
        cold = keys["cold"]
        lines.append(
            f"cold      {cold['text']!r} typed while the index builds (ready after "
            f"{cold['index_ready_s'] * 1000:,.0f} ms): first key {ms(cold['ms'][0])} ms, "
            f"p50 {ms(cold['figures']['p50_ms'])}, max {ms(cold['figures']['max_ms'])} ms; "
            f"{sum(cold['provisional'])} of {cold['keystrokes']} keys answered from the table; "
            f"top {cold['top']['name'] if cold['top'] else None!r}"
        )
        lines.append("keys      kind                 keys     p50     p95     max  (ms)")
        for kind, figures in keys["figures"]["kinds"].items():
            lines.append(
                f"          {KIND_TITLES[kind]:<20} {figures['count']:>4} {ms(figures['p50_ms']):>7} "
                f"{ms(figures['p95_ms']):>7} {ms(figures['max_ms']):>7}"
            )
        overall = keys["figures"]["overall"]
        verdict = "yes" if keys["figures"]["target_met"] else "NO"
        lines.append(
            f"          {'overall':<20} {overall['count']:>4} {ms(overall['p50_ms']):>7} "
            f"{ms(overall['p95_ms']):>7} {ms(overall['max_ms']):>7}   p95 under "
            f"{TARGET_MS:.0f} ms: {verdict} ({keys['figures']['over_target']} keys over)"
        )
        for query in keys["queries"]:
            top = query["top"]
            lines.append(
                f"          {KIND_TITLES[query['kind']]:<20} {query['text']!r:<28} -> "
                + (f"{top['name']} {top['ref']} ({top['matched_on']})" if top else "nothing")
                + ("" if query["found"] else "   NOT the customer typed")
            )
        tcold = tui["cold"]
        first_shown = tcold["shown"][0]
        lines.append(
            f"tui cold  {tcold['text']!r} typed from {tcold['typing_began_s']:.2f} s after start, a "
            f"key every {tcold['pace_ms']:.0f} ms: echo p50 {ms(tcold['echo']['p50_ms'])}, max "
            f"{ms(tcold['echo']['max_ms'])} ms; first suggestions {ms(tcold['first_shown_ms'])} ms "
            f"after the first key ({first_shown['text']!r}, "
            f"{'table' if first_shown['provisional'] else 'index'}); for the whole name "
            f"{ms(tcold['last_key_to_shown_ms'])} ms after its last key, fully ranked after "
            f"{ms(tcold['last_key_to_full_ms'])} ms ({tcold['full_ranking_s']:.2f} s after start)"
        )
        tfig = tui["figures"]["overall"]
        lines.append(
            f"tui warm  keypress to suggestions p50 {ms(tfig['p50_ms'])}, p95 {ms(tfig['p95_ms'])}, "
            f"max {ms(tfig['max_ms'])} ms over {tfig['count']} keys; echo p95 "
            f"{ms(tui['echo']['p95_ms'])} ms; p95 under {TARGET_MS:.0f} ms: "
            f"{'yes' if tui['figures']['target_met'] else 'NO'}; TUI peak "
            f"{tui['process_peak_rss_mib']:.0f} MiB"
        )
        steps = refresh["steps"]
        lines.append(
            f"refresh   nothing changed p50 {ms(refresh['unchanged']['p50_ms'])}, max "
            f"{ms(refresh['unchanged']['max_ms'])} ms; next key after a colleague adds "
            f"{ms(steps['add']['ms'])} ms (seen: {'yes' if steps['add']['seen'] else 'NO'}), "
            f"renames {ms(steps['rename']['ms'])} ms (seen: "
            f"{'yes' if steps['rename']['seen'] else 'NO'}), adds {steps['bulk']['added']} "
            f"{ms(steps['bulk']['ms'])} ms (seen: {'yes' if steps['bulk']['seen'] else 'NO'}); "
            f"keys after that p50 {ms(refresh['keystrokes_after_bulk']['p50_ms'])}, max "
            f"{ms(refresh['keystrokes_after_bulk']['max_ms'])} ms"
        )
        lines.append(f"verified  every typed customer found: {'yes' if size['verified'] else 'NO'}")
        lines.append("")
    if len(result["growth"]) > 1:
        lines.append("growth (ratio to the smallest size)")
        header = (
            f"  {'calls':>9} {'customers':>9} {'build':>7} {'index':>7} {'key p50':>8} "
            f"{'key p95':>8} {'key max':>8} {'tui p95':>8} {'refresh':>8}"
        )
        lines.append(header)
        for row in result["growth"]:
            r = row["ratios"]
            cells = [
                r["customers"],
                r["build_s"],
                r["index_mib"],
                r["key_p50_ms"],
                r["key_p95_ms"],
                r["key_max_ms"],
                r["tui_p95_ms"],
                r["refresh_p50_ms"],
            ]
            lines.append(
                f"  {row['calls']:>9,} "
                + " ".join(
                    f"{'-' if c is None else f'{c:.2f}x':>{w}}"
                    for c, w in zip(cells, (9, 7, 7, 8, 8, 8, 8, 8), strict=True)
                )
            )
    lines.append(f"load      {result['load']}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--calls",
        type=int,
        action="append",
        help="calls of a demo desk to measure (repeatable; default: 10,000, 100,000, 1,000,000)",
    )
    parser.add_argument("--samples", type=int, default=4, help="queries of each kind (default 4)")
    parser.add_argument("--builds", type=int, default=3, help="index builds timed (default 3)")
    parser.add_argument(
        "--bulk",
        type=int,
        default=BULK,
        help=f"customers a colleague adds at once in the refresh part (default {BULK})",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("database", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--queries", help=argparse.SUPPRESS)
    parser.add_argument("--actor", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_as_child(args: argparse.Namespace) -> int:
    if args.child == "build":
        answer = child_build(args.database, args.builds)
    elif args.child == "memory":
        answer = child_memory(args.database)
    elif args.child == "keys":
        answer = child_keys(args.database, args.queries)
    elif args.child == "refresh":
        answer = child_refresh(args.database, args.actor, args.bulk)
    elif args.child == "tui":
        answer = child_tui(args.database, args.actor, args.queries)
    else:
        raise SystemExit(f"unknown child {args.child!r}")
    print(json.dumps(answer))
    return 0


@contextmanager
def workspace() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="desk-lookup-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return run_as_child(args)
    sizes = args.calls or list(demo_db.SIZES)
    results = []
    with workspace() as workdir:
        for calls in sorted(sizes):
            if not args.json:
                print(f"measuring {calls:,} calls ...", file=sys.stderr, flush=True)
            results.append(
                measure(calls, args.samples, args.builds, args.bulk, workdir, quiet=args.json)
            )
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    result = {
        "target_ms": TARGET_MS,
        "sizes": results,
        "growth": growth(results),
        "load": " ".join(load),
        "verified": all(size["verified"] for size in results),
    }
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0 if result["verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
