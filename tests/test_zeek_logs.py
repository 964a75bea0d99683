"""Zeek-format logs (engine/sinks/zeek.py): read back by zat, an independent
Zeek-log reader from PyPI, they carry the values of the EVE records written
in the same run; plus Zeek's ASCII escaping, uids and the flag-derived
conn_state/history."""
import json
import re
from pathlib import Path

import pytest
from zat.log_to_dataframe import LogToDataFrame
from zat.zeek_log_reader import ZeekLogReader

from engine.cli import main
from engine.replay import replay
from engine.sinks.zeek import (LOG_FIELDS, ZeekLogSink, conn_state, escape, format_value,
                               history, zeek_uid)

PCAPS = Path(__file__).resolve().parent.parent / "pcaps"
DEMO = sorted(PCAPS.glob("*.pcap")) + sorted(PCAPS.glob("*.pcapng"))
SCENARIOS = sorted((PCAPS / "scenarios").glob("*.pcap"))
# engine.validation statuses -> what OpenSSL's verification says of such chains
_UNTRUSTED = {"unable to get local issuer certificate",
              "self signed certificate in certificate chain", "certificate rejected"}
ZEEK_SPELLINGS = {"valid": {"ok"}, "no_sni": {"ok"}, "name_mismatch": {"ok"},
                  "self_signed": {"self signed certificate"},
                  "expired": {"certificate has expired"},
                  "not_yet_valid": {"certificate is not yet valid"},
                  "incomplete_chain": {"unable to get local issuer certificate"},
                  "untrusted": _UNTRUSTED, "error": {"-"}}


def read_log(path):
    """Rows of a Zeek log as zat reads them; strict: a value that does not
    convert to its #types type fails the test."""
    return list(ZeekLogReader(str(path), strict=True).readrows())


def unescape(text):
    """Zeek's \\xNN escapes back to the bytes they stand for (UTF-8 text)."""
    return re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m.group(1), 16)]),
                  text.encode("ascii")).decode("utf-8")


