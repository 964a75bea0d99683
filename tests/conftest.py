import sys
from pathlib import Path

# test helpers (frames, batches, corpus, capfiles, dpkt_recount) import by name
sys.path.insert(0, str(Path(__file__).resolve().parent))
