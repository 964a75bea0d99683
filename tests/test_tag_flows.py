"""FlowEngine.tag_flows: each packet's flow_id, exactly as the flow records
carry it, where the flow table's state decides which flow a packet joins."""
import numpy as np
import pytest

from batches import make_batch
from engine._core import FlowEngine
from engine.config import CoreConfig
from frames import TCP_SYNACK_REPLY, V4_A, V4_B, eth, eth_tcp, ipv4
from test_flows import TIMEOUTS, at, icmp_port_unreachable_for, udp_frame, us


def tagged(frames, config=TIMEOUTS):
    """(tags, outer tags, flow records) of frames through a fresh core."""
    engine = FlowEngine(config)
    batch = make_batch(frames)
    tags = np.full(batch.count, 99, np.uint64)      # every slot must be written
    outer = np.full(batch.count, 99, np.uint64)
    engine.tag_flows(batch, tags, outer)
    engine.flush()
    return tags.tolist(), outer.tolist(), engine.take_flows()


def test_the_same_five_tuple_after_a_timeout_is_a_new_flow_with_its_own_id():
    query = udp_frame(b"q")
    tags, outer, records = tagged(at((0, query), (1, query), (20, query), (21, query)))
    first, second = sorted(records, key=lambda r: r.start_us)
    assert (first.start_us, second.start_us) == (us(0), us(20))
    assert first.flow_id != second.flow_id
    assert tags == [first.flow_id] * 2 + [second.flow_id] * 2
    assert outer == [0, 0, 0, 0]


def test_an_icmp_error_is_tagged_with_the_flow_it_quotes():
    query = udp_frame(b"query")
    tags, _, records = tagged(at((0, query), (0.1, icmp_port_unreachable_for(query))))
    (r,) = records
    assert tags == [r.flow_id, r.flow_id] and r.pkts_toclient == 1


def test_both_directions_share_the_id_whichever_side_is_seen_first():
    synack = eth(0x0800, ipv4(6, TCP_SYNACK_REPLY, src=V4_B, dst=V4_A))
    tags, _, records = tagged(at((0, synack), (0.1, eth_tcp(0x10))))
    (r,) = records
    assert r.src_ip == "10.0.0.1"          # the SYN-ACK's receiver initiated
    assert tags == [r.flow_id, r.flow_id]


def test_frames_that_join_no_flow_are_tagged_zero():
    arp = eth(0x0806, bytes(28))
    tags, outer, records = tagged(at((0, arp), (0.1, udp_frame()), (0.2, eth(0x0800, b"\x45"))))
    (r,) = records
    assert tags == [0, r.flow_id, 0] and outer == [0, 0, 0]


def test_flow_id_arrays_shorter_than_the_batch_are_refused():
    engine = FlowEngine(CoreConfig())
    batch = make_batch(at((0, udp_frame()), (1, udp_frame())))
    with pytest.raises(ValueError, match="shorter than batch.count"):
        engine.tag_flows(batch, np.empty(1, np.uint64), np.empty(2, np.uint64))
