"""`exfilwatch live` on a real interface: a veth pair between two network
namespaces this test creates, a TLS server in one, an uploading client in
the other, the sensor capturing on the client's veth end.

Needs root (CI runs it as root) and fails, not skips, without `ip netns`.
No packet goes anywhere but between the two namespaces.
"""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from cert_factory import mint_leaf, mint_root
from netns import CLIENT_ADDR, SERVER_ADDR, VethPair, wait_for_port

REPO = Path(__file__).resolve().parent.parent
PEERS = Path(__file__).resolve().parent / "netns.py"
PORT = 8443
SNI = "upload.exfil-test.example"
# the client is the one internal host: the server counts as external
CONFIG = '[aggregate]\nhome_net = ["10.99.0.1/32"]\n'


def read_eve(path: Path) -> list:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture
def lab(tmp_path, request):
    """Namespaces, a TLS server on SERVER_ADDR:PORT and `exfilwatch live` on
    the client's veth end, writing stats every 0.2 s; all gone afterwards.
    Parametrized indirectly, the parameter is more configuration (TOML)."""
    root = mint_root()
    leaf = mint_leaf(root, SNI)
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    cert.write_bytes(leaf.cert.public_bytes(serialization.Encoding.PEM)
                     + root.cert.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(leaf.key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    config = tmp_path / "exfilwatch.toml"
    config.write_text(CONFIG + getattr(request, "param", ""))
    out = tmp_path / "out"
    procs = []
    with VethPair() as net:
        try:
            server = net.popen(net.server_ns, [sys.executable, PEERS, "serve", cert, key,
                                               SERVER_ADDR, PORT])
            procs.append(server)
            wait_for_port(net, SERVER_ADDR, PORT)
            sensor = net.popen(net.client_ns,
                               [sys.executable, "-m", "engine.cli", "live", "-i", net.client_if,
                                "-o", out, "-c", config, "--stats-interval", "0.2", "--quiet",
                                "--bpf", f"tcp port {PORT}"],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            procs.append(sensor)
            # the first stats record says the handle is open and reading
            deadline = time.monotonic() + 20
            while not any(e["event_type"] == "stats" for e in read_eve(out / "eve.json")):
                assert sensor.poll() is None, sensor.communicate()[1].decode()
                assert time.monotonic() < deadline, "exfilwatch live wrote no stats record"
                time.sleep(0.05)
            yield net, sensor, out / "eve.json"
        finally:
            for p in reversed(procs):
                if p.poll() is None:
                    p.kill()
                p.wait(timeout=10)


def upload(net, nbytes, chunk=1 << 16, delay_s=0.0) -> subprocess.Popen:
    return net.popen(net.client_ns, [sys.executable, PEERS, "upload", SERVER_ADDR, PORT, SNI,
                                     nbytes, chunk, delay_s],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(sensor) -> tuple:
    sensor.send_signal(signal.SIGTERM)
    try:
        _, err = sensor.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        sensor.kill()
        pytest.fail("exfilwatch live did not stop within 30 s of SIGTERM")
    return sensor.returncode, err.decode()


def client_flows(events, client_port):
    return [e for e in events if e["event_type"] == "flow" and e["src_ip"] == CLIENT_ADDR
            and e["src_port"] == client_port and e["dest_ip"] == SERVER_ADDR
            and e["dest_port"] == PORT and e["proto"] == "TCP"]


def upload_then_stop(net, sensor, nbytes) -> int:
    """Upload nbytes, then stop the sensor at once (the packets still in the
    kernel ring are read before the flush); the client's port."""
    client = upload(net, nbytes)
    out, err = client.communicate(timeout=60)
    assert client.returncode == 0, err
    rc, err = stop(sensor)
    assert rc == 0, err
    return int(out.split()[0])


def test_live_tls_upload_gives_flow_tls_x509_stats_and_alert(lab):
    net, sensor, eve = lab
    nbytes = 5_000_000
    client_port = upload_then_stop(net, sensor, nbytes)
    events = read_eve(eve)

    flows = client_flows(events, client_port)
    assert len(flows) == 1, flows
    flow = flows[0]
    assert flow["app_proto"] == "tls"
    assert flow["flow"]["bytes_toserver"] >= nbytes
    assert flow["flow"]["bytes_toclient"] < nbytes / 10

    tls = [e for e in events if e["event_type"] == "tls" and e["flow_id"] == flow["flow_id"]]
    assert len(tls) == 1 and tls[0]["tls"]["sni"] == SNI
    assert tls[0]["tls"]["version"] == "TLS 1.2"
    x509 = [e for e in events if e["event_type"] == "x509"]
    assert x509 and SNI in json.dumps(x509[0])

    stats = [e for e in events if e["event_type"] == "stats"]
    assert len(stats) >= 2
    capture = stats[-1]["stats"]["capture"]
    assert capture["interface"] == net.client_if
    assert capture["kernel_packets"] >= flow["flow"]["pkts_toserver"] + flow["flow"]["pkts_toclient"]
    assert capture["kernel_drops"] == 0 and capture["kernel_ifdrops"] == 0
    assert stats[-1]["stats"]["decoder"]["pkts"] == capture["packets_read"]

    alerts = [e for e in events if e["event_type"] == "alert" and e["dest_ip"] == SERVER_ADDR]
    assert alerts, [e["event_type"] for e in events]
    assert alerts[0]["src_ip"] == CLIENT_ADDR and alerts[0]["dest_port"] == PORT
    assert any("large_upload" in a["exfil"]["evidence"]["findings"] for a in alerts)


def test_sigterm_during_a_transfer_still_writes_the_flow(lab):
    net, sensor, eve = lab
    # 20 MB at 64 KiB every 20 ms: about 6 s, stopped after about 1 s
    client = upload(net, 20_000_000, 1 << 16, 0.02)
    try:
        client_port = int(client.stdout.readline())
        time.sleep(1.0)
        assert client.poll() is None, "the upload ended before the sensor was stopped"
        rc, err = stop(sensor)
    finally:
        client.kill()
        client.wait(timeout=10)
    assert rc == 0, err

    events = read_eve(eve)
    flows = client_flows(events, client_port)
    assert len(flows) == 1, flows
    assert flows[0]["flow"]["reason"] == "shutdown"
    assert flows[0]["flow"]["bytes_toserver"] > 1 << 16
    assert any(e["event_type"] == "tls" and e["flow_id"] == flows[0]["flow_id"] for e in events)
    assert events[-1]["event_type"] == "stats"


@pytest.mark.parametrize("lab", ["[core]\ntcp_timeout_closed_s = 1.0\n"], indirect=True)
def test_idle_interface_times_flows_out_on_the_wall_clock(lab):
    net, sensor, eve = lab
    client = upload(net, 100_000)
    out, err = client.communicate(timeout=60)
    assert client.returncode == 0, err
    client_port = int(out.split()[0])
    # no packet comes after the FIN exchange: only the wall clock can end the flow
    deadline = time.monotonic() + 15
    while not client_flows(read_eve(eve), client_port):
        assert sensor.poll() is None, sensor.communicate()[1].decode()
        assert time.monotonic() < deadline, "the closed flow did not time out while idle"
        time.sleep(0.1)
    rc, err = stop(sensor)
    assert rc == 0, err
    flows = client_flows(read_eve(eve), client_port)
    assert len(flows) == 1 and flows[0]["flow"]["reason"] == "timeout"


def test_live_errors_name_the_problem(tmp_path):
    def live(*args):
        return subprocess.run([sys.executable, "-m", "engine.cli", "live", *map(str, args)],
                              cwd=REPO, capture_output=True, text=True, timeout=30)

    r = live("-i", "xw-no-such0", "-o", tmp_path / "o")
    assert r.returncode == 1 and "Interface xw-no-such0 does not exist." in r.stderr
    r = live("-i", "lo", "--bpf", "tcp port nosuchport", "-o", tmp_path / "o")
    assert r.returncode == 1 and "BPF filter 'tcp port nosuchport' is not valid" in r.stderr
    (tmp_path / "file").write_text("")
    r = live("-i", "lo", "-o", tmp_path / "file" / "sub")
    assert r.returncode == 2 and f"cannot write to {tmp_path / 'file' / 'sub'}" in r.stderr
    assert not (tmp_path / "o").exists()


def test_live_without_cap_net_raw_says_so(tmp_path):
    # as user nobody with no capabilities left
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", sys.executable, "-m", "engine.cli", "live",
                        "-i", "lo", "-o", tmp_path / "o"],
                       cwd=REPO, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stderr
    assert "No permission to capture on interface lo" in r.stderr
    assert "CAP_NET_RAW" in r.stderr


@pytest.mark.parametrize("lab", ["\n[core]\nkeep_kib_per_flow = 16\n"], indirect=True)
def test_live_alert_saves_the_first_kib_of_its_flow_and_extract_copies_it(lab, tmp_path):
    import dpkt

    from engine.cli import main

    net, sensor, eve = lab
    client_port = upload_then_stop(net, sensor, 5_000_000)
    events = read_eve(eve)
    flow = client_flows(events, client_port)[0]
    alert = next(e for e in events if e["event_type"] == "alert"
                 and flow["flow_id"] in e["exfil"]["evidence"]["flows"])
    aid = alert["exfil"]["alert_id"]
    assert json.loads((eve.parent / "run.json").read_text())["mode"] == "live"
    saved = eve.parent / "extract" / f"{aid}.pcap"
    with open(saved, "rb") as fh:
        frames = [bytes(frame) for _, frame in dpkt.pcap.Reader(fh)]
    for frame in frames:
        ip = dpkt.ethernet.Ethernet(frame).data
        ends = {(dpkt.utils.inet_to_str(ip.src), ip.data.sport),
                (dpkt.utils.inet_to_str(ip.dst), ip.data.dport)}
        assert ends == {(CLIENT_ADDR, client_port), (SERVER_ADDR, PORT)}
    assert dpkt.ethernet.Ethernet(frames[0]).data.data.flags & dpkt.tcp.TH_SYN
    assert 16 * 1024 <= sum(map(len, frames)) < 16 * 1024 + 70_000    # one frame crosses it (GRO)
    copy = tmp_path / "x.pcap"
    assert main(["extract", str(eve.parent), "--alert", aid, "-o", str(copy)]) == 0
    assert copy.read_bytes() == saved.read_bytes()
