"""Duplicate customers: finding likely pairs, and merging one customer into another.

Finding. Two customers are likely one person when they share an e-mail address (compared
trimmed and case-insensitively), a phone number (compared as international digits, see
``normalise_phone``) or a similar name (see ``name_key``). E-mail and phone pairs come from
grouping on the normalised value, which costs one pass. Names are compared with rapidfuzz's
token-sort ratio, but only between *distinct* normalised names and only within cheap blocks
(names sharing the first three letters of one word and the initial of another), so that 200,000
customers cost a few million comparisons in C instead of twenty billion.

Each pair gets points for its evidence — e-mail 45, phone 35, name up to 20 (the similarity,
scaled) — so a score is at most 100, and any pair sharing an e-mail or a phone ranks above every
pair that only has a similar name. Among name-only pairs of equal score, rarer names come first:
two customers called "Xaver Quandt" are likelier one person than two of fifty "Anna Müller".

Merging moves every record of OTHER to KEEP in one transaction, fills KEEP's missing e-mail and
phone from OTHER, deletes OTHER and records one ``merge`` audit entry naming both. It refuses a
merge whose combined lifecycle would not alternate acquired → left → won_back → left …
"""

from __future__ import annotations

import heapq
import itertools
import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from rapidfuzz import fuzz, process
from sqlmodel import Session, SQLModel, col, select

from desk.errors import InvalidInput, NotFound, RuleViolation
from desk.models import (
    AuditEntry,
    Call,
    Complaint,
    Customer,
    CustomerRead,
    LifecycleEvent,
    LifecycleKind,
    PointsEntry,
    Purchase,
)
from desk.store import audit
from desk.store.agents import require_actor
from desk.store.customers import check_timeline, read_customer
from desk.timefmt import format_instant

DEFAULT_COUNTRY_CODE = "49"
"""Country code of phone numbers written without one (``030 1234567`` is ``+49 30 1234567``)."""

NAME_THRESHOLD = 90.0
"""Least token-sort ratio (0-100) of two normalised names for them to count as similar. At 90,
"Hnas Müller" ~ "Hans Mueller" (92) and "Hnas Meier" ~ "Hans Meier" (90) pair; "Jan Berg" and
"Jan Berger" (89), "Hans Müller" and "Hans Meier" (82) or "Hans Schmidt" (50) do not."""

SHARED_LIMIT = 50
"""An e-mail address or phone number shared by more customers than this is a placeholder or a
switchboard, not evidence that they are one person; it yields no pairs."""

MIN_PHONE_DIGITS = 6
"""Fewer digits than this (as written, without prefixes) are too few to compare."""

EMAIL_POINTS = 45.0
PHONE_POINTS = 35.0
NAME_POINTS = 20.0

Reason = Literal["email", "phone", "name"]

MOVED_TABLES: tuple[tuple[str, type[SQLModel]], ...] = (
    ("calls", Call),
    ("complaints", Complaint),
    ("purchases", Purchase),
    ("lifecycle_events", LifecycleEvent),
    ("points_ledger", PointsEntry),
)
"""Every table whose rows belong to a customer, by table name; a merge moves them all."""


class _Plain(BaseModel):
    model_config = ConfigDict(frozen=True)


class DuplicateCustomer(_Plain):
    """One side of a likely duplicate pair."""

    ref: str
    name: str
    email: str | None
    phone: str | None


class DuplicatePair(_Plain):
    """Two customers who are likely one; ``first`` is the older record (the usual one to keep)."""

    first: DuplicateCustomer
    second: DuplicateCustomer
    reasons: tuple[Reason, ...]
    score: float
    name_similarity: float


class MergePlan(_Plain):
    """What merging OTHER into KEEP would do, judged allowed by desk's rules."""

    keep: DuplicateCustomer
    other: DuplicateCustomer
    moves: dict[str, int]
    """Rows that move from OTHER to KEEP, by table name (``MOVED_TABLES``)."""
    fills: dict[str, str]
    """KEEP's empty fields (``email``, ``phone``) that take OTHER's value."""
    drops: dict[str, str]
    """OTHER's values that KEEP does not take because it has its own (kept in the audit log)."""


