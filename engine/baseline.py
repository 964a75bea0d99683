"""What the organisation has seen before: the baseline store (`--state DIR`).

For destination IPs, SNIs, registered domains, JA4s and certificate
fingerprints the store keeps first-seen / last-seen (packet time) and which
internal hosts used them, so that the detections can ask "new for the
organisation?", "new for this host?" and "how many hosts know it?"; and per
host the daily upload volume, for "does this host deviate from its own
baseline?" (the analyst's playbook, questions 1, 2, 4 and 5).

`BaselineStore` is the interface the detections use; `SqliteBaseline` is the
per-sensor implementation (DIR/baseline.sqlite). A shared PostgreSQL can
replace it later behind the same interface (DESIGN.md, "Growing past one
machine").

SQLite, as used here:
* WAL mode: readers (a report, a second run) never block the writer and
  see only committed batches. Several processes may open the same state
  (a replay while the sensor runs); SQLite lets one write at a time and the
  others wait up to `busy_timeout_s`.
* Writes are batched: observations are answered at once (from the file
  plus what this instance has not written yet) but written in one
  transaction per `batch_size` entries, or on flush()/close(). A crash
  loses at most the unwritten batch.
* The file is asked only about keys this instance has not met: the keys it
  wrote or found there are remembered (up to MAX_STORED_KEYS per table,
  forgotten when a prune deletes rows), and a private in-memory store (a
  replay without --state) is never asked, since it holds nothing else. A
  row another process prunes meanwhile still counts as known until this
  instance's next prune.
* Bounded size, pruned every `prune_interval_s` of packet time and on
  prune(): entries not seen for `retention_days` go, then, beyond
  `max_entities` (per-organisation rows) and `max_host_entries` (per-host
  rows) and `max_upload_rows`, the least recently seen go first.
* Determinism: first/last seen are min/max of packet times and daily upload
  volumes are stored per (host, day, source) and replaced, not added, by the
  run that owns the source. Replaying a capture again on the same state
  (same `source`) therefore leaves every value as it was; only the answers
  "new for the organisation / the host" change (they are now known).
  A live sensor should use a source unique to the run (e.g.
  "live:eth0:<start time>") so that its restarts add up; a replay, one
  derived from its capture files.
"""
from dataclasses import dataclass, fields
from functools import lru_cache
import ipaddress
import logging
import math
import os
import sqlite3
import statistics
from typing import Iterable, NamedTuple, Protocol, runtime_checkable

from .config import from_table
from .errors import ConfigError

log = logging.getLogger(__name__)

DAY_US = 86_400_000_000
KINDS = ("dest_ip", "sni", "domain", "ja4", "cert_sha256")
SCHEMA_VERSION = 1
STATE_FILE = "baseline.sqlite"
_IN_CHUNK = 300              # (kind, value[, host]) tuples per IN (...) query
MAX_STORED_KEYS = 250_000    # keys remembered as rows of the file, per table (~50 MiB)


class Novelty(NamedTuple):
    new_for_org: bool
    new_for_host: bool


class Entity(NamedTuple):
    kind: str
    value: str
    first_seen_us: int
    last_seen_us: int
    host_count: int          # distinct internal hosts that used it by then (within retention)


class UploadStats(NamedTuple):
    """A host's daily upload volume: the day asked about and the days before it."""
    days: int                # history days (from the host's first day, at most `upload_days`)
    mean: float
    std: float               # population standard deviation
    median: float
    mad: float               # median absolute deviation (unscaled)
    current: int             # bytes out on the day asked about, so far

    def robust_z(self, value: float | None = None) -> float:
        """(value - median) / (1.4826 MAD), of `current` by default; inf when
        the history has no spread and the value is above it, 0 without history."""
        value = self.current if value is None else value
        if self.days == 0:
            return 0.0
        spread = 1.4826 * self.mad
        if spread == 0:
            return 0.0 if value <= self.median else math.inf
        return (value - self.median) / spread


