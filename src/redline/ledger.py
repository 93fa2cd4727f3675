"""The ledger: an append-only, hash-chained record of every decision.

Each record's hash is ``sha256(previous hash + canonical JSON of the record)``, so changing, removing or
reordering any record breaks every hash after it, and :meth:`Ledger.verify` finds the first break from
the file alone, with no trust in the gateway that wrote it.

Writes go through one writer thread per database (SQLite allows one writer per file anyway): callers
hand events to :meth:`Ledger.append`, the writer commits whatever has queued up in one transaction,
fsynced, and only then resolves the callers' futures, so an answer is never sent before its record is
durable, and concurrent requests share one fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redline.errors import LedgerError
from redline.events import Event

GENESIS = "0" * 64
log = logging.getLogger("redline.ledger")

# Ordered schema migrations; the index + 1 is the schema version. Never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE records (
        id INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        tenant TEXT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        prev TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE
    );
    CREATE INDEX records_tenant ON records (tenant, id);
    """,
)


@dataclass(frozen=True, slots=True)
class Record:
    id: int
    time: str
    tenant: str
    kind: str
    body: dict[str, Any]
    prev: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time,
            "tenant": self.tenant,
            "kind": self.kind,
            "body": self.body,
            "prev": self.prev,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    records: int
    first_bad: int | None = None
    problem: str | None = None
    head: str = GENESIS


def canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def record_hash(prev: str, record_id: int, time: str, tenant: str, kind: str, body: str) -> str:
    """SHA-256 of the previous hash, a newline, and ``canonical([id, time, tenant, kind, body])``;
    ``body`` is already canonical JSON, so it is spliced in rather than parsed and dumped again."""
    head = canonical([record_id, time, tenant, kind])
    payload = head[:-1] + "," + body + "]"
    return hashlib.sha256((prev + "\n" + payload).encode("utf-8")).hexdigest()


def _connect(path: str) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot open ledger {path}: {exc}") from None
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise LedgerError(f"{path} is not a Redline ledger: {exc}") from None
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise


class Ledger:
    """An SQLite ledger. Open one per database file and share it; close it on shutdown."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = _connect(self.path)
        try:
            migrate(self._conn)
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"{self.path} is not a Redline ledger: {exc}") from None
        row = self._conn.execute("SELECT id, hash FROM records ORDER BY id DESC LIMIT 1").fetchone()
        self._last_id: int = row[0] if row else 0
        self._head: str = row[1] if row else GENESIS
        self._queue: queue.SimpleQueue[tuple[Event, Future[Record]] | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="redline-ledger", daemon=True)
        self._writer.start()
        self._closed = False

    # -- writing ----------------------------------------------------------------------------------

    def append(self, event: Event) -> Future[Record]:
        if self._closed:
            raise LedgerError("the ledger is closed")
        future: Future[Record] = Future()
        self._queue.put((event, future))
        return future

    async def record(self, event: Event) -> Record:
        """Append and wait until the record is durable."""
        return await asyncio.wrap_future(self.append(event))

    def append_sync(self, event: Event) -> Record:
        return self.append(event).result()

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < 512:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            try:
                self._write(batch)
            except Exception as exc:  # the writer must outlive any one batch, or every later append hangs
                log.exception("ledger batch failed")
                for _, future in batch:
                    _settle(future, exception=LedgerError(f"cannot write the ledger {self.path}: {exc}"))

    def _write(self, batch: Sequence[tuple[Event, Future[Record]]]) -> None:
        records: list[Record] = []
        rows: list[tuple[int, str, str, str, str, str, str]] = []
        last_id, head = self._last_id, self._head
        for event, _ in batch:
            last_id += 1
            time = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
            fields = event.body()
            body = canonical(fields)
            digest = record_hash(head, last_id, time, event.tenant, event.kind, body)
            records.append(Record(last_id, time, event.tenant, event.kind, fields, head, digest))
            rows.append((last_id, time, event.tenant, event.kind, body, head, digest))
            head = digest
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT INTO records (id, time, tenant, kind, body, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            for _, future in batch:
                _settle(future, exception=LedgerError(f"cannot write the ledger {self.path}: {exc}"))
            return
        self._last_id, self._head = last_id, head
        for (_, future), rec in zip(batch, records, strict=True):
            _settle(future, result=rec)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._writer.join(timeout=10)
            self._conn.close()

    # -- reading ----------------------------------------------------------------------------------

    def records(
        self, *, tenant: str | None = None, after: int = 0, limit: int | None = None
    ) -> Iterator[Record]:
        reader = _connect(self.path) if self.path != ":memory:" else self._conn
        query = "SELECT id, time, tenant, kind, body, prev, hash FROM records WHERE id > ?"
        params: list[Any] = [after]
        if tenant is not None:
            query += " AND tenant = ?"
            params.append(tenant)
        query += " ORDER BY id"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        try:
            for row in reader.execute(query, params):
                yield Record(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6])
        finally:
            if reader is not self._conn:
                reader.close()

    def verify(self) -> Verification:
        return verify_rows(self.records())


def _settle(
    future: Future[Record], *, result: Record | None = None, exception: Exception | None = None
) -> None:
    """Resolve a caller's future. A caller that went away (its client disconnected) cancels the future;
    the record is written all the same, and nobody is left to tell."""
    try:
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)  # type: ignore[arg-type]
    except InvalidStateError:
        pass


def verify_rows(rows: Iterator[Record]) -> Verification:
    """Walk the chain from the genesis hash; report the first record that does not fit."""
    prev, count, expected_id = GENESIS, 0, 1
    for rec in rows:
        count += 1
        if rec.id != expected_id:
            return Verification(
                False, count, rec.id, f"record {expected_id} is missing (next is {rec.id})", prev
            )
        if rec.prev != prev:
            return Verification(
                False, count, rec.id, "its 'prev' does not match the previous record's hash", prev
            )
        digest = record_hash(prev, rec.id, rec.time, rec.tenant, rec.kind, canonical(rec.body))
        if digest != rec.hash:
            return Verification(False, count, rec.id, "its content does not match its hash", prev)
        prev, expected_id = rec.hash, expected_id + 1
    return Verification(True, count, None, None, prev)


def open_for_audit(path: str | Path) -> Ledger:
    if not Path(path).exists():
        raise LedgerError(f"no ledger at {path}")
    return Ledger(path)


__all__ = [
    "GENESIS",
    "Ledger",
    "LedgerError",
    "Record",
    "Verification",
    "canonical",
    "open_for_audit",
    "verify_rows",
]
