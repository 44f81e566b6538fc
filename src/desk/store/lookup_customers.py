"""Customer lookup as you type: by name (forgiving of typos), ref, phone digits and e-mail.

Measured on 200,000 customers (SQLite): a ``LIKE '%…%'`` scan of name, ref, e-mail and phone
costs about 95 ms whenever nothing matches, which is every typo, and typo tolerance needs
candidates anyway. So the lookup keeps one in-memory index per database: names folded to plain
lower-case letters, a vocabulary of name words with the rows that use each (typos are matched
against the vocabulary with rapidfuzz, never against every row), and each field's values sorted
and joined into one text, so that exact and prefix matches are found by bisection and pieces
by ``str.find`` at C speed.

Building the index reads each field as one text that the database joins in the order of its
index (no row objects, and the database works without holding the interpreter lock); the values
then arrive nearly sorted, which makes sorting them by their folded form cheap. At 200,000
customers that still takes the interpreter for a second or two, so a desk builds the index in
the background (``customer_index``), and a lookup made as the agent types
(``find_customers_now``) never waits for a build: until the index is ready it answers straight
from the table (names, refs and e-mails starting with what was typed, by ranges of their
indexes, and phone numbers holding its digits; no typos forgiven) and says so.

At every keystroke the lookup asks the database, by primary key and with bound parameters only,
for the customers and audit entries newer than those indexed, so that a customer added or
changed at another desk is found at the next keystroke; the changed customers go into a small
second index beside the big one, which is rebuilt only by ``customer_index`` once many have
changed. The matches returned are read fresh from the database, with their current state.
"""

from __future__ import annotations

import heapq
import json
import re
import threading
import unicodedata
import weakref
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import accumulate
from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from rapidfuzz import process
from rapidfuzz.distance import OSA
from sqlalchemy.engine import Connection
from sqlalchemy.pool import Pool
from sqlmodel import Session

from desk.models import AuditEntry, Customer, LifecycleEvent, LifecycleKind

MatchedOn = Literal["ref", "name", "email", "phone"]
HitKind = Literal["exact", "prefix", "suffix", "in"]

LATE_COMMIT_WINDOW = 64
"""Rows and audit entries this close below the newest seen are read again at every lookup: on
PostgreSQL a transaction that took its ids earlier may commit after one that took later ids."""

REBUILD_AFTER = 2000
"""Changed customers kept in the small second index before ``customer_index`` rebuilds the
whole index (a lookup as the agent types never rebuilds it: it keeps adding to the small one)."""

WAIT_FOR_REFRESH_S = 0.05
"""How long a lookup as the agent types waits for another thread's refresh before it searches
the index as it is (a refresh takes about a millisecond; a rebuild, seconds)."""

PREPARED_PREFIXES = range(3, 9)
"""Lengths of a half-typed word whose vocabulary prefixes are prepared with the index, so that
no keystroke pays for them (longer ones are prepared when first typed)."""

HAYSTACK_HITS = 200
"""Substring hits looked at per field; plenty to fill a short list of suggestions."""

CHECK_NAMES_BELOW = 50
"""A query word matching this many times more rows than there are candidates left is checked
against the candidates' own names instead of looking for them among all the rows it matches."""

FOLD_PIECE = 20_000
"""Values folded in one step while the index is built."""

IDS_PIECE = 100_000
"""Characters of joined ids read in one step while the index is built."""

SCAN_LIMIT = 50
"""Rows a lookup answered from the table (before the index is ready) reads at most per kind."""

# How much a hit of each kind is worth per field: a ref's number typed without its prefix
# ("000123" of "CU-000123") counts more than a piece of an e-mail address.
_REF_SCORES: dict[HitKind, float] = {"exact": 100.0, "prefix": 95.0, "suffix": 90.0, "in": 80.0}
_EMAIL_SCORES: dict[HitKind, float] = {"exact": 100.0, "prefix": 88.0, "suffix": 78.0, "in": 78.0}
_PHONE_SCORES: dict[HitKind, float] = {"exact": 100.0, "prefix": 85.0, "suffix": 85.0, "in": 78.0}
_NAME_SCORES: dict[HitKind, float] = {"exact": 100.0, "prefix": 90.0, "suffix": 75.0, "in": 75.0}
_NAME_INSIDE = 75.0  # a name containing the query inside a word
_PHONE_LIKE = re.compile(r"^[\d\s+()./-]+$")
_WORD = re.compile(r"[^\W_]+")
_NOT_DIGIT = re.compile(r"[^\d\n]+")
_LEADING_ZEROS = re.compile(r"^0+", re.MULTILINE)
_LINE_BREAKS = re.compile(r"[\r\n]+")
# Combining marks that NFKD splits off Latin, Greek and Cyrillic letters (é = e + U+0301).
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


