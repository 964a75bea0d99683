"""JA3/JA3S/JA4/JA4S: known values, then FoxIO's and Suricata's outputs for the corpus.

The corpus tests do not use the core's reassembly (not integrated yet):
they read each capture with dpkt, put each TCP direction's first segments
in sequence order (enough for a handshake), split the TLS records, take the
handshake messages with parse_handshake_messages and run our parsers and
fingerprints on the ClientHello/ServerHello bodies. QUIC streams (JA4 "q")
belong to the QUIC parser and are only counted here.
"""
import hashlib
import io
import json
import socket
from collections import defaultdict

import dpkt
import pytest

from corpus import corpus_dir, read_eve
from engine._core import parse_client_hello, parse_handshake_messages, parse_server_hello, \
    parse_sslv2_client_hello
from engine.fingerprints import is_grease
from engine.fingerprints.ja3 import ja3, ja3_string, ja3s, ja3s_string
from engine.fingerprints.ja4 import alpn_code, hash12, ja4, ja4_o, ja4_r, ja4_ro, version_code
from engine.fingerprints.ja4s import ja4s, ja4s_r
import tls_vectors as v

MIN_AGREEMENT = 0.99
STREAM_BYTES = 65536        # the core keeps 64 KiB of handshake per direction


# ------------------------------------------------------------ known values

# FoxIO's worked example (technical_details/JA4.md): a Chrome ClientHello
FOXIO_EXAMPLE = {
    "legacy_version": 0x0303,
    "cipher_suites": [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
                      0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035],
    "extensions": [0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005,
                   0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015],
    "supported_versions": [0x0304, 0x0303],
    "alpn": [b"h2", b"http/1.1"],
    "signature_algorithms": [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601],
}


def with_grease(ch):
    """The same hello as Chrome sends it, with GREASE in every list."""
    g = dict(ch)
    g["cipher_suites"] = [0x0a0a] + ch["cipher_suites"]
    g["extensions"] = [0x3a3a] + ch["extensions"] + [0xfafa]
    g["supported_versions"] = [0x7a7a] + ch.get("supported_versions", [])
    g["signature_algorithms"] = [0x2a2a] + ch.get("signature_algorithms", [])
    g["supported_groups"] = [0xdada] + ch.get("supported_groups", [])
    return g


def test_ja4_matches_foxio_worked_example():
    assert ja4(FOXIO_EXAMPLE) == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    assert ja4_r(FOXIO_EXAMPLE) == (
        "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_"
        "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_"
        "0403,0804,0401,0503,0805,0501,0806,0601")
    assert ja4_o(FOXIO_EXAMPLE) == "t13d1516h2_acb858a92679_18f69afefd3d"
    assert ja4_ro(FOXIO_EXAMPLE) == (
        "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035_"
        "001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015_"
        "0403,0804,0401,0503,0805,0501,0806,0601")


def test_ja4_ignores_grease_everywhere():
    g = with_grease(FOXIO_EXAMPLE)
    for f in (ja4, ja4_r, ja4_o, ja4_ro):
        assert f(g) == f(FOXIO_EXAMPLE)


def test_ja4_quic_and_dtls_prefixes():
    assert ja4(FOXIO_EXAMPLE, "q").startswith("q13d")
    assert ja4(FOXIO_EXAMPLE, "d").startswith("d13d")
    with pytest.raises(ValueError):
        ja4(FOXIO_EXAMPLE, "x")


def test_ja4_without_extensions_hashes_to_zeros():
    ch = {"legacy_version": 0x0301, "cipher_suites": [0x0005], "extensions": []}
    assert ja4(ch) == "t10i010000_" + hash12("0005") + "_000000000000"
    assert ja4({"legacy_version": 0x0303}) == "t12i000000_000000000000_000000000000"


def test_ja4_without_signature_algorithms_has_no_underscore():
    # JA4.md: "0005,000a,...,ff01 = 6d807ffa2a79" when there are no signature algorithms
    ch = dict(FOXIO_EXAMPLE, signature_algorithms=[])
    assert ja4(ch).endswith("_6d807ffa2a79")