def eve_events(out_dir):
    with open(out_dir / "eve.json", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module", params=["demo", "scenarios"])
def run(request, tmp_path_factory):
    """One replay with --format both: (eve events, {log: zat rows}, out dir)."""
    out = tmp_path_factory.mktemp(f"zeek-{request.param}")
    files = DEMO if request.param == "demo" else SCENARIOS
    replay([str(p) for p in files], str(out), output_format="both")
    # like Zeek, a log file exists once it has a row (the demo has no SSH)
    logs = {path: read_log(out / f"{path}.log") if (out / f"{path}.log").exists() else []
            for path in LOG_FIELDS}
    return eve_events(out), logs, out


def _seconds(ts):
    return ts.timestamp() if hasattr(ts, "timestamp") else ts


def _eve_seconds(text):
    from datetime import datetime
    return datetime.fromisoformat(text).timestamp()


def test_conn_log_rows_are_the_final_eve_flow_records(run):
    events, logs, _ = run
    flows = {zeek_uid(e["flow_id"]): e for e in events
             if e["event_type"] == "flow" and not e["flow"]["interim"]}
    rows = {r["uid"]: r for r in logs["conn"]}
    assert len(rows) == len(logs["conn"]), "uids of conn.log are unique"
    assert rows.keys() == flows.keys()
    for uid, row in rows.items():
        e, f = flows[uid], flows[uid]["flow"]
        assert row["id.orig_h"] == e["src_ip"] and row["id.resp_h"] == e["dest_ip"]
        assert row["id.orig_p"] == e.get("src_port", e.get("icmp_type"))
        assert row["id.resp_p"] == e.get("dest_port", e.get("icmp_code"))
        assert row["proto"] == {"TCP": "tcp", "UDP": "udp"}.get(e["proto"], "icmp")
        assert row["orig_pkts"] == f["pkts_toserver"] and row["resp_pkts"] == f["pkts_toclient"]
        assert row["orig_ip_bytes"] == f["bytes_toserver"]
        assert row["resp_ip_bytes"] == f["bytes_toclient"]
        assert _seconds(row["ts"]) == pytest.approx(_eve_seconds(f["start"]), abs=1e-6)
        duration = _eve_seconds(f["end"]) - _eve_seconds(f["start"])
        assert row["duration"].total_seconds() == pytest.approx(duration, abs=1e-6)
        assert row["service"] == {"tls": "ssl", "ssh": "ssh", "quic": "quic,ssl", None: "-"}.get(
            e.get("app_proto"), f"{e.get('app_proto')},ssl")


def test_ssl_log_rows_are_the_eve_tls_records(run):
    events, logs, _ = run
    tls = {zeek_uid(e["flow_id"]): e["tls"] for e in events if e["event_type"] == "tls"}
    rows = {r["uid"]: r for r in logs["ssl"] if r["uid"] in tls}
    assert rows.keys() == tls.keys() and rows
    versions = {"TLS 1.3": "TLSv13", "TLS 1.2": "TLSv12"}
    for uid, row in rows.items():
        t = tls[uid]
        assert row["server_name"] == t.get("sni", "-")
        assert row["version"] == versions[t["version"]]
        assert row["established"] == t["established"] and row["resumed"] == t["resumed"]
        assert row["ja3"] == t["ja3"]["hash"] and row["ja4"] == t["ja4"]
        assert row["ja3s"] == t["ja3s"]["hash"] and row["ja4s"] == t["ja4s"]
        assert row["subject"] == t.get("subject", "-") and row["issuer"] == t.get("issuerdn", "-")
        if "cert_sha256" in t:
            # zat leaves vectors as text: the leaf's fingerprint comes first
            fps = row["cert_chain_fps"].split(",")
            assert fps[0] == t["cert_sha256"] and len(fps) == len(t["chain"])
        else:
            assert row["cert_chain_fps"] == "-"
    assert any(r["cipher"].startswith("TLS_") for r in rows.values())


def test_sni_matches_cert_where_the_demo_says_so(run):
    _, logs, out = run
    matches = {(r["server_name"], r["sni_matches_cert"]) for r in logs["ssl"]
               if r["cert_chain_fps"] != "-"}
    if out.name.startswith("zeek-demo"):
        # the exfil server's self-signed certificate names 203.0.113.66, not its SNI
        assert ("backup-sync.example", False) in matches
        assert ("mail.example.org", True) in matches


def test_validation_status_is_the_x509_records_validation_in_zeeks_spelling(run):
    """Each ssl.log row whose flow has an EVE x509 record (internal to
    external sessions, once per certificate a day) carries that record's
    validation status as Zeek spells it; rows without a chain are unset."""
    events, logs, out = run
    x509 = {e["flow_id"]: e["x509"] for e in events if e["event_type"] == "x509"}
    tls = {zeek_uid(e["flow_id"]): e for e in events if e["event_type"] == "tls"}
    compared = set()
    for row in logs["ssl"]:
        if row["uid"] not in tls:
            continue                      # QUIC
        event = tls[row["uid"]]
        cert = x509.get(event["flow_id"])
        if not event["tls"].get("chain"):
            assert row["validation_status"] == "-"
        elif cert is None:
            assert row["validation_status"] != "-"
        else:
            status = cert["validation"]["status"]
            assert row["validation_status"] in ZEEK_SPELLINGS[status], (status, row)
            compared.add((status, row["validation_status"]))
    if out.name.startswith("zeek-demo"):
        # the demo's servers chain to a root nobody trusts, or sign their own
        assert compared == {("untrusted", "unable to get local issuer certificate"),
                            ("self_signed", "self signed certificate")}
    assert compared


def test_quic_handshakes_are_ssl_rows(run):
    events, logs, _ = run
    quic = {zeek_uid(e["flow_id"]): e["quic"] for e in events if e["event_type"] == "quic"}
    tls_uids = {zeek_uid(e["flow_id"]) for e in events if e["event_type"] == "tls"}
    rows = {r["uid"]: r for r in logs["ssl"] if r["uid"] not in tls_uids}
    assert rows.keys() == quic.keys()
    for uid, row in rows.items():
        assert row["server_name"] == quic[uid]["sni"] and row["ja4"] == quic[uid]["ja4"]
        assert row["version"] == ("TLSv13" if "ja4s" in quic[uid] else "-")


def test_every_ssl_and_ssh_row_joins_a_conn_row_by_uid(run):
    # RITA links ssl.log to conn.log through the uid
    _, logs, _ = run
    conn_uids = {r["uid"] for r in logs["conn"]}
    for path in ("ssl", "ssh"):
        for row in logs[path]:
            assert row["uid"] in conn_uids
            assert re.fullmatch(r"C[0-9A-Za-z]{10,17}", row["uid"])


def test_x509_log_rows_are_the_eve_x509_records(run):
    events, logs, _ = run
    certs = {e["x509"]["sha256"]: e["x509"] for e in events if e["event_type"] == "x509"}
    days = [(r["fingerprint"], int(_seconds(r["ts"])) // 86400) for r in logs["x509"]]
    assert len(set(days)) == len(days), "one row per certificate and day"
    rows = {r["fingerprint"]: r for r in logs["x509"]}
    # every certificate of the ssl.log chains has its row, as in Zeek
    chains = [r["cert_chain_fps"].split(",") for r in logs["ssl"] if r["cert_chain_fps"] != "-"]
    assert rows.keys() == certs.keys() | {fp for chain in chains for fp in chain} and rows
    for chain in chains:
        for cert, signer in zip(chain, chain[1:]):
            assert rows[cert]["certificate.issuer"] == rows[signer]["certificate.subject"]
    for fp, x in certs.items():
        row = rows[fp]
        assert row["certificate.subject"] == x["subject"]
        assert row["certificate.issuer"] == x["issuerdn"]
        assert row["certificate.serial"] == x["serial"].replace(":", "")
        assert row["certificate.version"] == x["version"]
        assert row["certificate.key_length"] == x["key"]["bits"]
        assert row["certificate.sig_alg"] == x["signature_algorithm"]
        assert _seconds(row["certificate.not_valid_after"]) == pytest.approx(
            _eve_seconds(x["notafter"] + "+00:00"))
        assert row["san.dns"] == (",".join(x.get("san", {}).get("dns", [])) or "-")
        assert row["basic_constraints.ca"] == x["basic_constraints"]["ca"]
        assert row["host_cert"] is True and row["client_cert"] is False


def test_ssh_log_rows_are_the_eve_ssh_records(run):
    events, logs, _ = run
    ssh = {zeek_uid(e["flow_id"]): e["ssh"] for e in events
           if e["event_type"] == "ssh" and "client" in e["ssh"]}
    rows = {r["uid"]: r for r in logs["ssh"]}
    assert rows.keys() == ssh.keys()
    for uid, row in rows.items():
        s = ssh[uid]
        assert row["client"] == f"SSH-{s['client']['proto_version']}-" \
                                f"{s['client']['software_version']}"
        assert row["hassh"] == s["client"]["hassh"]["hash"]
        assert row["hasshServer"] == s["server"]["hassh"]["hash"]
        assert row["hasshAlgorithms"] == s["client"]["hassh"]["string"]
        assert row["version"] == 2
        # the negotiated cipher is one both sides offered
        assert row["cipher_alg"] in s["client"]["hassh"]["string"].split(";")[1].split(",")
        assert row["cipher_alg"] in s["server"]["hassh"]["string"].split(";")[1].split(",")


def test_scenario_logs_cover_ssh_and_quic(run):
    _, logs, out = run
    if out.name.startswith("zeek-scenarios"):
        assert logs["ssh"], "scp_upload.pcap has an SSH session"
        quic = [r["uid"] for r in logs["conn"] if r["service"] == "quic,ssl"]
        assert quic and set(quic) <= {r["uid"] for r in logs["ssl"]}


@pytest.mark.filterwarnings("ignore:The inplace keyword")   # zat's, under pandas 3
def test_pandas_dataframe_reader_types_the_columns(run):
    _, logs, out = run
    df = LogToDataFrame().create_dataframe(str(out / "conn.log"))
    assert len(df) == len(logs["conn"])
    assert str(df["orig_ip_bytes"].dtype).startswith("UInt64")
    assert df["orig_pkts"].sum() == sum(r["orig_pkts"] for r in logs["conn"])


def test_headers_and_close_line(run):
    _, logs, out = run
    assert logs["conn"] and logs["ssl"] and logs["x509"]
    for path, fields in LOG_FIELDS.items():
        if not logs[path]:
            continue
        lines = (out / f"{path}.log").read_text(encoding="ascii").splitlines()
        assert lines[0] == "#separator \\x09"
        assert lines[1:5] == ["#set_separator\t,", "#empty_field\t(empty)",
                              "#unset_field\t-", f"#path\t{path}"]
        assert re.fullmatch(r"#open\t\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d", lines[5])
        assert lines[6].split("\t")[1:] == [name for name, _ in fields]
        assert lines[7].split("\t")[1:] == [zeek_type for _, zeek_type in fields]
        assert re.fullmatch(r"#close\t\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d", lines[-1])
        assert all(len(line.split("\t")) == len(fields) for line in lines[8:-1])


def test_replay_twice_writes_the_same_bytes(tmp_path):
    for name in ("a", "b"):
        replay([str(PCAPS / "exfil_tls_selfsigned.pcap")], str(tmp_path / name),
               output_format="zeek")
    for path in LOG_FIELDS:
        a, b = tmp_path / "a" / f"{path}.log", tmp_path / "b" / f"{path}.log"
        assert a.exists() == b.exists()
        if a.exists():
            assert a.read_bytes() == b.read_bytes()
    assert not (tmp_path / "a" / "eve.json").exists()


def test_cli_format_zeek_writes_logs_only_and_refuses_summary(tmp_path, capsys):
    capture = str(PCAPS / "exfil_tls_selfsigned.pcap")
    assert main(["replay", capture, "-o", str(tmp_path / "z"), "--format", "zeek", "-q"]) == 0
    # the Zeek logs and run.json (what the run read, for `extract`), no eve.json
    assert sorted(p.name for p in (tmp_path / "z").iterdir()) == ["conn.log", "run.json",
                                                                   "ssl.log", "x509.log"]
    assert main(["replay", capture, "-o", str(tmp_path / "s"), "--format", "zeek",
                 "--summary"]) == 2
    assert "--summary reads eve.json" in capsys.readouterr().err


def test_outputs_write_each_event_to_every_chosen_sink(tmp_path):
    from engine.sinks.config import OutputsConfig
    from engine.sinks.fanout import open_outputs

    event = _tls_event("both.example")
    with open_outputs(OutputsConfig(), str(tmp_path), output_format="both") as outputs:
        outputs.write(event)
        outputs.flush()
        assert outputs.eve_path == str(tmp_path / "eve.json")
    assert json.loads((tmp_path / "eve.json").read_text()) == event
    assert [r["server_name"] for r in read_log(tmp_path / "ssl.log")] == ["both.example"]
    with pytest.raises(ValueError, match="one of eve, zeek, both"):
        open_outputs(OutputsConfig(), str(tmp_path), output_format="json")


# ------------------------------------------------------------------ escaping

def test_escape_separator_newline_backslash_and_non_printables():
    assert escape("a\tb") == "a\\x09b"
    assert escape("line\nbreak\r") == "line\\x0abreak\\x0d"
    assert escape("back\\slash") == "back\\x5cslash"
    assert escape("\x00\x7f") == "\\x00\\x7f"
    assert escape("caf\u00e9") == "caf\\xc3\\xa9"           # UTF-8, byte by byte
    assert escape("wire\udcff") == "wire\\xff"              # a byte kept as a surrogate
    assert escape("\ud800") == "\\xed\\xa0\\x80"               # a lone surrogate does not raise
    assert escape("plain name, with spaces") == "plain name, with spaces"


def test_escape_values_that_look_like_the_markers():
    assert escape("-") == "\\x2d"
    assert escape("(empty)") == "\\x28empty)"
    assert escape("--") == "--"


def test_sets_escape_the_set_separator_inside_elements():
    assert format_value(["a,b", "c"], "vector[string]") == "a\\x2cb,c"
    assert format_value([], "set[string]") == "(empty)"
    assert format_value(None, "vector[string]") == "-"
    assert format_value("", "string") == "(empty)"
    assert format_value(1_700_000_000_000_001, "time") == "1700000000.000001"
    assert format_value(True, "bool") == "T" and format_value(False, "bool") == "F"


def _tls_event(sni):
    return {"timestamp": "2026-03-10T14:00:00.000001+00:00", "flow_id": 42, "event_type": "tls",
            "src_ip": "10.0.0.1", "src_port": 40000, "dest_ip": "192.0.2.9", "dest_port": 443,
            "proto": "TCP", "tls": {"sni": sni, "version": "TLS 1.2", "established": False,
                                    "resumed": False, "alpn_selected": "h2,\tx"}}


def test_hostile_sni_stays_in_its_column(tmp_path):
    hostile = "evil\tinjected\tcolumns\nnew-row\\x41,comma\x00-"
    with ZeekLogSink(str(tmp_path)) as sink:
        sink.write(_tls_event(hostile))
        sink.write(_tls_event("-"))
    rows = read_log(tmp_path / "ssl.log")
    assert len(rows) == 2
    assert rows[0]["uid"] == zeek_uid(42) and rows[0]["id.resp_p"] == 443
    assert unescape(rows[0]["server_name"]) == hostile
    assert unescape(rows[0]["next_protocol"]) == "h2,\tx"
    assert rows[0]["established"] is False and rows[0]["version"] == "TLSv12"
    # a value spelled "-" is escaped, so it is not read back as unset
    assert rows[1]["server_name"] == "\\x2d" and unescape(rows[1]["server_name"]) == "-"
    text = (tmp_path / "ssl.log").read_text(encoding="ascii")
    assert len(text.splitlines()) == 8 + 2 + 1


def test_a_chain_entry_that_is_no_certificate_gets_a_row_of_unset_fields(tmp_path):
    import base64
    import hashlib

    garbage = b"\x30\x03\x02\x01\x00"
    event = _tls_event("x.example")
    event["tls"]["chain"] = [base64.b64encode(garbage).decode()]
    with ZeekLogSink(str(tmp_path)) as sink:
        sink.write(event)
        sink.write(event)                   # the same certificate the same day: one row
    [row] = read_log(tmp_path / "x509.log")
    assert row["fingerprint"] == hashlib.sha256(garbage).hexdigest()
    raw = (tmp_path / "x509.log").read_text(encoding="ascii").splitlines()[8].split("\t")
    assert raw[2:6] == ["-", "-", "-", "-"]      # version, serial, subject, issuer: unset
    assert row["certificate.subject"] == "-"
    assert read_log(tmp_path / "ssl.log")[0]["cert_chain_fps"] == row["fingerprint"]


# --------------------------------------------------------- uid, state, history

def test_uid_is_zeek_shaped_and_depends_only_on_the_flow_id():
    assert zeek_uid(123) == zeek_uid(123) != zeek_uid(124)
    assert re.fullmatch(r"C[0-9A-Za-z]{10,17}", zeek_uid(2 ** 60))


SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10


@pytest.mark.parametrize("ts, tc, pkts_tc, state", [
    (SYN, 0, 0, "S0"),
    (SYN | FIN, 0, 0, "SH"),
    (SYN | RST, 0, 0, "RSTOS0"),
    (SYN, RST | ACK, 1, "REJ"),
    (SYN | ACK, SYN | ACK, 2, "S1"),
    (SYN | ACK | FIN, SYN | ACK | FIN, 4, "SF"),
    (SYN | ACK | FIN, SYN | ACK, 3, "S2"),
    (SYN | ACK, SYN | ACK | FIN, 3, "S3"),
    (SYN | ACK | RST, SYN | ACK, 3, "RSTO"),
    (SYN | ACK, SYN | ACK | RST, 3, "RSTR"),
    (ACK | PSH, ACK | PSH, 3, "OTH"),
])
def test_conn_state_from_tcp_flags(ts, tc, pkts_tc, state):
    assert conn_state("tcp", ts, tc, pkts_tc) == state


def test_conn_state_and_history_of_udp():
    assert conn_state("udp", 0, 0, 0) == "S0" and conn_state("udp", 0, 0, 5) == "SF"
    assert history("udp", 0, 0, 3, 0) == "D" and history("udp", 0, 0, 3, 2) == "Dd"


def test_history_letters_in_canonical_order():
    assert history("tcp", SYN | ACK | PSH | FIN, SYN | ACK | PSH | FIN, 5, 5) == "ShADdFf"
    assert history("tcp", SYN, RST | ACK, 1, 1) == "Sr"
    assert history("tcp", SYN | ACK | RST, SYN | ACK, 2, 1) == "ShAR"
