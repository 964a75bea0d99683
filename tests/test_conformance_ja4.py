"""JA4 / JA4S / JA4SSH against FoxIO's expected output for its own captures.

FoxIO's <capture>.expected.json lists, per TCP stream (client first), the
values its Python reference printed. Every mismatch is listed with its class;
each class below is explained, with the verdict on who follows the spec."""
import json
from collections import defaultdict

from engine.fingerprints import ja4 as ja4_module
from engine.fingerprints.ja4ssh import ja4ssh
from engine.handshake import TlsSession
from engine.records import Ja4sshRecord

from corpus import corpus_dir, pipeline_records

REQUIRED_TLS_AGREEMENT = 0.99

EXPLAINED = {
    "non_ascii_alpn": (
        "The first ALPN value is not alphanumeric (bytes 0xba 0xad). FoxIO's file has '99', "
        "what an older reference printed; the current JA4 spec takes the first and last hex "
        "digit of the value ('bd'), as Suricata 7.0.10 also writes. We follow the spec."
    ),
    "ja4ssh_shared_mode": (
        "Same packet and ACK counts, different payload-length modes. FoxIO's Python reference "
        "starts each window from dict(template) — a shallow copy — so every window of every "
        "stream in a capture appends to the same two payload lists: its 'mode' is the mode "
        "of all SSH payloads seen so far in the file. The JA4SSH spec is the mode of the "
        "window's own packets, which is what we compute."
    ),
    "ja4ssh_window_boundary": (
        "The window after a full one, holding nothing but the bare ACKs that followed the "
        "200th SSH packet. FoxIO's reference counts only SSH packets towards its window "
        "but checks 'count % 200 == 0' on every packet, so each non-SSH packet right after "
        "the 200th recomputes the next window from just those packets; when the session "
        "ends before 200 more SSH packets, that value stays (its finalize runs only on a "
        "FIN-ACK that itself carries SSH). On the wire 80-120 more SSH packets follow, "
        "which our last window counts, as the spec's window does."
    ),
    "ja4ssh_session_end": (
        "The last window of a session, one client SSH packet fewer in the reference "
        "(packets and bare ACKs otherwise equal). Which client packet tshark did not label "
        "as SSH we cannot tell from the packets without tshark; unresolved, not claimed as "
        "the reference's bug."
    ),
}


def _ours(capture):
    """(client ip, port, server ip, port) -> {"JA4.1": ..., "JA4S": ..., "JA4SSH.1": ...}"""
    values = defaultdict(dict)
    windows = defaultdict(dict)
    for rec in pipeline_records(capture):
        if isinstance(rec, TlsSession):
            key = (rec.record.src_ip, rec.record.src_port, rec.record.dest_ip, rec.record.dest_port)
            for i, hello in enumerate(rec.client_hellos, 1):
                values[key][f"JA4.{i}"] = ja4_module.ja4(hello, rec.transport_letter)
            if rec.ja4s():
                values[key]["JA4S"] = rec.ja4s()
        elif isinstance(rec, Ja4sshRecord):
            key = (rec.src_ip, rec.src_port, rec.dest_ip, rec.dest_port)
            values[key][f"JA4SSH.{rec.index}"] = ja4ssh(rec)
            windows[key][rec.index] = rec
    return values, windows


def _classify(field, expected, got, last_window):
    if field.startswith("JA4."):
        return "non_ascii_alpn" if expected[8:10] == "99" and got and got[:8] == expected[:8] \
            and got[10:] == expected[10:] else None
    if got and expected.split("_")[1:] == got.split("_")[1:]:
        return "ja4ssh_shared_mode"
    if not last_window:
        return None
    counts = expected.split("_")[1]
    if counts == "c0s0":
        return "ja4ssh_window_boundary"
    got_counts = got.split("_")[1] if got else ""
    if got_counts and counts[1:].split("s")[1] == got_counts[1:].split("s")[1] \
            and int(counts[1:].split("s")[0]) + 1 == int(got_counts[1:].split("s")[0]) \
            and expected.split("_")[2] == got.split("_")[2]:
        return "ja4ssh_session_end"
    return None


def test_ja4_ja4s_ja4ssh_match_foxio_expected_output():
    totals = defaultdict(lambda: [0, 0])
    mismatches = []
    for expected_path in sorted((corpus_dir() / "ja4").glob("*.expected.json")):
        capture = expected_path.with_name(expected_path.name[: -len(".expected.json")])
        ours, windows = _ours(capture)
        for stream in json.loads(expected_path.read_text()):
            key = (stream["src"], int(stream["srcport"]), stream["dst"], int(stream["dstport"]))
            for field, expected in stream.items():
                if field not in ("JA4.1", "JA4.2", "JA4S") and not field.startswith("JA4SSH."):
                    continue
                kind = field.split(".")[0]
                got = ours.get(key, {}).get(field)
                totals[kind][1] += 1
                if got == expected:
                    totals[kind][0] += 1
                    continue
                index = int(field.split(".")[1]) if kind == "JA4SSH" else 0
                last = kind == "JA4SSH" and index == max(windows.get(key, {0: None}))
                mismatches.append((_classify(field, expected, got, last), capture.name, key,
                                   field, expected, got))
    agree = sum(a for a, _ in totals.values())
    total = sum(t for _, t in totals.values())
    print(f"\nagreement with FoxIO: {agree}/{total} = {agree / total:.2%}")
    for kind, (a, t) in sorted(totals.items()):
        print(f"  {kind}: {a}/{t}")
    for cls, *detail in mismatches:
        print(f"  [{cls}] {detail}")
    for cls in sorted({m[0] for m in mismatches if m[0]}):
        print(f"\n{cls}: {EXPLAINED[cls]}")
    tls_agree = totals["JA4"][0] + totals["JA4S"][0]
    tls_total = totals["JA4"][1] + totals["JA4S"][1]
    assert tls_total >= 240 and totals["JA4SSH"][1] >= 10
    assert tls_agree / tls_total >= REQUIRED_TLS_AGREEMENT
    assert all(m[0] in EXPLAINED for m in mismatches), [m for m in mismatches if not m[0]]