def test_ja4_version_from_highest_supported_version_else_legacy():
    assert version_code(0x0303, [0x0a0a, 0x0303, 0x0304]) == "13"
    assert version_code(0x0301, []) == "10"
    assert version_code(0x0300, None) == "s3"
    assert version_code(0x0002, None) == "s2"
    assert version_code(0x0305, None) == "00"
    assert version_code(0xfefd, None) == "d2"


def test_ja4_alpn_uses_hex_for_non_alphanumeric_ends():
    # the examples of JA4.md "ALPN Extension Value"
    assert alpn_code(b"h2") == "h2"
    assert alpn_code(b"http/1.1") == "h1"
    assert alpn_code(b"x") == "xx"
    assert alpn_code(b"") == "00"
    assert alpn_code(b"\xab") == "ab"
    assert alpn_code(b"\xab\xcd") == "ad"
    assert alpn_code(b"\x30\xab") == "3b"
    assert alpn_code(b"\x30\x31\xab\xcd") == "3d"
    assert alpn_code(b"\x30\xab\xcd\x31") == "01"


def test_ja4_counts_cap_at_99():
    ch = {"legacy_version": 0x0303, "cipher_suites": list(range(1, 150)),
          "extensions": list(range(100, 250))}
    assert ja4(ch).startswith("t12i9999")


def test_ja4s_matches_foxio_worked_example():
    sh = {"legacy_version": 0x0303, "cipher_suite": 0xc030,
          "extensions": [0x0005, 0x0017, 0xff01, 0x0000]}
    assert ja4s(sh) == "t120400_c030_4e8089b08790"
    assert ja4s_r(sh) == "t120400_c030_0005,0017,ff01,0000"


def test_ja4s_takes_version_and_alpn_from_extensions():
    sh = {"legacy_version": 0x0303, "cipher_suite": 0x1301, "extensions": [0x002b, 0x0033],
          "selected_version": 0x0304, "alpn": b"h2"}
    assert ja4s_r(sh) == "t1302h2_1301_002b,0033"
    assert ja4s(dict(sh, extensions=[])).endswith("_000000000000")


def test_ja3_of_a_known_client_hello():
    # Suricata 7.0.10 on the corpus capture ja4/tls12.pcap (Firefox); the same
    # hello is checked end to end in test_ja3_agrees_with_suricata_on_the_corpus
    ch = {
        "legacy_version": 771,
        "cipher_suites": [4865, 4867, 4866, 49195, 49199, 52393, 52392, 49196, 49200, 49162,
                          49161, 49171, 49172, 156, 157, 47, 53],
        "extensions": [0, 23, 65281, 10, 11, 35, 16, 5, 34, 51, 43, 13, 45, 28, 21],
        "supported_groups": [29, 23, 24, 25, 256, 257],
        "ec_point_formats": [0],
    }
    s, h = ja3(ch)
    assert s == ("771,4865-4867-4866-49195-49199-52393-52392-49196-49200-49162-49161-49171-"
                 "49172-156-157-47-53,0-23-65281-10-11-35-16-5-34-51-43-13-45-28-21,"
                 "29-23-24-25-256-257,0")
    assert h == "579ccef312d18482fc42e2b822ca2430"
    assert ja3(with_grease(ch)) == (s, h)


def test_ja3_keeps_empty_fields():
    assert ja3_string({"legacy_version": 769, "cipher_suites": [5, 4]}) == "769,5-4,,,"
    assert ja3s_string({"legacy_version": 771, "cipher_suite": 49199}) == "771,49199,"


def test_ja3s_of_a_known_server_hello():
    s, h = ja3s({"legacy_version": 771, "cipher_suite": 49199, "extensions": [65281, 0, 11, 35]})
    assert s == "771,49199,65281-0-11-35"
    assert h == hashlib.md5(s.encode()).hexdigest()