class CustomerMatch(BaseModel):
    """One customer a lookup found, how well (0-100) and by which field."""

    model_config = ConfigDict(frozen=True)

    ref: str
    name: str
    email: str | None
    phone: str | None
    state: str | None
    score: float
    matched_on: MatchedOn


@dataclass(frozen=True)
class CustomerLookup:
    """What a lookup as the agent types found: ``provisional`` when the index was not ready
    yet and the matches come straight from the table (no typos forgiven)."""

    matches: list[CustomerMatch]
    provisional: bool


def fold(text: str) -> str:
    """Text reduced for matching: case-folded, accents dropped (``Müller`` → ``muller``)."""
    if text.isascii():
        return text.lower()
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text.casefold()))


def phone_digits(text: str | None) -> str:
    """A phone number's digits without leading zeros (the trunk ``0`` or the ``00`` prefix)."""
    if not text:
        return ""
    return "".join(ch for ch in text if ch.isdigit()).lstrip("0")


def _joined(values: Sequence[str]) -> str:
    # One line per value; a value that holds a line break of its own gets a space instead.
    joined = "\n".join(values)
    if joined.count("\n") + joined.count("\r") > len(values) - 1:
        joined = "\n".join(_LINE_BREAKS.sub(" ", value) for value in values)
    return joined


def _fold_lines(text: str) -> list[str]:
    # One pass over many values joined: folding 200,000 names one by one costs ten times more.
    # Long texts are folded a piece at a time, so that no single step holds the interpreter
    # (and a desk's screen) for long.
    if text.isascii():
        return text.lower().split("\n")
    lines = text.split("\n")
    if len(lines) <= FOLD_PIECE:
        return fold(text).split("\n")
    folded: list[str] = []
    for start in range(0, len(lines), FOLD_PIECE):
        folded += fold("\n".join(lines[start : start + FOLD_PIECE])).split("\n")
    return folded


_KEEP_DIGITS = bytes(b for b in range(256) if b not in b"0123456789\n")


def _digit_lines(text: str) -> list[str]:
    if text.isascii():  # a hundred times faster than the expression below
        digits = text.encode().translate(None, _KEEP_DIGITS).decode()
    else:
        digits = _NOT_DIGIT.sub("", text)
    return _LEADING_ZEROS.sub("", digits).split("\n")


def _fuzziness(word: str) -> int:
    # Edits forgiven per word, as search engines do: none for 1-2 letters, one up to 5, then two.
    if len(word) <= 2:
        return 0
    return 1 if len(word) <= 5 else 2


class _SortedValues:
    """Values of some rows, sorted and joined by newlines.

    Values equal to or starting with a needle are found by bisection; values containing it by
    one ``str.find`` scan of the joined text, which runs at C speed.
    """

    def __init__(
        self,
        values: list[str],
        rows: Sequence[int],
        *,
        presorted: bool = False,
        keep_empty: bool = False,
    ) -> None:
        """Index ``values[i]`` as the value of row ``rows[i]``; empty values are left out
        unless ``keep_empty``. The values are sorted unless ``presorted``, which is cheap when
        they arrive nearly sorted."""
        if not presorted:
            order = sorted(range(len(values)), key=values.__getitem__)
            values = list(map(values.__getitem__, order))
            rows = list(map(rows.__getitem__, order))
        skip = 0 if keep_empty or not values or values[0] else bisect_right(values, "")
        if skip:
            values, rows = values[skip:], rows[skip:]
        self.rows = array("i", rows)
        self.text = "\n" + "\n".join(values) + "\n"
        size = len(self.text)
        positions = accumulate(map((1).__add__, map(len, values)), initial=1)
        self.starts = array("i" if size < 2**31 else "q", positions)

    def __len__(self) -> int:
        return len(self.rows)

    def value(self, index: int) -> str:
        """The value at ``index`` in sorted order."""
        return self.text[self.starts[index] : self.starts[index + 1] - 1]

    def prefixed(self, needle: str, cap: int) -> Iterator[tuple[int, bool]]:
        """Up to ``cap`` rows whose value starts with ``needle``, and whether it is all of it."""
        first = bisect_left(range(len(self)), needle, key=self.value)
        for index in range(first, min(first + cap, len(self))):
            value = self.value(index)
            if not value.startswith(needle):
                break
            yield self.rows[index], len(value) == len(needle)

    def containing(self, needle: str, cap: int) -> Iterator[tuple[int, bool]]:
        """Up to ``cap`` rows whose value contains ``needle`` after its start, and whether
        it ends the value."""
        seen: set[int] = set()
        position = self.text.find(needle)
        while position != -1 and len(seen) < cap:
            index = bisect_right(self.starts, position) - 1
            if position != self.starts[index] and index not in seen:
                seen.add(index)
                yield self.rows[index], self.text[position + len(needle)] == "\n"
            position = self.text.find(needle, position + 1)

    def hits(self, needle: str, enough: int, *, inside: bool = True) -> dict[int, HitKind]:
        """Rows whose value is or starts with ``needle`` and, if ``inside``, contains it.

        Values merely containing it are looked for only when the better kinds found fewer than
        ``enough`` rows: the scan is what costs, and such hits would rank below them anyway.
        """
        found: dict[int, HitKind] = {}
        for row, whole in self.prefixed(needle, HAYSTACK_HITS):
            found[row] = "exact" if whole else "prefix"
        if inside and len(found) < enough:
            for row, ends in self.containing(needle, HAYSTACK_HITS):
                found.setdefault(row, "suffix" if ends else "in")
        return found


