"""HASSH and HASSHServer fingerprints of an SSH KEXINIT (Salesforce, BSD-3).

HASSH (client) is the MD5 of ``kex;enc_c2s;mac_c2s;comp_c2s`` of the
client's KEXINIT; HASSHServer is the MD5 of ``kex;enc_s2c;mac_s2c;comp_s2c``
of the server's. The name-lists are used exactly as sent (no sorting, no
GREASE-like filtering), as https://github.com/salesforce/hassh and
Suricata's ``ssh.{client,server}.hassh`` do. ``kexinit`` is the dict that
``engine.parsers.parse_ssh_stream`` returns under "kexinit".
"""
import hashlib

__all__ = ["hassh_string", "hassh"]

_CLIENT_FIELDS = (
    "kex_algorithms",
    "encryption_algorithms_client_to_server",
    "mac_algorithms_client_to_server",
    "compression_algorithms_client_to_server",
)
_SERVER_FIELDS = (
    "kex_algorithms",
    "encryption_algorithms_server_to_client",
    "mac_algorithms_server_to_client",
    "compression_algorithms_server_to_client",
)


def hassh_string(kexinit, client=True):
    """The HASSH (client=True) or HASSHServer (client=False) string of a KEXINIT."""
    fields = _CLIENT_FIELDS if client else _SERVER_FIELDS
    return ";".join(kexinit[name] for name in fields)


def hassh(kexinit, client=True):
    """(string, md5 hex) of the HASSH or HASSHServer of a KEXINIT; None without one.

    The MD5 is taken over the wire bytes: name-lists from parse_ssh_stream
    are UTF-8 decoded with surrogateescape, which this encoding reverses.
    """
    if kexinit is None:
        return None
    text = hassh_string(kexinit, client)
    digest = hashlib.md5(text.encode("utf-8", "surrogateescape"), usedforsecurity=False)
    return text, digest.hexdigest()
