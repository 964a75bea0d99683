"""Fan-out capture workers feeding one collector.

    handles = open_worker_handles(options, workers=4)   # as root, before dropping privileges
    try:
        result = run_workers(handles, "out/", settings, stop=stop_event)
    finally:
        handles.close()

Every worker process holds one handle per interface; the handles of one
interface are in one PACKET_FANOUT_HASH group, so the kernel sends both
directions of a flow to the same worker. A worker runs the core
(CaptureLoop) on its own CPU where there are enough, and sends its records
to this process in batches (a list of records per message, never a
message per packet) over a pipe; this process is the one collector
(DetectionEngine, RecordWriter, EVE sink), so baselines and alerts see
every worker's flows. IPC: one pickled list per message over a pipe,
chosen over shared memory because the records are variable Python objects
(certificate chains) the collector needs as objects anyway; measured by
benchmarks/bench_ipc.py on the 2-CPU CI host: about 15 us per flow record
and 140 us per TLS session with its certificates in lists of 64 or more
(3-4x that one record per message), against about 1.4 ms per record the
collector then spends on detection and EVE writing.

The handles are opened here, before the workers fork (so that the CLI can
drop privileges before any worker starts), and this process keeps its
copies. When a worker dies, its open flows are lost (counted, logged and
reported in the next `stats` record) and this process closes its copies of
the dead worker's handles, so that they leave their fanout group and the
other workers take the traffic over. The worker is then forked again with
new handles: libpcap's ring cursor lives in the reading process, so the
dead worker's handles cannot be read on. New handles need CAP_NET_RAW; once
--user has dropped root, spare handle sets opened at the start (capturing
nothing until joined to the group, which needs no privilege) take their
place, and when those are used up the worker stays down and its share goes
to the others. A change in a fanout group's members re-spreads the flows
over them: around a restart some flows move between workers.

Kept packets (`--keep-kib`): each worker keeps its own flows' frames in
its core's ring. The pipe is duplex: for each alert the collector sends
every running worker ("kept?", request_id, flow_ids) and the worker
answers ("kept", (request_id, frames)) between two reads of its handles,
so capture never waits on the collector; the collector writes the
alert's file when all have answered (alert_packets.WorkerAlertPackets:
bounded wait, a dead worker counts as answered with nothing). After its
last records a worker goes on answering until the collector closes the
pipe, so that alerts raised on the flows flushed at the stop get their
frames too.

Shutdown (SIGINT/SIGTERM to this process, or to the whole process group
as systemd and a terminal do): every worker reads what its handles hold,
flushes its open flows (reason "shutdown") and sends them with its last
counters; then the collector writes the last `stats` records. SIGHUP
reloads the collector's configuration; workers ignore it.
"""
from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import wait

from .alert_packets import WorkerAlertPackets
from .collector import Collector, LiveResult
from .errors import CaptureError
from .live import CaptureLoop, LiveOptions, capture_fields, open_interface, open_spare, packet_span
from .settings import Settings

log = logging.getLogger(__name__)

SEND_RECORDS = 512             # records a worker gathers before sending them ...
SEND_AFTER_S = 0.05            # ... or after this long, whichever comes first
STOP_TIMEOUT_S = 30.0          # after the stop, workers silent this long are killed
RESTART_DELAY_S = 1.0          # a worker that dies is forked again after this long at the earliest


def fanout_groups(count: int) -> list:
    """One PACKET_FANOUT group id per interface, distinct from another
    sensor's on the host (they derive from the process id)."""
    base = os.getpid() & 0xFFFF
    return [(base + i) & 0xFFFF for i in range(count)]


@dataclasses.dataclass
class HandleSets:
    """workers[w][i]: worker w's handle on interface i. spares: whole sets
    (one handle per interface) for restarting workers without privileges."""
    workers: list
    spares: list = dataclasses.field(default_factory=list)

    def close(self) -> None:
        for handles in self.workers + self.spares:
            close_all(handles)


