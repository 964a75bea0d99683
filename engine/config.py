"""Configuration: one immutable object per layer, validated on creation.

Every cap from the table in DESIGN.md is a named field here with its
default; a bad value raises ConfigError naming the field and the limit.
"""
from dataclasses import MISSING, dataclass, fields

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
    # long flows get an interim record this often (0 disables them)
    interim_interval_s: float = 300.0
    max_fragment_sets: int = 1024
    fragment_timeout_s: float = 60.0
    # False makes the core flow-only: no handshake is captured or parsed
    capture_handshakes: bool = True
    # handshake capture: bytes kept per direction until the handshake is over
    handshake_bytes_per_direction: int = 64 * 1024
    # plaintext (STARTTLS, proxy) bytes a direction may send before TLS starts
    handshake_preamble_bytes: int = 8 * 1024
    max_ooo_segments: int = 16
    quic_max_datagrams: int = 16
    # all handshake buffers together; flows beyond it are not captured
    handshake_memory_mb: int = 256
    # Tier-2 packets: the first KiB of each flow's frames are kept (0: none),
    # in one ring of keep_memory_mb for all flows, the oldest overwritten
    keep_kib_per_flow: int = 0
    keep_memory_mb: int = 64

    def __post_init__(self):
        _require_range(self, "max_flows", 1, 2**31 - 1)
        _require_range(self, "max_fragment_sets", 0, 1 << 20)
        _require_range(self, "handshake_bytes_per_direction", 1024, 16 << 20)
        _require_range(self, "handshake_preamble_bytes", 0, 1 << 20)
        _require_range(self, "max_ooo_segments", 1, 255)
        _require_range(self, "quic_max_datagrams", 1, 255)
        _require_range(self, "handshake_memory_mb", 1, 1 << 20)
        _require_range(self, "keep_kib_per_flow", 0, 1 << 20)
        _require_range(self, "keep_memory_mb", 1, 1 << 20)
        for f in fields(self):
            if f.name == "interim_interval_s" and self.interim_interval_s == 0:
                continue
            if f.name.endswith("_s"):
                _require_range(self, f.name, 0.001, 365 * 86400.0)


def _require_range(cfg, name, low, high):
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        problem = f"is {value!r}; it must be a number from {low} to {high}"
        raise ConfigError(f"Configuration field '{name}' {problem}.", key=name, problem=problem)


def _type_problem(value, default):
    """Why `value` cannot stand where `default`'s type is expected, or None."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value) \
            if not default or isinstance(default[0], str) else isinstance(value, list)
    else:
        ok = isinstance(value, type(default))
    if ok:
        return None
    kind = {bool: "true or false", float: "a number", int: "an integer", str: "a string",
            list: "a list", tuple: "a list", dict: "a table"}.get(type(default), "a value")
    return f"must be {kind}, not {value!r}"


def require_table(table, where: str, known) -> None:
    """The checks every configuration table starts with: a table, and no
    key but the known ones (each error names the full key)."""
    if not isinstance(table, dict):
        raise ConfigError(f"Configuration key '{where}' must be a table, not {table!r}.")
    for key in table:
        if key not in known:
            raise ConfigError(f"Configuration key '{where}.{key}' is not known; "
                              f"[{where}] takes: {', '.join(sorted(known))}.")


def from_table(cls, table, where: str, default_where: str | None = None):
    """A config dataclass from a TOML table, every problem named by its full
    key ("Configuration key 'core.max_flows' is 0; it must be ...").
    `default_where`: the table name a class's own range checks write into
    their messages; it is restated as `where`."""
    known = {f.name: f for f in fields(cls)}
    require_table(table, where, known)
    values = {}
    for key, value in table.items():
        f = known[key]
        default = f.default_factory() if f.default is MISSING else f.default
        problem = _type_problem(value, default)
        if problem:
            raise ConfigError(f"Configuration key '{where}.{key}' {problem}.")
        values[key] = tuple(value) if isinstance(default, tuple) else value
    try:
        return cls(**values)
    except ConfigError as exc:
        if exc.key is not None:
            raise ConfigError(f"Configuration key '{where}.{exc.key}' {exc.problem}.") from None
        if default_where and default_where != where:
            raise ConfigError(str(exc).replace(f"'{default_where}.", f"'{where}.")) from None
        raise
