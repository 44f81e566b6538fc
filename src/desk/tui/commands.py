"""The command palette (ctrl+p): find customers and complaints by what you remember, and run actions."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING, cast

from sqlmodel import Session
from textual.command import DiscoveryHit, Hit, Hits, Provider

from desk.errors import NotFound
from desk.store.complaints import get_complaint
from desk.store.lookup_customers import CustomerLookup, customer_index, find_customers_now

if TYPE_CHECKING:
    from desk.tui.app import DeskApp

ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("Log a call", "log_call", "Open the log-a-call form (n)"),
    ("Supervisor screen", "supervisor", "Response times per agent, cohorts (s)"),
    ("Filter the lists", "filter", "Type to narrow the queue and the calls (/)"),
    ("My queue", "mine", "Only complaints you own, or everyone's again (m)"),
    ("Recent calls", "calls_tab", "Show the recent calls (c)"),
    ("Queue", "queue_tab", "Show the complaint queue (w)"),
    ("Show or hide the panels", "toggle_panels", "Retention, reasons, response times, revenue (P)"),
)


def _search(text: str, session: Session) -> tuple[CustomerLookup, str | None]:
    try:
        complaint: str | None = get_complaint(text.upper(), session=session).ref
    except NotFound:
        complaint = None
    # Never waits for the lookup's index: until it is ready, the table answers.
    return find_customers_now(text, session=session, limit=8), complaint


class DeskCommands(Provider):
    """Customers (by name, ref, phone or e-mail, forgiving typos), complaints by ref, and actions."""

    @property
    def desk(self) -> DeskApp:
        """The running desk."""
        return cast("DeskApp", self.app)

    async def startup(self) -> None:
        # Bring the customer lookup's index up to date in the background (rebuilt there after
        # many changes), so that typing here never waits for it.
        self.app.run_worker(
            lambda: self.desk.read(lambda session: customer_index(session=session)),
            thread=True,
            group="palette-warm",
            exclusive=True,
            exit_on_error=False,
        )

    async def discover(self) -> Hits:
        for name, action, help_text in ACTIONS:
            yield DiscoveryHit(name, partial(self._run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, action, help_text in ACTIONS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(name),
                    partial(self._run_action, action),
                    help=help_text,
                )
        text = query.strip()
        if len(text) < 2:
            return
        found, complaint = await asyncio.to_thread(self.desk.read, partial(_search, text))
        if complaint is not None:
            yield Hit(
                1.0,
                f"Complaint {complaint}",
                partial(self._open_complaint, complaint),
                help="Open the complaint",
            )
        for index, match in enumerate(found.matches):
            details = " · ".join(
                part for part in (match.ref, match.email or "", match.phone or "") if part
            )
            yield Hit(
                0.9 - index * 0.01,
                f"Customer {match.name}",
                partial(self._open_customer, match.ref),
                help=f"{details} ({match.state or 'never acquired'})"
                + (
                    " · exact matches only while the lookup is prepared"
                    if found.provisional
                    else ""
                ),
            )

    def _run_action(self, action: str) -> None:
        from desk.tui.screens.main import MainScreen

        main = next((s for s in self.app.screen_stack if isinstance(s, MainScreen)), None)
        if main is None:
            return
        while self.app.screen is not main:
            self.app.pop_screen()
        self.app.call_later(main.run_action, action)

    def _open_customer(self, ref: str) -> None:
        from desk.tui.screens.customer import CustomerScreen

        self.app.push_screen(CustomerScreen(ref))

    def _open_complaint(self, ref: str) -> None:
        from desk.tui.screens.complaint import ComplaintScreen

        self.app.push_screen(ComplaintScreen(ref))