def open_worker_handles(options: list, workers: int, spares: int = 0) -> HandleSets:
    """One handle per interface (options[i]) for each worker, and ``spares``
    spare sets; with several workers, each interface's handles are in one
    fanout group. CaptureError names the problem; the handles opened until
    then are closed."""
    per_iface = options
    if workers > 1:
        groups = fanout_groups(len(options))
        per_iface = [dataclasses.replace(o, fanout_group=g) for o, g in zip(options, groups)]
    sets = HandleSets([])
    try:
        for _ in range(workers):
            sets.workers.append(open_all(open_interface, per_iface))
        for _ in range(spares):
            sets.spares.append(open_all(open_spare, per_iface))
    except BaseException:
        sets.close()
        raise
    return sets


def open_all(opener, options: list) -> list:
    """One handle per interface, or none (those opened are closed on error)."""
    handles = []
    try:
        for opts in options:
            handles.append(opener(opts))
    except BaseException:
        close_all(handles)
        raise
    return handles


def close_all(handles: list) -> None:
    for handle in handles:
        handle.close()


# ------------------------------------------------------------------ worker

def _worker_main(index: int, handles: list, foreign: list, foreign_conns: list, core, conn,
                 stats_interval_s: float) -> None:
    """A worker process: capture until SIGTERM/SIGINT, then flush and report.
    ``foreign``: the other handles the fork copied in; closed at once, or a
    dead worker's handles would stay in their fanout group through this
    copy, taking a share of the flows that nobody reads. ``foreign_conns``:
    the collector's ends of the pipes (this worker's and the others'),
    closed too, or a worker would never see the collector close its pipe."""
    close_all(foreign)
    for other in foreign_conns:
        other.close()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)        # the collector reloads, not us
    _pin_to_cpu(index)
    pending = []
    loop = CaptureLoop(handles, core, pending.extend)
    engine = loop.pipeline.engine
    keeping = bool(core.keep_kib_per_flow)   # else the collector asks nothing: no poll per step
    sent_at = next_stats = time.monotonic()
    while not stop.is_set():
        loop.step()
        while keeping and conn.poll():
            _answer(conn, engine)
        now = time.monotonic()
        if pending and (len(pending) >= SEND_RECORDS or now - sent_at >= SEND_AFTER_S):
            conn.send(("records", pending[:]))
            pending.clear()
            sent_at = now
        if now >= next_stats:
            conn.send(("stats", loop.stats()))
            next_stats = now + stats_interval_s
    loop.finish()
    conn.send(("records", pending))
    conn.send(("done", loop.stats()))
    if keeping:
        # the alerts on the flows just flushed are raised after this: their
        # frames are asked for until the collector closes the pipe
        deadline = time.monotonic() + STOP_TIMEOUT_S
        try:
            while conn.poll(max(0.0, deadline - time.monotonic())):
                _answer(conn, engine)
        except EOFError:
            pass
    conn.close()


def _answer(conn, engine) -> None:
    """Answer the collector's question: an alert's flows' kept frames."""
    _, request_id, flow_ids = conn.recv()
    conn.send(("kept", (request_id, engine.kept_packets(flow_ids))))


