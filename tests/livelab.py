"""The live-capture lab: a veth pair between two namespaces (netns.py), a
TLS server in one, `exfilwatch live` on the client's veth end, and the
helpers the live tests share (uploads, stopping, reading eve.json).

    with sensor_lab(tmp_path, config="...", args=["--workers", "2"]) as lab:
        client = lab.upload(5_000_000)
        ...
        rc, err = lab.stop()
        events = lab.events()
"""
import contextlib
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
BASE_CONFIG = '[aggregate]\nhome_net = ["10.99.0.1/32"]\n'


def read_eve(path: Path) -> list:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


class Lab:
    def __init__(self, net, sensor, out: Path, config: Path, pems: tuple, procs: list):
        self.net, self.sensor, self.out, self.config = net, sensor, out, config
        self.eve = out / "eve.json"
        self._pems, self.procs = pems, procs

    def events(self) -> list:
        return read_eve(self.eve)

    def upload(self, nbytes, chunk=1 << 16, delay_s=0.0, addr=SERVER_ADDR) -> subprocess.Popen:
        """A TLS upload from the client namespace; its first line of output
        is the client port."""
        return self.net.popen(self.net.client_ns,
                              [sys.executable, PEERS, "upload", addr, PORT, SNI, nbytes,
                               chunk, delay_s],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def serve(self, ns: str, addr: str) -> subprocess.Popen:
        """One more TLS server (the lab's certificate), in namespace ``ns``."""
        server = self.net.popen(ns, [sys.executable, PEERS, "serve", *self._pems, addr, PORT])
        self.procs.append(server)
        wait_for_port(self.net, addr, PORT)
        return server

    def upload_done(self, nbytes, addr=SERVER_ADDR) -> int:
        """Upload to the end; the client port."""
        client = self.upload(nbytes, addr=addr)
        out, err = client.communicate(timeout=60)
        assert client.returncode == 0, err
        return int(out.split()[0])

    def wait_for(self, predicate, what: str, timeout_s: float = 15.0):
        """Poll eve.json until predicate(events) is true (its value returned)."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = predicate(self.events())
            if value:
                return value
            assert self.sensor.poll() is None, self.sensor.communicate()[1].decode()
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    def add_sensor(self, out: Path, *args) -> subprocess.Popen:
        """`exfilwatch live` on the client's veth end (stats every 0.2 s,
        filter on the server port, the lab's config, plus ``args``) writing
        into ``out``, returned once its first stats record says its handles
        are open and reading. The lab's own sensor is the first of them."""
        sensor = self.net.popen(self.net.client_ns,
                                [sys.executable, "-m", "engine.cli", "live", "-i",
                                 self.net.client_if, "-o", out, "-c", self.config,
                                 "--stats-interval", "0.2", "--quiet", "--bpf",
                                 f"tcp port {PORT}", *args],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(sensor)
        deadline = time.monotonic() + 20
        while not any(e["event_type"] == "stats" for e in read_eve(out / "eve.json")):
            assert sensor.poll() is None, sensor.communicate()[1].decode()
            assert time.monotonic() < deadline, "timed out waiting for the first stats record"
            time.sleep(0.05)
        return sensor

    def stop(self, sensor=None) -> tuple:
        """SIGTERM to a sensor (the lab's by default); its exit status and stderr."""
        sensor = sensor or self.sensor
        sensor.send_signal(signal.SIGTERM)
        try:
            _, err = sensor.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            sensor.kill()
            pytest.fail("exfilwatch live did not stop within 40 s of SIGTERM")
        return sensor.returncode, err.decode()


@contextlib.contextmanager
def sensor_lab(tmp_path: Path, config: str = "", args=(), out: Path | None = None,
               interfaces=()):
    """Namespaces, a TLS server on SERVER_ADDR:PORT and `exfilwatch live` on
    the client's veth end and ``interfaces`` of the client namespace (stats
    every 0.2 s, filter on the server port, plus ``args``), started once its
    first stats record is written; all gone afterwards."""
    root = mint_root()
    leaf = mint_leaf(root, SNI)
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    cert.write_bytes(leaf.cert.public_bytes(serialization.Encoding.PEM)
                     + root.cert.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(leaf.key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    config_path = tmp_path / "exfilwatch.toml"
    config_path.write_text(BASE_CONFIG + config)
    out = out or tmp_path / "out"
    procs = []
    with VethPair() as net:
        try:
            server = net.popen(net.server_ns, [sys.executable, PEERS, "serve", cert, key,
                                               SERVER_ADDR, PORT])
            procs.append(server)
            wait_for_port(net, SERVER_ADDR, PORT)
            lab = Lab(net, None, out, config_path, (cert, key), procs)
            lab.sensor = lab.add_sensor(out, *(a for i in interfaces for a in ("-i", i)), *args)
            yield lab
        finally:
            for p in reversed(procs):
                if p.poll() is None:
                    p.kill()
                p.wait(timeout=10)


def client_flows(events, client_port, final_only=True, client=CLIENT_ADDR, server=SERVER_ADDR):
    return [e for e in events if e["event_type"] == "flow" and e["src_ip"] == client
            and e["src_port"] == client_port and e["dest_ip"] == server
            and e["dest_port"] == PORT and e["proto"] == "TCP"
            and not (final_only and e["flow"].get("interim"))]


def totals(events) -> list:
    """The sensor's `stats` records (with workers: the totals, not each worker's)."""
    return [e for e in events if e["event_type"] == "stats" and "worker" not in e["stats"]["capture"]]
