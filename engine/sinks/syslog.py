"""EVE records to a syslog collector: RFC 5424 messages over UDP or TCP.

One EVE JSON object per message, as the MSG part:

    <134>1 2026-11-28T04:00:00.123456Z sensor1 exfilwatch 4242 flow - {"timestamp":...}

PRI is facility * 8 + severity, MSGID is the record's event_type (so a
collector can route alerts apart), STRUCTURED-DATA is empty ("-"). The
MSG is UTF-8 JSON without a BOM (RFC 5424 6.4 allows it; rsyslog, syslog-ng
and Splunk take the JSON as is). On TCP each message is framed by octet
counting (RFC 6587 3.4.1: "LEN SP MSG"), which a JSON body cannot break.

Collectors cap the message size: rsyslog at 8 KiB by default, and `tls`
records with their certificate chain are larger; raise it
(``global(maxMessageSize="256k")`` in rsyslog) or the collector truncates.

UDP cannot tell that a datagram was lost: a collector that is down or
overrun drops them silently (only a refused port on the same host is
noticed, through ICMP). Use TCP when records must not be lost: a refused,
reset or timed-out connection sends the records to the spool until the
collector returns. TCP syslog has no acknowledgement either; a connection
closed by the collector is detected before each batch, so only a collector
that dies in the middle of a batch can lose that batch's last messages
(RELP would close that gap).

The header is formatted here rather than through a logging handler:
records are already-encoded EVE lines that must be spooled and framed per
transport, which the stdlib SysLogHandler (RFC 3164) and the RFC 5424
logging handlers do not do; their facility and severity names are the
stdlib's (``SysLogHandler.facility_names``).
"""
from __future__ import annotations

import errno
import logging
import os
import socket
from datetime import datetime, timezone
from logging.handlers import SysLogHandler

from .delivery import OutputUnavailable

log = logging.getLogger(__name__)

FACILITIES = SysLogHandler.facility_names          # "local0" -> 16, ...
SEVERITIES = SysLogHandler.priority_names          # "info" -> 6, ...


def rfc5424_message(msg: bytes, *, facility: int, severity: int, hostname: str,
                    app_name: str, procid: str, msgid: str, timestamp: datetime) -> bytes:
    """One RFC 5424 message (section 6) with an empty STRUCTURED-DATA."""
    stamp = timestamp.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    header = f"<{facility * 8 + severity}>1 {stamp} {hostname} {app_name} {procid} {msgid} - "
    return header.encode("ascii") + msg


def octet_counted(message: bytes) -> bytes:
    """RFC 6587 octet-counting frame: the length in decimal, a space, the message."""
    return b"%d %s" % (len(message), message)


class SyslogTransport:
    """A syslog collector at ``address``:``port`` over ``protocol`` (udp, tcp)."""

    name = "syslog"

    def __init__(self, config):
        self.config = config
        self._facility = FACILITIES[config.facility]
        self._severity = SEVERITIES[config.severity]
        self._hostname = config.hostname or socket.gethostname() or "-"
        self._procid = str(os.getpid())
        self._sock: socket.socket | None = None
        self.too_large = 0

    def describe(self) -> str:
        c = self.config
        return f"syslog output {c.protocol}://{c.address}:{c.port}"

    def counters(self) -> dict:
        return {"too_large": self.too_large}

    def prepare(self, event_type: str, line: bytes) -> bytes:
        return rfc5424_message(line, facility=self._facility, severity=self._severity,
                               hostname=self._hostname, app_name=self.config.app_name,
                               procid=self._procid, msgid=event_type or "-",
                               timestamp=datetime.now(timezone.utc))

    def send(self, records) -> None:
        sock = self._connected()
        sent = 0
        try:
            for message in records:
                if self.config.protocol == "tcp":
                    sock.sendall(octet_counted(message))
                else:
                    self._send_datagram(sock, message)
                sent += 1
        except OSError as exc:
            self.close()
            raise OutputUnavailable(exc.strerror or str(exc), delivered=sent) from exc

    def _send_datagram(self, sock, message: bytes) -> None:
        try:
            sock.send(message)
        except OSError as exc:
            if exc.errno != errno.EMSGSIZE:
                raise
            if not self.too_large:
                log.warning("%s: a record of %d bytes does not fit in a UDP datagram; such "
                            "records are not sent, counted in stats.outputs.syslog.too_large "
                            "(use TCP).", self.describe(), len(message))
            self.too_large += 1

    def _connected(self) -> socket.socket:
        if self._sock is not None and self.config.protocol == "tcp" and self._peer_closed():
            self.close()
        if self._sock is None:
            c = self.config
            kind = socket.SOCK_STREAM if c.protocol == "tcp" else socket.SOCK_DGRAM
            try:
                family, _, _, _, addr = socket.getaddrinfo(c.address, c.port, type=kind)[0]
                sock = socket.socket(family, kind)
                sock.settimeout(c.timeout_s)
                sock.connect(addr)
            except OSError as exc:
                raise OutputUnavailable(exc.strerror or str(exc)) from exc
            self._sock = sock
        return self._sock

    def _peer_closed(self) -> bool:
        """The collector closed or reset the connection since the last batch."""
        try:
            return self._sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
