"""Live capture: libpcap through pcapy-ng, the capture loop, and the
single-process sensor.

    handle = open_interface(LiveOptions("eth0", bpf="tcp"))   # CaptureError
    result = run_live([handle], "out/", settings, stop=event)

Packets come from the kernel in batches (``next_batch``) and go through
the same SensorPipeline, DetectionEngine and RecordWriter as a replay.
Packet time drives the core; when the interfaces are idle, flows are timed
out (and long ones get their interim records) against the wall clock
(live, the two are the same clock).  Every ``stats_interval_s`` a `stats`
record carries the core's counters and the kernel's received/dropped
counts.  When ``stop`` is set (SIGINT/SIGTERM in the CLI), reading stops,
every open flow ends with reason "shutdown", the detections run on them, a
last `stats` record is written and the baseline is closed: nothing read
from the kernel is lost.  When ``reload`` is set (SIGHUP), the collector
re-reads the configuration (engine/collector.py).

CaptureLoop is the capture side alone (handles -> core -> records): the
single-process sensor here and every fan-out worker (engine/workers.py)
run it.

The handle is non-blocking and waited on with select(): on Linux the
TPACKET_V3 read timeout only retires a ring block that holds packets, so
a blocking read on an idle interface would never return.
"""
from __future__ import annotations

import dataclasses
import logging
import select
import threading
import time
from dataclasses import dataclass

from .afpacket import open_afpacket
from .alert_packets import AlertPackets
from .capture import batch_arrays, dlt_to_linktype, libpcap_batch
from .collector import Collector, LiveResult
from .config import CoreConfig
from .errors import CaptureError
from .pipeline import SensorPipeline
from .settings import Settings

__all__ = ["CAPTURE_PATHS", "LiveOptions", "LiveResult", "LiveHandle", "CaptureLoop",
           "open_interface", "open_spare", "run_live"]

log = logging.getLogger(__name__)

MATCH_NOTHING = "less 1"       # BPF: frames of at most one byte, i.e. none
#: "pcap": libpcap through pcapy-ng; "afpacket": the core reads the kernel's
#: AF_PACKET ring in place (engine/afpacket.py)
CAPTURE_PATHS = ("pcap", "afpacket")

# pcap_activate() results (pcap/pcap.h) -> what the operator should read
_ACTIVATE_ERRORS = {
    -5: "Interface {iface} does not exist.",
    -8: "No permission to capture on interface {iface}: run exfilwatch as root or give it "
        "the CAP_NET_RAW capability (and CAP_NET_ADMIN for promiscuous mode).",
    -11: "No permission to put interface {iface} in promiscuous mode: give exfilwatch the "
         "CAP_NET_ADMIN capability.",
    -9: "Interface {iface} is down; bring it up before capturing on it.",
    -6: "Interface {iface} does not support monitor mode.",
}


