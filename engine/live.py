"""Live capture: one interface, one process, libpcap through pcapy-ng.

    handle = open_interface(LiveOptions("eth0", bpf="tcp"))   # CaptureError
    result = run_live(handle, "out/", settings, stop=event)

Packets come from the kernel in batches (``next_batch``) and go through
the same SensorPipeline, DetectionEngine and RecordWriter as a replay.
Packet time drives the core; when the interface is idle, flows are timed
out against the wall clock (live, the two are the same clock).  Every
``stats_interval_s`` a `stats` record carries the core's counters and the
kernel's received/dropped counts.  When ``stop`` is set (SIGINT/SIGTERM in
the CLI), reading stops, every open flow ends with reason "shutdown", the
detections run on them, a last `stats` record is written and the baseline
is closed: nothing read from the kernel is lost.

The handle is non-blocking and waited on with select(): on Linux the
TPACKET_V3 read timeout only retires a ring block that holds packets, so
a blocking read on an idle interface would never return.
"""
from __future__ import annotations

import logging
import select
import threading
import time
from dataclasses import dataclass, field

from .capture import batch_arrays, dlt_to_linktype, libpcap_batch
from .detect import DetectionEngine
from .errors import CaptureError
from .manifest import RunManifest
from .pipeline import SensorPipeline
from .replay import RecordWriter
from .settings import Settings
from .sinks.eve import EveFileSink, stats_event

__all__ = ["LiveOptions", "LiveResult", "LiveHandle", "open_interface", "run_live"]

log = logging.getLogger(__name__)

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

    def __post_init__(self):
        for name in ("snaplen", "buffer_mb", "timeout_ms", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, not {getattr(self, name)}.")
        if not self.stats_interval_s > 0:
            raise ValueError(f"stats_interval_s must be positive, not {self.stats_interval_s}.")


@dataclass
class LiveResult:
    eve_path: str
    flows_written: int = 0
    handshakes_written: int = 0
    alerts: list = field(default_factory=list)
    counters: dict = field(default_factory=dict)
    kernel: dict = field(default_factory=dict)     # recv, drop, ifdrop at the end
    stats_written: int = 0


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
        """libpcap's counters since the handle opened: packets received (that
        passed the filter), dropped for lack of buffer space, dropped by the
        interface or its driver."""
        recv, drop, ifdrop = self._pcap.stats()
        return {"kernel_packets": recv, "kernel_drops": drop, "kernel_ifdrops": ifdrop}

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
    pc.setnonblock(1)
    return LiveHandle(pc, options)


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


def run_live(handle: LiveHandle, out_dir: str, settings: Settings = Settings(),
             state_dir: str | None = None, stop: threading.Event | None = None,
             on_stats=None) -> LiveResult:
    """Capture until ``stop`` is set, then flush. ``on_stats(event)`` is
    called with every `stats` event written (the CLI's status line)."""
    stop = stop or threading.Event()
    opts = handle.options
    pipeline = SensorPipeline(settings.core)
    detection = DetectionEngine(settings.detection(), state_dir, source="live:" + handle.interface)
    try:
        sink = EveFileSink(out_dir)
    except BaseException:
        detection.close()
        raise
    with sink:
        result = LiveResult(eve_path=sink.path)
        write = RecordWriter.for_run(sink, detection, result, pipeline, settings, out_dir)
        RunManifest.of_run("live", settings.core).write(out_dir)    # extract finds kept packets
        wait_s = opts.timeout_ms / 1000
        # once select() has waited this long with nothing to read, every
        # packet the kernel holds with an earlier timestamp has been read
        settle_us = 2 * opts.timeout_ms * 1000
        next_stats = time.monotonic() + opts.stats_interval_s

        def write_stats():
            result.counters = pipeline.engine.counters()
            result.kernel = handle.kernel_stats()
            event = stats_event(_wall_us(), result.counters,
                                {"interface": handle.interface,
                                 "packets_read": handle.packets_read, **result.kernel})
            sink.write(event)
            sink.flush()
            result.stats_written += 1
            if on_stats:
                on_stats(event)

        try:
            while not stop.is_set():
                batch = handle.read(wait_s)
                if batch is not None:
                    write(pipeline.feed(batch))
                else:
                    # idle: time flows out on the wall clock, never backwards
                    now_us = _wall_us() - settle_us
                    if now_us > pipeline.engine.last_packet_us:
                        pipeline.engine.expire(now_us)
                        write(pipeline.drain())
                if time.monotonic() >= next_stats:
                    write_stats()
                    next_stats = time.monotonic() + opts.stats_interval_s
        finally:
            try:
                _read_rest(handle, lambda batch: write(pipeline.feed(batch)))
            except Exception:       # the handle broke: keep what was read
                log.exception("Reading the last packets from interface %s failed.",
                              handle.interface)
            write(pipeline.finish())
            write_stats()
            detection.close()
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
