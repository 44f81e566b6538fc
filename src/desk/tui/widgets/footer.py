"""The desk's footer: Textual's footer, brought up to date in place when focus moves."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.widgets import Footer
from textual.widgets._footer import FooterKey

if TYPE_CHECKING:
    from textual.binding import Binding
    from textual.screen import Screen


@dataclass(frozen=True)
class _Key:
    """What one key of the footer shows (as Textual's footer composes it)."""

    key: str
    display: str
    description: str
    action: str
    disabled: bool
    tooltip: str | None
    palette: bool


def _shown(key: FooterKey) -> _Key:
    tooltip = key.tooltip
    return _Key(
        key=key.key,
        display=key.key_display,
        description=key.description,
        action=key.action,
        disabled=key.has_class("-disabled"),
        tooltip=tooltip if isinstance(tooltip, str) or tooltip is None else repr(tooltip),
        palette=key.has_class("-command-palette"),
    )


class DeskFooter(Footer):
    """Textual's footer, except that when focus moves it hides or shows the keys it holds.

    Textual's footer composes all its keys again whenever the bindings may have changed: on a
    change of focus it does so twice, each time mounting new keys and laying out the screen
    again, after the frame that shows the new focus. Here, when the keys wanted are the keys
    already there with some hidden (while the filter box has focus: the list's "Open", and the
    keys of letters, which the box takes), their visibility is set at once, in the same frame
    as the focus; anything else is composed as Textual does, once.
    """

    def __init__(self, *, compact: bool = False, id: str | None = None) -> None:
        super().__init__(compact=compact, id=id)
        self._compose_planned = False

    def bindings_changed(self, screen: Screen[Any]) -> None:
        """Show the keys of what has focus now."""
        self._bindings_ready = True
        if not screen.app.app_focus or not (self.is_attached and screen is self.screen):
            return
        if self._show_in_place():
            return
        if not self._compose_planned:
            self._compose_planned = True
            self.call_after_refresh(self._compose_keys)

    async def _compose_keys(self) -> None:
        self._compose_planned = False
        if not self._show_in_place():
            await self.recompose()

    def _wanted(self) -> list[_Key] | None:
        """The keys Textual's footer would compose now (None: grouped keys, left to it)."""
        active = self.screen.active_bindings
        by_action: defaultdict[str, list[tuple[Binding, bool, str]]] = defaultdict(list)
        for _, binding, enabled, tooltip in active.values():
            if binding.show:
                by_action[binding.action].append((binding, enabled, tooltip))
        wanted = []
        for bindings in by_action.values():
            binding, enabled, tooltip = bindings[0]
            if binding.group is not None:
                return None
            wanted.append(self._key(binding, enabled, tooltip or None, palette=False))
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            palette = active.get(self.app.COMMAND_PALETTE_BINDING)
            if palette is not None:
                _, binding, enabled, _ = palette
                hint = binding.tooltip or binding.description or None
                wanted.append(self._key(binding, enabled, hint, palette=True))
        return wanted

    def _key(self, binding: Binding, enabled: bool, tooltip: str | None, *, palette: bool) -> _Key:
        """The footer key ``binding`` makes, as Textual's footer would draw it."""
        return _Key(
            key=binding.key,
            display=self.app.get_key_display(binding),
            description=binding.description,
            action=binding.action,
            disabled=not enabled,
            tooltip=tooltip,
            palette=palette,
        )

    def _show_in_place(self) -> bool:
        """Show exactly the keys wanted by hiding the others, if the footer holds them all in
        that order; False (nothing changed) when it does not."""
        if not self._bindings_ready:
            return False
        wanted = self._wanted()
        keys = [key for key in self.children if isinstance(key, FooterKey)]
        if wanted is None or not keys or len(keys) != len(self.children):
            return False
        show: list[bool] = []
        matched = 0
        for key in keys:
            fits = matched < len(wanted) and _shown(key) == wanted[matched]
            show.append(fits)
            matched += fits
        if matched < len(wanted):
            return False
        for key, visible in zip(keys, show, strict=True):
            if key.display != visible:
                key.display = visible
        return True
