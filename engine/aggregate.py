"""Channel aggregation: what each internal host sends to each outside party.

A channel is (internal host, external IP, SNI or service, service port,
protocol). Flow records (final and interim) are added as they leave the
pipeline; per channel and per sliding window (default 1 h and 24 h) the
aggregator keeps bytes out/in, connections, total and longest connection
duration, and, over the channel's life, the start time and bytes out of its
last `beacon_ring` connections (for beaconing). This is mechanism: the
detections decide what is suspicious (STYLE.md item 10).

Time is packet time: a record counts at its flow's last packet (`end_us`),
and "now" is the newest packet time seen or given to `advance()`. A replay
therefore aggregates exactly like the live run it records.

Interim records carry a flow's cumulative counters so far: the aggregator
keeps the last counters of every flow that had an interim record and adds
only the difference, so a flow counts once however many records it has.

Storage is struct-of-arrays (one numpy array per quantity, one row per
channel slot), so a question over all channels ("bytes out in the last hour
above X") is one vectorised expression. A window is a ring of
`buckets_per_window` time buckets per channel: with the defaults (24) the
1 h window advances in 150 s steps and the 24 h window in 1 h steps; "the
last hour" is the current bucket plus the 23 before it. Records are
buffered and applied in batches (`batch_size`) with numpy; every query
flushes first.

Bounds (all in AggregateConfig, all counted in `stats()`):
* `max_channels` live channels (default 50,000). Memory per channel is
  48 bytes x buckets_per_window x windows + ~450 bytes of key, index and
  beacon ring + 16 bytes per connection in the ring (at most beacon_ring):
  2.7 KiB for a channel of one connection with the defaults, at most
  about 11 KiB, 530 MiB at the cap. Window arrays grow on demand and rings
  grow with their connections, so memory follows the live traffic.
  When a new channel finds the table full, idle channels go first, then the
  least recently seen 1/16 of the table (`evicted_cap`).
* A channel idle for `idle_timeout_s` of packet time (default: the longest
  window, when its windows are empty anyway) is dropped (`evicted_idle`).
* `max_open_flows` flows awaiting their final record after an interim one
  (default 200,000); beyond it the oldest is forgotten (`open_flows_evicted`):
  its next record then counts as a new connection with all its bytes.
* Flows between two internal hosts are not channels unless
  `include_internal`; flows between two external hosts never are
  (`skipped_internal`, `skipped_external`); inbound flows (an external
  host opened them) are channels unless `include_inbound` is false.
* A record whose packet time is already older than a window when it arrives
  (a flow that ended by timeout long ago) counts only in the longer windows
  it still falls into (`late_records` counts records missing from any).
"""
from array import array
from dataclasses import dataclass, field
import logging
import re
from typing import NamedTuple

import numpy as np

from .config import from_table
from .errors import ConfigError
from .netscope import DEFAULT_HOME_NET, EXTERNAL, INBOUND, INTERNAL, NetScope

