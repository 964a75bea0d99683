"""Capture files through FlowEngine.tag_flows, packet by packet (tests)."""
import numpy as np

from engine.capture import open_capture


def charged_frames(engine, *paths):
    """Every (flow_id, ts_us, linktype, wirelen, frame) the engine charged a
    frame to, in capture order; a UDP tunnel's packet appears for its outer
    flow first, then for its inner flow (the order the core accounts them)."""
    out = []
    for path in paths:
        with open_capture(path) as reader:
            for batch in reader:
                tags = np.empty(batch.count, np.uint64)
                outer = np.empty(batch.count, np.uint64)
                engine.tag_flows(batch, tags, outer)
                for i in range(batch.count):
                    for fid in (int(outer[i]), int(tags[i])):
                        if fid:
                            out.append((fid, int(batch.ts_us[i]), int(batch.linktypes[i]),
                                        int(batch.wirelens[i]), batch.packet(i)))
    return out
