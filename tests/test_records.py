"""The record types that cross the core boundary."""
from engine.records import FlowRecord


def _flow(**kw):
    fields = dict(flow_id=7, src_ip="10.0.0.1", src_port=50000, dest_ip="192.0.2.1", dest_port=443,
                  proto=6, vlan=(20,), tunnel_depth=0, pkts_toserver=3, pkts_toclient=2,
                  bytes_toserver=300, bytes_toclient=200, start_us=1, end_us=2, emitted_us=3,
                  state="closed", reason="timeout", tcp_flags_ts=0x1b, tcp_flags_tc=0x1b,
                  interim=True, missed_bytes=9)
    fields.update(kw)
    return FlowRecord(**fields)


def test_with_app_proto_names_the_protocol_and_keeps_every_other_field():
    rec = _flow()
    named = rec.with_app_proto("smtp")
    assert type(named) is FlowRecord
    assert named.app_proto == "smtp"
    assert named == rec._replace(app_proto="smtp")
    assert rec.app_proto is None                 # the original is untouched


def test_with_app_proto_replaces_a_name_already_there():
    assert _flow(app_proto="tls").with_app_proto("ssh") == _flow(app_proto="ssh")
