"""Build the fuzz targets' seed corpora from real captures.

    python fuzz/make_seeds.py [OUT_DIR]      (default build/fuzz-seeds)

Reads pcaps/ and the shared corpus ($EXFILWATCH_CORPUS, else
../shared/corpus) read-only, runs each capture through the core and the
handshake interpreter, and writes one directory per target (fuzz_engine/,
fuzz_tls/, ...) of inputs already in that target's layout (see the target's
docstring), named by their SHA-1 so reruns are idempotent. Seeds are kept
small (MAX_SEED bytes) so that libFuzzer's -max_len stays small and fast.
"""
import hashlib
import os
import struct
import sys
from pathlib import Path

import logging

from common import LINKTYPES, REPO, chunk
from fuzz_parser_twin import SSH_SELECTOR

from engine import quic
from engine._core import FlowEngine, parse_handshake_messages, split_tls_records
from engine.capture import open_capture
from engine.errors import CaptureError
from engine.handshake import HandshakeInterpreter, split_datagrams
from engine.records import HALF_FLAG_NAMES, HALF_KINDS

import quic_vectors
from batches import make_batch

MAX_SEED = 16 * 1024
FRAMES_PER_SEED = 16
ENGINE_SEEDS_PER_CAPTURE = 4
DECODE_SEEDS_PER_CAPTURE = 24
HANDSHAKES_PER_CAPTURE = 8
CAPTURE_HEAD = 4096
LT_INDEX = {lt: i for i, lt in enumerate(LINKTYPES)}


class Seeds:
    def __init__(self, out: Path):
        self.out = out
        self.counts: dict = {}

    def add(self, target: str, data: bytes) -> None:
        if not data or len(data) > MAX_SEED:
            return
        folder = self.out / target
        folder.mkdir(parents=True, exist_ok=True)
        (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)
        self.counts[target] = self.counts.get(target, 0) + 1


def captures():
    corpus = Path(os.environ.get("EXFILWATCH_CORPUS", REPO.parent / "shared" / "corpus"))
    found = []
    for root in (REPO / "pcaps", corpus):
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix in (".pcap", ".pcapng", ".cap"):
                found.append(path)
    return found


def read_frames(path: Path):
    """(ts_us, frame, linktype) of every packet, or [] if unreadable."""
    frames = []
    try:
        with open_capture(path) as reader:
            for b in reader:
                mv = memoryview(b.buf)
                for i in range(b.count):
                    off = int(b.offsets[i])
                    frames.append((int(b.ts_us[i]), bytes(mv[off:off + int(b.caplens[i])]),
                                   int(b.linktypes[i])))
    except CaptureError:
        return []
    return frames


def engine_input(frames) -> bytes:
    out, prev = [b"\x00"], frames[0][0]
    for ts, frame, lt in frames:
        delta = min(255, max(0, (ts - prev) // 1000))
        prev = ts
        out.append(struct.pack(">BBHH", LT_INDEX.get(lt, 0), delta, 0, len(frame)) + frame)
    return b"".join(out)


def handshakes_of(frames):
    engine = FlowEngine()
    step = 4096
    records = []
    for i in range(0, len(frames), step):
        engine.process(make_batch([(ts / 1e6, f, lt) for ts, f, lt in frames[i:i + step]]))
        records += engine.take_handshakes()
    engine.flush()
    return records + engine.take_handshakes()


def flag_bits(flags) -> int:
    return sum(1 << HALF_FLAG_NAMES.index(f) for f in flags if f in HALF_FLAG_NAMES)


def seed_handshake(seeds: Seeds, rec, interpreter: HandshakeInterpreter) -> None:
    c, s = rec.client, rec.server
    kinds = HALF_KINDS.index(c.kind) | HALF_KINDS.index(s.kind) << 4
    seeds.add("fuzz_handshake", struct.pack(">BBBHHH", kinds, flag_bits(c.flags),
                                            flag_bits(s.flags), min(c.start, 0xFFFF),
                                            min(s.start, 0xFFFF), rec.dest_port)
              + chunk(c.data) + chunk(s.data))
    def parser_seed(selector: int, data: bytes) -> None:
        # fuzz_parser_twin reads fuzz_tls's selectors, plus its own for SSH
        if selector != SSH_SELECTOR:
            seeds.add("fuzz_tls", bytes([selector]) + data)
        seeds.add("fuzz_parser_twin", bytes([selector]) + data)

    for half in (c, s):
        data = half.data[half.start:]
        if half.kind == "ssh":
            seeds.add("fuzz_ssh", data)
            parser_seed(SSH_SELECTOR, data)
        elif half.kind == "sslv2":
            parser_seed(4, data)
        elif half.kind == "tls":
            parser_seed(7, data)
            stream = split_tls_records(data)[0]
            parser_seed(5, stream)
            for msg_type, body in parse_handshake_messages(stream)[0]:
                selector = {1: 0, 2: 1, 11: 2}.get(msg_type)
                if selector is not None:
                    parser_seed(selector, body)
    if "quic" in (c.kind, s.kind):
        cd, sd = split_datagrams(c.data), split_datagrams(s.data)
        seeds.add("fuzz_quic", bytes([0, len(cd[:8])]) + b"".join(map(chunk, cd[:8] + sd[:8])))
        decoded = quic.decode_initials(cd, sd)
        plain = []
        for name in ("client_hello", "server_hello"):
            body = decoded.get(name)
            if body is not None:
                msg = bytes([1 if name == "client_hello" else 2]) + len(body).to_bytes(3, "big") + body
                plain.append(quic_vectors.crypto_frame(0, msg))
        if len(plain) == 2:   # both Initials protected by the target itself
            seeds.add("fuzz_quic", bytes([3, 1]) + b"".join(map(chunk, plain)))
    session = interpreter.interpret(rec)
    chain = getattr(session, "chain", ()) or ()
    if chain:
        sni = (session.sni or "").encode()[:255]
        seeds.add("fuzz_x509", bytes([16, len(sni)]) + sni
                  + struct.pack(">I", rec.at_us // 1_000_000) + b"".join(map(chunk, chain)))


def main(out: Path) -> None:
    logging.basicConfig(level=logging.ERROR)   # truncated corpus captures are expected
    seeds = Seeds(out)
    interpreter = HandshakeInterpreter()
    for path in captures():
        head = path.read_bytes()[:CAPTURE_HEAD]
        seeds.add("fuzz_capture", b"\x00" + head)
        frames = read_frames(path)
        if not frames:
            continue
        for k in range(ENGINE_SEEDS_PER_CAPTURE):
            window = frames[k * FRAMES_PER_SEED:(k + 1) * FRAMES_PER_SEED]
            if window:
                seeds.add("fuzz_engine", engine_input(window))
        stride = max(1, len(frames) // DECODE_SEEDS_PER_CAPTURE)
        for ts, frame, lt in frames[::stride][:DECODE_SEEDS_PER_CAPTURE]:
            seeds.add("fuzz_decode", bytes([LT_INDEX.get(lt, 0)]) + frame)
        by_kind: dict = {}
        for rec in handshakes_of(frames):
            key = (rec.client.kind, rec.server.kind)
            if by_kind.get(key, 0) < HANDSHAKES_PER_CAPTURE:
                by_kind[key] = by_kind.get(key, 0) + 1
                seed_handshake(seeds, rec, interpreter)
    for target, n in sorted(seeds.counts.items()):
        print(f"{target}: {n} seeds written to {out / target}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "build" / "fuzz-seeds"))
