"""The kept packets of an alert's flows, written out when the alert is
raised: DIR/extract/<alert_id>.pcap (.pcapng when they span link types).

With CoreConfig.keep_kib_per_flow set (`live --keep-kib N`), the core keeps
the first N KiB of every flow's frames in one bounded ring
(engine/_keep.pxi); a live capture has no file to read them again from, so
they are saved as each alert is raised, while they are still in the ring.
`exfilwatch extract DIR --alert ID` on a live run's DIR copies the file.
"""
from __future__ import annotations

import logging
import os

from .errors import OutputError
from .pcapout import PacketFileWriter

log = logging.getLogger(__name__)

EXTRACT_DIR = "extract"


def kept_path(out_dir: str, alert_id: str) -> str | None:
    """The file of an alert's kept packets in DIR, or None."""
    for ext in (".pcap", ".pcapng"):
        path = os.path.join(out_dir, EXTRACT_DIR, alert_id + ext)
        if os.path.exists(path):
            return path
    return None


class AlertPackets:
    """Called with each alert event; writes its flows' kept frames."""

    def __init__(self, engine, out_dir: str):
        self.engine = engine
        self.dir = os.path.join(out_dir, EXTRACT_DIR)
        self.files_written = 0

    def __call__(self, alert: dict) -> str | None:
        frames = self.engine.kept_packets(alert["exfil"]["evidence"]["flows"])
        if not frames:
            return None
        ext = ".pcap" if len({linktype for _, _, linktype, _, _ in frames}) == 1 else ".pcapng"
        path = os.path.join(self.dir, alert["exfil"]["alert_id"] + ext)
        try:
            os.makedirs(self.dir, exist_ok=True)
            with PacketFileWriter(path) as out:
                for _, ts_us, linktype, wirelen, frame in frames:
                    out.write(ts_us, frame, wirelen, linktype)
        except (OSError, OutputError) as exc:
            # the capture goes on: losing one alert's packets must not stop it
            log.error("Cannot save the packets of alert %s: %s", alert["exfil"]["alert_id"], exc)
            return None
        self.files_written += 1
        return path


def add_keep_arguments(parser) -> None:
    """live's options for keeping packets (CoreConfig.keep_*)."""
    from .config import CoreConfig

    parser.add_argument("--keep-kib", type=int, metavar="N",
                        help="keep the first N KiB of every flow's packets in memory and write "
                             "those of an alert's flows to DIR/extract/<alert_id>.pcap when it "
                             "is raised (default 0: none kept; needs --workers 1, the process "
                             "that raises the alerts)")
    parser.add_argument("--keep-mb", type=int, metavar="M",
                        help="memory for kept packets, all flows together; the oldest are "
                             f"overwritten (default {CoreConfig().keep_memory_mb})")