@runtime_checkable
class BaselineStore(Protocol):
    """The interface the detection layer uses; all times are packet time (µs)."""

    def observe(self, kind: str, value: str, host: str, ts_us: int) -> Novelty: ...
    def observe_many(self, observations: Iterable[tuple]) -> list: ...
    def lookup(self, kind: str, value: str, as_of_us: int | None = None) -> Entity | None: ...
    def earliest_us(self) -> int | None: ...
    def add_upload(self, host: str, ts_us: int, bytes_out: int) -> None: ...
    def upload_stats(self, host: str, ts_us: int, days: int | None = None) -> UploadStats: ...
    def flush(self) -> None: ...
    def prune(self, now_us: int | None = None) -> dict: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BaselineConfig:
    """Tunables of the baseline store."""

    retention_days: int = 90                 # entries not seen for this long are pruned
    max_entities: int = 2_000_000            # per-organisation rows (all kinds)
    max_host_entries: int = 5_000_000        # per-(value, host) rows
    max_upload_rows: int = 2_000_000         # (host, day, source) rows
    upload_days: int = 14                    # history behind upload_stats
    batch_size: int = 10_000                 # pending entries written per transaction
    prune_interval_s: int = 3600             # packet time between automatic prunes
    busy_timeout_s: float = 30.0             # wait for another process's write
    private_suffixes: bool = True            # PSL private section: foo.github.io is its own domain

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "private_suffixes":
                if not isinstance(value, bool):
                    raise ConfigError(f"Configuration key 'baseline.{f.name}' must be true or "
                                      f"false; got {value!r}.")
                continue
            low, high = (0.0, 3600.0) if f.name == "busy_timeout_s" else (1, 1_000_000_000)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or (f.type in (int, "int") and not isinstance(value, int)) \
                    or not low <= value <= high:
                raise ConfigError(f"Configuration key 'baseline.{f.name}' is {value!r}; it "
                                  f"must be a number from {low} to {high}.")

    @classmethod
    def from_table(cls, table: dict, where: str = "baseline") -> "BaselineConfig":
        return from_table(cls, table, where, default_where="baseline")


# ---------------------------------------------------------------- registered domains

@lru_cache(maxsize=2)
def _extractor(private: bool):
    import tldextract
    # The bundled Public Suffix List snapshot only: no URL, no cache directory,
    # so nothing is ever fetched or written at run time.
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(),
                                 fallback_to_snapshot=True, include_psl_private_domains=private)


@lru_cache(maxsize=65_536)
def registered_domain(name: str | None, private: bool = True) -> str | None:
    """The registrable domain of a host name ("files.example.co.uk" ->
    "example.co.uk"), by the Public Suffix List; with `private`, suffixes
    such as github.io or s3.amazonaws.com count, so that two tenants of a
    shared host are two domains. None for IP literals and names without a
    public suffix ("localhost", "corp.internal")."""
    if not name:
        return None
    name = name.strip().rstrip(".").lower()
    try:
        ipaddress.ip_address(name.strip("[]"))
        return None
    except ValueError:
        pass
    parts = _extractor(private)(name)
    if not parts.suffix or not parts.domain:
        return None
    return f"{parts.domain}.{parts.suffix}"


def session_observations(host: str, ts_us: int, *, dest_ip=None, sni=None, ja4=None,
                         cert_sha256=None, private_suffixes: bool = True) -> list:
    """The observations one handshake makes, ready for observe_many()."""
    out = []
    if dest_ip:
        out.append(("dest_ip", dest_ip, host, ts_us))
    if sni:
        sni = sni.rstrip(".").lower()
        out.append(("sni", sni, host, ts_us))
        domain = registered_domain(sni, private_suffixes)
        if domain:
            out.append(("domain", domain, host, ts_us))
    if ja4:
        out.append(("ja4", ja4, host, ts_us))
    if cert_sha256:
        out.append(("cert_sha256", cert_sha256.lower(), host, ts_us))
    return out


# ---------------------------------------------------------------- SQLite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entity (
    kind TEXT NOT NULL, value TEXT NOT NULL,
    first_seen_us INTEGER NOT NULL, last_seen_us INTEGER NOT NULL,
    PRIMARY KEY (kind, value)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entity_last_seen ON entity (last_seen_us);