@dataclass(frozen=True)
class LiveOptions:
    """How to open the interface and how often to report."""
    interface: str
    bpf: str | None = None
    snaplen: int = 262144              # bytes kept per packet (tcpdump's default)
    buffer_mb: int = 64                # kernel ring size
    promisc: bool = True
    timeout_ms: int = 100              # ring block retire time: the batching latency
    batch_size: int = 8192             # packets per next_batch call at most
    stats_interval_s: float = 60.0     # a `stats` record this often (wall clock)
    # PACKET_FANOUT_HASH group the handle joins (fan-out workers); None: no fanout
    fanout_group: int | None = None
    capture: str = "pcap"              # one of CAPTURE_PATHS

    def __post_init__(self):
        if self.capture not in CAPTURE_PATHS:
            raise ValueError(f"capture must be one of {', '.join(CAPTURE_PATHS)}, "
                             f"not {self.capture!r}.")
        if self.fanout_group is not None and not 0 <= self.fanout_group <= 0xFFFF:
            raise ValueError(f"fanout_group must be between 0 and 65535, not {self.fanout_group}.")
        for name in ("snaplen", "buffer_mb", "timeout_ms", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, not {getattr(self, name)}.")
        if not self.stats_interval_s > 0:
            raise ValueError(f"stats_interval_s must be positive, not {self.stats_interval_s}.")
        if self.fanout_group is not None and not 0 <= self.fanout_group <= 0xFFFF:
            raise ValueError(f"fanout_group must be from 0 to 65535, not {self.fanout_group}.")


class LiveHandle:
    """An activated pcapy-ng handle and the batches read from it."""

    def __init__(self, pcap, options: LiveOptions):
        self.options = options
        self.interface = options.interface
        self._pcap = pcap
        self._fd = pcap.getfd()
        self.linktype = dlt_to_linktype(pcap.datalink())
        self._arrays = batch_arrays(options.batch_size)
        self.packets_read = 0
        self._count_from_here()

    def _count_from_here(self) -> None:
        """libpcap binds the socket before the filter is set, and its counters
        include what arrived in between (a namespace's own IPv6 chatter, say);
        counting from the moment the filter is in place keeps
        kernel_packets - kernel_drops equal to what this handle reads."""
        recv, drop, _ = self._pcap.stats()
        self._uncounted = (recv, drop)

    def read(self, wait_s: float):
        """The next batch, or None when nothing came within ``wait_s``.
        A batch is valid until the next call."""
        data, meta = self._pcap.next_batch(self.options.batch_size)
        if not meta:
            ready, _, _ = select.select([self._fd], [], [], wait_s)
            if not ready:
                return None
            data, meta = self._pcap.next_batch(self.options.batch_size)
            if not meta:
                return None
        batch = libpcap_batch(data, meta, self.linktype, self._arrays)
        self.packets_read += batch.count
        return batch

    def kernel_stats(self) -> dict:
        """libpcap's counters since the filter was set: packets received (that
        passed the filter), dropped for lack of buffer space; and since the
        handle opened: dropped by the interface or its driver."""
        recv, drop, ifdrop = self._pcap.stats()
        # libpcap's counters are 32-bit and wrap: so does the difference
        return {"kernel_packets": (recv - self._uncounted[0]) % (1 << 32),
                "kernel_drops": (drop - self._uncounted[1]) % (1 << 32),
                "kernel_ifdrops": ifdrop}

    def join(self, options: LiveOptions) -> None:
        """Make a spare handle (open_spare) capture as ``options`` say: their
        BPF filter, then their fanout group. Needs no privilege, so that a
        worker can be restarted after root was dropped."""
        self._pcap.setfilter(options.bpf or "")
        if options.fanout_group is not None:
            self._pcap.set_fanout(options.fanout_group)
        self._count_from_here()
        self.options = options

    def close(self) -> None:
        pc, self._pcap = self._pcap, None
        if pc is not None:
            try:
                pc.close()
            except Exception:       # already closed: nothing to release
                pass


def open_interface(options: LiveOptions) -> LiveHandle:
    """Open and activate a capture handle on ``options.interface`` with the
    BPF filter applied. Raises CaptureError with a sentence naming the
    interface (unknown, down, no permission) or the filter (invalid)."""
    if options.capture == "afpacket":
        return open_afpacket(options)
    import pcapy

    iface = options.interface
    try:
        pc = pcapy.create(iface)
        pc.set_snaplen(options.snaplen)
        pc.set_promisc(1 if options.promisc else 0)
        pc.set_timeout(options.timeout_ms)
        pc.set_buffer_size(options.buffer_mb << 20)
        if hasattr(pc, "set_immediate_mode"):
            pc.set_immediate_mode(1)
        rc = pc.activate()
    except pcapy.PcapError as exc:
        raise CaptureError(f"Cannot open interface {iface}: {exc}.") from exc
    if rc < 0:
        raise CaptureError(_activate_error(iface, rc))
    if rc > 0:
        log.warning("libpcap warns (code %d) while opening interface %s; capturing anyway.",
                    rc, iface)
    if options.bpf:
        try:
            pc.setfilter(options.bpf)
        except pcapy.PcapError as exc:
            pc.close()
            raise CaptureError(f"The BPF filter {options.bpf!r} is not valid: {exc}.") from exc
    if options.fanout_group is not None:
        try:
            # PACKET_FANOUT_HASH (the default): the kernel hashes both directions
            # of a flow alike, so a flow always lands on the same handle
            pc.set_fanout(options.fanout_group)
        except pcapy.PcapError as exc:
            pc.close()
            raise CaptureError(f"Cannot join interface {iface} to fanout group "
                               f"{options.fanout_group}: {exc}.") from exc
    pc.setnonblock(1)
    return LiveHandle(pc, options)


def open_spare(options: LiveOptions):
    """A handle on ``options.interface`` that captures nothing until join()
    is called: a filter no packet matches, outside any fanout group (in the
    group it would take its share of the flows and drop them)."""
    return open_interface(dataclasses.replace(options, bpf=MATCH_NOTHING, fanout_group=None))


def _activate_error(iface: str, rc: int) -> str:
    if rc in _ACTIVATE_ERRORS:
        return _ACTIVATE_ERRORS[rc].format(iface=iface)
    # PCAP_ERROR and the rest carry their text only in pcap_geterr(), which
    # pcapy-ng does not expose for a created handle: open_live() says it.
    import pcapy
    try:
        pcapy.open_live(iface, 64, 0, 0).close()
    except pcapy.PcapError as exc:
        return f"Cannot capture on interface {iface}: {exc}."
    return f"Cannot capture on interface {iface}: libpcap error {rc}."


class CaptureLoop:
    """The capture side of a sensor: its handles (one per interface) read
    into one SensorPipeline, the records handed to ``emit`` batch by batch.
    Call step() until told to stop, then finish()."""

    def __init__(self, handles, core: CoreConfig, emit):
        self.handles = list(handles)
        self.pipeline = SensorPipeline(core)
        self.emit = emit
        timeout_ms = self.handles[0].options.timeout_ms
        self._wait_s = timeout_ms / 1000 / len(self.handles)
        # once select() has waited this long with nothing to read, every
        # packet the kernel holds with an earlier timestamp has been read
        self._settle_us = 2 * timeout_ms * 1000
        self.first_packet_us = None      # earliest packet time read, for run.json

    def step(self) -> None:
        """Read what every handle holds; when none holds anything, wait up
        to the read timeout, and when still nothing came, move the core's
        clock to the wall clock (timeouts and interim records of quiet flows)."""
        if self._read_all(0.0) or self._read_all(self._wait_s):
            return
        now_us = _wall_us() - self._settle_us
        engine = self.pipeline.engine
        if now_us > engine.last_packet_us:       # never backwards
            engine.expire(now_us)
            self.emit(self.pipeline.drain())

    def _read_all(self, wait_s: float) -> bool:
        got = False
        for handle in self.handles:
            batch = handle.read(wait_s)
            if batch is not None:
                self._feed(batch)
                got = True
        return got

    def _feed(self, batch) -> None:
        if batch.count:
            first = int(batch.ts_us[:batch.count].min())
            if self.first_packet_us is None or first < self.first_packet_us:
                self.first_packet_us = first
        self.emit(self.pipeline.feed(batch))

    def finish(self) -> None:
        """Read what the kernel had taken in when the stop came, then end
        every open flow (reason "shutdown")."""
        for handle in self.handles:
            try:
                _read_rest(handle, self._feed)
            except Exception:       # the handle broke: keep what was read
                log.exception("Reading the last packets from interface %s failed.",
                              handle.interface)
        self.emit(self.pipeline.finish())

    def stats(self) -> dict:
        """The core's counters, the packet time span read so far (None
        before the first packet) and, per handle, the kernel's and ours."""
        engine = self.pipeline.engine
        return {"counters": engine.counters(),
                "span": (self.first_packet_us,
                         engine.last_packet_us if self.first_packet_us is not None else None),
                "handles": [{"interface": h.interface, "packets_read": h.packets_read,
                             **h.kernel_stats()} for h in self.handles]}


def capture_fields(handles: list) -> dict:
    """A stats record's `capture` object for handle stats (CaptureLoop.stats
    "handles"): the interface names and the sums of their counters, and each
    handle's own when there are several."""
    fields = {"interface": ",".join(dict.fromkeys(h["interface"] for h in handles))}
    for name in ("packets_read", "kernel_packets", "kernel_drops", "kernel_ifdrops"):
        fields[name] = sum(h[name] for h in handles)
    if len(handles) > 1:
        fields["handles"] = handles
    return fields


def packet_span(stats: list) -> tuple:
    """(first, last) packet time over CaptureLoop.stats() results (several
    workers, former lives), None where none has read a packet."""
    firsts = [s["span"][0] for s in stats if s["span"][0] is not None]
    lasts = [s["span"][1] for s in stats if s["span"][1] is not None]
    return (min(firsts) if firsts else None, max(lasts) if lasts else None)


def run_live(handles, out_dir: str, settings: Settings = Settings(),
             state_dir: str | None = None, stop: threading.Event | None = None,
             on_stats=None, reload: threading.Event | None = None,
             reload_settings=None, output_format: str = "eve") -> LiveResult:
    """Capture in this process until ``stop`` is set, then flush.
    ``handles``: one per interface (or a single handle). ``on_stats(event)``
    is called with every `stats` event written (the CLI's status line);
    ``reload`` set makes the collector apply ``reload_settings()``;
    ``output_format``: "eve", "zeek" or "both" (engine.sinks.fanout)."""
    if not isinstance(handles, (list, tuple)):
        handles = [handles]
    stop = stop or threading.Event()
    reload = reload or threading.Event()
    interval_s = handles[0].options.stats_interval_s
    source = "live:" + ",".join(h.interface for h in handles)
    with Collector(out_dir, settings, state_dir, source, reload_settings,
                   output_format) as collector:
        result = collector.result
        loop = CaptureLoop(handles, settings.core, collector.write)
        if settings.core.keep_kib_per_flow:
            # an alert's flows' kept packets go to DIR/extract/<alert_id>.pcap
            collector.write.on_alert = AlertPackets(loop.pipeline.engine, out_dir)

        def write_stats():
            s = loop.stats()
            collector.write_stats(s["counters"], {**capture_fields(s["handles"]),
                                                  **result.lifecycle_fields()}, on_stats,
                                  span=s["span"])

        next_stats = time.monotonic() + interval_s
        try:
            while not stop.is_set():
                loop.step()
                if reload.is_set():
                    reload.clear()
                    collector.reload()
                if time.monotonic() >= next_stats:
                    write_stats()
                    next_stats = time.monotonic() + interval_s
        finally:
            loop.finish()
            write_stats()
    return result


def _read_rest(handle: LiveHandle, feed) -> None:
    """Read the packets the kernel had taken in when the stop came, the
    last ring block included (it is readable once its retire timeout
    passes); bounded in time, for an interface that never goes quiet."""
    k = handle.kernel_stats()
    owed = k["kernel_packets"] - k["kernel_drops"]
    wait_s = handle.options.timeout_ms / 1000
    deadline = time.monotonic() + max(1.0, 5 * wait_s)
    while handle.packets_read < owed and time.monotonic() < deadline:
        batch = handle.read(wait_s)
        if batch is not None:
            feed(batch)


def _wall_us() -> int:
    return time.time_ns() // 1000