class MergeResult(_Plain):
    """A merge as it was made."""

    keep: CustomerRead
    merged: str
    moved: dict[str, int]
    filled: dict[str, str]


# --- normalising -----------------------------------------------------------------------------

_SPELLED_OUT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_NOT_WORD = re.compile(r"[^\w\n]+|_+")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_TRUNK_IN_BRACKETS = re.compile(r"\([ \t]*0[ \t]*\)")
_NOT_PHONE = re.compile(r"[^0-9+]")
_NOT_PHONE_OR_LINE = re.compile(r"[^0-9+\n]")


def name_key(name: str) -> str:
    """A name reduced for comparison: case folded, umlauts spelled out (``ü`` → ``ue``), other
    accents and all punctuation dropped, words sorted — ``Müller, Hans`` → ``hans mueller``."""
    return _sorted_words(_fold_name(name))


def _fold_name(text: str) -> str:
    # Works on one name or on many joined by line breaks, which it keeps.
    text = unicodedata.normalize("NFC", text).casefold().translate(_SPELLED_OUT)
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    return _NOT_WORD.sub(" ", text)


def _sorted_words(text: str) -> str:
    return " ".join(sorted(text.split()))


def _name_keys(names: Sequence[str]) -> dict[str, str]:
    """The key of every distinct name in ``names``, folded in one pass over all of them."""
    distinct = list(dict.fromkeys(names))
    joined = "\n".join(distinct)
    if joined.count("\n") == max(len(distinct) - 1, 0):
        folded = _fold_name(joined).split("\n")
        return {name: _sorted_words(text) for name, text in zip(distinct, folded, strict=True)}
    return {name: name_key(name) for name in distinct}


def normalise_email(email: str | None) -> str | None:
    """An e-mail address trimmed and case-folded; None when it is not an address at all."""
    if not email:
        return None
    text = email.strip().casefold()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        return None
    return text


def _check_country_code(country_code: str) -> None:
    if not (country_code.isascii() and country_code.isdigit() and 1 <= len(country_code) <= 3):
        raise InvalidInput(
            f"country code {country_code!r} is not one: give 1 to 3 digits, such as 49 or 1"
        )


def normalise_phone(phone: str | None, country_code: str = DEFAULT_COUNTRY_CODE) -> str | None:
    """A phone number as international digits without ``+``, or None if it is too short.

    ``+49 30 1234567``, ``0049 30 1234567``, ``+49 (0)30 1234567`` and (with the default
    ``country_code`` 49) ``030 1234567`` all give ``49301234567``. The rules: a leading ``+`` or
    ``00`` starts an international number; a single leading ``0`` is the national trunk prefix,
    replaced by ``country_code``; a ``(0)`` written after the country code is dropped; digits
    with no prefix count as international when they start with ``country_code`` and as a
    national number whose trunk ``0`` was left out otherwise. Everything but digits is ignored.
    """
    _check_country_code(country_code)
    if not phone:
        return None
    return _phone_key(_NOT_PHONE.sub("", _TRUNK_IN_BRACKETS.sub("", phone)), country_code)


# --- finding ---------------------------------------------------------------------------------


def _phone_key(digits_and_plus: str, country_code: str) -> str | None:
    """The key of a phone number already reduced to its digits and ``+`` signs."""
    international = digits_and_plus.startswith("+")
    digits = digits_and_plus.replace("+", "")
    if not international:
        if digits.startswith("00"):
            digits, international = digits[2:], True
        elif digits.startswith("0"):
            digits = digits[1:]
        elif digits.startswith(country_code):
            international = True
    if len(digits) < MIN_PHONE_DIGITS:
        return None
    return digits if international else country_code + digits