def test_fingerprints_of_parsed_openssl_hellos():
    ch = parse_client_hello(v.body(v.OPENSSL_TLS13_CLIENT_HELLO))
    ciphers = "0067,006b,009e,009f,00ff,1301,1302,1303,c023,c024,c027,c028,c02b,c02c,c02f,c030,cca8,cca9"
    exts = "000a,000b,000d,0015,0016,0017,0023,002b,002d,0033"
    sigs = ("0403,0503,0603,0807,0808,0809,080a,080b,0804,0805,0806,0401,0501,0601,"
            "0303,0301,0302,0402,0502,0602")
    assert ja4_r(ch) == f"t13d1812h2_{ciphers}_{exts}_{sigs}"
    assert ja4(ch) == f"t13d1812h2_{hash12(ciphers)}_{hash12(exts + '_' + sigs)}"
    sh = parse_server_hello(v.body(v.OPENSSL_TLS13_SERVER_HELLO))
    assert ja4s(sh) == "t130200_1302_" + hash12("002b,0033")
    assert ja3s_string(sh) == "771,4866,43-51"
    s, _ = ja3(ch)
    assert s == ("771,4866-4867-4865-49196-49200-49195-49199-52393-52392-49188-49192-49187-"
                 "49191-159-158-107-103-255,0-11-10-35-16-22-23-13-43-45-51-21,"
                 "29-23-30-25-24-256-257-258-259-260,0-1-2")


def test_fingerprints_of_a_grease_client_hello_ignore_grease():
    ch = parse_client_hello(v.body(v.GREASE_CLIENT_HELLO))
    assert ja4(ch).startswith("t13d1518h2_8daaf6152771_")
    assert "2570" not in ja3_string(ch)       # 0x0a0a


def test_ja3_of_an_sslv2_client_hello_uses_the_tls_suites():
    rec = parse_sslv2_client_hello(v.SSLV2_CLIENT_HELLO)
    assert ja3_string(rec) == "2,5-47,,,"
    assert not is_grease(0x0005)


# ------------------------------------------------------------ the corpus

def _read_frames(path):
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        reader = dpkt.pcap.Reader(io.BytesIO(data))
    except ValueError:
        reader = dpkt.pcapng.Reader(io.BytesIO(data))
    return reader.datalink(), list(reader)


def _ip_of(linktype, frame):
    try:
        if linktype == dpkt.pcap.DLT_EN10MB:
            l3 = dpkt.ethernet.Ethernet(frame).data
        elif linktype in (dpkt.pcap.DLT_NULL, dpkt.pcap.DLT_LOOP):
            l3 = dpkt.loopback.Loopback(frame).data
        elif linktype == dpkt.pcap.DLT_LINUX_SLL:
            l3 = dpkt.sll.SLL(frame).data
        elif linktype == 101:
            l3 = dpkt.ip.IP(frame) if frame[0] >> 4 == 4 else dpkt.ip6.IP6(frame)
        else:
            return None
    except (dpkt.UnpackError, IndexError):
        return None
    return l3 if isinstance(l3, (dpkt.ip.IP, dpkt.ip6.IP6)) else None


def _addr(ip, raw):
    return socket.inet_ntop(socket.AF_INET6 if isinstance(ip, dpkt.ip6.IP6) else socket.AF_INET, raw)


class Direction:
    """One TCP direction's first bytes, segments put in sequence order."""

    def __init__(self):
        self.isn = None
        self.segments = []

    def add(self, tcp):
        if tcp.flags & dpkt.tcp.TH_SYN:
            self.isn = tcp.seq
        if tcp.data:
            self.segments.append((tcp.seq, bytes(tcp.data)))

    def stream(self):
        if not self.segments:
            return b""
        base = (self.isn + 1) if self.isn is not None else self.segments[0][0]
        out = bytearray()
        for rel, data in sorted(((s - base) & 0xFFFFFFFF, d) for s, d in self.segments):
            if rel > len(out):
                break                       # a gap: the handshake is cut here
            out += data[len(out) - rel:]
            if len(out) >= STREAM_BYTES:
                break
        return bytes(out[:STREAM_BYTES])


