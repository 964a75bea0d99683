import sys
from pathlib import Path

# test helpers (frames, batches, corpus, capfiles, dpkt_recount) import by name
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest


@pytest.fixture(params=["core", "pure"])
def parsers(request):
    """The handshake parsers of the compiled core, then of their pure-Python
    twin: a parser test that takes this fixture runs on both (STYLE.md 9)."""
    from engine.parsers import IMPLEMENTATIONS
    return IMPLEMENTATIONS[request.param]
