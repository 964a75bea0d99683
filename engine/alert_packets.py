"""The kept packets of an alert's flows, written out when the alert is
raised: DIR/extract/<alert_id>.pcap (.pcapng when they span link types).

With CoreConfig.keep_kib_per_flow set (`live --keep-kib N`), the core keeps
the first N KiB of every flow's frames in one bounded ring
(engine/_keep.pxi); a live capture has no file to read them again from, so
they are saved as each alert is raised, while they are still in the ring.
`exfilwatch extract DIR --alert ID` on a live run's DIR copies the file.

With fan-out workers (engine/workers.py) the kept frames are in the
workers' rings, not in the collector that raises the alerts:
WorkerAlertPackets asks every running worker for the alert's flows (one of
the alert's flows may have landed on any of them) and writes the file once
they have all answered, a worker has died, or ANSWER_WAIT_S has passed,
with the frames that came. Frames a ring overwrote before the answer are
missing from the file, as in a single process.
"""
from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
import os
import time

from .errors import OutputError
from .pcapout import PacketFileWriter

log = logging.getLogger(__name__)

EXTRACT_DIR = "extract"
ANSWER_WAIT_S = 10.0       # the longest an alert's file waits for the workers' frames


def kept_path(out_dir: str, alert_id: str) -> str | None:
    """The file of an alert's kept packets in DIR, or None."""
    for ext in (".pcap", ".pcapng"):
        path = os.path.join(out_dir, EXTRACT_DIR, alert_id + ext)
        if os.path.exists(path):
            return path
    return None


def save_alert_packets(out_dir: str, alert: dict, frames: list) -> str | None:
    """Write ``frames`` (FlowEngine.kept_packets tuples) as the alert's file
    in DIR/extract; its path, or None when there are none or it cannot be
    written."""
    if not frames:
        return None
    directory = os.path.join(out_dir, EXTRACT_DIR)
    ext = ".pcap" if len({linktype for _, _, linktype, _, _ in frames}) == 1 else ".pcapng"
    path = os.path.join(directory, alert["exfil"]["alert_id"] + ext)
    try:
        os.makedirs(directory, exist_ok=True)
        with PacketFileWriter(path) as out:
            for _, ts_us, linktype, wirelen, frame in frames:
                out.write(ts_us, frame, wirelen, linktype)
    except (OSError, OutputError) as exc:
        # the capture goes on: losing one alert's packets must not stop it
        log.error("Cannot save the packets of alert %s: %s", alert["exfil"]["alert_id"], exc)
        return None
    return path


class AlertPackets:
    """Called with each alert event; writes its flows' kept frames from
    ``engine`` (the core of this process)."""

    def __init__(self, engine, out_dir: str):
        self.engine = engine
        self.out_dir = out_dir

    def __call__(self, alert: dict) -> str | None:
        frames = self.engine.kept_packets(alert["exfil"]["evidence"]["flows"])
        return save_alert_packets(self.out_dir, alert, frames)


@dataclasses.dataclass
class _Asked:
    alert: dict
    waiting: set                    # indices of the workers yet to answer
    deadline: float
    answers: list = dataclasses.field(default_factory=list)     # each worker's frames


class WorkerAlertPackets:
    """The collector's side of kept packets with fan-out workers. Called
    with each alert event: ``ask(request_id, flow_ids)`` sends the question
    to every running worker and returns their indices; answer(), gone()
    and expire() complete the requests, and each complete one is written."""

    def __init__(self, ask, out_dir: str):
        self._ask = ask
        self.out_dir = out_dir
        self._pending = {}
        self._ids = itertools.count(1)
        self.unanswered = 0         # worker answers an alert's file was written without

    @property
    def pending(self) -> int:
        return len(self._pending)

    def __call__(self, alert: dict) -> None:
        request_id = next(self._ids)
        asked = self._ask(request_id, alert["exfil"]["evidence"]["flows"])
        self._pending[request_id] = _Asked(alert, set(asked), time.monotonic() + ANSWER_WAIT_S)
        self._complete(request_id)          # no worker running: nothing to wait for

    def answer(self, worker: int, request_id: int, frames: list) -> None:
        """A worker's kept frames for a request (an answer to a request
        already written is dropped)."""
        asked = self._pending.get(request_id)
        if asked is not None and worker in asked.waiting:
            asked.waiting.discard(worker)
            asked.answers.append(frames)
            self._complete(request_id)

    def gone(self, worker: int) -> None:
        """The worker died or closed its pipe: it will answer nothing more."""
        self._give_up(lambda asked: worker in asked.waiting and {worker})

    def expire(self, now: float | None = None) -> None:
        """Write the requests whose wait is over with what came."""
        now = time.monotonic() if now is None else now
        self._give_up(lambda asked: asked.deadline <= now and set(asked.waiting))

    def close(self) -> None:
        """At shutdown: write every pending request with what came."""
        self._give_up(lambda asked: set(asked.waiting))

    def _give_up(self, missing_of) -> None:
        for request_id, asked in list(self._pending.items()):
            missing = missing_of(asked)
            if missing:
                log.warning("Alert %s: no kept packets from worker(s) %s (dead, or no answer "
                            "within %g s); its file has the other workers' frames.",
                            asked.alert["exfil"]["alert_id"], sorted(missing), ANSWER_WAIT_S)
                self.unanswered += len(missing)
                asked.waiting -= missing
                self._complete(request_id)

    def _complete(self, request_id: int) -> None:
        asked = self._pending[request_id]
        if not asked.waiting:
            del self._pending[request_id]
            # each worker's frames in its ring's order, interleaved by time
            frames = list(heapq.merge(*asked.answers, key=lambda f: f[1]))
            save_alert_packets(self.out_dir, asked.alert, frames)


def add_keep_arguments(parser) -> None:
    """live's options for keeping packets (CoreConfig.keep_*)."""
    from .config import CoreConfig

    parser.add_argument("--keep-kib", type=int, metavar="N",
                        help="keep the first N KiB of every flow's packets in memory and write "
                             "those of an alert's flows to DIR/extract/<alert_id>.pcap when it "
                             "is raised (default 0: none kept). With --workers above 1 each worker "
                             "keeps its own flows' packets and the file is written once every "
                             f"worker has answered with the alert's (at most {ANSWER_WAIT_S:g} s "
                             "later; a worker that dies or stays silent adds nothing)")
    parser.add_argument("--keep-mb", type=int, metavar="M",
                        help="memory for kept packets, all flows together, per capture process: "
                             "with --workers N, N times this; the oldest are overwritten "
                             f"(default {CoreConfig().keep_memory_mb})")