@dataclass
class _Customers:
    """The customers looked at, one list per column (200,000 objects would cost more)."""

    ids: list[int]
    refs: list[str]
    names: list[str]
    emails: list[str | None]
    phones: list[str | None]
    email_keys: list[str | None]
    phone_keys: list[str | None]
    name_keys: list[str]

    def side(self, index: int) -> DuplicateCustomer:
        return DuplicateCustomer(
            ref=self.refs[index],
            name=self.names[index],
            email=self.emails[index],
            phone=self.phones[index],
        )

    def similarity(self, a: int, b: int) -> float:
        key_a, key_b = self.name_keys[a], self.name_keys[b]
        if not key_a or not key_b:
            return 0.0
        # Keys hold their words sorted, so a plain ratio of keys is rapidfuzz's token_sort_ratio.
        return float(fuzz.ratio(key_a, key_b))

    def pair(
        self, a: int, b: int, reasons: list[Reason], similarity: float, threshold: float
    ) -> DuplicatePair:
        score = EMAIL_POINTS * ("email" in reasons) + PHONE_POINTS * ("phone" in reasons)
        if similarity >= threshold:
            reasons = [*reasons, "name"]
            score += NAME_POINTS * similarity / 100
        first, second = (a, b) if self.ids[a] < self.ids[b] else (b, a)
        return DuplicatePair(
            first=self.side(first),
            second=self.side(second),
            reasons=tuple(reasons),
            score=round(score, 1),
            name_similarity=round(similarity, 1),
        )


def erased_refs(*, session: Session) -> set[str]:
    """Refs of customers whose personal data was erased (an ``erase`` entry in the audit log)."""
    return set(
        session.exec(
            select(AuditEntry.entity_ref)
            .where(AuditEntry.entity == "customer", AuditEntry.action == "erase")
            .distinct()
        ).all()
    )


def _phone_keys(phones: Sequence[str], country_code: str) -> list[str | None]:
    joined = "\n".join(phones)
    if joined.count("\n") == max(len(phones) - 1, 0):
        # One pass over all numbers at C speed instead of 200,000 calls.
        cleaned = _NOT_PHONE_OR_LINE.sub("", _TRUNK_IN_BRACKETS.sub("", joined)).split("\n")
    else:  # a value holds a line break of its own
        cleaned = [_NOT_PHONE.sub("", _TRUNK_IN_BRACKETS.sub("", phone)) for phone in phones]
    return [_phone_key(text, country_code) if text else None for text in cleaned]


def _email_keys(emails: Sequence[str]) -> list[str | None]:
    joined = "\n".join(emails)
    if joined.count("\n") == max(len(emails) - 1, 0):
        return [normalise_email(text) for text in joined.casefold().split("\n")]
    return [normalise_email(email) for email in emails]


def _load(*, session: Session, country_code: str) -> _Customers:
    erased = erased_refs(session=session)
    query = sa.select(
        col(Customer.id),
        col(Customer.ref),
        col(Customer.name),
        col(Customer.email),
        col(Customer.phone),
    ).order_by(col(Customer.id))
    # Plain rows from the connection: the ORM's row handling would double the time.
    rows = session.connection().execute(query).fetchall()
    if erased:
        rows = [row for row in rows if row[1] not in erased]
    names: list[str] = [row[2] for row in rows]
    emails: list[str | None] = [row[3] for row in rows]
    phones: list[str | None] = [row[4] for row in rows]
    keys = _name_keys(names)
    return _Customers(
        ids=[cast(int, row[0]) for row in rows],
        refs=[row[1] for row in rows],
        names=names,
        emails=emails,
        phones=phones,
        email_keys=_email_keys([email or "" for email in emails]),
        phone_keys=_phone_keys([phone or "" for phone in phones], country_code),
        name_keys=[keys[name] for name in names],
    )


def _groups(values: Sequence[str | None]) -> list[list[int]]:
    counts = Counter(values)
    shared = {value for value, n in counts.items() if value is not None and 2 <= n <= SHARED_LIMIT}
    by_value: dict[str, list[int]] = defaultdict(list)
    for index, value in enumerate(values):
        if value in shared:
            by_value[value].append(index)
    return list(by_value.values())


