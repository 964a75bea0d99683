# JA4SSH is part of JA4+ by FoxIO and is licensed under the FoxIO License 1.1,
# not BSD-3 like the rest of exfilwatch: it is kept in its own module for
# that reason (see the README's licence section).
"""JA4SSH: SSH traffic fingerprint of a window of 200 packets."""
from ..records import Ja4sshRecord


def ja4ssh(w: Ja4sshRecord) -> str:
    """c{client mode}s{server mode}_c{client pkts}s{server pkts}_c{client acks}s{server acks}"""
    return (f"c{w.client_payload_mode}s{w.server_payload_mode}"
            f"_c{w.client_packets}s{w.server_packets}_c{w.client_acks}s{w.server_acks}")