def _ids(text: str) -> array[int]:
    """Ids joined by commas, read a piece at a time (json reads them twice as fast as int())."""
    ids: array[int] = array("q")
    start = 0
    while start < len(text):
        end = text.find(",", start + IDS_PIECE)
        end = len(text) if end == -1 else end
        ids.extend(json.loads(f"[{text[start:end]}]"))
        start = end + 1
    return ids


@dataclass
class _Columns:
    """Customers prepared for indexing: their ids and folded names, and for each other field
    how to make its folded values with the positions (in ``ids``) of the customers they belong
    to, so that only one field's values at a time are held as separate strings."""

    ids: Sequence[int]
    names: list[str]
    fields: dict[str, tuple[Callable[[], list[str]], Sequence[int]]]

    @classmethod
    def of_rows(cls, rows: Sequence[tuple[int, str, str, str, str]]) -> _Columns:
        """Columns of (id, ref, name, e-mail, phone) rows ("" for no e-mail or phone)."""
        if not rows:
            return cls(array("q"), [], {name: (list, ()) for name in ("refs", "emails", "phones")})
        ids, refs, names, emails, phones = zip(*rows, strict=True)
        everyone = range(len(ids))
        return cls(
            ids=array("q", ids),
            names=_fold_lines(_joined(names)),
            fields={
                "refs": (partial(_fold_lines, _joined(refs)), everyone),
                "emails": (partial(_fold_lines, _joined(emails)), everyone),
                "phones": (partial(_digit_lines, _joined(phones)), everyone),
            },
        )

    @classmethod
    def of_database(cls, connection: Connection) -> _Columns:
        """All customers, one field at a time: its values sorted and joined into one text by
        the database (no row objects, and the database works without holding the interpreter
        lock), with the ids of their customers. Values folded later keep nearly the same
        order, so that sorting them again costs little."""
        c = _customers.c
        count, ids_text, names = _joined_column(connection, c.name, every=True)
        if not count:
            return cls.of_rows([])
        ids = _ids(ids_text)
        position = {customer_id: at for at, customer_id in enumerate(ids)}
        fields: dict[str, tuple[Callable[[], list[str]], Sequence[int]]] = {}
        for name, column, prepare in (
            ("refs", c.ref, _fold_lines),
            ("emails", c.email, _fold_lines),
            ("phones", c.phone, _digit_lines),
        ):
            _, field_ids, text = _joined_column(connection, column)
            found = list(map(position.get, _ids(field_ids))) if field_ids else []
            if None in found:
                # Added after the names were read (on PostgreSQL each statement reads its own
                # snapshot): left to the next refresh, which reads every newer customer.
                lines = text.split("\n")
                text = "\n".join(
                    line for line, at in zip(lines, found, strict=True) if at is not None
                )
            positions = array("i", [at for at in found if at is not None])
            fields[name] = (partial(prepare, text) if positions else list, positions)
        del position
        return cls(ids=ids, names=_fold_lines(names), fields=fields)


def _joined_column(
    connection: Connection, column: sa.ColumnElement[str], *, every: bool = False
) -> tuple[int, str, str]:
    """How many customers have a value in ``column`` (``every``: all customers), their ids
    joined by commas and their values by line breaks, in order of the values (the indexes on
    name, ref, e-mail and phone give that order without sorting)."""
    value: sa.ColumnElement[str] = column
    for attempt in range(2):
        chosen = sa.select(_customers.c.id.label("id"), sa.func.coalesce(value, "").label("value"))
        if not every:
            chosen = chosen.where(column.is_not(None), column != "")
        rows = chosen.order_by(column, _customers.c.id).subquery()
        count, ids, values = connection.execute(
            sa.select(
                sa.func.count(),
                sa.func.aggregate_strings(sa.cast(rows.c.id, sa.String), ","),
                sa.func.aggregate_strings(rows.c.value, "\n"),
            )
        ).one()
        if not count or str(values).count("\n") == count - 1 or attempt:
            break
        # A value holds a line break of its own: read them again with spaces instead.
        value = sa.func.replace(sa.func.replace(column, "\r", " "), "\n", " ")
    return int(count), str(ids or ""), str(values or "")


