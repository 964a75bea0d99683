"""The `[outputs]` table: where EVE records go, and the spool behind the network outputs.

    [outputs]
    eve_file = true          # DIR/eve.json
    rotate_mb = 0.0          # rotate eve.json past this size in MiB (0: never)
    rotate_keep = 5          # eve.json.1 .. eve.json.5 kept
    stdout = false           # also one EVE line per record on stdout
    spool_dir = ""           # "": DIR/spool; one sub-directory per network output
    spool_max_mb = 256.0     # per output; past it new records are dropped and counted

    [outputs.syslog]         # present: RFC 5424 messages to a collector
    address = "127.0.0.1"
    port = 514
    protocol = "tcp"         # or "udp" (cannot detect loss)
    facility = "local0"      # a name of SysLogHandler.facility_names
    severity = "info"        # a name of SysLogHandler.priority_names
    app_name = "exfilwatch"
    hostname = ""            # "": this host's name
    timeout_s = 2.0          # connect and send timeout

    [outputs.redis]          # present: XADD to a Redis stream
    url = "redis://127.0.0.1:6379/0"
    stream = "exfilwatch:eve"
    maxlen = 1000000         # MAXLEN ~: the stream's approximate cap
    timeout_s = 2.0
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from ..config import _require_range, from_table
from ..errors import ConfigError
from .syslog import FACILITIES, SEVERITIES

# RFC 5424 6.2: PRINTUSASCII (no space), with a length cap per header field
_HEADER_FIELD = re.compile(r"^[\x21-\x7e]+$")


def _problem(key: str, problem: str) -> ConfigError:
    return ConfigError(f"Configuration field '{key}' {problem}.", key=key, problem=problem)


def _require_choice(cfg, key: str, choices) -> None:
    value = getattr(cfg, key)
    if value not in choices:
        raise _problem(key, f"is {value!r}; it must be one of {', '.join(sorted(choices))}")


def _require_header_field(cfg, key: str, max_len: int, allow_empty: bool = False) -> None:
    value = getattr(cfg, key)
    if (value or not allow_empty) and not (len(value) <= max_len and _HEADER_FIELD.match(value)):
        raise _problem(key, f"is {value!r}; it must be 1 to {max_len} printable ASCII "
                            "characters without spaces (RFC 5424)")


@dataclass(frozen=True, slots=True)
class SyslogConfig:
    address: str = "127.0.0.1"
    port: int = 514
    protocol: str = "tcp"
    facility: str = "local0"
    severity: str = "info"
    app_name: str = "exfilwatch"
    hostname: str = ""
    timeout_s: float = 2.0

    def __post_init__(self):
        if not self.address:
            raise _problem("address", "is empty; it must be the collector's host name or address")
        _require_range(self, "port", 1, 65535)
        _require_choice(self, "protocol", ("tcp", "udp"))
        _require_choice(self, "facility", FACILITIES)
        _require_choice(self, "severity", SEVERITIES)
        _require_header_field(self, "app_name", 48)
        _require_header_field(self, "hostname", 255, allow_empty=True)
        _require_range(self, "timeout_s", 0.01, 60.0)


@dataclass(frozen=True, slots=True)
class RedisConfig:
    url: str = "redis://127.0.0.1:6379/0"
    stream: str = "exfilwatch:eve"
    maxlen: int = 1_000_000
    timeout_s: float = 2.0

    def __post_init__(self):
        from redis.connection import parse_url     # redis-py loads only when used

        try:
            parse_url(self.url)
        except ValueError as exc:
            raise _problem("url", f"is {self.url!r}, not a Redis URL ({exc})") from None
        if not self.stream:
            raise _problem("stream", "is empty; it must name the stream records are added to")
        _require_range(self, "maxlen", 1, 2**63 - 1)
        _require_range(self, "timeout_s", 0.01, 60.0)


_NETWORK = {"syslog": SyslogConfig, "redis": RedisConfig}


@dataclass(frozen=True, slots=True)
class OutputsConfig:
    eve_file: bool = True
    rotate_mb: float = 0.0
    rotate_keep: int = 5
    stdout: bool = False
    spool_dir: str = ""
    spool_max_mb: float = 256.0
    syslog: SyslogConfig | None = None
    redis: RedisConfig | None = None

    def __post_init__(self):
        _require_range(self, "rotate_mb", 0, 1 << 20)
        _require_range(self, "rotate_keep", 1, 1000)
        _require_range(self, "spool_max_mb", 0.01, 1 << 20)

    @classmethod
    def from_table(cls, table, where: str = "outputs") -> "OutputsConfig":
        """Validate a parsed TOML table; ConfigError names the full key."""
        if not isinstance(table, dict):
            raise ConfigError(f"Configuration key '{where}' must be a table, not {table!r}.")
        network = {name: from_table(sub, table[name], f"{where}.{name}")
                   for name, sub in _NETWORK.items() if name in table}
        plain = from_table(cls, {k: v for k, v in table.items() if k not in _NETWORK}, where)
        outputs = dataclasses.replace(plain, **network)
        if not (outputs.eve_file or outputs.stdout or outputs.syslog or outputs.redis):
            raise ConfigError(f"Configuration table [{where}] turns every output off; keep "
                              "eve_file = true or enable stdout, syslog or redis.")
        return outputs