def tcp_connections(path):
    """{(client ip, client port, server ip, server port): [(c2s, s2c) per connection]}.

    The client is whoever sent the first segment of the 4-tuple (the SYN
    when it was captured); a new SYN on a used tuple starts a new connection."""
    linktype, frames = _read_frames(path)
    conns = defaultdict(list)        # canonical key -> list of [client key, {key: Direction}]
    for _ts, frame in frames:
        ip = _ip_of(linktype, frame)
        if ip is None or not isinstance(ip.data, dpkt.tcp.TCP):
            continue
        tcp = ip.data
        key = (_addr(ip, ip.src), tcp.sport, _addr(ip, ip.dst), tcp.dport)
        rkey = (key[2], key[3], key[0], key[1])
        canon = min(key, rkey)
        lst = conns[canon]
        syn_only = tcp.flags & dpkt.tcp.TH_SYN and not tcp.flags & dpkt.tcp.TH_ACK
        if not lst or (syn_only and any(d.segments for d in lst[-1][1].values())):
            lst.append([key, {key: Direction(), rkey: Direction()}])
        lst[-1][1][key].add(tcp)
    out = defaultdict(list)
    for lst in conns.values():
        for client, dirs in lst:
            server = (client[2], client[3], client[0], client[1])
            out[client].append((dirs[client].stream(), dirs[server].stream()))
    return out


def _tls_start(stream):
    """Offset of the first TLS handshake record (a proxy preamble, e.g. SOCKS, may precede it)."""
    for i in range(min(len(stream), 4096)):
        b = stream[i:i + 6]
        if len(b) == 6 and b[0] == 22 and b[1] == 3 and b[2] <= 4 and b[5] in (1, 2):
            return i
    return None


def _is_whole_client_hello(frag):
    """A record holding exactly one ClientHello (the second one, after an HRR)."""
    return (len(frag) >= 6 and frag[0] == 1 and frag[4] == 3
            and int.from_bytes(frag[1:4], "big") == len(frag) - 4)


def handshake_messages(stream):
    """(msg_type, body) of the plaintext handshake records at the start of a stream.

    Stops at application data, and at a handshake record following a
    ChangeCipherSpec (it is encrypted: TLS 1.2 Finished) unless that record
    is a whole ClientHello (TLS 1.3 middlebox compatibility mode: after a
    HelloRetryRequest the second ClientHello follows the client's dummy CCS;
    the server side may not even be in the capture)."""
    start = _tls_start(stream)
    if start is None:
        return []
    hs = bytearray()
    pos, seen_ccs = start, False
    while len(stream) - pos >= 5:
        ctype, length = stream[pos], int.from_bytes(stream[pos + 3:pos + 5], "big")
        frag = stream[pos + 5:pos + 5 + length]
        if ctype == 20:
            seen_ccs = True
        elif ctype == 22:
            if seen_ccs and not _is_whole_client_hello(frag):
                break
            hs += frag
        elif ctype != 21:
            break
        if len(frag) < length:
            break
        pos += 5 + length
    messages, _truncated, _consumed = parse_handshake_messages(bytes(hs))
    return messages


def hellos(c2s, s2c):
    """(list of ClientHello records, first ServerHello record or None).

    FoxIO fingerprints the first ServerHello of a stream, a HelloRetryRequest
    included, and numbers the ClientHellos JA4.1, JA4.2..."""
    sh = None
    for mtype, body in handshake_messages(s2c):
        if mtype == 2:
            sh = parse_server_hello(body)
            break
    if c2s[:1] and c2s[0] & 0x80 and c2s[2:3] == b"\x01":
        return [parse_sslv2_client_hello(c2s)], sh
    chs = [parse_client_hello(body) for mtype, body in handshake_messages(c2s) if mtype == 1]
    return chs, sh


