"""Two network namespaces joined by a veth pair, for live-capture tests,
and the TLS peers that run inside them.

    with VethPair() as net:             # fails the test if `ip netns` cannot be used
        net.popen(net.server_ns, [...])  # a command inside a namespace
        net.client_if                   # the veth end in the client namespace

Traffic never leaves the two namespaces: they hold only their loopback
and their veth end (10.99.0.1/24 client, 10.99.0.2/24 server), with no
route elsewhere. Names carry the pid and a counter so that parallel runs
do not collide; both namespaces (and with them the veth pair) are deleted
on exit, also when the test fails.

Run as a script, the file is the TLS server or the uploading client:

    python netns.py serve CERT KEY ADDR PORT
    python netns.py upload ADDR PORT SNI NBYTES [CHUNK DELAY_S]
"""
import itertools
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time

CLIENT_ADDR = "10.99.0.1"
SERVER_ADDR = "10.99.0.2"
_counter = itertools.count()


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=check)


class VethPair:
    def __init__(self):
        tag = f"{os.getpid() % 100000}{next(_counter)}"
        self.client_ns, self.server_ns = f"xwtest-c{tag}", f"xwtest-s{tag}"
        self.client_if, self.server_if = f"xwc{tag}", f"xws{tag}"   # <= 15 characters

    def __enter__(self):
        import pytest
        if shutil.which("ip") is None:
            pytest.fail("The `ip` command (iproute2) is missing: live tests need `ip netns`.")
        try:
            self._setup()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            self.__exit__(None, None, None)
            err = getattr(exc, "stderr", "") or ""
            pytest.fail(f"Cannot create network namespaces with `ip netns` (live tests run as "
                        f"root): {' '.join(exc.cmd)} failed: {err.strip()}")
        return self

    def _setup(self):
        _ip("netns", "add", self.client_ns)
        _ip("netns", "add", self.server_ns)
        _ip("link", "add", self.client_if, "netns", self.client_ns,
            "type", "veth", "peer", "name", self.server_if, "netns", self.server_ns)
        for ns, dev, addr in ((self.client_ns, self.client_if, CLIENT_ADDR),
                              (self.server_ns, self.server_if, SERVER_ADDR)):
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def __exit__(self, *exc):
        for ns in (self.client_ns, self.server_ns):
            _ip("netns", "del", ns, check=False)

    def popen(self, ns: str, argv, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", ns, *map(str, argv)], **kwargs)


def wait_for_port(net: VethPair, addr: str, port: int, timeout_s: float = 10.0) -> None:
    """Wait until something listens on addr:port, probing from the client
    namespace (a plain TCP connect, closed at once)."""
    probe = (f"import socket,sys\ns=socket.create_connection(({addr!r},{port}),timeout=1)\n"
             f"s.close()")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if net.popen(net.client_ns, [sys.executable, "-c", probe],
                     stderr=subprocess.DEVNULL).wait(timeout=5) == 0:
            return
        time.sleep(0.1)
    raise TimeoutError(f"Nothing listens on {addr}:{port} after {timeout_s} s.")


# -- the TLS peers ----------------------------------------------------------

def serve(cert: str, key: str, addr: str, port: int) -> None:
    """Accept TLS 1.2 connections (1.2, so that the certificate crosses the
    wire in clear), each in its own thread so that uploads run side by side;
    each sends an 8-byte length then that many bytes, and gets b"ok" back."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    with socket.create_server((addr, port), backlog=64) as listener:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=_serve_one, args=(ctx, conn), daemon=True).start()


def _serve_one(ctx, conn) -> None:
    try:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            want = int.from_bytes(_read(tls, 8), "big")
            while want > 0:
                chunk = tls.recv(min(want, 1 << 16))
                if not chunk:
                    break
                want -= len(chunk)
            tls.sendall(b"ok")
    except (OSError, ssl.SSLError, ConnectionError):
        pass        # the probe of wait_for_port, or a client stopped midway


def _read(tls, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = tls.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed early")
        data += chunk
    return data


def upload(addr: str, port: int, sni: str, nbytes: int, chunk: int = 1 << 16,
           delay_s: float = 0.0) -> None:
    """Upload nbytes over TLS to addr:port, naming sni; print the local port
    first (so the test knows the flow's 5-tuple)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((addr, port), timeout=30) as sock:
        print(sock.getsockname()[1], flush=True)
        with ctx.wrap_socket(sock, server_hostname=sni) as tls:
            tls.sendall(nbytes.to_bytes(8, "big"))
            block = os.urandom(chunk)
            sent = 0
            while sent < nbytes:
                n = min(chunk, nbytes - sent)
                tls.sendall(block[:n])
                sent += n
                if delay_s:
                    time.sleep(delay_s)
            assert _read(tls, 2) == b"ok"


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    if mode == "serve":
        serve(rest[0], rest[1], rest[2], int(rest[3]))
    elif mode == "upload":
        upload(rest[0], int(rest[1]), rest[2], int(rest[3]),
               *(int(rest[4]), float(rest[5])) if len(rest) > 4 else ())
    else:
        sys.exit(f"unknown mode {mode!r}; use serve or upload")
