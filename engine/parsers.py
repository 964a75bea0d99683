"""The handshake parsers the Python layers call: the compiled core's, or
with EXFILWATCH_PURE_PARSERS=1 in the environment the pure-Python twin
(engine/parsers_py). Both have the same API and give the same records.

The variable is read once, when this module is first imported; the layers
import the parsers from here, never from engine._core directly.
"""
import os

from . import _core, parsers_py

PURE = os.environ.get("EXFILWATCH_PURE_PARSERS", "") not in ("", "0")
IMPLEMENTATION = "pure" if PURE else "core"

# name -> module, for the differential tests and fuzz target that run both
IMPLEMENTATIONS = {"core": _core, "pure": parsers_py}

_chosen = IMPLEMENTATIONS[IMPLEMENTATION]

TLS_STATUS_NAMES = _chosen.TLS_STATUS_NAMES
TLS_HRR_RANDOM = _chosen.TLS_HRR_RANDOM
SSH_STATUS_NAMES = _chosen.SSH_STATUS_NAMES
SSH_KEXINIT_LIST_NAMES = _chosen.SSH_KEXINIT_LIST_NAMES
parse_client_hello = _chosen.parse_client_hello
parse_server_hello = _chosen.parse_server_hello
parse_certificate = _chosen.parse_certificate
parse_sslv2_client_hello = _chosen.parse_sslv2_client_hello
parse_handshake_messages = _chosen.parse_handshake_messages
split_tls_records = _chosen.split_tls_records
is_grease = _chosen.is_grease
parse_ssh_stream = _chosen.parse_ssh_stream
