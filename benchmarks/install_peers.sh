#!/usr/bin/env bash
# Installs the peers compare.py measures against: Suricata 7 from Debian
# bookworm-backports (bookworm itself ships 6.0) and nfstream into a venv;
# and tcpreplay, which live_rates.py replays the benchmark capture with.
# Idempotent; needs root for apt.  Usage: benchmarks/install_peers.sh [VENV]
set -euo pipefail
VENV=${1:-.venv}
LIST=/etc/apt/sources.list.d/backports.list
LINE="deb http://deb.debian.org/debian bookworm-backports main"

if ! grep -qxF "$LINE" "$LIST" 2>/dev/null; then
    echo "$LINE" > "$LIST"
fi
if ! suricata -V 2>/dev/null | grep -q "version 7\."; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t bookworm-backports suricata
fi
suricata -V

if ! command -v tcpreplay >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends tcpreplay
fi
tcpreplay --version | head -1

"$VENV/bin/python" -m pip install -q nfstream
"$VENV/bin/python" -c "import nfstream; print('nfstream', nfstream.__version__)"
