"""home_net parsing and flow orientation (engine/netscope.py)."""

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.netscope import (EXTERNAL, INBOUND, INTERNAL, OUTBOUND, NetScope)
from engine.records import FlowRecord


def flow(src, dst, sport=50000, dport=443, out=1000, back=200, pkts_out=10, pkts_in=4):
    return FlowRecord(1, src, sport, dst, dport, 6, (), 0, pkts_out, pkts_in, out, back,
                      0, 1, 1, "closed", "shutdown", 0x1b, 0x1b)


def test_default_home_net_is_rfc1918_unique_local_and_link_local():
    scope = NetScope()
    for ip in ("10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.9.9",
               "fd12:3456::1", "fe80::1"):
        assert scope.is_internal(ip), ip
    for ip in ("172.32.0.1", "8.8.8.8", "11.0.0.1", "2001:db8::1", "100.64.0.1"):
        assert not scope.is_internal(ip), ip


def test_range_boundaries_are_inclusive_and_exact():
    scope = NetScope(["192.0.2.0/25"])
    assert scope.is_internal("192.0.2.0") and scope.is_internal("192.0.2.127")
    assert not scope.is_internal("192.0.2.128") and not scope.is_internal("192.0.1.255")


def test_negated_entry_carves_a_range_out_of_home_net():
    scope = NetScope(["10.0.0.0/8", "!10.9.0.0/16"])
    assert scope.is_internal("10.8.255.255")
    assert not scope.is_internal("10.9.0.1")
    assert scope.is_internal("10.10.0.0")


def test_ipv4_mapped_ipv6_address_is_judged_as_its_ipv4_address():
    scope = NetScope(["10.0.0.0/8"])
    assert scope.is_internal("::ffff:10.1.1.1")
    assert not scope.is_internal("::ffff:8.8.8.8")


def test_ipv6_zone_id_is_ignored():
    assert NetScope().is_internal("fe80::1%eth0")


def test_overlapping_and_adjacent_cidrs_merge():
    scope = NetScope(["10.0.0.0/24", "10.0.1.0/24", "10.0.0.128/25", "2001:db8::/33",
                      "2001:db8:8000::/33"])
    assert scope.is_internal("10.0.1.255") and not scope.is_internal("10.0.2.0")
    assert scope.is_internal("2001:db8:ffff::1")


def test_host_bits_in_a_cidr_are_accepted_like_suricata_does():
    assert NetScope(["10.1.2.3/8"]).is_internal("10.200.0.1")


def test_unparseable_address_from_traffic_is_external_not_an_error():
    scope = NetScope()
    assert not scope.is_internal("not-an-ip")
    assert not scope.is_internal("")


@pytest.mark.parametrize("home_net, fragment", [
    ("10.0.0.0/8", "must be a list"),
    (["10.0.0.0/33"], "'10.0.0.0/33'"),
    (["nonsense"], "CIDR"),
    ([10], "is not a string"),
])
def test_bad_home_net_raises_config_error_naming_the_key(home_net, fragment):
    with pytest.raises(ConfigError) as err:
        NetScope(home_net, where="aggregate.home_net")
    assert "aggregate.home_net" in str(err.value) and fragment in str(err.value)


def test_orient_outbound_flow_keeps_initiator_as_internal_host():
    o = NetScope().orient(flow("10.0.0.5", "203.0.113.9", out=5000, back=300))
    assert o.direction == OUTBOUND
    assert (o.internal_host, o.external_host) == ("10.0.0.5", "203.0.113.9")
    assert (o.bytes_out, o.bytes_in, o.pkts_out, o.pkts_in) == (5000, 300, 10, 4)
    assert (o.internal_port, o.external_port, o.service_port) == (50000, 443, 443)


def test_orient_inbound_flow_counts_what_the_internal_server_sent_as_out():
    o = NetScope().orient(flow("203.0.113.9", "10.0.0.5", sport=40000, dport=22,
                               out=300, back=9_000_000))
    assert o.direction == INBOUND
    assert (o.internal_host, o.external_host) == ("10.0.0.5", "203.0.113.9")
    assert (o.bytes_out, o.bytes_in, o.pkts_out, o.pkts_in) == (9_000_000, 300, 4, 10)
    assert (o.internal_port, o.external_port, o.service_port) == (22, 40000, 22)


def test_orient_marks_internal_to_internal_and_external_to_external():
    scope = NetScope()
    assert scope.orient(flow("10.0.0.1", "192.168.1.1")).direction == INTERNAL
    assert scope.orient(flow("8.8.8.8", "1.1.1.1")).direction == EXTERNAL


def test_internal_mask_is_vectorised_over_a_sequence():
    mask = NetScope().internal_mask(["10.0.0.1", "8.8.8.8", "fd00::1"])
    assert mask.dtype == np.bool_ and mask.tolist() == [True, False, True]


def test_cache_is_bounded(monkeypatch):
    import engine.netscope as ns
    monkeypatch.setattr(ns, "MAX_CACHED_ADDRESSES", 8)
    scope = NetScope()
    for i in range(50):
        assert scope.is_internal(f"10.0.0.{i}")
    assert len(scope._cache) <= 8


