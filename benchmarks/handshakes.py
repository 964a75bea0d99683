"""A pool of real TLS handshake transcripts, made once with OpenSSL and cached.

OpenSSL's key shares and randoms cannot be seeded, so a pool is generated
once per seed and stored; every corpus built from the same pool file is then
byte-identical. The file format is private to this module.
"""
from __future__ import annotations

import datetime
import logging
import random
import ssl
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

log = logging.getLogger(__name__)

POOL_MAGIC = b"EXWHSP01"
CLIENT, SERVER = 0, 1

_SNI_WORDS = ("www", "api", "cdn", "login", "static", "mail", "upload", "sync",
              "files", "backup", "telemetry", "drive", "img", "auth", "push")
_SNI_DOMAINS = ("example.com", "example.net", "example.org", "shop.test",
                "corp.example", "storage.invalid", "cloud.example.com")
_ALPN_CHOICES = (["h2", "http/1.1"], ["http/1.1"], ["h2"], [])


@dataclass(frozen=True, slots=True)
class Transcript:
    """One handshake as the wire saw it: alternating flights of TLS records."""

    tls_version: str                    # "TLSv1.2" | "TLSv1.3", as ssl reports it
    sni: str
    flights: tuple[tuple[int, bytes], ...]   # (CLIENT|SERVER, bytes), directions alternate


def load_or_make_pool(path: Path, seed: int, size: int = 64) -> list[Transcript]:
    """Return the pool stored at ``path``, generating and storing it first if absent."""
    if path.exists():
        return _read_pool(path)
    log.info("generating %d real TLS handshakes into %s", size, path)
    pool = make_pool(seed, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(_encode_pool(pool))
    tmp.replace(path)   # a half-written pool must never be mistaken for a cached one
    return pool


def make_pool(seed: int, size: int) -> list[Transcript]:
    """Run ``size`` real handshakes in memory: varied SNIs, key types, ALPN, TLS 1.2/1.3."""
    rng = random.Random(seed)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _make_cert("exfilwatch bench CA", ca_key, ca_key, None, is_ca=True)
    pool = []
    with tempfile.TemporaryDirectory(prefix="exw-hs-") as tmp:
        ca_pem = Path(tmp, "ca.pem")
        ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        for i in range(size):
            sni = f"{rng.choice(_SNI_WORDS)}{rng.randrange(1, 40)}.{rng.choice(_SNI_DOMAINS)}"
            # Mostly ECDSA as on today's web, some RSA for larger certificate flights.
            key = (rsa.generate_private_key(65537, rng.choice((2048, 3072)))
                   if i % 4 == 0 else ec.generate_private_key(ec.SECP256R1()))
            leaf = _make_cert(sni, key, ca_key, ca_cert, is_ca=False)
            chain_pem = Path(tmp, f"chain{i}.pem")
            key_pem = Path(tmp, f"key{i}.pem")
            chain_pem.write_bytes(leaf.public_bytes(serialization.Encoding.PEM)
                                  + ca_cert.public_bytes(serialization.Encoding.PEM))
            key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
            version = ssl.TLSVersion.TLSv1_2 if i % 3 == 2 else ssl.TLSVersion.TLSv1_3
            alpn = rng.choice(_ALPN_CHOICES)
            pool.append(_handshake(sni, version, alpn, chain_pem, key_pem, ca_pem))
    return pool


def _make_cert(cn, key, issuer_key, issuer_cert, *, is_ca):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    not_before = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(name)
               .issuer_name(issuer_cert.subject if issuer_cert else name)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before)
               .not_valid_after(not_before + datetime.timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True))
    if not is_ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]),
                                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _handshake(sni, version, alpn, chain_pem, key_pem, ca_pem) -> Transcript:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(chain_pem, key_pem)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(ca_pem)   # verify for real: proves the chain is sound
    client_ctx.maximum_version = version
    if version == ssl.TLSVersion.TLSv1_2:
        client_ctx.set_ciphers("ECDHE+AESGCM")   # fixes the record overhead the corpus assumes
    if alpn:
        client_ctx.set_alpn_protocols(alpn)
        server_ctx.set_alpn_protocols(alpn)
    bios = [(ssl.MemoryBIO(), ssl.MemoryBIO()) for _ in (CLIENT, SERVER)]
    ends = [client_ctx.wrap_bio(*bios[CLIENT], server_side=False, server_hostname=sni),
            server_ctx.wrap_bio(*bios[SERVER], server_side=True)]
    done = [False, False]
    flights: list[tuple[int, bytes]] = []
    side = CLIENT
    while True:
        if not done[side]:
            try:
                ends[side].do_handshake()
                done[side] = True
            except ssl.SSLWantReadError:
                pass
        out = bios[side][1].read()
        if out:
            # Consecutive writes by one side travel as one flight.
            if flights and flights[-1][0] == side:
                flights[-1] = (side, flights[-1][1] + out)
            else:
                flights.append((side, out))
            bios[1 - side][0].write(out)
        elif all(done) and not bios[1 - side][1].pending:
            break
        side = 1 - side
    return Transcript(ends[CLIENT].version(), sni, tuple(flights))


def _encode_pool(pool: list[Transcript]) -> bytes:
    parts = [POOL_MAGIC, struct.pack("!I", len(pool))]
    for t in pool:
        version, sni = t.tls_version.encode(), t.sni.encode()
        parts.append(struct.pack("!B", len(version)) + version
                     + struct.pack("!B", len(sni)) + sni + struct.pack("!H", len(t.flights)))
        for direction, data in t.flights:
            parts.append(struct.pack("!BI", direction, len(data)) + data)
    return b"".join(parts)


def _read_pool(path: Path) -> list[Transcript]:
    data = path.read_bytes()
    if data[:8] != POOL_MAGIC:
        raise ValueError(f"{path} is not a handshake pool file (bad magic); delete it to regenerate.")
    (count,), pos = struct.unpack_from("!I", data, 8), 12
    pool = []
    for _ in range(count):
        fields = []
        for _ in range(2):
            n = data[pos]
            fields.append(data[pos + 1:pos + 1 + n].decode())
            pos += 1 + n
        (nflights,), pos = struct.unpack_from("!H", data, pos), pos + 2
        flights = []
        for _ in range(nflights):
            direction, n = struct.unpack_from("!BI", data, pos)
            flights.append((direction, data[pos + 5:pos + 5 + n]))
            pos += 5 + n
        pool.append(Transcript(fields[0], fields[1], tuple(flights)))
    return pool
