"""JA4SSH windows counted by the core on a synthetic SSH session whose
fingerprints are worked out by hand: 200 SSH packets (packets with payload)
a window, payload-length modes, packets and bare ACKs per direction, the
last window running to the end of the flow."""
from batches import make_batch
from frames import V4_A, V4_B, eth, ipv4, tcp

from engine._core import FlowEngine
from engine.config import CoreConfig
from engine.fingerprints.ja4ssh import ja4ssh

SYN, ACK, PSH_ACK, FIN_ACK = 0x02, 0x10, 0x18, 0x11


class Session:
    """Frames of one TCP session to port 22, sequence numbers kept."""

    def __init__(self):
        self.frames, self.t = [], 0.0
        self.seq = {True: 1000, False: 5000}

    def send(self, from_client: bool, flags: int, payload: bytes = b"") -> None:
        self.t += 0.001
        seq, ack = self.seq[from_client], self.seq[not from_client]
        if from_client:
            frame = ipv4(6, tcp(flags, 40022, 22, seq, ack, payload), V4_A, V4_B)
        else:
            frame = ipv4(6, tcp(flags, 22, 40022, seq, ack, payload), V4_B, V4_A)
        self.frames.append((self.t, eth(0x0800, frame)))
        self.seq[from_client] += len(payload) + (1 if flags & (SYN | 0x01) else 0)

    def open(self) -> None:
        self.send(True, SYN)
        self.send(False, SYN | ACK)
        self.send(True, ACK)                     # a client bare ACK before any SSH
        self.send(True, PSH_ACK, b"SSH-2.0-OpenSSH_9.6\r\n")
        self.send(False, PSH_ACK, b"SSH-2.0-OpenSSH_8.9p1\r\n")

    def rounds(self, n: int, client_len: int, server_len: int) -> None:
        """n times: client payload, server payload, client bare ACK."""
        for _ in range(n):
            self.send(True, PSH_ACK, bytes(client_len))
            self.send(False, PSH_ACK, bytes(server_len))
            self.send(True, ACK)

    def close(self) -> None:
        self.send(True, FIN_ACK)
        self.send(False, ACK)
        self.send(False, FIN_ACK)
        self.send(True, ACK)

    def fingerprints(self) -> list:
        engine = FlowEngine(CoreConfig())
        engine.process(make_batch(self.frames))
        engine.flush()
        return [ja4ssh(w) for w in sorted(engine.take_ja4ssh(), key=lambda w: w.index)]


def test_a_window_closes_at_200_ssh_packets_and_the_last_runs_to_the_end_of_the_flow():
    s = Session()
    s.open()
    s.rounds(99, 36, 52)        # banners + 198 packets: the 200th is round 99's server packet
    s.rounds(10, 48, 1000)      # round 99's bare ACK lands here, then 10 more rounds
    s.close()
    assert s.fingerprints() == [
        # 1 + 99 packets each way; the handshake's ACK and 98 rounds' ACKs
        "c36s52_c100s100_c99s0",
        # round 99's ACK and 10 rounds' ACKs, then the teardown: the server's
        # ACK of the client's FIN and the client's last ACK (FIN-ACKs are not bare)
        "c48s1000_c10s10_c12s1",
    ]


def test_no_window_is_written_for_nothing_but_acks_after_a_full_one():
    s = Session()
    s.open()
    s.rounds(99, 36, 52)
    s.close()
    assert s.fingerprints() == ["c36s52_c100s100_c99s0"]
