"""Containment export: the block list of the escalated alerts of a run.

    exfilwatch contain DIR --format nft|iptables|ip6tables|csv

reads DIR/eve.json (and rotated eve.json.N files) and prints what the
alerts with ``exfil.escalate == true`` ask to block
(``exfil.containment``: block_ips, block_ports, block_domains) as an
nftables ruleset, an iptables-restore or ip6tables-restore file, or CSV.

Every address, port and domain comes from traffic, so each is checked
before it is printed: an address must parse as an IP address, a port must
be 1-65535, a domain must be a DNS name (letters, digits, hyphens,
underscores, dots). Anything else is left out with a warning: nothing
from the wire can turn into a rule or a line of its own.

Blocking is per channel: traffic to the address on the alert's protocol
and port (the whole address when the alert names no port). IP rules
cannot block a name, so domains are listed as comments in the rule
formats (for a DNS or proxy blocklist) and as rows in CSV. Entries are
deduplicated and sorted (addresses numerically, IPv4 before IPv6).
"""
from __future__ import annotations

import csv
import io
import ipaddress
import json
import logging
import os
import re
from dataclasses import dataclass, field

from .errors import ExfilwatchError
from .sinks.file import eve_files, open_eve

log = logging.getLogger(__name__)

FORMATS = ("nft", "iptables", "ip6tables", "csv")
NFT_TABLE = "exfilwatch"
IPTABLES_CHAIN = "EXFILWATCH-BLOCK"
_PROTOCOLS = {"TCP": "tcp", "UDP": "udp"}
_DNS_NAME = re.compile(r"(?=.{1,253}\.?$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*"
                       r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?$")


class ContainError(ExfilwatchError):
    """DIR cannot be read as a run's output directory."""


@dataclass
class Seen:
    """Which alerts asked for one block entry, and when."""
    signatures: set = field(default_factory=set)
    alert_ids: set = field(default_factory=set)
    first_seen: str = ""
    last_seen: str = ""

    def add(self, alert: dict) -> None:
        ts = alert.get("timestamp", "")
        self.signatures.add(alert.get("alert", {}).get("signature", ""))
        alert_id = alert["exfil"].get("alert_id")
        if alert_id is not None:
            self.alert_ids.add(str(alert_id))
        # RFC 3339 with one offset (+00:00) throughout: text order is time order
        self.first_seen = min(self.first_seen or ts, ts)
        self.last_seen = max(self.last_seen, ts)


@dataclass
class BlockList:
    """(address, protocol, port) -> Seen; port 0 and protocol "" block the
    whole address. domain -> Seen."""
    channels: dict = field(default_factory=dict)
    domains: dict = field(default_factory=dict)
    escalated_alerts: int = 0
    rejected: int = 0

    def add(self, alert: dict) -> None:
        self.escalated_alerts += 1
        containment = alert["exfil"].get("containment") or {}
        proto = _PROTOCOLS.get(str(alert.get("proto", "")).upper(), "")
        ports = [p for p in containment.get("block_ports") or [] if self._valid_port(p)]
        for ip in containment.get("block_ips") or []:
            address = self._valid_address(ip)
            if address is None:
                continue
            for port in ports if ports and proto else [0]:
                key = (address, proto if port else "", port)
                self.channels.setdefault(key, Seen()).add(alert)
        for name in containment.get("block_domains") or []:
            if isinstance(name, str) and _DNS_NAME.match(name):
                self.domains.setdefault(name.lower().rstrip("."), Seen()).add(alert)
            else:
                self._reject("domain", name)

    def _valid_address(self, ip):
        """An IP address written as text, without an IPv6 zone ("%eth0"):
        ipaddress accepts any characters there, newlines included."""
        try:
            address = ipaddress.ip_address(ip) if isinstance(ip, str) else None
        except ValueError:
            address = None
        if address is None or getattr(address, "scope_id", None):
            self._reject("address", ip)
            return None
        return address

    def _valid_port(self, port) -> bool:
        if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535:
            return True
        self._reject("port", port)
        return False

    def _reject(self, what: str, value) -> None:
        self.rejected += 1
        log.warning("Left out of the block list: %r is not a valid %s.", value, what)

    def sorted_channels(self, version: int | None = None):
        keys = [k for k in self.channels if version is None or k[0].version == version]
        return sorted(keys, key=lambda k: (k[0].version, k[0], k[1], k[2]))


def _eve_files(out_dir: str) -> list:
    if not os.path.isdir(out_dir):
        raise ContainError(f"{out_dir} is not a directory: give the output directory of a "
                           "replay or live run.")
    paths = eve_files(out_dir)
    if not paths:
        raise ContainError(f"{out_dir} holds no eve.json: contain reads the EVE output of a "
                           "replay or live run (--format eve or both).")
    return paths


def load_block_list(out_dir: str) -> BlockList:
    blocks = BlockList()
    for path in _eve_files(out_dir):
        try:
            with open_eve(path) as fh:
                for lineno, line in enumerate(fh, 1):
                    if b'"alert"' not in line:
                        continue
                    try:
                        event = json.loads(line)
                    except ValueError:
                        # a line still being written by a live run
                        log.warning("%s line %d is not JSON; skipped.", path, lineno)
                        continue
                    if event.get("event_type") == "alert" \
                            and (event.get("exfil") or {}).get("escalate") is True:
                        blocks.add(event)
        except (OSError, EOFError) as exc:
            raise ContainError(f"Cannot read {path}: "
                               f"{getattr(exc, 'strerror', None) or exc}.") from exc
    return blocks


def _printable(text: str) -> str:
    """A comment stays one line whatever eve.json holds."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _comment_lines(blocks: BlockList, version: int | None) -> list:
    """What the rules cannot express, as comments: the domains, and where
    each channel comes from."""
    lines = [f"# exfilwatch containment: {blocks.escalated_alerts} escalated alert(s)"]
    for key in blocks.sorted_channels(version):
        address, proto, port = key
        seen = blocks.channels[key]
        where = f"{address} {proto}/{port}" if port else f"{address} (all traffic)"
        lines.append(_printable(f"# {where}: {'; '.join(sorted(seen.signatures))} "
                                f"({seen.first_seen} .. {seen.last_seen})"))
    if blocks.domains:
        lines.append("# domains (block them in DNS or a proxy; IP rules cannot):")
        lines.extend(f"#   {name}" for name in sorted(blocks.domains))
    return lines


def render_nft(blocks: BlockList) -> str:
    """An nftables ruleset for `nft -f`: table inet exfilwatch, re-created
    atomically on each load, dropping forwarded and locally sent traffic to
    the blocked channels; one set per address family."""
    lines = _comment_lines(blocks, None)
    lines += [f"table inet {NFT_TABLE}", f"delete table inet {NFT_TABLE}",
              f"table inet {NFT_TABLE} {{"]
    rules = []
    for version, family, addr_type in ((4, "ip", "ipv4_addr"), (6, "ip6", "ipv6_addr")):
        keys = blocks.sorted_channels(version)
        hosts = [str(a) for a, _, port in keys if not port]
        services = [f"{a} . {proto} . {port}" for a, proto, port in keys if port]
        lines += _nft_set(f"block_v{version}", addr_type, hosts)
        lines += _nft_set(f"block_v{version}_service", f"{addr_type} . inet_proto . inet_service",
                          services)
        rules += [f"        {family} daddr @block_v{version} drop",
                  f"        {family} daddr . meta l4proto . th dport @block_v{version}_service drop"]
    for chain, hook in (("forward", "forward"), ("output", "output")):
        lines += [f"    chain {chain} {{",
                  f"        type filter hook {hook} priority filter; policy accept;",
                  *rules, "    }"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _nft_set(name: str, set_type: str, elements: list) -> list:
    lines = [f"    set {name} {{", f"        type {set_type}"]
    if elements:
        lines.append("        elements = { " + ", ".join(elements) + " }")
    return lines + ["    }"]


def render_iptables(blocks: BlockList, version: int = 4) -> str:
    """An iptables-restore (version 4) or ip6tables-restore (6) file that
    fills the chain EXFILWATCH-BLOCK; load it with --noflush so the rest of
    the filter table stays, then jump to the chain from FORWARD/OUTPUT."""
    tool = "iptables" if version == 4 else "ip6tables"
    lines = _comment_lines(blocks, version)
    lines += [f"# load: {tool}-restore --noflush < FILE; once: {tool} -I FORWARD -j "
              f"{IPTABLES_CHAIN}; {tool} -I OUTPUT -j {IPTABLES_CHAIN}",
              "*filter", f":{IPTABLES_CHAIN} - [0:0]"]
    for address, proto, port in blocks.sorted_channels(version):
        prefix = 32 if version == 4 else 128
        match = f" -p {proto} --dport {port}" if port else ""
        lines.append(f"-A {IPTABLES_CHAIN} -d {address}/{prefix}{match} -j DROP")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


CSV_COLUMNS = ("address", "protocol", "port", "domain", "signatures", "first_seen",
               "last_seen", "alert_ids")


def render_csv(blocks: BlockList) -> str:
    """One row per blocked channel, then one per domain; several alerts'
    signatures and ids in one cell are joined with "; "."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    rows = [((str(a), proto, port or "", ""), blocks.channels[(a, proto, port)])
            for a, proto, port in blocks.sorted_channels()]
    rows += [(("", "", "", name), blocks.domains[name]) for name in sorted(blocks.domains)]
    for values, seen in rows:
        writer.writerow([*values, "; ".join(sorted(seen.signatures)), seen.first_seen,
                         seen.last_seen, "; ".join(sorted(seen.alert_ids))])
    return out.getvalue()