def _contact_pairs(
    customers: _Customers, threshold: float
) -> tuple[list[DuplicatePair], set[tuple[int, int]]]:
    """Every pair sharing an e-mail or a phone number, and the set of their index pairs."""
    reasons: dict[tuple[int, int], list[Reason]] = defaultdict(list)
    for members in _groups(customers.email_keys):
        for a, b in itertools.combinations(members, 2):
            reasons[(a, b)].append("email")
    for members in _groups(customers.phone_keys):
        for a, b in itertools.combinations(members, 2):
            reasons[(a, b)].append("phone")
    pairs = [
        customers.pair(a, b, found, customers.similarity(a, b), threshold)
        for (a, b), found in reasons.items()
    ]
    return pairs, set(reasons)


def _blocks(key: str) -> list[tuple[str, str]]:
    """The blocks a name is compared within: the first three letters of one of its words with
    the initial of another (so a typo early in one word still meets the other word's block)."""
    words = key.split()
    if len(words) == 2:  # the usual case, first name and surname
        first, last = words
        return [(first[:3], last[:1]), (last[:3], first[:1])]
    if len(words) == 1:
        return [(words[0][:3], "")]
    words = words[:5]
    return list(
        {
            (word[:3], other[:1])
            for i, word in enumerate(words)
            for j, other in enumerate(words)
            if i != j
        }
    )


def similar_names(
    keys: Sequence[str], threshold: float = NAME_THRESHOLD
) -> list[tuple[int, int, float]]:
    """Pairs of distinct normalised names (indexes into ``keys``, the lower first) whose
    token-sort ratio is at least ``threshold``, comparing only names that share a block."""
    blocks: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        if key:
            for block in _blocks(key):
                blocks[block].append(index)
    found: dict[tuple[int, int], float] = {}
    for members in blocks.values():
        choices = [keys[index] for index in members]
        for x in range(len(members) - 1):
            # One call per name against the rest of its block: the loop runs in C.
            for _, score, offset in process.extract(
                choices[x], choices[x + 1 :], scorer=fuzz.ratio, score_cutoff=threshold, limit=None
            ):
                a, b = members[x], members[x + 1 + offset]
                found[(min(a, b), max(a, b))] = float(score)
    return [(a, b, score) for (a, b), score in found.items()]