def _pin_to_cpu(index: int) -> None:
    """Worker i on the i-th CPU this process may use (modulo their number),
    so that workers do not share a core while there are enough."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[index % len(cpus)]})
    except (AttributeError, OSError) as exc:     # not Linux, or a restricted cpuset
        log.info("Worker %d not pinned to a CPU: %s", index, exc)


# ---------------------------------------------------------------- collector

@dataclasses.dataclass
class _Worker:
    index: int
    handles: list                       # this process's copies (HandleSets.workers[index])
    process: multiprocessing.process.BaseProcess | None = None
    conn: object = None
    stats: dict | None = None           # its last counters
    done: bool = False
    restart_at: float | None = None     # dead, to be forked again then
    given_up: bool = False              # dead for good (no handles left, or at the stop)


class _Supervisor:
    """Starts the workers, reads their messages, restarts the dead ones and
    keeps the counters for the `stats` records."""

    def __init__(self, handles: HandleSets, core, stats_interval_s, collector: Collector):
        self._ctx = multiprocessing.get_context("fork")   # the children inherit the handles
        self.core = core
        self.kept = None
        if core.keep_kib_per_flow:
            # an alert's flows' kept packets, asked for from the workers
            self.kept = WorkerAlertPackets(self.ask_kept, collector.out_dir)
            collector.write.on_alert = self.kept
        self.stats_interval_s = stats_interval_s
        self.collector = collector
        self.workers = [_Worker(i, h) for i, h in enumerate(handles.workers)]
        self.spares = handles.spares
        self.former_lives = []          # last counters of dead workers' former lives
        self.events = []                # deaths and restarts, for the next stats record
        self.last_message_at = time.monotonic()

    def start(self, w: _Worker) -> None:
        here, there = self._ctx.Pipe(duplex=True)      # records up, kept-packet questions down
        foreign = [h for other in self.workers if other is not w for h in other.handles]
        foreign += [h for spare in self.spares for h in spare]
        conns = [here] + [o.conn for o in self.workers if o.conn is not None and o is not w]
        w.process = self._ctx.Process(target=_worker_main, name=f"exfilwatch-worker-{w.index}",
                                      args=(w.index, w.handles, foreign, conns, self.core, there,
                                            self.stats_interval_s))
        w.process.start()
        there.close()
        w.conn, w.stats, w.done, w.restart_at = here, None, False, None

    def ask_kept(self, request_id: int, flow_ids) -> list:
        """Ask every running worker for these flows' kept frames; the
        indices of those asked."""
        asked = []
        for w in self.workers:
            if w.conn is None:
                continue
            try:
                w.conn.send(("kept?", request_id, list(flow_ids)))
            except OSError:         # it just died: its end of the pipe is read next
                continue
            asked.append(w.index)
        return asked

    def running(self) -> list:
        return [w for w in self.workers if w.conn is not None or w.process.is_alive()]

    def poll(self, timeout_s: float, stopping: bool) -> None:
        """Handle what the workers sent within ``timeout_s``; a worker that
        died (not at the stop) is scheduled for a restart."""
        conns = {w.conn: w for w in self.workers if w.conn is not None}
        for conn in wait(list(conns), timeout_s):
            self._receive(conns[conn])      # one message each: no worker starves the others
        now = time.monotonic()
        if self.kept is not None:
            self.kept.expire(now)
        for w in self.workers:
            if w.conn is None and not w.process.is_alive() and not w.done and not w.given_up:
                if w.restart_at is None:
                    self._died(w, now, restart=not stopping)
                elif now >= w.restart_at and not stopping:
                    self._restart(w)

    def _receive(self, w: _Worker) -> None:
        self.last_message_at = time.monotonic()
        try:
            kind, payload = w.conn.recv()
        except (EOFError, OSError):      # the worker is gone: everything it sent was read
            w.conn.close()
            w.conn = None
            w.process.join(timeout=5)
            if self.kept is not None:
                self.kept.gone(w.index)
            return
        if kind == "records":
            self.collector.write(payload)
        elif kind == "kept":
            self.kept.answer(w.index, *payload)
        else:
            w.stats = payload
            w.done = kind == "done"

    def _died(self, w: _Worker, now: float, restart: bool) -> None:
        lost = w.stats["counters"]["flows_active"] if w.stats else 0
        code = w.process.exitcode
        log.error("Worker %d (pid %d) died with exit status %s; its open flows are lost "
                  "(%d at its last report).%s", w.index, w.process.pid, code, lost,
                  " Restarting it." if restart else "")
        self.collector.result.worker_deaths += 1
        self.collector.result.flows_lost += lost
        self._event("worker_died", w, exit_status=code, flows_lost=lost)
        if w.stats:
            self.former_lives.append(w.stats)
        w.stats = None
        close_all(w.handles)            # out of the fanout group: the others take its share
        w.restart_at = now + RESTART_DELAY_S
        w.given_up = not restart

    def _restart(self, w: _Worker) -> None:
        options = [h.options for h in w.handles]
        try:
            handles, source = open_all(open_interface, options), "new"
        except CaptureError as exc:          # no CAP_NET_RAW any more (--user)
            if not self.spares:
                log.error("Worker %d cannot be restarted: %s No spare capture handles are "
                          "left; its share of the traffic goes to the other workers.",
                          w.index, exc)
                self._event("worker_not_restarted", w, reason=str(exc))
                w.given_up = True
                return
            handles, source = self.spares.pop(), "spare"
            for handle, opts in zip(handles, options):
                handle.join(opts)
        w.handles[:] = handles          # in place: HandleSets.close closes these
        self.start(w)
        self.collector.result.worker_restarts += 1
        self._event("worker_restarted", w, pid=w.process.pid, handles=source)

    def _event(self, name: str, w: _Worker, **details) -> None:
        """A lifecycle event for the next totals `stats` record."""
        self.events.append({"event": name, "worker": w.index,
                            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **details})

    def stop(self) -> None:
        self.last_message_at = time.monotonic()     # the silence is counted from here
        for w in self.workers:
            if w.process.is_alive():
                os.kill(w.process.pid, signal.SIGTERM)

    def release(self) -> None:
        """After the stop: once every worker has sent its last records and
        no alert waits for kept frames, close the pipes (the workers that
        answer questions until then exit)."""
        if self.kept is None or self.kept.pending:
            return
        if all(w.done or w.conn is None for w in self.workers):
            for w in self.workers:
                if w.conn is not None:
                    w.conn.close()
                    w.conn = None

    def kill_stragglers(self) -> None:
        for w in self.running():
            log.error("Worker %d sent nothing for %g s after the stop; killing it (its open "
                      "flows are lost).", w.index, STOP_TIMEOUT_S)
            w.process.kill()
            w.process.join(timeout=5)
            if w.conn is not None:
                w.conn.close()
                w.conn = None

    def write_stats(self, on_stats=None) -> None:
        """One `stats` record per worker, then the totals (with the restarts
        since the last record)."""
        current = [w.stats for w in self.workers if w.stats]
        for w in self.workers:          # on_stats (the status line) gets the totals only
            if w.stats:
                self.collector.write_stats(w.stats["counters"],
                                           {"worker": w.index, **capture_fields(w.stats["handles"])})
        every = current + self.former_lives
        if not every:
            return
        counters = {k: sum(s["counters"][k] for s in every) for k in every[0]["counters"]}
        counters["flows_active"] = sum(s["counters"]["flows_active"] for s in current)
        capture = capture_fields([h for s in every for h in s["handles"]])
        capture.pop("handles", None)
        capture.update(workers=len(self.workers), events=self.events,
                       **self.collector.result.lifecycle_fields())
        self.collector.write_stats(counters, capture, on_stats, span=packet_span(every))
        self.events = []


def run_workers(handles: HandleSets, out_dir: str, settings: Settings = Settings(),
                state_dir: str | None = None, stop: threading.Event | None = None,
                on_stats=None, reload: threading.Event | None = None,
                reload_settings=None, output_format: str = "eve") -> LiveResult:
    """Run one worker per set of ``handles.workers`` (open_worker_handles)
    and collect their records here until ``stop`` is set; then every worker
    flushes and the last `stats` records are written. ``reload`` set: the
    collector applies ``reload_settings()``; ``output_format`` as for
    run_live. The handles stay open (the caller closes them: HandleSets.close)."""
    stop = stop or threading.Event()
    reload = reload or threading.Event()
    options: LiveOptions = handles.workers[0][0].options
    interval_s = options.stats_interval_s
    source = "live:" + ",".join(h.interface for h in handles.workers[0])
    with Collector(out_dir, settings, state_dir, source, reload_settings,
                   output_format) as collector:
        supervisor = _Supervisor(handles, settings.core, interval_s, collector)
        for w in supervisor.workers:
            supervisor.start(w)
        next_stats = time.monotonic() + interval_s
        try:
            while not stop.is_set():
                supervisor.poll(options.timeout_ms / 1000, stopping=False)
                if reload.is_set():
                    reload.clear()
                    collector.reload()
                if time.monotonic() >= next_stats:
                    supervisor.write_stats(on_stats)
                    next_stats = time.monotonic() + interval_s
        finally:
            supervisor.stop()
            # a backlog the collector is still working through is no reason to kill
            while supervisor.running() and \
                    time.monotonic() - supervisor.last_message_at < STOP_TIMEOUT_S:
                supervisor.poll(0.1, stopping=True)
                supervisor.release()
            supervisor.kill_stragglers()
            if supervisor.kept is not None:
                supervisor.kept.close()     # written with what came
            supervisor.write_stats(on_stats)
        return collector.result