log = logging.getLogger(__name__)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def window_label(seconds: int) -> str:
    """"1h", "24h", "90m", "45s": how a window is named in queries and output."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _parse_duration(value, key):
    seconds = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and _DURATION.match(value):
        number, unit = _DURATION.match(value).groups()
        seconds = float(number) * _UNIT_S[unit]
    if seconds is None or seconds != int(seconds) or not 60 <= seconds <= 90 * 86400:
        raise ConfigError(f"Configuration key '{key}' must be a whole number of seconds or a "
                          f"duration such as \"1h\" or \"24h\" from 60 s to 90 d; got {value!r}.")
    return int(seconds)


@dataclass(frozen=True, slots=True)
class AggregateConfig:
    """Tunables of the channel aggregation. Durations are seconds of packet time."""

    home_net: tuple = DEFAULT_HOME_NET
    windows: tuple = (3600, 86400)           # sliding windows, in seconds
    buckets_per_window: int = 24             # a window slides in steps of window/buckets
    max_channels: int = 50_000
    idle_timeout_s: int = 0                  # 0: the longest window
    beacon_ring: int = 512                   # connections remembered per channel
    max_open_flows: int = 200_000
    include_internal: bool = False
    include_inbound: bool = True
    batch_size: int = 4096                   # records buffered before numpy applies them

    def __post_init__(self):
        where = "aggregate"
        windows = self.windows
        if not isinstance(windows, (list, tuple)) or not windows:
            raise ConfigError(f"Configuration key '{where}.windows' must be a non-empty list "
                              f"of durations such as [\"1h\", \"24h\"]; got {windows!r}.")
        parsed = tuple(sorted({_parse_duration(w, f"{where}.windows") for w in windows}))
        object.__setattr__(self, "windows", parsed)
        object.__setattr__(self, "home_net", tuple(self.home_net))
        NetScope(list(self.home_net), where=f"{where}.home_net")
        _int_range(self, "buckets_per_window", 1, 1440, where)
        _int_range(self, "max_channels", 16, 10_000_000, where)
        _int_range(self, "idle_timeout_s", 0, 365 * 86400, where)
        if self.idle_timeout_s and self.idle_timeout_s < parsed[-1]:
            raise ConfigError(f"Configuration key '{where}.idle_timeout_s' is "
                              f"{self.idle_timeout_s}; it must be 0 or at least the longest "
                              f"window ({parsed[-1]} s), or windows would lose their data.")
        _int_range(self, "beacon_ring", 2, 65_536, where)
        _int_range(self, "max_open_flows", 1, 100_000_000, where)
        _int_range(self, "batch_size", 1, 1 << 20, where)
        for name in ("include_internal", "include_inbound"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"Configuration key '{where}.{name}' must be true or false; "
                                  f"got {getattr(self, name)!r}.")

    @property
    def idle_timeout_us(self) -> int:
        return (self.idle_timeout_s or self.windows[-1]) * 1_000_000

    @classmethod
    def from_table(cls, table: dict, where: str = "aggregate") -> "AggregateConfig":
        """The config from a parsed TOML table, e.g. tomllib.load(f)["aggregate"]."""
        return from_table(cls, table, where, default_where="aggregate")


def _int_range(cfg, name, low, high, where):
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"Configuration key '{where}.{name}' is {value!r}; it must be a "
                          f"whole number from {low} to {high}.")


class ChannelKey(NamedTuple):
    internal_host: str
    external_ip: str
    service: str             # the SNI, else the service (app_proto), else "-"
    dest_port: int           # the responder's port
    proto: int               # IANA protocol number


class ChannelDelta(NamedTuple):
    """What one record added to its channel (add_flow's answer), for the
    layers that keep their own totals (e.g. the baseline's daily upload)."""
    key: ChannelKey
    internal_host: str
    bytes_out: int
    bytes_in: int
    new_connection: bool
    at_us: int               # the packet time it counts at
    direction: str           # the record's netscope direction (OUTBOUND, INBOUND, ...)


class WindowStats(NamedTuple):
    bytes_out: int
    bytes_in: int
    upload_ratio: float      # bytes_out / bytes_in, bytes_in counted as at least 1
    connections: int
    duration_total_us: int
    duration_max_us: int


@dataclass(frozen=True)
class ChannelStats:
    key: ChannelKey
    first_seen_us: int
    last_seen_us: int
    connections_seen: int                    # over the channel's life
    windows: dict                            # window label -> WindowStats
    conn_start_us: np.ndarray = field(repr=False)      # last beacon_ring connections, oldest first
    conn_bytes_out: np.ndarray = field(repr=False)


SNAPSHOT_DTYPE = np.dtype([
    ("internal_host", "O"), ("external_ip", "O"), ("service", "O"), ("dest_port", "i4"),
    ("proto", "i2"), ("bytes_out", "i8"), ("bytes_in", "i8"), ("upload_ratio", "f8"),
    ("connections", "i8"), ("duration_total_us", "i8"), ("duration_max_us", "i8"),
    ("first_seen_us", "i8"), ("last_seen_us", "i8"), ("connections_seen", "i8"),
])

# columns of a pending record: slot, at_us, bytes_out, bytes_in, connection, duration delta, duration
_P_SLOT, _P_AT, _P_OUT, _P_IN, _P_CONN, _P_DDUR, _P_DUR = range(7)
_WINDOW_METRICS = ("out", "inn", "conns", "dur_total", "dur_max")


def channel_service(sni=None, service=None, app_proto=None) -> str:
    """The channel's third key part: the SNI (lower case, no trailing dot),
    else the service, else the flow's app_proto, else "-"."""
    if sni:
        return sni.rstrip(".").lower()
    return service or app_proto or "-"


class _Interner:
    """str <-> small int with reference counts, so ids of evicted channels
    are reused and the table stays bounded by the live channels."""
    __slots__ = ("ids", "names", "refs", "free")

    def __init__(self):
        self.ids, self.names, self.refs, self.free = {}, [], [], []

    def acquire(self, name: str) -> int:
        i = self.ids.get(name)
        if i is None:
            if self.free:
                i = self.free.pop()
                self.names[i] = name
                self.refs[i] = 0
            else:
                i = len(self.names)
                self.names.append(name)
                self.refs.append(0)
            self.ids[name] = i
        self.refs[i] += 1
        return i

    def release(self, i: int):
        self.refs[i] -= 1
        if self.refs[i] == 0:
            del self.ids[self.names[i]]
            self.names[i] = None
            self.free.append(i)


class _Ring:
    """A channel's last `size` connections (start time, bytes out), grown as
    they come so that the many one-connection channels stay small."""
    __slots__ = ("size", "count", "start_us", "bytes_out")

    def __init__(self, size: int):
        self.size, self.count = size, 0          # count: connections over the channel's life
        self.start_us, self.bytes_out = array("q"), array("q")

    def add(self, start_us: int, bytes_out: int) -> int:
        """Remember a new connection; its sequence number."""
        seq = self.count
        if seq < self.size:
            self.start_us.append(start_us)
            self.bytes_out.append(bytes_out)
        else:
            self.start_us[seq % self.size] = start_us
            self.bytes_out[seq % self.size] = bytes_out
        self.count = seq + 1
        return seq

    def update(self, seq: int, bytes_out: int):
        """A later record of connection `seq`, while it is still remembered."""
        if self.count - seq <= self.size:
            self.bytes_out[seq % self.size] = bytes_out

    def oldest_first(self, values: array) -> np.ndarray:
        """A copy of start_us or bytes_out, oldest connection first."""
        if self.count <= self.size:
            return np.frombuffer(values, np.int64).copy()
        cut = self.count % self.size
        return np.frombuffer(values[cut:] + values[:cut], np.int64)


class _Window:
    __slots__ = ("seconds", "label", "bucket_us", "nb", "epoch", "out", "inn", "conns",
                 "dur_total", "dur_max")

    def __init__(self, seconds, nb, capacity):
        self.seconds = seconds
        self.label = window_label(seconds)
        self.nb = nb
        self.bucket_us = seconds * 1_000_000 // nb
        self.epoch = np.full((capacity, nb), -1, dtype=np.int64)
        for name in _WINDOW_METRICS:
            setattr(self, name, np.zeros((capacity, nb), dtype=np.int64))

    def grow(self, capacity):
        old = self.epoch.shape[0]
        epoch = np.full((capacity, self.nb), -1, dtype=np.int64)
        epoch[:old] = self.epoch
        self.epoch = epoch
        for name in _WINDOW_METRICS:
            arr = np.zeros((capacity, self.nb), dtype=np.int64)
            arr[:old] = getattr(self, name)
            setattr(self, name, arr)

    def valid(self, now_us) -> np.ndarray:
        """Which buckets lie in the window ending at now_us."""
        now_b = now_us // self.bucket_us
        return (self.epoch > now_b - self.nb) & (self.epoch <= now_b)


class ChannelAggregator:
    """Per-channel totals over sliding packet-time windows. Not thread-safe:
    one aggregator per pipeline worker."""

    _SLOT_ARRAYS = (("active", np.bool_, False), ("host_id", np.int32, -1),
                    ("ext_id", np.int32, -1), ("first_seen", np.int64, 0),
                    ("last_seen", np.int64, 0))

    def __init__(self, config: AggregateConfig = AggregateConfig(), scope: NetScope | None = None):
        self.config = config
        self.scope = scope if scope is not None else NetScope(list(config.home_net))
        self.now_us = 0
        self._capacity = min(1024, config.max_channels)
        for name, dtype, fill in self._SLOT_ARRAYS:
            setattr(self, "_" + name, np.full(self._capacity, fill, dtype=dtype))
        # touched once or twice per record: Python lists, since a numpy
        # scalar access costs several times a list's
        self._gen = [0] * self._capacity             # bumped when a slot is released
        self._rings: list = [None] * self._capacity  # slot -> _Ring
        self._windows = [_Window(s, config.buckets_per_window, self._capacity)
                         for s in config.windows]
        self._by_label = {w.label: w for w in self._windows}
        self._by_label.update({w.seconds: w for w in self._windows})
        self._slots: dict = {}                  # ChannelKey -> slot
        self._keys: list = [None] * self._capacity
        self._free: list = list(range(self._capacity - 1, -1, -1))
        self._hosts = _Interner()
        self._externals = _Interner()
        self._open: dict = {}       # flow_id -> (key, out, in, duration, slot, gen, ring seq)
        self._pending: list = []
        self._next_idle_check = 0
        self.counters = dict.fromkeys((
            "records", "flows", "channels_created", "evicted_idle", "evicted_cap",
            "open_flows_evicted", "skipped_internal", "skipped_external", "skipped_inbound",
            "late_records", "counter_decreases"), 0)

    # ---------------------------------------------------------------- input

    def add_flow(self, flow, sni: str | None = None, service: str | None = None):
        """Count a FlowRecord (final or interim). `sni` comes from the flow's
        TLS/QUIC session, `service` names the channel when there is no SNI
        (e.g. "ssh"); by default the record's app_proto does. Returns the
        ChannelDelta, or None when the flow is not a channel."""
        o = self.scope.orient(flow)
        direction = o.direction
        if direction is INTERNAL:
            if not self.config.include_internal:
                self.counters["skipped_internal"] += 1
                return None
        elif direction is EXTERNAL:
            self.counters["skipped_external"] += 1
            return None
        elif direction is INBOUND and not self.config.include_inbound:
            self.counters["skipped_inbound"] += 1
            return None
        self.counters["records"] += 1
        end_us = flow.end_us
        if end_us > self.now_us:
            self.now_us = end_us
        fid = flow.flow_id
        duration = end_us - flow.start_us
        state = self._open.get(fid)
        if state is None:
            key = (o.internal_host, o.external_host, channel_service(sni, service, flow.app_proto),
                   o.service_port, flow.proto)
            prev_out = prev_in = prev_dur = 0
            old_slot = gen = seq = -1
        else:
            key, prev_out, prev_in, prev_dur, old_slot, gen, seq = state
        slot = self._slots.get(key)
        if slot is None:
            slot = self._create(key, flow.start_us)
        new_connection = slot != old_slot or gen != self._gen[slot]
        if new_connection:
            # first record of the flow, or its channel was evicted since
            gen = self._gen[slot]
            seq = self._rings[slot].add(flow.start_us, o.bytes_out)
            self.counters["flows"] += 1
        else:
            self._rings[slot].update(seq, o.bytes_out)
        d_out, d_in, d_dur = o.bytes_out - prev_out, o.bytes_in - prev_in, duration - prev_dur
        if d_out < 0 or d_in < 0 or d_dur < 0:
            self.counters["counter_decreases"] += 1
            d_out, d_in, d_dur = max(d_out, 0), max(d_in, 0), max(d_dur, 0)
        if flow.interim:
            opened = self._open
            if state is None and len(opened) >= self.config.max_open_flows:
                del opened[next(iter(opened))]
                self.counters["open_flows_evicted"] += 1
            opened[fid] = (key, o.bytes_out, o.bytes_in, duration, slot, gen, seq)
        elif state is not None:
            del self._open[fid]
        self._pending.extend((slot, end_us, d_out, d_in, int(new_connection), d_dur, duration))
        if len(self._pending) >= 7 * self.config.batch_size:
            self._flush()
        return ChannelDelta(self._keys[slot], o.internal_host, d_out, d_in, new_connection,
                            end_us, direction)

    def advance(self, now_us: int):
        """Move packet time forward (a live sensor calls this on idle ticks):
        windows slide and idle channels are evicted."""
        if now_us > self.now_us:
            self.now_us = now_us
        self._flush()
        self._evict_idle()

    # ---------------------------------------------------------------- queries

    def window(self, window) -> _Window:
        try:
            return self._by_label[window]
        except KeyError:
            raise ValueError(f"No window {window!r}; the windows are "
                             f"{[w.label for w in self._windows]}.") from None

    def window_totals(self, window) -> dict:
        """Raw vectors over all slots for one window: slot -> totals (only
        rows where 'active' is true are channels)."""
        self._flush()
        w = self.window(window)
        valid = w.valid(self.now_us)
        totals = {name: np.where(valid, getattr(w, name), 0).sum(axis=1)
                  for name in ("out", "inn", "conns", "dur_total")}
        totals["dur_max"] = np.where(valid, w.dur_max, 0).max(axis=1)
        totals["active"] = self._active.copy()
        return totals

    def snapshot(self, window, mask=None) -> np.ndarray:
        """All live channels (or those of a boolean slot mask) as a
        structured array of SNAPSHOT_DTYPE, largest bytes_out first."""
        t = self.window_totals(window)
        select = t["active"] if mask is None else (mask & t["active"])
        slots = np.flatnonzero(select)
        slots = slots[np.argsort(-t["out"][slots], kind="stable")]
        rows = np.zeros(len(slots), dtype=SNAPSHOT_DTYPE)
        keys = [self._keys[s] for s in slots]
        for i, name in enumerate(("internal_host", "external_ip", "service")):
            rows[name] = [k[i] for k in keys]
        rows["dest_port"] = [k[3] for k in keys]
        rows["proto"] = [k[4] for k in keys]
        rows["bytes_out"] = t["out"][slots]
        rows["bytes_in"] = t["inn"][slots]
        rows["upload_ratio"] = rows["bytes_out"] / np.maximum(rows["bytes_in"], 1)
        rows["connections"] = t["conns"][slots]
        rows["duration_total_us"] = t["dur_total"][slots]
        rows["duration_max_us"] = t["dur_max"][slots]
        rows["first_seen_us"] = self._first_seen[slots]
        rows["last_seen_us"] = self._last_seen[slots]
        rows["connections_seen"] = [self._rings[s].count for s in slots]
        return rows

    def channels_over(self, window, *, bytes_out: int = 0, bytes_in: int = 0,
                      connections: int = 0, upload_ratio: float = 0.0,
                      duration_total_us: int = 0) -> np.ndarray:
        """Channels whose window totals reach every given minimum (vectorised)."""
        t = self.window_totals(window)
        ratio = t["out"] / np.maximum(t["inn"], 1)
        mask = ((t["out"] >= bytes_out) & (t["inn"] >= bytes_in) & (t["conns"] >= connections)
                & (ratio >= upload_ratio) & (t["dur_total"] >= duration_total_us))
        if not (bytes_out or bytes_in or connections or duration_total_us or upload_ratio):
            mask &= (t["conns"] > 0) | (t["out"] > 0) | (t["inn"] > 0)
        return self.snapshot(window, mask)

    def host_upload(self, host: str, window) -> int:
        """Bytes the internal host sent over all its channels in the window."""
        t = self.window_totals(window)
        hid = self._hosts.ids.get(host)
        if hid is None:
            return 0
        return int(t["out"][self._active & (self._host_id == hid)].sum())

    def hosts_reaching(self, external_ip: str, window) -> list:
        """Internal hosts with traffic to an external IP in the window, sorted."""
        t = self.window_totals(window)
        eid = self._externals.ids.get(external_ip)
        if eid is None:
            return []
        mask = self._active & (self._ext_id == eid) & ((t["conns"] > 0) | (t["out"] > 0))
        return sorted({self._keys[s][0] for s in np.flatnonzero(mask)})

    def channel(self, key) -> ChannelStats | None:
        return self.channels([key]).get(tuple(key))

    def no_traffic(self, key) -> ChannelStats:
        """What a channel with nothing in any window reads as: the stats of a
        record too old for every window (its channel was evicted as idle)."""
        nothing = WindowStats(0, 0, 0.0, 0, 0, 0)
        empty = np.zeros(0, dtype=np.int64)
        return ChannelStats(ChannelKey(*key), 0, 0, 0, {w.label: nothing for w in self._windows},
                            empty, empty)

    def channels(self, keys) -> dict:
        """ChannelStats of several channels at once (key -> stats; unknown keys
        are left out): one flush and one pass per window for the whole set,
        so a batch of flows costs a batch, not a scan per flow."""
        self._flush()           # it may evict idle channels: look keys up after it
        slots_of = self._slots
        found = [(k, slots_of[k]) for k in map(tuple, keys) if k in slots_of]
        if not found:
            return {}
        slots = np.array([s for _, s in found], dtype=np.intp)
        per_window = []
        for w in self._windows:
            now_b = self.now_us // w.bucket_us
            epoch = w.epoch[slots]
            valid = (epoch > now_b - w.nb) & (epoch <= now_b)
            out, inn, conns, dur_total = (np.where(valid, getattr(w, name)[slots], 0)
                                          .sum(axis=1).tolist()
                                          for name in ("out", "inn", "conns", "dur_total"))
            dur_max = np.where(valid, w.dur_max[slots], 0).max(axis=1).tolist()
            # one list conversion per column: a numpy scalar per value costs far more
            per_window.append((w.label, [
                WindowStats(o, n, o / max(n, 1), c, t, m)
                for o, n, c, t, m in zip(out, inn, conns, dur_total, dur_max)]))
        first_seen, last_seen = self._first_seen[slots].tolist(), self._last_seen[slots].tolist()
        result = {}
        for i, (key, slot) in enumerate(found):
            ring = self._rings[slot]
            result[key] = ChannelStats(self._keys[slot], first_seen[i], last_seen[i], ring.count,
                                       {label: rows[i] for label, rows in per_window},
                                       ring.oldest_first(ring.start_us),
                                       ring.oldest_first(ring.bytes_out))
        return result

    def __len__(self):
        return len(self._slots)

    def stats(self) -> dict:
        return dict(self.counters, channels=len(self._slots), open_flows=len(self._open),
                    capacity=self._capacity)

    # ---------------------------------------------------------------- internals

    def _create(self, key, first_us) -> int:
        if not self._free:
            if self._capacity < self.config.max_channels:
                self._grow()
            else:
                self._make_room()
        slot = self._free.pop()
        key = ChannelKey(*key)
        self._slots[key] = slot
        self._keys[slot] = key
        self._active[slot] = True
        self._host_id[slot] = self._hosts.acquire(key.internal_host)
        self._ext_id[slot] = self._externals.acquire(key.external_ip)
        self._first_seen[slot] = first_us
        self._last_seen[slot] = first_us
        self._rings[slot] = _Ring(self.config.beacon_ring)
        self.counters["channels_created"] += 1
        return slot

    def _grow(self):
        old, new = self._capacity, min(self._capacity * 2, self.config.max_channels)
        for name, dtype, fill in self._SLOT_ARRAYS:
            arr = np.full(new, fill, dtype=dtype)
            arr[:old] = getattr(self, "_" + name)
            setattr(self, "_" + name, arr)
        self._gen.extend([0] * (new - old))
        self._rings.extend([None] * (new - old))
        for w in self._windows:
            w.grow(new)
        self._keys.extend([None] * (new - old))
        self._free.extend(range(new - 1, old - 1, -1))
        self._capacity = new

    def _make_room(self):
        self._flush()
        self._evict_idle(force=True)
        if self._free:
            return
        live = np.flatnonzero(self._active)
        n = max(1, len(live) // 16)
        oldest = live[np.argpartition(self._last_seen[live], n - 1)[:n]]
        for slot in oldest:
            self._release(int(slot))
        self.counters["evicted_cap"] += n
        log.debug("channel table full (%d): evicted the %d least recently seen",
                  self.config.max_channels, n)

    def _evict_idle(self, force=False):
        if not force and self.now_us < self._next_idle_check:
            return
        self._next_idle_check = self.now_us + min(self.config.idle_timeout_us // 16, 60_000_000)
        idle = np.flatnonzero(self._active
                              & (self._last_seen < self.now_us - self.config.idle_timeout_us))
        for slot in idle:
            self._release(int(slot))
        self.counters["evicted_idle"] += len(idle)

    def _release(self, slot):
        key = self._keys[slot]
        del self._slots[key]
        self._keys[slot] = None
        self._active[slot] = False
        self._gen[slot] += 1
        self._hosts.release(int(self._host_id[slot]))
        self._externals.release(int(self._ext_id[slot]))
        self._host_id[slot] = self._ext_id[slot] = -1
        self._rings[slot] = _Ring(self.config.beacon_ring)     # a released slot reads as empty
        for w in self._windows:
            w.epoch[slot] = -1
        self._free.append(slot)

    def _flush(self):
        if not self._pending:
            return
        p = np.array(self._pending, dtype=np.int64).reshape(-1, 7)
        self._pending = []
        slots, at = p[:, _P_SLOT], p[:, _P_AT]
        np.maximum.at(self._last_seen, slots, at)
        late = np.zeros(len(p), dtype=bool)
        for w in self._windows:
            b = at // w.bucket_us
            inwin = b > self.now_us // w.bucket_us - w.nb
            cells = slots * w.nb + b % w.nb
            epoch = w.epoch.reshape(-1)
            before = epoch[cells]
            np.maximum.at(epoch, cells[inwin], b[inwin])
            after = epoch[cells]
            reset = np.unique(cells[after > before])
            for name in _WINDOW_METRICS:
                getattr(w, name).reshape(-1)[reset] = 0
            ok = inwin & (b == after)
            late |= ~ok
            c = cells[ok]
            np.add.at(w.out.reshape(-1), c, p[ok, _P_OUT])
            np.add.at(w.inn.reshape(-1), c, p[ok, _P_IN])
            np.add.at(w.conns.reshape(-1), c, p[ok, _P_CONN])
            np.add.at(w.dur_total.reshape(-1), c, p[ok, _P_DDUR])
            np.maximum.at(w.dur_max.reshape(-1), c, p[ok, _P_DUR])
        self.counters["late_records"] += int(late.sum())
        self._evict_idle()
