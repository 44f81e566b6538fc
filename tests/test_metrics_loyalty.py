"""Loyalty balances: the sum of the ledger."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from builders import Rows
from desk.db import read_session, write_session
from desk.metrics import Balance, balance, balances


def test_a_balance_is_the_sum_of_the_ledger(engine: Engine) -> None:
    with write_session(engine) as session:
        rows = Rows(session)
        ada, ben, cy = rows.customer("Ada"), rows.customer("Ben"), rows.customer("Cy")
        rows.points(ada, 10, "social_share")
        rows.points(ada, 20, "app_install")
        rows.points(ada, -5)
        rows.points(ben, 40, "purchase")
    with read_session(engine) as session:
        assert balance(ada, session=session) == 25
        assert balance(ben, session=session) == 40
        assert balance(cy, session=session) == 0
        everyone = balances(session=session)
        top = balances(session=session, limit=1)
        chosen = balances(session=session, customer_ids=[cy, ada])
        nobody = balances(session=session, customer_ids=[])
    assert [(b.name, b.points) for b in everyone] == [("Ben", 40), ("Ada", 25), ("Cy", 0)]
    assert [b.name for b in top] == ["Ben"]
    assert [(b.customer_id, b.points) for b in chosen] == [(ada, 25), (cy, 0)]
    assert nobody == []
    assert isinstance(top[0], Balance)
    assert top[0].to_json() == {
        "customer_id": ben,
        "customer_ref": top[0].customer_ref,
        "name": "Ben",
        "points": 40,
    }
    assert top[0].customer_ref.startswith("C")