JA4_CAPTURES = sorted(p.name[:-len(".expected.json")]
                      for p in (corpus_dir() / "ja4").glob("*.expected.json"))


def _compare_foxio():
    """Compare every expected JA4/JA4S entry of the FoxIO corpus; return tallies."""
    root = corpus_dir() / "ja4"
    tally = defaultdict(lambda: [0, 0])        # key -> [agree, total]
    mismatches, quic = [], 0
    for name in JA4_CAPTURES:
        expected = json.loads((root / f"{name}.expected.json").read_text())
        entries = [e for e in expected if "JA4.1" in e or "JA4S" in e]
        if not entries:
            continue
        conns = tcp_connections(root / name)
        used = defaultdict(int)
        for e in entries:
            if any(str(e.get(k, "")).startswith("q") for k in ("JA4.1", "JA4S")):
                quic += 1
                continue
            key = (e["src"], int(e["srcport"]), e["dst"], int(e["dstport"]))
            idx = used[key]
            used[key] += 1
            pairs = conns.get(key, [])
            chs, sh = hellos(*pairs[idx]) if idx < len(pairs) else ([], None)
            got = {}
            for n, ch in enumerate(chs, 1):
                got.update({f"JA4.{n}": ja4(ch), f"JA4_r.{n}": ja4_r(ch),
                            f"JA4_o.{n}": ja4_o(ch), f"JA4_ro.{n}": ja4_ro(ch)})
            if sh is not None:
                got.update({"JA4S": ja4s(sh), "JA4S_r": ja4s_r(sh)})
            for k, want in e.items():
                if not k.startswith(("JA4.", "JA4_r.", "JA4_o.", "JA4_ro.")) \
                        and k not in ("JA4S", "JA4S_r"):
                    continue
                cls = k.split(".")[0] + (".1" if k.endswith(".1") else ".n" if "." in k else "")
                tally[cls][1] += 1
                if got.get(k) == want:
                    tally[cls][0] += 1
                else:
                    mismatches.append((name, e.get("stream"), k, want, got.get(k)))
    return tally, mismatches, quic


# Where FoxIO's expected output and we disagree, and who is right.
KNOWN_DISAGREEMENTS = {
    # The first ALPN value is b"\xba\xad". FoxIO's expected file was made by
    # an older implementation that printed "99" for a non-ASCII ALPN; the
    # current JA4.md ("ALPN Extension Value") prints the first and last hex
    # digit of the value instead: "bd". We follow the specification, and
    # Suricata 7.0.10 (reference/suricata) also writes t13d1516bd_...
    ("tls-non-ascii-alpn.pcapng", 0): "non-alphanumeric ALPN: spec hex rule, not the old '99'",
}


def test_ja4_and_ja4s_agree_with_foxio_on_the_corpus():
    tally, mismatches, quic = _compare_foxio()
    for cls, (ok, total) in sorted(tally.items()):
        print(f"{cls:10s} {ok}/{total} = {ok / total:.2%}")
    print(f"QUIC entries left to the QUIC parser: {quic}")
    for m in mismatches:
        print("MISMATCH %s stream %s %s\n  want %s\n  got  %s" % m)
    unexplained = [m for m in mismatches if (m[0], m[1]) not in KNOWN_DISAGREEMENTS]
    assert not unexplained, f"{len(unexplained)} mismatches not in KNOWN_DISAGREEMENTS"
    for cls in ("JA4.1", "JA4S"):
        ok, total = tally[cls]
        assert total >= 80, f"only {total} {cls} entries compared: the corpus reader is broken"
        assert ok / total >= MIN_AGREEMENT, f"{cls} agreement {ok}/{total}"
    for cls in ("JA4_r.1", "JA4_o.1", "JA4_ro.1", "JA4S_r"):
        ok, total = tally[cls]
        assert ok / total >= MIN_AGREEMENT, f"{cls} agreement {ok}/{total}"