class _Segment:
    """An immutable index over some customers, its rows sorted by folded name (then id).

    Sorting by name makes a row's number its place in alphabetical order, so that equally
    good matches come out alphabetically by comparing plain integers.
    """

    def __init__(self, columns: _Columns) -> None:
        """Index prepared customers (their lists are emptied as they are used up)."""
        names = columns.names
        order = sorted(range(len(names)), key=names.__getitem__)
        sorted_names = list(map(names.__getitem__, order))
        names.clear()
        self.ids = array("q", map(columns.ids.__getitem__, order))
        # The row of each customer by its place in ``columns.ids``.
        row_at_position = array("i", bytes(4 * len(order)))
        for row, position in enumerate(order):
            row_at_position[position] = row
        del order
        self._by_id = array("q", sorted(self.ids))
        row_by_id = {customer_id: row for row, customer_id in enumerate(self.ids)}
        self._row_at = array("i", map(row_by_id.__getitem__, self._by_id))
        del row_by_id
        fields: dict[str, _SortedValues] = {}
        for name in ("refs", "emails", "phones"):
            make, positions = columns.fields.pop(name)
            rows = array("i", map(row_at_position.__getitem__, positions))
            fields[name] = _SortedValues(make(), rows)
        self.refs, self.emails, self.phones = fields["refs"], fields["emails"], fields["phones"]
        postings: dict[str, list[int]] = {}
        row, count = 0, len(sorted_names)
        while row < count:
            # Customers of the same name are neighbours: their rows go in as one run.
            name = sorted_names[row]
            end = row + 1
            if end < count and sorted_names[end] == name:
                end = bisect_right(sorted_names, name, end)
            for word in dict.fromkeys(_WORD.findall(name)):
                rows_of_word = postings.get(word)
                if rows_of_word is None:
                    postings[word] = rows_of_word = []
                rows_of_word.extend(range(row, end))
            row = end
        # The names stay only as one joined text; a row's name is read back from it.
        self.names = _SortedValues(
            sorted_names, range(len(sorted_names)), presorted=True, keep_empty=True
        )
        del sorted_names
        self.vocab = sorted(postings)
        self.postings = [array("i", postings.pop(word)) for word in self.vocab]
        self._by_length: dict[int, tuple[list[str], list[int]]] = {}
        for index, word in enumerate(self.vocab):
            words_of_length, indexes = self._by_length.setdefault(len(word), ([], []))
            words_of_length.append(word)
            indexes.append(index)
        self._prefixes: dict[int, list[str]] = {}
        for length in PREPARED_PREFIXES:
            self._prefixes_of_length(length)

    def __len__(self) -> int:
        return len(self.ids)

    def newest_id(self) -> int:
        """The highest customer id this segment holds (0 for none)."""
        return self._by_id[-1] if len(self._by_id) else 0

    def row_of(self, customer_id: int) -> int | None:
        """The row of a customer id, if this segment holds it."""
        index = bisect_left(self._by_id, customer_id)
        if index < len(self._by_id) and self._by_id[index] == customer_id:
            return self._row_at[index]
        return None

    def _vocab_range(self, prefix: str) -> range:
        """The vocabulary entries that start with ``prefix`` (the vocabulary is sorted)."""
        return range(
            bisect_left(self.vocab, prefix), bisect_left(self.vocab, prefix + "\U0010ffff")
        )

    def _prefixes_of_length(self, length: int) -> list[str]:
        if length not in self._prefixes:
            self._prefixes[length] = sorted({w[:length] for w in self.vocab if len(w) > length})
        return self._prefixes[length]

    def _word_scores(self, word: str, *, typing: bool) -> dict[int, float]:
        """Vocabulary entries a query word matches, scored: itself, a prefix, or a typo.

        ``typing`` says the word may be unfinished, so that a typo in its first letters counts
        too ("Smti" finds "Smith").
        """
        scores = dict.fromkeys(self._vocab_range(word), 90.0)
        edits = _fuzziness(word)
        if edits:
            # Only words within ``edits`` letters of the query's length can be that close.
            for length in range(len(word) - edits, len(word) + edits + 1):
                words_of_length, indexes = self._by_length.get(length, ((), ()))
                for _, distance, position in process.extract(
                    word, words_of_length, scorer=OSA.distance, score_cutoff=edits, limit=None
                ):
                    scores[indexes[position]] = max(
                        scores.get(indexes[position], 0.0), 85.0 - 10.0 * distance
                    )
            if typing:
                for prefix, distance, _ in process.extract(
                    word,
                    self._prefixes_of_length(len(word)),
                    scorer=OSA.distance,
                    score_cutoff=edits,
                    limit=None,
                ):
                    for index in self._vocab_range(prefix):
                        scores[index] = max(scores.get(index, 0.0), 80.0 - 10.0 * distance)
        low = bisect_left(self.vocab, word)
        if low < len(self.vocab) and self.vocab[low] == word:
            scores[low] = 100.0
        return scores

    def _rows_scored(self, scores: dict[int, float]) -> dict[int, float]:
        """Every row using one of the scored vocabulary entries, with its best score."""
        rows: dict[int, float] = {}
        for vocab_index, score in sorted(scores.items(), key=lambda item: item[1]):
            rows.update(dict.fromkeys(self.postings[vocab_index], score))  # best one last
        return rows

    def _names(self, query_words: list[str], need: int) -> dict[float, list[int]]:
        """Rows whose name has a match for every query word, grouped by score (the mean of the
        words' matches); a row whose name matches in several ways is listed under each. With
        one query word, each of its entries gives only its first ``need`` rows (the first by
        name), which are all that can be chosen from it.

        The last word is taken as still being typed."""
        last = len(query_words) - 1
        levels: dict[float, list[int]] = {}
        if not last:
            # The common case while a name is being typed: whole posting lists, no row loop.
            for vocab_index, score in self._word_scores(query_words[0], typing=True).items():
                levels.setdefault(score, []).extend(self.postings[vocab_index][:need])
            return levels
        per_word: list[tuple[int, int, dict[int, float]]] = []
        for position, word in enumerate(query_words):
            scores = self._word_scores(word, typing=position == last)
            if not scores:
                return {}
            size = sum(len(self.postings[index]) for index in scores)
            per_word.append((size, position, scores))
        per_word.sort()
        combined = self._rows_scored(per_word[0][2])
        for size, _, scores in per_word[1:]:
            found: dict[int, float] = {}
            if size < CHECK_NAMES_BELOW * len(combined):
                # The candidates among each entry's rows, best entry first, at C speed.
                remaining = set(combined)
                for vocab_index, score in sorted(scores.items(), key=lambda item: -item[1]):
                    hits = remaining.intersection(self.postings[vocab_index])
                    for row in hits:
                        found[row] = combined[row] + score
                    remaining -= hits
                    if not remaining:
                        break
            else:
                # Few candidates are left: look at their names rather than at every row the
                # word matches ("schmid e" does not gather every name with a word in e).
                by_word = {self.vocab[index]: score for index, score in scores.items()}
                value = self.names.value
                for row, score in combined.items():
                    best = max(
                        (by_word.get(w, 0.0) for w in _WORD.findall(value(row))), default=0.0
                    )
                    if best:
                        found[row] = score + best
            combined = found
            if not combined:
                return {}
        for row, total in combined.items():
            levels.setdefault(total / len(query_words), []).append(row)
        return levels

    def search(
        self, query: str, limit: int, need: int
    ) -> tuple[dict[float, list[int]], dict[int, tuple[float, MatchedOn]]]:
        """Rows matching ``query`` (folded, single-spaced): by name as score levels, by the
        other fields with their best score and field."""
        others: dict[int, tuple[float, MatchedOn]] = {}

        def offer(row: int, score: float, field: MatchedOn) -> None:
            if row not in others or others[row][0] < score:
                others[row] = (score, field)

        # Scanning for a piece of a ref or an address is kept for queries that look like one
        # (a digit; an "@" or a dot): a plain word is a name, and the scans are what costs.
        compact = query.replace(" ", "")
        if len(compact) >= 2:
            has_digit = any(ch.isdigit() for ch in compact)
            for row, kind in self.refs.hits(compact, limit, inside=has_digit).items():
                offer(row, _REF_SCORES[kind], "ref")
        if len(compact) >= 3 and " " not in query:
            address_like = "@" in compact or "." in compact
            for row, kind in self.emails.hits(compact, limit, inside=address_like).items():
                offer(row, _EMAIL_SCORES[kind], "email")
        digits = phone_digits(query)
        if len(digits) >= 3 and _PHONE_LIKE.match(query):
            # "+49 (30) 1234" and "030 1234" are one number: the stored digits may be the
            # query's without its country code (1 to 3 digits), or the other way round.
            for drop in range(1, 4):
                if len(digits) - drop >= 6:
                    for row, whole in self.phones.prefixed(digits[drop:], HAYSTACK_HITS):
                        if whole:
                            offer(row, 100.0, "phone")
            long_enough = len(digits) >= 6
            for row, kind in self.phones.hits(digits, limit).items():
                score = 95.0 if kind == "suffix" and long_enough else _PHONE_SCORES[kind]
                offer(row, score, "phone")
        query_words = _WORD.findall(query)
        names = self._names(query_words, need) if query_words else {}
        if len(query) >= 3:
            good = [rows for score, rows in names.items() if score >= _NAME_INSIDE]
            good.append([row for row, (score, _) in others.items() if score >= _NAME_INSIDE])
            total = sum(map(len, good))
            # A name rarely matches twice, so twice the rows needed are surely enough of them.
            if total < 2 * limit and len(set().union(*good)) < limit:
                inside = [row for row, _ in self.names.containing(query, HAYSTACK_HITS)]
                names.setdefault(_NAME_INSIDE, []).extend(inside)
        return names, others

    def best(
        self, query: str, limit: int, skip: frozenset[int]
    ) -> list[tuple[float, str, int, MatchedOn]]:
        """The best ``limit`` matches as (score, folded name, id, field), leaving out ``skip``."""
        # Rows chosen at a better level and skipped ones may come first in a level's rows.
        names, others = self.search(query, limit + len(skip), 2 * limit + len(skip))
        levels: dict[float, set[int]] = {score: set(rows) for score, rows in names.items()}
        for row, (score, _) in others.items():
            levels.setdefault(score, set()).add(row)
        chosen: list[tuple[float, str, int, MatchedOn]] = []
        taken = set(skip)
        for score in sorted(levels, reverse=True):
            wanted = limit - len(chosen)
            if wanted <= 0:
                break
            # Rows are numbered alphabetically, so the smallest are the first by name.
            for row in heapq.nsmallest(wanted, levels[score] - taken):
                taken.add(row)
                other = others.get(row)
                field: MatchedOn = other[1] if other and other[0] == score else "name"
                chosen.append((score, self.names.value(row), self.ids[row], field))
        return chosen


