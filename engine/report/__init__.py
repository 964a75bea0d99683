"""The HTML triage report (`exfilwatch report DIR -o report.html`).

One concern per module: `evefiles` reads an output directory's EVE
records, `model` turns them into per-host triage data answering the
analyst's playbook (DESIGN.md), `svg` draws the charts, `html` renders the
self-contained page and `cli` is the subcommand.
"""