def _name_pairs(
    customers: _Customers, quota: int, threshold: float, taken: set[tuple[int, int]]
) -> list[DuplicatePair]:
    """The best ``quota`` pairs that only share a similar name, generated lazily."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for index, key in enumerate(customers.name_keys):
        if key:
            by_key[key].append(index)
    keys = sorted(by_key)
    # (-similarity, customers involved, key a, key b): strongest, then rarest name first.
    sources: list[tuple[float, int, str, str]] = [
        (-100.0, len(members), key, key) for key, members in by_key.items() if len(members) > 1
    ]
    sources += [
        (-score, len(by_key[keys[a]]) + len(by_key[keys[b]]), keys[a], keys[b])
        for a, b, score in similar_names(keys, threshold)
    ]
    sources.sort()

    def candidates() -> Iterator[tuple[int, int, float]]:
        for negative, _, key_a, key_b in sources:
            if key_a == key_b:
                combos: Iterator[tuple[int, int]] = itertools.combinations(by_key[key_a], 2)
            else:
                combos = itertools.product(by_key[key_a], by_key[key_b])
            for a, b in combos:
                yield min(a, b), max(a, b), -negative

    pairs: list[DuplicatePair] = []
    for a, b, similarity in candidates():
        if len(pairs) >= quota:
            break
        if (a, b) not in taken:
            pairs.append(customers.pair(a, b, [], similarity, threshold))
    return pairs


def _strength(pair: DuplicatePair) -> tuple[float, str, str]:
    return (-pair.score, pair.first.ref, pair.second.ref)


def find_duplicates(
    *,
    session: Session,
    limit: int = 100,
    country_code: str = DEFAULT_COUNTRY_CODE,
    name_threshold: float = NAME_THRESHOLD,
) -> list[DuplicatePair]:
    """Likely duplicate customers, strongest first: same e-mail, same phone, similar name.

    Erased customers are left out (merged ones no longer exist). ``country_code`` is the one
    assumed for phone numbers written without one.
    """
    if limit < 1:
        raise InvalidInput(f"limit must be at least 1 (got {limit})")
    _check_country_code(country_code)
    customers = _load(session=session, country_code=country_code)
    contact, taken = _contact_pairs(customers, name_threshold)
    best = heapq.nsmallest(limit, contact, key=_strength)
    if len(best) < limit:
        # Every name-only pair scores at most NAME_POINTS, below any e-mail or phone pair.
        best += _name_pairs(customers, limit - len(best), name_threshold, taken)
    return best


# --- merging ---------------------------------------------------------------------------------


def merged_refs(*, session: Session) -> dict[str, str]:
    """Refs of customers merged away, each with the ref of the customer that holds their
    records now (following later merges), so that an import naming one can be reported."""
    rows = session.exec(
        select(AuditEntry.after)
        .where(AuditEntry.entity == "customer", AuditEntry.action == "merge")
        .order_by(col(AuditEntry.id))
    ).all()
    into: dict[str, str] = {}
    for text in rows:
        after = json.loads(text) if text else {}
        if after.get("merged") and after.get("merged_into"):
            into[str(after["merged"])] = str(after["merged_into"])
    resolved: dict[str, str] = {}
    for ref in into:
        target, seen = into[ref], {ref}
        while target in into and target not in seen:
            seen.add(target)
            target = into[target]
        resolved[ref] = target
    return resolved


def _customer(ref: str, *, session: Session, lock: bool = False) -> Customer:
    query = select(Customer).where(Customer.ref == ref)
    if lock:
        # On PostgreSQL, a colleague's save that adds a record to either customer waits for the
        # merge to end (SQLite's BEGIN IMMEDIATE already lets one writer in at a time).
        query = query.with_for_update()
    found = session.exec(query).first()
    if found is not None:
        return found
    now_in = merged_refs(session=session).get(ref)
    if now_in is not None:
        raise NotFound(f"cannot merge: customer {ref} was already merged into {now_in}")
    raise NotFound(f"cannot merge: no customer with ref {ref!r}")


def _side(customer: Customer) -> DuplicateCustomer:
    return DuplicateCustomer(
        ref=customer.ref, name=customer.name, email=customer.email, phone=customer.phone
    )


def _check_lifecycles(keep: Customer, other: Customer, *, session: Session) -> None:
    """Refuse when KEEP's and OTHER's lifecycle events, together, break the alternation."""
    owner = {keep.id: keep.ref, other.id: other.ref}
    rows = session.exec(
        select(LifecycleEvent.customer_id, LifecycleEvent.at, LifecycleEvent.kind).where(
            col(LifecycleEvent.customer_id).in_(list(owner))
        )
    ).all()
    events = sorted((at, LifecycleKind(kind), owner[customer_id]) for customer_id, at, kind in rows)
    acquired = {ref: at for at, kind, ref in events if kind is LifecycleKind.acquired}
    if keep.ref in acquired and other.ref in acquired:
        raise RuleViolation(
            f"cannot merge {other.ref} into {keep.ref}: both {keep.ref} and {other.ref} have an "
            f"'acquired' event ({keep.ref} at {format_instant(acquired[keep.ref])}, {other.ref} "
            f"at {format_instant(acquired[other.ref])}), and one customer is acquired once. "
            "desk does not repair lifecycles automatically; nothing was changed."
        )
    merged = f"{keep.ref} + {other.ref}"
    for end in range(1, len(events) + 1):
        try:
            check_timeline(merged, [(at, kind) for at, kind, _ in events[:end]])
        except RuleViolation as exc:
            at, kind, ref = events[end - 1]
            conflict = f"{ref}'s {kind.value!r} at {format_instant(at)}"
            if end > 1:
                p_at, p_kind, p_ref = events[end - 2]
                conflict += f" follows {p_ref}'s {p_kind.value!r} at {format_instant(p_at)}"
            else:
                conflict += " would come before any 'acquired'"
            raise RuleViolation(
                f"cannot merge {other.ref} into {keep.ref}: their lifecycles do not fit together "
                f"({conflict}; merged, events must alternate acquired → left → won_back → "
                "left …); nothing was changed."
            ) from exc


def _plan(keep: Customer, other: Customer, *, session: Session) -> MergePlan:
    erased = erased_refs(session=session) & {keep.ref, other.ref}
    if erased:
        raise RuleViolation(
            f"cannot merge {other.ref} into {keep.ref}: {', '.join(sorted(erased))} was erased, "
            "and merging would tie its anonymous records to a person again"
        )
    _check_lifecycles(keep, other, session=session)
    moves: dict[str, int] = {}
    for name, model in MOVED_TABLES:
        table: Any = model.__table__  # type: ignore[attr-defined]
        moves[name] = int(
            session.execute(
                sa.select(sa.func.count()).where(table.c.customer_id == other.id)
            ).scalar_one()
        )
    fills: dict[str, str] = {}
    drops: dict[str, str] = {}
    for field in ("email", "phone"):
        mine, theirs = getattr(keep, field), getattr(other, field)
        if theirs and not mine:
            fills[field] = theirs
        elif theirs and theirs != mine:
            drops[field] = theirs
    return MergePlan(keep=_side(keep), other=_side(other), moves=moves, fills=fills, drops=drops)


def _both(
    keep_ref: str, other_ref: str, *, session: Session, lock: bool = False
) -> tuple[Customer, Customer]:
    if keep_ref == other_ref:
        raise RuleViolation(f"cannot merge customer {keep_ref} with itself")
    return (
        _customer(keep_ref, session=session, lock=lock),
        _customer(other_ref, session=session, lock=lock),
    )


def plan_merge(keep_ref: str, other_ref: str, *, session: Session) -> MergePlan:
    """What merging ``other_ref`` into ``keep_ref`` would move and fill; refuses as the merge
    would (same customer, unknown or erased customers, lifecycles that do not fit together)."""
    keep, other = _both(keep_ref, other_ref, session=session)
    return _plan(keep, other, session=session)


def merge_customers(
    keep_ref: str, other_ref: str, *, session: Session, actor: str, now: datetime
) -> MergeResult:
    """Move every record of OTHER to KEEP, fill KEEP's missing e-mail and phone, delete OTHER.

    Refused, with nothing changed, for a customer merged with itself, an unknown or erased
    customer, or lifecycles that together would not alternate acquired → left → won_back ….
    The caller's transaction holds it all, and one ``merge`` audit entry under KEEP's ref
    records OTHER's data, the rows moved and ``merged_into``.
    """
    require_actor(actor, session=session, supervisor=True)
    keep, other = _both(keep_ref, other_ref, session=session, lock=True)
    plan = _plan(keep, other, session=session)
    assert keep.id is not None and other.id is not None
    before_keep = _side(keep).model_dump()
    other_data = {**_side(other).model_dump(), "created_at": other.created_at.isoformat()}
    moved: dict[str, int] = {}
    for name, model in MOVED_TABLES:
        # The loyalty ledger is append-only by convention (corrections are new lines); a merge
        # is the one allowed exception: its lines keep their points and times, and only change
        # to the customer they always belonged to.
        table: Any = model.__table__  # type: ignore[attr-defined]
        result = session.execute(
            sa.update(table).where(table.c.customer_id == other.id).values(customer_id=keep.id)
        )
        moved[name] = int(result.rowcount)  # type: ignore[attr-defined]
    for field, value in plan.fills.items():
        setattr(keep, field, value)
    session.add(keep)
    session.delete(other)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        at=now,
        action="merge",
        entity="customer",
        entity_ref=keep.ref,
        before={"keep": before_keep, "other": other_data},
        after={
            "keep": _side(keep).model_dump(),
            "merged": other_ref,
            "merged_into": keep.ref,
            "moved": moved,
            "filled": plan.fills,
        },
    )
    session.flush()
    return MergeResult(
        keep=read_customer(keep, session=session),
        merged=other_ref,
        moved=moved,
        filled=dict(plan.fills),
    )
