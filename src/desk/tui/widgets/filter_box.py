"""The main screen's filter box."""

from __future__ import annotations

from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Input


class FilterBox(Input):
    """A text field whose typing redraws the field alone.

    Textual's ``Input`` sets its virtual size at every keystroke, and a change of virtual size
    lays out the whole screen again, although a field of fixed size stays where it is: only
    its own scrolling depends on the text's width. Here the virtual size only updates the
    field's scrolling and redraws it.
    """

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def watch_virtual_size(self, size: Size) -> None:
        """Keep the horizontal scrolling within the new width of the text."""
        if self.is_mounted:
            self._scroll_update(size)
