"""The live sensor's lifecycle on a real veth pair (tests/livelab.py):
SIGHUP reloads the configuration without losing flows, a worker that dies
is restarted and reported, and --user drops root once the handles are open.

Needs root (CI runs it as root) and fails, not skips, without `ip netns`.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from livelab import REPO, client_flows, sensor_lab, totals

NOBODY = 65534


def children(pid: int) -> list:
    """The worker processes of the sensor."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def uid_of(pid: int) -> int:
    """The effective uid of a running process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[2])
    raise AssertionError(f"no Uid line for pid {pid}")


def last_total(lab, field: str, at_least: int):
    return lab.wait_for(lambda ev: [e for e in totals(ev)
                                    if e["stats"]["capture"][field] >= at_least],
                        f"stats with {field} >= {at_least}")


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_reloads_the_threshold_keeps_flows_and_rejects_a_bad_file(tmp_path, workers):
    # closed flows end after 1 s, so that the first upload is judged before the reload
    core = "[core]\ntcp_timeout_closed_s = 1.0\n"
    with sensor_lab(tmp_path, config=core + "[detect]\nlarge_upload_bytes = 50_000_000\n",
                    args=["--workers", workers]) as lab:
        before = lab.upload_done(3_000_000)
        lab.wait_for(lambda ev: client_flows(ev, before), "the first upload's flow")

        base = lab.config.read_text().split("[detect]")[0]
        lab.config.write_text(base + '[detect]\nlarge_upload_bytes = "lots"\n')
        lab.sensor.send_signal(signal.SIGHUP)
        last_total(lab, "reload_failures", 1)
        assert lab.sensor.poll() is None

        lab.config.write_text(base + "[detect]\nlarge_upload_bytes = 1_000_000\n")
        lab.sensor.send_signal(signal.SIGHUP)
        last_total(lab, "reloads", 1)
        after = lab.upload_done(3_000_000)
        rc, err = lab.stop()
    assert rc == 0, err
    assert "Reload: Configuration key 'detect.large_upload_bytes' must be an integer" in err
    assert "Keeping the running configuration." in err

    events = lab.events()
    first, second = client_flows(events, before), client_flows(events, after)
    assert len(first) == 1 and len(second) == 1      # no flow lost across the reloads
    alerts = [e for e in events if e["event_type"] == "alert"]
    # the 3 MB stayed under 50 MB before the reload; the channel's 6 MB pass 1 MB after it
    fired = [a for a in alerts if "large_upload" in a["exfil"]["evidence"]["findings"]]
    assert fired, [a["exfil"]["reasons"] for a in alerts]
    assert {a["flow_id"] for a in fired} == {second[0]["flow_id"]}
    assert totals(events)[-1]["stats"]["capture"]["reloads"] == 1


def kill_worker_and_wait(lab, deaths: int, outcome: str):
    """SIGKILL the first worker; wait for the totals `stats` record with the
    event ``outcome`` (worker_restarted, worker_not_restarted) after the
    ``deaths``-th death; the workers running then."""
    os.kill(children(lab.sensor.pid)[0], signal.SIGKILL)
    last_total(lab, "worker_deaths", deaths)
    lab.wait_for(lambda ev: [e for e in totals(ev) if e["stats"]["capture"]["worker_deaths"]
                             == deaths and outcome in str(e["stats"]["capture"]["events"])],
                 outcome)
    return children(lab.sensor.pid)


def test_a_killed_worker_is_restarted_logged_and_reported(tmp_path):
    with sensor_lab(tmp_path, args=["--workers", 2]) as lab:
        # traffic through both workers first: their rings have moved on
        early = [lab.upload_done(500_000) for _ in range(4)]
        time.sleep(0.5)             # a stats report (every 0.2 s) counts them as open
        workers = children(lab.sensor.pid)
        assert len(workers) == 2
        now = kill_worker_and_wait(lab, 1, "worker_restarted")
        assert len(now) == 2 and workers[0] not in now and workers[1] in now
        if len(os.sched_getaffinity(0)) >= 2:      # each worker on its own CPU, again
            lab.wait_for(lambda _: {frozenset(os.sched_getaffinity(p)) for p in now}
                         == {frozenset([c]) for c in sorted(os.sched_getaffinity(0))[:2]},
                         "both workers pinned to a CPU of their own")
        # the restarted worker shares the load again: every upload is seen whole
        late = [lab.upload_done(500_000) for _ in range(6)]
        rc, err = lab.stop()
    assert rc == 0, err
    assert f"(pid {workers[0]}) died with exit status -9" in err and "Restarting it." in err
    events = lab.events()
    recorded = [ev for e in totals(events) for ev in e["stats"]["capture"]["events"]]
    assert [(ev["event"], ev["worker"]) for ev in recorded] == [("worker_died", 0),
                                                                ("worker_restarted", 0)]
    assert recorded[0]["exit_status"] == -9 and recorded[1]["handles"] == "new"
    for port in late:
        flows = client_flows(events, port)
        assert len(flows) == 1 and flows[0]["flow"]["bytes_toserver"] >= 500_000, port
    stats = totals(events)[-1]["stats"]
    assert stats["capture"]["worker_restarts"] == stats["capture"]["worker_deaths"] == 1
    # the flows of the early uploads the dead worker still held are lost, and counted
    assert stats["capture"]["flows_lost"] == len(early) - sum(
        1 for port in early if client_flows(events, port))


@pytest.fixture
def world_dir():
    """A directory outside root's 0700 pytest tree, so that user nobody can
    reach what the sensor creates in it (its tmp_path for the lab)."""
    parent = Path(tempfile.mkdtemp(prefix="xw-user-"))
    parent.chmod(0o755)
    yield parent
    subprocess.run(["rm", "-rf", str(parent)], check=True)


@pytest.mark.parametrize("workers", [1, 2])
def test_user_option_drops_root_after_opening_the_handles(workers, world_dir):
    # the output directory does not exist yet: it is created for the user
    out = world_dir / "out"
    with sensor_lab(world_dir, args=["--workers", workers, "--user", "nobody"], out=out) as lab:
        pids = [lab.sensor.pid] + children(lab.sensor.pid)
        assert len(pids) == (1 if workers == 1 else 1 + workers)
        assert [uid_of(p) for p in pids] == [NOBODY] * len(pids)
        port = lab.upload_done(1_000_000)
        rc, err = lab.stop()
    assert rc == 0, err
    assert out.stat().st_uid == NOBODY and lab.eve.stat().st_uid == NOBODY
    assert len(client_flows(lab.events(), port)) == 1


def test_without_root_workers_restart_on_spare_handles_then_leave_their_share(world_dir):
    # closed flows end after 1 s: each round's uploads are seen before the next kill
    with sensor_lab(world_dir, config="[core]\ntcp_timeout_closed_s = 1.0\n",
                    args=["--workers", 2, "--user", "nobody"], out=world_dir / "out") as lab:
        for death in (1, 2):                # the two spare handle sets
            lab.upload_done(300_000)
            after = kill_worker_and_wait(lab, death, "worker_restarted")
            assert len(after) == 2 and [uid_of(p) for p in after] == [NOBODY, NOBODY]
            ports = [lab.upload_done(300_000) for _ in range(4)]
            lab.wait_for(lambda ev: all(client_flows(ev, p) for p in ports),
                         "the uploads through the restarted worker", timeout_s=20)
        # no spare left: the third death leaves one worker, which takes all the traffic
        assert len(kill_worker_and_wait(lab, 3, "worker_not_restarted")) == 1
        ports = [lab.upload_done(300_000) for _ in range(4)]
        rc, err = lab.stop()
    assert rc == 0, err
    assert "cannot be restarted" in err and "No spare capture handles are left" in err
    events = lab.events()
    recorded = [ev for e in totals(events) for ev in e["stats"]["capture"]["events"]
                if ev["event"] == "worker_restarted"]
    assert [ev["handles"] for ev in recorded] == ["spare", "spare"]
    for port in ports:
        flows = client_flows(events, port)
        assert len(flows) == 1 and flows[0]["flow"]["bytes_toserver"] >= 300_000, port


def test_user_option_names_a_directory_the_user_cannot_write(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o755)          # root's, in root's 0700 pytest directory
    r = subprocess.run([sys.executable, "-m", "engine.cli", "live", "-i", "lo", "-o", out,
                        "--user", "nobody"], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stderr
    assert f"--output {out}: user nobody cannot write to" in r.stderr
    # a file left below a directory the user owns, by an earlier run as root
    world = Path(tempfile.mkdtemp(prefix="xw-user-"))
    try:
        world.chmod(0o755)
        state = world / "state"
        state.mkdir()
        os.chown(state, NOBODY, NOBODY)
        (state / "baseline.sqlite").write_text("")
        r = subprocess.run([sys.executable, "-m", "engine.cli", "live", "-i", "lo", "-o",
                            world / "out", "--state", state, "--user", "nobody"], cwd=REPO,
                           capture_output=True, text=True, timeout=30)
    finally:
        subprocess.run(["rm", "-rf", str(world)], check=True)
    assert r.returncode == 2, r.stderr
    assert f"--state {state}: user nobody cannot write to {state / 'baseline.sqlite'}" \
        in r.stderr
    assert f"chown -R nobody:nogroup {state}" in r.stderr
    r = subprocess.run([sys.executable, "-m", "engine.cli", "live", "-i", "lo", "-o", out,
                        "--user", "xw-no-such-user"], cwd=REPO, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "--user xw-no-such-user: there is no such user" in r.stderr
