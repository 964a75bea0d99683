"""Configuration: one immutable object per layer, validated on creation.

Every cap from the table in DESIGN.md is a named field here with its
default; a bad value raises ConfigError naming the field and the limit.
"""
from dataclasses import dataclass, fields

from .errors import ConfigError


@dataclass(frozen=True, slots=True)
class CoreConfig:
    """Caps and timeouts of the Cython core. Times are in seconds of packet time."""

    max_flows: int = 1_000_000
    tcp_timeout_new_s: float = 30.0
    tcp_timeout_established_s: float = 600.0
    tcp_timeout_closed_s: float = 30.0
    # Suricata's defaults for UDP and ICMP flows
    other_timeout_new_s: float = 30.0
    other_timeout_established_s: float = 300.0
    max_fragment_sets: int = 1024
    fragment_timeout_s: float = 60.0
    # handshake capture: bytes kept per direction until the handshake is over
    handshake_bytes_per_direction: int = 64 * 1024
    # plaintext (STARTTLS, proxy) bytes a direction may send before TLS starts
    handshake_preamble_bytes: int = 8 * 1024
    max_ooo_segments: int = 16
    quic_max_datagrams: int = 16
    # all handshake buffers together; flows beyond it are not captured
    handshake_memory_mb: int = 256

    def __post_init__(self):
        _require_range(self, "max_flows", 1, 2**31 - 1)
        _require_range(self, "max_fragment_sets", 0, 1 << 20)
        _require_range(self, "handshake_bytes_per_direction", 1024, 16 << 20)
        _require_range(self, "handshake_preamble_bytes", 0, 1 << 20)
        _require_range(self, "max_ooo_segments", 1, 255)
        _require_range(self, "quic_max_datagrams", 1, 255)
        _require_range(self, "handshake_memory_mb", 1, 1 << 20)
        for f in fields(self):
            if f.name.endswith("_s"):
                _require_range(self, f.name, 0.001, 365 * 86400.0)


def _require_range(cfg, name, low, high):
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(
            f"Configuration field '{name}' is {value!r}; it must be a number from {low} to {high}."
        )
