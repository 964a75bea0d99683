"""Pure-Python twin of the core's handshake parsers (engine/_tls.pxi, engine/_ssh.pxi).

The same functions, record dicts, status names and caps as the compiled
ones, written in plain Python so that the two can be compared (differential
tests, tests/test_parser_twin.py; fuzzing, fuzz/fuzz_parser_twin.py) and so
that the Python layers run on either (EXFILWATCH_PURE_PARSERS=1, see
engine/parsers.py), as msgpack ships fallback.py beside its extension.
"""
from .ssh import SSH_KEXINIT_LIST_NAMES, SSH_STATUS_NAMES, parse_ssh_stream
from .tls import (TLS_HRR_RANDOM, TLS_STATUS_NAMES, is_grease, parse_certificate,
                  parse_client_hello, parse_handshake_messages, parse_server_hello,
                  parse_sslv2_client_hello, split_tls_records)

__all__ = ["SSH_KEXINIT_LIST_NAMES", "SSH_STATUS_NAMES", "TLS_HRR_RANDOM", "TLS_STATUS_NAMES",
           "is_grease", "parse_certificate", "parse_client_hello", "parse_handshake_messages",
           "parse_server_hello", "parse_sslv2_client_hello", "parse_ssh_stream",
           "split_tls_records"]
