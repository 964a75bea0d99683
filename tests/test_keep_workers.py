"""Kept packets with fan-out workers (`live --keep-kib N --workers W`) on
the live lab's veth pair (tests/livelab.py): the alert's file holds the
first N KiB of its flow's frames, byte-equal to what a capture handle of
the test's own saw on the wire, whichever worker captured the flow; a
worker killed while the collector waits for its answer does not hang it.

Needs root (CI runs it as root) and fails, not skips, without `ip netns`.
No packet goes anywhere but between the lab's two namespaces.
"""
import os
import signal
import time
from pathlib import Path

import dpkt
import pytest

from engine.alert_packets import ANSWER_WAIT_S, WorkerAlertPackets
from engine.cli import main
from engine.live import LiveOptions, open_interface
from livelab import PORT, client_flows, sensor_lab
from netns import CLIENT_ADDR, SERVER_ADDR
from nsthread import call_in_namespace

KEEP_KIB = 16


def open_wire(lab):
    """A capture handle of the test's own on the sensor's interface."""
    return call_in_namespace(lab.net.client_ns, open_interface,
                             LiveOptions(lab.net.client_if, bpf=f"tcp port {PORT}"))


def first_kib_on_the_wire(handle, client_port: int, kib: int) -> list:
    """The frames of the flow from ``client_port`` the handle holds, cut as
    the core's ring cuts a flow: each frame kept while fewer than ``kib``
    KiB were kept before it."""
    frames = []
    while (batch := handle.read(0.5)) is not None:
        frames += [batch.packet(i) for i in range(batch.count)]
    used, kept = 0, []
    for frame in frames:
        if ends(frame) == {(CLIENT_ADDR, client_port), (SERVER_ADDR, PORT)} and used < kib << 10:
            kept.append(frame)
            used += len(frame)
    return kept


def ends(frame: bytes) -> set:
    ip = dpkt.ethernet.Ethernet(frame).data
    return {(dpkt.utils.inet_to_str(ip.src), ip.data.sport),
            (dpkt.utils.inet_to_str(ip.dst), ip.data.dport)}


def saved_frames(path: Path) -> list:
    with open(path, "rb") as fh:
        return [bytes(frame) for _, frame in dpkt.pcap.Reader(fh)]


def alert_of(events, flow_id: int) -> dict:
    return next(e for e in events if e["event_type"] == "alert"
                and flow_id in e["exfil"]["evidence"]["flows"])


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_the_alert_file_has_the_first_kib_of_its_flow_as_on_the_wire(tmp_path, workers):
    with sensor_lab(tmp_path, args=["--workers", workers, "--keep-kib", KEEP_KIB]) as lab:
        wire = open_wire(lab)
        try:
            client_port = lab.upload_done(5_000_000)
            rc, err = lab.stop()
            expected = first_kib_on_the_wire(wire, client_port, KEEP_KIB)
        finally:
            wire.close()
    assert rc == 0, err
    events = lab.events()
    flow = client_flows(events, client_port)[0]
    aid = alert_of(events, flow["flow_id"])["exfil"]["alert_id"]
    saved = lab.out / "extract" / f"{aid}.pcap"
    frames = saved_frames(saved)
    assert frames == expected
    assert dpkt.ethernet.Ethernet(frames[0]).data.data.flags & dpkt.tcp.TH_SYN
    assert sum(map(len, frames)) >= KEEP_KIB << 10
    copy = tmp_path / "x.pcap"
    assert main(["extract", str(lab.out), "--alert", aid, "-o", str(copy)]) == 0
    assert copy.read_bytes() == saved.read_bytes()


def children(pid: int) -> list:
    """The worker processes of the sensor, in the order they were forked."""
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def worker_with_flows(events) -> int | None:
    """The index of the worker whose `stats` record counts a flow."""
    for e in reversed(events):
        capture = e.get("stats", {}).get("capture", {})
        if "worker" in capture and e["stats"]["flow"]["total"] > 0:
            return capture["worker"]
    return None