_EMPTY = _Segment(_Columns.of_rows([]))

_Values = tuple[str, str, str, str]

_customers = Customer.__table__  # type: ignore[attr-defined]
_audit = AuditEntry.__table__  # type: ignore[attr-defined]
_lifecycle = LifecycleEvent.__table__  # type: ignore[attr-defined]
_ROW_COLUMNS = (
    _customers.c.id,
    _customers.c.ref,
    _customers.c.name,
    sa.func.coalesce(_customers.c.email, ""),
    sa.func.coalesce(_customers.c.phone, ""),
)
# Statements built once: at every keystroke only their parameters change.
_NEWER_CUSTOMERS = sa.select(*_ROW_COLUMNS).where(_customers.c.id > sa.bindparam("after"))
_CUSTOMERS_BY_REF = sa.select(*_ROW_COLUMNS).where(
    _customers.c.ref.in_(sa.bindparam("refs", expanding=True))
)
# By primary key only: the entity index would read every customer's audit entries.
_NEWER_AUDIT = sa.select(_audit.c.id, _audit.c.entity, _audit.c.action, _audit.c.entity_ref).where(
    _audit.c.id > sa.bindparam("after")
)
_MAX_AUDIT = sa.select(sa.func.max(_audit.c.id))
_RELOADING_ACTIONS = frozenset({"update", "merge", "erase"})  # a merge fills the kept one's fields
_LATEST_KIND = (
    sa.select(_lifecycle.c.kind)
    .where(_lifecycle.c.customer_id == _customers.c.id)
    .order_by(_lifecycle.c.at.desc())
    .limit(1)
    .scalar_subquery()
)
_MATCHED = sa.select(
    _customers.c.id,
    _customers.c.ref,
    _customers.c.name,
    _customers.c.email,
    _customers.c.phone,
    _LATEST_KIND,
).where(_customers.c.id.in_(sa.bindparam("ids", expanding=True)))


