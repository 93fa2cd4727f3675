from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from redline import cli
from redline.events import RequestScreened
from redline.ledger import Ledger


def event(n: int, tenant: str = "t1") -> RequestScreened:
    return RequestScreened(
        tenant=tenant,
        request_hash=f"sha256:{n:064x}",
        contract="sha256:c",
        decision="allowed",
        action="allow",
        scores={"RL-SURV": 0.01, "RL-AUTO": 0.0},
        model="m",
        endpoint="e",
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    ledger = Ledger(path)
    futures = [ledger.append(event(n, "t1" if n % 2 else "t2")) for n in range(50)]
    ids = [f.result().id for f in futures]
    ledger.close()
    assert ids == list(range(1, 51))
    return path


def test_records_are_chained_and_verify(db: Path) -> None:
    ledger = Ledger(db)
    try:
        records = list(ledger.records())
        assert [r.id for r in records] == list(range(1, 51))
        assert all(b.prev == a.hash for a, b in itertools.pairwise(records))
        assert ledger.verify().ok
        assert ledger.append_sync(event(99)).prev == records[-1].hash  # reopening continues the chain
        assert ledger.verify().records == 51
    finally:
        ledger.close()


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        (
            "UPDATE records SET body = replace(body, 'allowed', 'RL-SURV') WHERE id = 20",
            "content does not match",
        ),
        ("DELETE FROM records WHERE id = 20", "record 20 is missing"),
        ("UPDATE records SET tenant = 'mallory' WHERE id = 33", "content does not match"),
    ],
)
def test_tampering_is_found_offline(db: Path, sql: str, problem: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(sql)
    result = CliRunner().invoke(cli.main, ["audit", "verify", "--db", str(db)])
    assert result.exit_code == 2
    assert problem in result.stderr
    assert "BROKEN at record" in result.stderr


def test_audit_verify_and_show(db: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli.main, ["audit", "verify", "--db", str(db)])
    assert ok.exit_code == 0 and "intact, 50 record(s)" in ok.output
    shown = runner.invoke(
        cli.main, ["audit", "show", "--db", str(db), "--json", "--tenant", "t2", "--limit", "3"]
    )
    import json

    rows = [json.loads(line) for line in shown.output.splitlines()]
    assert [r["id"] for r in rows] == [1, 3, 5]
    assert all(r["tenant"] == "t2" and r["body"]["decision"] == "allowed" for r in rows)
    table = runner.invoke(cli.main, ["audit", "show", "--db", str(db)])
    assert len(table.output.splitlines()) == 50


def test_audit_of_a_missing_or_foreign_file(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli.main, ["audit", "verify", "--db", str(tmp_path / "none.db")])
    assert missing.exit_code == 7 and "no ledger" in missing.stderr
    foreign = tmp_path / "foreign.db"
    foreign.write_bytes(b"this is not sqlite at all" * 100)
    result = runner.invoke(cli.main, ["audit", "verify", "--db", str(foreign)])
    assert result.exit_code == 7 and "not a Redline ledger" in result.stderr


def test_a_caller_that_went_away_does_not_stop_the_writer(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.db")
    try:
        gone = ledger.append(event(1))
        gone.cancel()  # what asyncio does to the future when the client disconnects mid-request
        assert ledger.append(event(2)).result(timeout=5).id in (1, 2)
        assert ledger.append(event(3)).result(timeout=5).prev
        assert ledger.verify().ok
    finally:
        ledger.close()
