"""Fuzz engine.quic.decode_initials on lists of datagrams.

Input: [u8 mode][u8 client count][datagrams as u16-length chunks...].
Mode bit 0 / bit 1: protect the client's / server's first datagram (below);
bit 2: QUIC v2 instead of v1.
Random bytes rarely survive AEAD decryption, so mode bit 0 makes the
client's first datagram a correctly protected Initial (RFC 9001 keys from a
fixed DCID) whose *plaintext* is the first chunk: that lets the fuzzer reach
frame parsing, CRYPTO reassembly and the ClientHello behind it.
"""
from common import Reader, fuzzing_imports, main

with fuzzing_imports(__name__):
    from engine import quic

import quic_vectors  # tests/: protect_initial, the RFC 9001 packet builder

MAX_DATAGRAMS = 8


def protected(plaintext: bytes, version: int, sender: str) -> bytes:
    payload = plaintext.ljust(20, b"\0")                 # room for the HP sample
    return quic_vectors.protect_initial(payload, version=version, sender=sender,
                                        keys_dcid=quic_vectors.DCID)


def TestOneInput(data: bytes) -> None:
    r = Reader(data)
    mode = r.u8()
    n_client = r.u8() % (MAX_DATAGRAMS + 1)
    datagrams = r.chunks(2 * MAX_DATAGRAMS)
    client, server = datagrams[:n_client], datagrams[n_client:]
    version = 0x6B3343CF if mode & 4 else 1
    if mode & 1 and client:
        client[0] = protected(client[0], version, "client")
    if mode & 2 and server:
        server[0] = protected(server[0], version, "server")
    out = quic.decode_initials(client, server)
    assert isinstance(out, dict) and "status" in out


if __name__ == "__main__":
    main(TestOneInput)