@dataclass(frozen=True)
class _Snapshot:
    base: _Segment
    delta: _Segment = _EMPTY
    delta_values: dict[int, _Values] = field(default_factory=dict)
    superseded: frozenset[int] = frozenset()  # base rows that the delta holds newer values of
    recent: dict[int, _Values] = field(default_factory=dict)  # the base's newest, as indexed

    def search(self, text: str, limit: int) -> list[tuple[int, float, MatchedOn]]:
        query = " ".join(fold(text).split())
        if not query or limit <= 0:
            return []
        candidates = self.base.best(query, limit, self.superseded)
        if len(self.delta):
            candidates += self.delta.best(query, limit, frozenset())
        best = heapq.nsmallest(limit, candidates, key=lambda c: (-c[0], c[1], c[2]))
        return [(customer_id, score, matched) for score, _, customer_id, matched in best]


class CustomerIndex:
    """The in-memory index of one database's customers, refreshed from what changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._max_id = 0
        self._max_audit_id = 0
        self._building = False

    @property
    def ready(self) -> bool:
        """Whether the index has been built (it may still lag the latest changes)."""
        return self._snapshot is not None

    def _rebuild(self, session: Session) -> None:
        self._building = True
        try:
            self._build(session)
        finally:
            self._building = False

    def _build(self, session: Session) -> None:
        connection = session.connection()
        newest_audit = connection.execute(_MAX_AUDIT).scalar() or 0
        base = _Segment(_Columns.of_database(connection))
        newest = base.newest_id()
        # The newest customers as indexed: their ids may be read again at the next refreshes
        # (and, after a rolled back transaction, may have been given to someone else).
        recent = {
            row[0]: (row[1], row[2], row[3], row[4])
            for row in connection.execute(_NEWER_CUSTOMERS, {"after": newest - LATE_COMMIT_WINDOW})
        }
        self._max_id = newest
        self._max_audit_id = newest_audit
        self._snapshot = _Snapshot(base, recent=recent)

    def refresh(self, session: Session, *, rebuild: bool = True) -> None:
        """Bring the index up to date with the database as ``session`` sees it: build it if it
        was never built and, with ``rebuild``, rebuild it once many customers have changed."""
        with self._lock:
            self._refresh(session, rebuild=rebuild)

    def refreshed(self, session: Session, *, wait: float) -> _Snapshot | None:
        """The index brought up to date without building or rebuilding it, or as it is when
        another thread holds it for longer than ``wait`` seconds (None: not built yet)."""
        if self._snapshot is None or self._building or not self._lock.acquire(timeout=wait):
            return self._snapshot
        try:
            self._refresh(session, rebuild=False)
        finally:
            self._lock.release()
        return self._snapshot

    def _changed(self, session: Session) -> tuple[list[tuple[int, str, str, str, str]], set[int]]:
        """Customers newer than those indexed (and the latest few again), and those that audit
        entries newer than the ones seen say were changed, whose ids are also returned."""
        connection = session.connection()
        changed = [
            (row[0], row[1], row[2], row[3], row[4])
            for row in connection.execute(
                _NEWER_CUSTOMERS, {"after": self._max_id - LATE_COMMIT_WINDOW}
            )
        ]
        audit = connection.execute(
            _NEWER_AUDIT, {"after": self._max_audit_id - LATE_COMMIT_WINDOW}
        ).all()
        refs = sorted(
            {
                ref
                for _, entity, action, ref in audit
                if entity == "customer" and action in _RELOADING_ACTIONS
            }
        )
        if audit:
            self._max_audit_id = max(self._max_audit_id, max(row[0] for row in audit))
        reloaded: set[int] = set()
        if refs:
            for row in connection.execute(_CUSTOMERS_BY_REF, {"refs": refs}):
                changed.append((row[0], row[1], row[2], row[3], row[4]))
                reloaded.add(row[0])
        return changed, reloaded

    def _refresh(self, session: Session, *, rebuild: bool) -> None:
        if self._snapshot is None:
            self._rebuild(session)
            return
        snapshot = self._snapshot
        changed, reloaded = self._changed(session)
        fresh: dict[int, _Values] = {}
        for customer_id, ref, name, email, phone in changed:
            values: _Values = (ref, name, email, phone)
            known = snapshot.delta_values.get(customer_id)
            if (
                known is None
                and customer_id not in reloaded
                and snapshot.base.row_of(customer_id) is not None
            ):
                # Indexed as it was then: a later change of it comes with an audit entry.
                known = snapshot.recent.get(customer_id, values)
            if known != values:
                fresh[customer_id] = values
        if changed:
            self._max_id = max(self._max_id, max(row[0] for row in changed))
        if not fresh and not (rebuild and len(snapshot.delta_values) > REBUILD_AFTER):
            return
        delta_values = {**snapshot.delta_values, **fresh}
        if rebuild and len(delta_values) > REBUILD_AFTER:
            self._rebuild(session)
            return
        ids = sorted(delta_values)
        base = snapshot.base
        superseded = frozenset(row for row in map(base.row_of, ids) if row is not None)
        delta = _Segment(_Columns.of_rows([(i, *delta_values[i]) for i in ids]))
        self._snapshot = _Snapshot(base, delta, delta_values, superseded, snapshot.recent)

    def search(self, text: str, limit: int) -> list[tuple[int, float, MatchedOn]]:
        """The ids of the best ``limit`` matches for ``text`` as (id, score, field), best first."""
        snapshot = self._snapshot
        return [] if snapshot is None else snapshot.search(text, limit)


_indexes: weakref.WeakKeyDictionary[Pool, CustomerIndex] = weakref.WeakKeyDictionary()
_indexes_lock = threading.Lock()


def _index_of(session: Session) -> CustomerIndex:
    bind = session.get_bind()
    pool = bind.engine.pool if isinstance(bind, Connection) else bind.pool
    with _indexes_lock:
        index = _indexes.get(pool)
        if index is None:
            index = _indexes[pool] = CustomerIndex()
    return index


def customer_index(*, session: Session) -> CustomerIndex:
    """The index of the database ``session`` talks to, brought up to date: built on first use
    and rebuilt once many customers have changed, waiting for both (a desk calls this in the
    background, so that lookups as the agent types never do)."""
    index = _index_of(session)
    index.refresh(session)
    return index


def _scan(text: str, session: Session, limit: int) -> list[tuple[int, float, MatchedOn]]:
    """Matches for ``text`` read straight from the table, for while the index is not ready:
    names, refs and e-mails starting with what was typed (as typed, or capitalised as names
    and refs usually are: ranges of their indexes, cheap enough not to slow a desk that is
    building the index meanwhile), and phone numbers holding its digits. No typos forgiven."""
    query = " ".join(fold(text).split())
    compact = query.replace(" ", "")
    words = _WORD.findall(query)
    typed = " ".join(text.split())
    digits = phone_digits(query) if _PHONE_LIKE.match(query) else ""
    # The number typed without its country code, or the stored one without it, as the index does.
    numbers = [digits[drop:] for drop in range(4) if drop == 0 or len(digits) - drop >= 6]
    c = _customers.c
    connection = session.connection()
    # SQLite compares text code point by code point; PostgreSQL does when told to.
    binary = connection.dialect.name != "postgresql"

    def starting(column: sa.ColumnElement[str], forms: set[str]) -> list[sa.ColumnElement[bool]]:
        ordered = column if binary else sa.collate(column, "C")
        return [sa.and_(ordered >= form, ordered < form + "\U0010ffff") for form in forms if form]

    bare = typed.replace(" ", "")
    conditions = starting(c.name, {typed, typed.title(), typed.lower(), typed.capitalize()})
    conditions += starting(c.ref, {bare, bare.upper(), bare.lower()})
    conditions += starting(c.email, {bare, bare.lower()})
    statements = [sa.select(*_ROW_COLUMNS).where(sa.or_(*conditions)).limit(SCAN_LIMIT)]
    if len(digits) >= 3:
        # The digits in order with anything between them; the exact check follows below.
        pattern = "%" + "%".join(numbers[-1]) + "%"
        statements.append(sa.select(*_ROW_COLUMNS).where(c.phone.like(pattern)).limit(SCAN_LIMIT))
    found = {row[0]: row for statement in statements for row in connection.execute(statement)}
    scored: list[tuple[float, str, int, MatchedOn]] = []
    for customer_id, ref, name, email, phone in found.values():
        folded = " ".join(fold(name).split())
        hits: list[tuple[float, MatchedOn]] = [(0.0, "name")]
        if words and all(word in folded for word in words):
            leading = folded.startswith(query) or f" {query}" in folded
            kind: HitKind = "exact" if folded == query else "prefix" if leading else "in"
            hits.append((_NAME_SCORES[kind], "name"))
        codes: tuple[tuple[str, dict[HitKind, float], MatchedOn], ...] = (
            (fold(ref), _REF_SCORES, "ref"),
            (fold(email or ""), _EMAIL_SCORES, "email"),
        )
        for value, scores, on in codes:
            if value.startswith(compact):
                hits.append((scores["exact" if value == compact else "prefix"], on))
        stored_digits = phone_digits(phone)
        if len(digits) >= 3 and any(number in stored_digits for number in numbers):
            hits.append((_PHONE_SCORES["exact" if stored_digits == digits else "in"], "phone"))
        score, on = max(hits, key=lambda hit: hit[0])
        if score:
            scored.append((score, folded, customer_id, on))
    chosen = heapq.nsmallest(limit, scored, key=lambda c: (-c[0], c[1], c[2]))
    return [(customer_id, score, on) for score, _, customer_id, on in chosen]


def _read(ranked: list[tuple[int, float, MatchedOn]], session: Session) -> list[CustomerMatch]:
    """The ranked customers as they are now, with their state, in their order."""
    if not ranked:
        return []
    rows = {
        row[0]: row
        for row in session.connection().execute(
            _MATCHED, {"ids": [customer_id for customer_id, _, _ in ranked]}
        )
    }
    matches: list[CustomerMatch] = []
    for customer_id, score, matched_on in ranked:
        if customer_id not in rows:
            continue  # indexed inside a transaction that was then rolled back, or merged away
        _, ref, name, email, phone, kind = rows[customer_id]
        matches.append(
            CustomerMatch(
                ref=ref,
                name=name,
                email=email,
                phone=phone,
                state=None if kind is None else "left" if kind == LifecycleKind.left else "active",
                score=round(score, 1),
                matched_on=matched_on,
            )
        )
    return matches


def find_customers(text: str, *, session: Session, limit: int = 8) -> list[CustomerMatch]:
    """The customers best matching ``text`` by name (typos forgiven), ref, phone or e-mail;
    builds the index first when it was never built, and waits for it."""
    if not text.strip() or limit <= 0:
        return []
    return _read(customer_index(session=session).search(text, limit), session)


def find_customers_now(text: str, *, session: Session, limit: int = 8) -> CustomerLookup:
    """The same lookup as the agent types: it never waits for the index to be built or
    rebuilt. Until ``customer_index`` has built it, the matches come straight from the
    table and are provisional."""
    if not text.strip() or limit <= 0:
        return CustomerLookup([], provisional=False)
    snapshot = _index_of(session).refreshed(session, wait=WAIT_FOR_REFRESH_S)
    if snapshot is None:
        return CustomerLookup(_read(_scan(text, session, limit), session), provisional=True)
    return CustomerLookup(_read(snapshot.search(text, limit), session), provisional=False)