def _compare_suricata(folder):
    """JA3/JA3S/JA4 against Suricata 7.0.10's eve records of the captures in a corpus folder."""
    root = corpus_dir()
    tally = defaultdict(lambda: [0, 0])
    mismatches = []
    for ref in sorted((root / "reference" / "suricata").glob(f"{folder}__*.eve.jsonl")):
        capture = root / folder / ref.name[len(folder) + 2:-len(".eve.jsonl")]
        events = [e for e in read_eve(ref, "tls") if e.get("proto") == "TCP"]
        if not events or not capture.exists():
            continue
        try:
            conns = tcp_connections(capture)
        except (ValueError, dpkt.NeedData):
            continue
        used = defaultdict(int)
        for e in events:
            key = (e["src_ip"], e["src_port"], e["dest_ip"], e["dest_port"])
            idx = used[key]
            used[key] += 1
            pairs = conns.get(key, [])
            if idx >= len(pairs):
                continue         # tunnelled or not decodable by the naive reader
            chs, sh = hellos(*pairs[idx])
            tls = e["tls"]
            checks = []
            if "ja3" in tls and tls["ja3"].get("string"):
                checks.append(("ja3", tls["ja3"]["string"], ja3_string(chs[0]) if chs else None))
            if "ja3s" in tls and tls["ja3s"].get("string"):
                checks.append(("ja3s", tls["ja3s"]["string"], ja3s_string(sh) if sh else None))
            if tls.get("ja4"):
                checks.append(("ja4", tls["ja4"], ja4(chs[0]) if chs else None))
            for k, want, got in checks:
                tally[k][1] += 1
                if want == got:
                    tally[k][0] += 1
                elif k == "ja4" and _suricata_ja4_quirk(want, chs):
                    quirk = tally["ja4 explained"]
                    quirk[0] += 1
                    quirk[1] += 1
                else:
                    mismatches.append((ref.name, key, k, want, got))
    return tally, mismatches


def _suricata_ja4_quirk(want, chs):
    """Suricata 7.0.10 JA4 differences where the JA4 specification says otherwise.

    * It always hashes "extensions_signature-algorithms" with the "_", even
      when there are no signature algorithms (JA4.md: "the string ends
      without an underscore") or no extensions at all (JA4.md: part c is
      000000000000): e.g. sha256("_")[:12] = d2e2adf7177b.
    * With two ClientHellos in one stream (suricata-verify
      tls-duplicate-hello) it appends the second hello's ciphers and
      extensions to the first's (t13d5824 from two t13d2912 hellos); we and
      FoxIO fingerprint each hello on its own (JA4.1, JA4.2).
    The JA4 spec and FoxIO's expected output decide; these are recorded, not followed."""
    merged = {k: (sum((ch.get(k) or [] for ch in chs), []) if isinstance(chs[0].get(k), list)
                  else chs[0].get(k)) for k in chs[0]} if chs else None
    for ch in chs + ([merged] if merged else []):
        a, b, c = ja4_r(ch).split("_", 2)
        sigs_missing_quirk = "_" not in c and hashlib.sha256((c + "_").encode()).hexdigest()[:12]
        if want == f"{a}_{hash12(b)}_{sigs_missing_quirk}" or want == ja4(ch):
            return True
    return False


@pytest.mark.parametrize("folder", ["ja4", "suricata-verify"])
def test_ja3_agrees_with_suricata_on_the_corpus(folder):
    tally, mismatches = _compare_suricata(folder)
    for k, (ok, total) in sorted(tally.items()):
        print(f"{folder} {k:5s} {ok}/{total} = {ok / total:.2%}")
    for m in mismatches:
        print("MISMATCH %s %s %s\n  want %s\n  got  %s" % m)
    for k in ("ja3", "ja3s"):
        ok, total = tally[k]
        assert total > 0
        assert ok / total >= MIN_AGREEMENT, f"{folder} {k} agreement {ok}/{total}"
    assert not [m for m in mismatches if m[2] == "ja4"], "JA4 differences not explained"
