"""Handshake fingerprints computed from the hello records of engine.parsers.

ja3     JA3 / JA3S (salesforce, BSD 3-Clause)
ja4     JA4, JA4_r, JA4_o, JA4_ro (FoxIO, BSD 3-Clause)
ja4s    JA4S, JA4S_r (FoxIO License 1.1: kept in its own module, see there)
ja4ssh  JA4SSH string of a core JA4SSH window (FoxIO License 1.1, likewise)
hassh   HASSH / HASSHServer of an SSH KEXINIT (salesforce, BSD 3-Clause)

Each function takes the dict returned by ``parse_client_hello`` /
``parse_server_hello`` (or a dict with the same keys; absent keys count as
empty) and returns strings; none of them raises on a truncated record.
"""


# RFC 8701 GREASE values 0x0a0a, 0x1a1a, ... 0xfafa; a set because the
# fingerprints filter every list of every hello through it
GREASE_VALUES = frozenset(0x0A0A + 0x1010 * i for i in range(16))


def is_grease(value: int) -> bool:
    return value in GREASE_VALUES


def without_grease(values) -> list:
    return [v for v in values or () if v not in GREASE_VALUES]
