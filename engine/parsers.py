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

if PURE:
    from .parsers_py import (SSH_KEXINIT_LIST_NAMES, SSH_STATUS_NAMES, TLS_HRR_RANDOM,
                             TLS_STATUS_NAMES, is_grease, parse_certificate, parse_client_hello,
                             parse_handshake_messages, parse_server_hello,
                             parse_sslv2_client_hello, parse_ssh_stream, split_tls_records)
else:
    from ._core import (SSH_KEXINIT_LIST_NAMES, SSH_STATUS_NAMES, TLS_HRR_RANDOM,
                        TLS_STATUS_NAMES, is_grease, parse_certificate, parse_client_hello,
                        parse_handshake_messages, parse_server_hello, parse_sslv2_client_hello,
                        parse_ssh_stream, split_tls_records)