CREATE TABLE IF NOT EXISTS entity_host (
    kind TEXT NOT NULL, value TEXT NOT NULL, host TEXT NOT NULL,
    first_seen_us INTEGER NOT NULL, last_seen_us INTEGER NOT NULL,
    PRIMARY KEY (kind, value, host)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entity_host_last_seen ON entity_host (last_seen_us);
CREATE TABLE IF NOT EXISTS upload_day (
    host TEXT NOT NULL, day INTEGER NOT NULL, source TEXT NOT NULL,
    bytes_out INTEGER NOT NULL,
    PRIMARY KEY (host, day, source)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS upload_day_day ON upload_day (day);
"""

_UPSERT_ENTITY = """
INSERT INTO entity (kind, value, first_seen_us, last_seen_us) VALUES (?, ?, ?, ?)
ON CONFLICT (kind, value) DO UPDATE SET
    first_seen_us = min(first_seen_us, excluded.first_seen_us),
    last_seen_us = max(last_seen_us, excluded.last_seen_us)"""
_UPSERT_HOST = """
INSERT INTO entity_host (kind, value, host, first_seen_us, last_seen_us) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (kind, value, host) DO UPDATE SET
    first_seen_us = min(first_seen_us, excluded.first_seen_us),
    last_seen_us = max(last_seen_us, excluded.last_seen_us)"""
_REPLACE_UPLOAD = """
INSERT INTO upload_day (host, day, source, bytes_out) VALUES (?, ?, ?, ?)
ON CONFLICT (host, day, source) DO UPDATE SET bytes_out = excluded.bytes_out"""
_ADD_UPLOAD = """
INSERT INTO upload_day (host, day, source, bytes_out) VALUES (?, ?, ?, ?)
ON CONFLICT (host, day, source) DO UPDATE SET bytes_out = bytes_out + excluded.bytes_out"""


def _widen(span: list, ts: int) -> None:
    """Stretch a [first_seen, last_seen] pair to include ts."""
    if ts < span[0]:
        span[0] = ts
    if ts > span[1]:
        span[1] = ts


class _StoredKeys:
    """Keys known to be rows of one table: written by this instance or found
    there. `complete` when they are all its rows (a private in-memory
    database only this instance writes): a key outside is then absent."""
    __slots__ = ("keys", "complete")

    def __init__(self, complete: bool):
        self.keys, self.complete = set(), complete

    def add(self, keys) -> None:
        if len(self.keys) + len(keys) > MAX_STORED_KEYS:
            self.forget()
        if len(keys) <= MAX_STORED_KEYS:
            self.keys.update(keys)

    def forget(self) -> None:
        self.keys, self.complete = set(), False


def open_state(state_dir: str, config: "BaselineConfig" = BaselineConfig(),
               source: str = "default") -> "SqliteBaseline":
    """The baseline of a --state directory (created if missing)."""
    os.makedirs(state_dir, exist_ok=True)
    return SqliteBaseline(os.path.join(state_dir, STATE_FILE), config, source=source)


class SqliteBaseline:
    """BaselineStore in one SQLite file (or ':memory:'). One instance per
    process and thread; several processes may share the file."""

    def __init__(self, path: str = ":memory:", config: BaselineConfig = BaselineConfig(), *,
                 source: str = "default", read_only: bool = False):
        self.path, self.config, self.source, self.read_only = path, config, source, read_only
        try:
            if read_only:
                self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True,
                                           timeout=config.busy_timeout_s, isolation_level=None)
            else:
                self._db = sqlite3.connect(path, timeout=config.busy_timeout_s,
                                           isolation_level=None)
        except sqlite3.OperationalError as err:
            raise ConfigError(f"The baseline state file {path} cannot be opened: {err}.") from None
        self._db.execute(f"PRAGMA busy_timeout = {int(config.busy_timeout_s * 1000)}")
        if not read_only:
            self._init_schema()
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self._db.close()
            raise ConfigError(f"The baseline state file {path} has schema version {version}, "
                              f"newer than this exfilwatch's {SCHEMA_VERSION}; use a newer "
                              f"exfilwatch or another --state directory.")
        self.now_us = 0                      # newest packet time seen by this instance
        self._ent: dict = {}                 # (kind, value) -> [first, last], not yet written
        self._enth: dict = {}                # (kind, value, host) -> [first, last]
        self._new_hosts: dict = {}           # (kind, value) -> keys of hosts new since the last write
        self._upl: dict = {}                 # host -> {day: this run's total for the day}
        self._upl_dirty: set = set()
        self._upl_added: dict = {}           # (host, day) -> bytes to add (days left memory)
        self._min_mem_day = -1               # days before it were let go of (see add_upload)
        self._run_first_day = math.inf       # the oldest day this run counted upload on
        self._next_prune_us = 0
        private = path == ":memory:" and not read_only
        self._stored = {"entity": _StoredKeys(private), "entity_host": _StoredKeys(private)}
        self.counters = dict.fromkeys(("observations", "batches", "prunes",
                                       "pruned_age", "pruned_cap"), 0)

    def _init_schema(self):
        db = self._db
        if self.path != ":memory:":
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                log.warning("baseline %s: journal mode %s, not WAL", self.path, mode)
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] == 0:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # ---------------------------------------------------------------- first seen

    def observe(self, kind: str, value: str, host: str, ts_us: int) -> Novelty:
        """Record that `host` used `value` at packet time ts_us; was it new?"""
        return self.observe_many(((kind, value, host, ts_us),))[0]

    def observe_many(self, observations: Iterable[tuple]) -> list:
        """observe() for (kind, value, host, ts_us) tuples, in order: a value
        seen twice in the batch is new only the first time."""
        obs = list(observations)
        for o in obs:
            if o[0] not in KINDS:
                raise ValueError(f"Unknown baseline kind {o[0]!r}; the kinds are {KINDS}.")
        ent, enth = self._ent, self._enth
        known_org = self._existing("entity", "kind, value",
                                   {(k, v) for k, v, _h, _t in obs if (k, v) not in ent})
        # a value the organisation never saw is new for every host: no query
        known_host = self._existing("entity_host", "kind, value, host",
                                    {(k, v, h) for k, v, h, _t in obs
                                     if (k, v, h) not in enth and ((k, v) in known_org
                                                                   or (k, v) in ent)})
        answers = []
        for kind, value, host, ts in obs:
            okey, hkey = (kind, value), (kind, value, host)
            seen = ent.get(okey)
            if seen is None:
                ent[okey] = [ts, ts]
                new_org = okey not in known_org
            else:
                new_org = False
                _widen(seen, ts)
            seen = enth.get(hkey)
            if seen is None:
                enth[hkey] = [ts, ts]
                new_host = hkey not in known_host
                if new_host:
                    self._new_hosts.setdefault(okey, []).append(hkey)
            else:
                new_host = False
                _widen(seen, ts)
            if ts > self.now_us:
                self.now_us = ts
            answers.append(Novelty(new_org, new_host))
        self.counters["observations"] += len(obs)
        if len(ent) + len(enth) >= self.config.batch_size:
            self.flush()
        return answers

    def _existing(self, table, columns, keys) -> set:
        """Which of `keys` are rows of `table`; the file is asked only
        about those this instance has not met (see _StoredKeys)."""
        stored = self._stored[table]
        found = {k for k in keys if k in stored.keys}
        if stored.complete:
            return found
        unknown = [k for k in keys if k not in found]
        if unknown:
            queried = self._query_existing(table, columns, unknown)
            stored.add(queried)
            found |= queried
        return found

    def _query_existing(self, table, columns, keys: list) -> set:
        found = set()
        if len(keys) == 1:               # observe(): one primary-key probe
            where = " AND ".join(f"{c.strip()} = ?" for c in columns.split(","))
            if self._db.execute(f"SELECT 1 FROM {table} WHERE {where}", keys[0]).fetchone():
                found.add(keys[0])
            return found
        width = columns.count(",") + 1
        row = "(" + ",".join("?" * width) + ")"
        names = [c.strip() for c in columns.split(",")]
        on = " AND ".join(f"t.{c} = v.column{i + 1}" for i, c in enumerate(names))
        select = ", ".join(f"t.{c}" for c in names)
        for i in range(0, len(keys), _IN_CHUNK):
            chunk = keys[i:i + _IN_CHUNK]
            # a join from the literal rows, so that each is one primary-key
            # probe ("(a, b) IN (VALUES ...)" scans the whole table)
            sql = (f"SELECT {select} FROM (VALUES {','.join([row] * len(chunk))}) AS v "
                   f"JOIN {table} AS t ON {on}")
            found.update(self._db.execute(sql, [x for key in chunk for x in key]).fetchall())
        return found

    def lookup(self, kind: str, value: str, as_of_us: int | None = None) -> Entity | None:
        """First/last seen and host count of a value, including unwritten
        observations. The host count is as of packet time `as_of_us` (default:
        the newest packet time this instance saw): hosts first seen later are
        not counted, so a replay on a state that already learned the capture
        counts like the first run did. last_seen_us is the newest ever recorded."""
        as_of = as_of_us if as_of_us is not None else (self.now_us or 2**63 - 1)
        row = self._db.execute("SELECT first_seen_us, last_seen_us FROM entity "
                               "WHERE kind = ? AND value = ?", (kind, value)).fetchone()
        pending = self._ent.get((kind, value))
        if row is None and pending is None:
            return None
        first, last = row if row else pending
        if pending and row:
            first, last = min(first, pending[0]), max(last, pending[1])
        hosts = self._db.execute("SELECT COUNT(*) FROM entity_host WHERE kind = ? AND value = ? "
                                 "AND first_seen_us <= ?", (kind, value, as_of)).fetchone()[0]
        hosts += sum(1 for hkey in self._new_hosts.get((kind, value), ())
                     if self._enth[hkey][0] <= as_of)
        return Entity(kind, value, first, last, hosts)

    def earliest_us(self) -> int | None:
        """Packet time of the oldest observation kept: when learning began."""
        row = self._db.execute("SELECT MIN(first_seen_us) FROM entity").fetchone()
        values = [v[0] for v in self._ent.values()]
        if row and row[0] is not None:
            values.append(row[0])
        return min(values) if values else None

    def host_entity(self, kind: str, value: str, host: str) -> tuple | None:
        """(first_seen_us, last_seen_us) of a value for one host, or None."""
        row = self._db.execute("SELECT first_seen_us, last_seen_us FROM entity_host "
                               "WHERE kind = ? AND value = ? AND host = ?",
                               (kind, value, host)).fetchone()
        pending = self._enth.get((kind, value, host))
        if row and pending:
            return min(row[0], pending[0]), max(row[1], pending[1])
        return tuple(row) if row else (tuple(pending) if pending else None)

    # ---------------------------------------------------------------- upload volume

    def add_upload(self, host: str, ts_us: int, bytes_out: int) -> None:
        """Count bytes a host sent at packet time ts_us into its day (UTC)."""
        day = ts_us // DAY_US
        if day < self._run_first_day:
            self._run_first_day = day
        if bytes_out <= 0:
            return
        if ts_us > self.now_us:
            self.now_us = ts_us
        key = (host, day)
        days = self._upl.setdefault(host, {})
        if day < self._min_mem_day and day not in days:
            # this run already wrote and let go of the day: add to what it wrote
            self._upl_added[key] = self._upl_added.get(key, 0) + bytes_out
            return
        days[day] = days.get(day, 0) + bytes_out
        self._upl_dirty.add(key)

    def _day_totals(self, host, first_day, last_day) -> dict:
        totals = {}
        for day, source, value in self._db.execute(
                "SELECT day, source, bytes_out FROM upload_day "
                "WHERE host = ? AND day BETWEEN ? AND ?", (host, first_day, last_day)):
            # this run's own totals replace what an earlier run with the same
            # source wrote for the days it covers (a replay replays them)
            if source == self.source and day >= self._run_first_day \
                    and day >= self._min_mem_day:
                continue
            totals[day] = totals.get(day, 0) + value
        for day, value in self._upl.get(host, {}).items():
            if first_day <= day <= last_day:
                totals[day] = totals.get(day, 0) + value
        for (h, day), value in self._upl_added.items():
            if h == host and first_day <= day <= last_day:
                totals[day] = totals.get(day, 0) + value
        return totals

    def upload_stats(self, host: str, ts_us: int, days: int | None = None) -> UploadStats:
        """The host's volume on ts_us's day and its daily history over the
        `days` before (days without traffic count as 0, from the host's
        first recorded day on)."""
        days = days or self.config.upload_days
        day = ts_us // DAY_US
        if day < self._run_first_day:
            self._run_first_day = day           # from here on this run owns its source's days
        totals = self._day_totals(host, day - days, day)
        first = self._db.execute("SELECT MIN(day) FROM upload_day WHERE host = ?",
                                 (host,)).fetchone()[0]
        mem_days = list(self._upl.get(host, ()))
        candidates = [d for d in ([first] if first is not None else []) + mem_days]
        start = max(min(candidates), day - days) if candidates else day
        history = [totals.get(d, 0) for d in range(start, day)]
        current = totals.get(day, 0)
        if not history:
            return UploadStats(0, 0.0, 0.0, 0.0, 0.0, current)
        median = statistics.median(history)
        return UploadStats(len(history), statistics.fmean(history), statistics.pstdev(history),
                           float(median), float(statistics.median(abs(x - median)
                                                                  for x in history)), current)

    # ---------------------------------------------------------------- writing

    def flush(self) -> None:
        """Write what is pending, in one transaction."""
        if self.read_only:
            return
        if self._ent or self._enth or self._upl_dirty or self._upl_added:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(_UPSERT_ENTITY, [(k, v, f, l) for (k, v), (f, l)
                                                in self._ent.items()])
                db.executemany(_UPSERT_HOST, [(k, v, h, f, l) for (k, v, h), (f, l)
                                              in self._enth.items()])
                db.executemany(_REPLACE_UPLOAD, [(h, d, self.source, self._upl[h][d])
                                                 for (h, d) in self._upl_dirty])
                db.executemany(_ADD_UPLOAD, [(h, d, self.source, b)
                                             for (h, d), b in self._upl_added.items()])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._stored["entity"].add(self._ent.keys())
            self._stored["entity_host"].add(self._enth.keys())
            self._ent.clear()
            self._enth.clear()
            self._new_hosts.clear()
            self._upl_dirty.clear()
            self._upl_added.clear()
            self.counters["batches"] += 1
            # keep this run's totals of the newest two days only (bounded memory)
            newest = self.now_us // DAY_US
            if any(d < newest - 1 for days in self._upl.values() for d in days):
                self._min_mem_day = newest - 1
                self._upl = {h: kept for h, days in self._upl.items()
                             if (kept := {d: v for d, v in days.items() if d >= newest - 1})}
        if self.now_us >= self._next_prune_us:
            self._next_prune_us = self.now_us + self.config.prune_interval_s * 1_000_000
            self.prune()

    def prune(self, now_us: int | None = None) -> dict:
        """Apply retention and the row caps (see the module docstring).
        Returns the rows deleted per table."""
        if self.read_only:
            return {}
        now_us = self.now_us if now_us is None else now_us
        if self._ent or self._enth or self._upl_dirty or self._upl_added:
            saved, self._next_prune_us = self._next_prune_us, math.inf
            self.flush()
            self._next_prune_us = saved
        cfg, db = self.config, self._db
        cutoff = now_us - cfg.retention_days * DAY_US
        deleted = {"entity": 0, "entity_host": 0, "upload_day": 0}
        db.execute("BEGIN IMMEDIATE")
        try:
            deleted["entity"] += db.execute("DELETE FROM entity WHERE last_seen_us < ?",
                                            (cutoff,)).rowcount
            deleted["entity_host"] += db.execute(
                "DELETE FROM entity_host WHERE last_seen_us < ?", (cutoff,)).rowcount
            deleted["upload_day"] += db.execute("DELETE FROM upload_day WHERE day < ?",
                                                (cutoff // DAY_US,)).rowcount
            self.counters["pruned_age"] += sum(deleted.values())
            capped = 0
            capped += self._cap(deleted, "entity", "kind, value", "last_seen_us",
                                cfg.max_entities)
            if capped:
                n = db.execute("DELETE FROM entity_host WHERE NOT EXISTS (SELECT 1 FROM entity e "
                               "WHERE e.kind = entity_host.kind AND e.value = entity_host.value)"
                               ).rowcount
                deleted["entity_host"] += n
                capped += n
            capped += self._cap(deleted, "entity_host", "kind, value, host", "last_seen_us",
                                cfg.max_host_entries)
            capped += self._cap(deleted, "upload_day", "host, day, source", "day",
                                cfg.max_upload_rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.counters["pruned_cap"] += capped
        self.counters["prunes"] += 1
        if deleted["entity"] or deleted["entity_host"]:
            for stored in self._stored.values():
                stored.forget()
        if any(deleted.values()):
            log.info("baseline %s pruned %s", self.path, deleted)
        return deleted

    def _cap(self, deleted, table, key, order, cap) -> int:
        count = self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        if count <= cap:
            return 0
        n = self._db.execute(f"DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} "
                             f"ORDER BY {order}, {key} LIMIT ?)", (count - cap,)).rowcount
        deleted[table] += n
        return n

    def counts(self) -> dict:
        """Rows per table (written rows only)."""
        return {t: self._db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("entity", "entity_host", "upload_day")}

    def close(self) -> None:
        if self._db is None:
            return
        try:
            self.flush()
        finally:
            self._db.close()
            self._db = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