def render(blocks: BlockList, fmt: str) -> str:
    if fmt == "nft":
        return render_nft(blocks)
    if fmt in ("iptables", "ip6tables"):
        return render_iptables(blocks, 4 if fmt == "iptables" else 6)
    return render_csv(blocks)


def add_contain_parser(sub) -> None:
    cp = sub.add_parser(
        "contain",
        help="print the escalated alerts' block list (nft, iptables, csv)",
        description="Read DIR/eve.json (and rotated eve.json.N files) of a replay or live run "
                    "and print what the alerts escalated to Tier 2 ask to block: their "
                    "destination addresses on the alert's protocol and port, and their "
                    "domains. nft: a ruleset for `nft -f` (table inet exfilwatch, IPv4 and IPv6 "
                    "sets); iptables / ip6tables: a file for iptables-restore / "
                    "ip6tables-restore --noflush filling the chain EXFILWATCH-BLOCK; csv: one "
                    "row per address and port, and per domain, with the alerts' signatures, "
                    "first and last time seen and ids. Domains are comments in the rule "
                    "formats. Addresses, ports and domains that are not valid are left out "
                    "with a warning. Exit status 2: DIR is missing or holds no eve.json, or "
                    "FILE cannot be written.",
    )
    cp.add_argument("directory", metavar="DIR", help="output directory of a replay or live run")
    cp.add_argument("--format", choices=FORMATS, default="nft",
                    help="output format (default nft)")
    cp.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def run_contain(args) -> int:
    """The `contain` command: print (or write to -o FILE) the block list."""
    import sys

    from .cli import EXIT_OK, EXIT_USAGE

    try:
        text = render(load_block_list(args.directory), args.format)
    except ContainError as exc:
        print(f"exfilwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            print(f"exfilwatch: cannot write {args.output}: {exc.strerror}.", file=sys.stderr)
            return EXIT_USAGE
    else:
        sys.stdout.write(text)
    return EXIT_OK
