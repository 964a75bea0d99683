"""Real collectors for the output tests: rsyslogd and redis-server, each
started by the test on a free loopback port and stopped afterwards.

    with Rsyslog(tmp_path) as syslog:      # fails the test if rsyslogd is missing
        syslog.port                        # UDP and TCP, 127.0.0.1
        syslog.messages(60)                # the MSG parts received, in order
    with RedisServer() as server:
        server.port; server.stop(); server.start()

Neither listens anywhere but 127.0.0.1. rsyslog writes each message's MSG
part (the EVE JSON) as one line of a file, through a direct (unqueued)
action, so that stopping it loses nothing it had accepted.
"""
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

WAIT_S = 15.0

RSYSLOG_CONF = """\
global(workDirectory="{dir}" maxMessageSize="256k")
main_queue(queue.type="Direct")
module(load="imudp")
module(load="imtcp")
template(name="msgonly" type="string" string="%msg%\\n")
template(name="header" type="string"
         string="%pri% %hostname% %app-name% %procid% %msgid% %structured-data%\\n")
input(type="imudp" address="127.0.0.1" port="{port}")
input(type="imtcp" address="127.0.0.1" port="{port}")
action(type="omfile" file="{dir}/messages" template="msgonly")
action(type="omfile" file="{dir}/headers" template="header")
"""


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port


def _require(program: str, package: str) -> str:
    path = shutil.which(program) or shutil.which(f"/usr/sbin/{program}")
    if path is None:
        pytest.fail(f"`{program}` is missing: install the Debian package {package} "
                    f"(make test installs it).")
    return path


def _wait_for(predicate, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"Timed out after {WAIT_S:g} s waiting for {what}.")


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


class _Server:
    """A server process on self.port; start(), stop() and a context manager."""

    def __init__(self):
        self.port = free_port()
        self.proc = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        _wait_for(lambda: _listening(self.port) or self.proc.poll() is not None,
                  f"{self.command()[0]} to listen on 127.0.0.1:{self.port}")
        if self.proc.poll() is not None:
            pytest.fail(f"{' '.join(self.command())} exited: {self.proc.stderr.read().decode()}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=WAIT_S)
        self.proc = None


class Rsyslog(_Server):
    def __init__(self, directory):
        super().__init__()
        self.dir = str(directory)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "rsyslog.conf")
        with open(self.conf, "w") as fh:
            fh.write(RSYSLOG_CONF.format(dir=self.dir, port=self.port))
        self.program = _require("rsyslogd", "rsyslog")

    def command(self):
        return [self.program, "-n", "-f", self.conf, "-i", os.path.join(self.dir, "rsyslogd.pid")]

    def _lines(self, name):
        try:
            with open(os.path.join(self.dir, name), encoding="utf-8") as fh:
                return fh.read().splitlines()
        except FileNotFoundError:
            return []

    def messages(self, count: int) -> list[str]:
        """The MSG parts received, once ``count`` of them have arrived."""
        _wait_for(lambda: len(self._lines("messages")) >= count,
                  f"{count} syslog messages in {self.dir}/messages")
        return self._lines("messages")

    def headers(self) -> list[str]:
        """rsyslog's reading of each message's header: PRI HOSTNAME APP-NAME PROCID MSGID SD."""
        return self._lines("headers")


class RedisServer(_Server):
    def __init__(self):
        super().__init__()
        self.program = _require("redis-server", "redis-server")

    def command(self):
        return [self.program, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no"]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"