def test_a_worker_killed_while_its_answer_is_pending_does_not_hang_the_collector(tmp_path):
    # the closed flow ends 3 s after its FIN: time to stop the idle worker first
    config = f"[core]\ntcp_timeout_closed_s = 3.0\nkeep_kib_per_flow = {KEEP_KIB}\n"
    with sensor_lab(tmp_path, config=config, args=["--workers", 2]) as lab:
        wire = open_wire(lab)
        try:
            client_port = lab.upload_done(5_000_000)
            busy = lab.wait_for(lambda ev: worker_with_flows(ev) is not None,
                                "the worker with the upload") and worker_with_flows(lab.events())
            idle = children(lab.sensor.pid)[1 - busy]
            os.kill(idle, signal.SIGSTOP)       # it can no longer answer
            flow = lab.wait_for(lambda ev: client_flows(ev, client_port), "the flow")[0]
            aid = lab.wait_for(lambda ev: alert_of(ev, flow["flow_id"]),
                               "the alert")["exfil"]["alert_id"]
            saved = lab.out / "extract" / f"{aid}.pcap"
            assert not saved.exists()           # waiting for the stopped worker
            os.kill(idle, signal.SIGKILL)
            killed_at = time.monotonic()
            lab.wait_for(lambda ev: saved.exists(), "the alert's file")
            # written on the death, not when the wait ran out
            assert time.monotonic() - killed_at < ANSWER_WAIT_S / 2
            rc, err = lab.stop()
            expected = first_kib_on_the_wire(wire, client_port, KEEP_KIB)
        finally:
            wire.close()
    assert rc == 0, err
    assert f"Alert {aid}: no kept packets from worker(s) [{1 - busy}]" in err
    assert saved_frames(saved) == expected


# ---------------------------------------------------- the collector's side alone

def frame(flow_id: int, ts_us: int) -> tuple:
    """A kept_packets tuple whose bytes say which flow and time it is."""
    data = b"%d@%d" % (flow_id, ts_us)
    return (flow_id, ts_us, 1, len(data), data.ljust(60, b"\0"))


class Workers:
    """The collector's ask(): records the questions, the running workers given."""

    def __init__(self, running):
        self.running, self.asked = running, []

    def __call__(self, request_id, flow_ids):
        self.asked.append((request_id, list(flow_ids)))
        return list(self.running)


def alert(aid: str, flows=(1, 2)) -> dict:
    return {"exfil": {"alert_id": aid, "evidence": {"flows": list(flows)}}}


def written(tmp_path, aid: str):
    path = tmp_path / "extract" / f"{aid}.pcap"
    if not path.exists():
        return None
    with open(path, "rb") as fh:
        return [(round(ts * 1e6), bytes(f).rstrip(b"\0")) for ts, f in dpkt.pcap.Reader(fh)]


def test_the_file_waits_for_every_worker_and_interleaves_their_frames_by_time(tmp_path):
    workers = Workers([0, 1])
    kept = WorkerAlertPackets(workers, str(tmp_path))
    kept(alert("a1"))
    assert workers.asked == [(1, [1, 2])] and kept.pending == 1
    kept.answer(1, 1, [frame(2, 150), frame(2, 250)])
    assert written(tmp_path, "a1") is None          # worker 0 has not answered
    kept.answer(0, 1, [frame(1, 100), frame(1, 200), frame(1, 300)])
    assert written(tmp_path, "a1") == [(100, b"1@100"), (150, b"2@150"), (200, b"1@200"),
                                       (250, b"2@250"), (300, b"1@300")]
    assert kept.pending == 0 and kept.unanswered == 0
    kept.answer(0, 1, [frame(1, 400)])               # late: the file is not rewritten
    assert len(written(tmp_path, "a1")) == 5


def test_a_silent_worker_is_given_up_after_the_wait_and_at_the_stop(tmp_path):
    kept = WorkerAlertPackets(Workers([0, 1]), str(tmp_path))
    kept(alert("a1"))
    kept(alert("a2"))
    kept.answer(0, 1, [frame(1, 100)])
    kept.expire(time.monotonic() + ANSWER_WAIT_S / 2)
    assert kept.pending == 2
    kept.expire(time.monotonic() + ANSWER_WAIT_S)
    assert written(tmp_path, "a1") == [(100, b"1@100")]
    assert kept.pending == 0 and kept.unanswered == 3   # a1 from 1; a2 from 0 and 1
    assert written(tmp_path, "a2") is None              # nothing came: no file

    kept(alert("a3"))
    kept.answer(1, 3, [frame(2, 50)])
    kept.close()
    assert written(tmp_path, "a3") == [(50, b"2@50")] and kept.pending == 0


def test_a_dead_worker_counts_as_answered(tmp_path):
    kept = WorkerAlertPackets(Workers([0, 1, 2]), str(tmp_path))
    kept(alert("a1"))
    kept.answer(2, 1, [frame(1, 100)])
    kept.gone(0)
    assert written(tmp_path, "a1") is None
    kept.gone(1)
    assert written(tmp_path, "a1") == [(100, b"1@100")] and kept.unanswered == 2
    kept.gone(1)                                        # nothing pending any more
    assert kept.unanswered == 2


def test_with_no_worker_running_nothing_waits(tmp_path):
    kept = WorkerAlertPackets(Workers([]), str(tmp_path))
    kept(alert("a1"))
    assert kept.pending == 0 and written(tmp_path, "a1") is None
