"""The sensor's processing chain, fed batch by batch: the core, then the
handshake interpretation; out come the records of the session (handshake
sessions, JA4SSH windows, flows) in the order they happened."""
from ._core import FlowEngine
from .config import CoreConfig
from .handshake import HandshakeInterpreter, SshSession
from .records import CaptureLossSample


def app_proto_of(session) -> str:
    """The flow's app_proto as Suricata names it."""
    if isinstance(session, SshSession):
        return "ssh"
    if session.transport == "quic":
        return "quic"
    return session.preamble if session.preamble and session.preamble != "unknown" else "tls"


class SensorPipeline:
    def __init__(self, config: CoreConfig = CoreConfig()):
        self.engine = FlowEngine(config)
        self.interpreter = HandshakeInterpreter()
        self._app_protos = {}        # flow_id -> app_proto until the flow's record leaves
        self._loss_seen = (0, 0)     # ack and gap events already reported

    def feed(self, batch) -> list:
        self.engine.process(batch)
        return self.drain()

    def finish(self) -> list:
        """End of input: every open flow ends (reason "shutdown")."""
        self.engine.flush()
        return self.drain()

    def drain(self) -> list:
        """Records ready since the last call: a flow's handshake session
        comes before its flow record, which carries the app_proto."""
        out = []
        for hs in self.engine.take_handshakes():
            session = self.interpreter.interpret(hs)
            if session is not None:
                self._app_protos[hs.flow_id] = app_proto_of(session)
                out.append(session)
        out += self.engine.take_ja4ssh()
        out += self.engine.take_flows(self._app_protos)
        acks, gaps = self.engine.ack_gap_events
        if acks != self._loss_seen[0]:
            # what the batch added to the capture-loss counters, for the
            # detection layer's loss window
            out.append(CaptureLossSample(self.engine.last_packet_us, acks - self._loss_seen[0],
                                         gaps - self._loss_seen[1]))
            self._loss_seen = (acks, gaps)
        return out
