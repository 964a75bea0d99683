"""A large synthetic EVE output, as a sensor leaves it after weeks of running:
what `exfilwatch report` must read in bounded memory.

    python benchmarks/make_eve.py OUT_DIR [--flows 2000000] [--hosts 400] [--seed 1]

writes OUT_DIR/eve.json and its rotated predecessors eve.json.1 .. eve.json.N
(the file sink's layout, oldest the highest number), each about
--rotate-mb. Records are shaped like engine/sinks/eve.py's: `flow` records
(one long flow in ten also has interim records, written before its final
one with other flows in between), a `tls` record before the `flow` record of
the 40 % of flows that are TLS, an `x509` record per certificate and day, a few `alert`
records just after their flow, and a closing `stats` record.

Internal hosts (10.x) talk to a Zipf-popular pool of external servers, so
hosts, channels and certificates are bounded while flows grow with --flows:
the property the report's memory test measures. Lines are written with
format strings rather than json.dumps: a few million flows in under a minute.
`eve_lines()` yields the same lines for a test that wants no file.
"""
import argparse
import logging
import os
import random
import sys
import time
from itertools import accumulate
from pathlib import Path

log = logging.getLogger("make_eve")

START_S = 1_772_323_200          # 2026-03-01T00:00:00Z
FLOWS_PER_SECOND = 2.0           # 3 M flows span about 17 days
TLS_SHARE = 0.4                  # flows with a TLS handshake (and a tls record)
LONG_FLOW_SHARE = 0.1            # flows that get interim records
INTERIM_S = 300                  # the core's interim interval
FINAL_DELAY_FLOWS = 2_000        # flows written between a long flow's interim and final records
ALERT_EVERY = 20_000             # one alert per this many flows
EXTERNALS = 3_000                # external servers
CERTS = 1_500                    # distinct server certificates
DAY_S = 86_400

_clock_cache: dict = {}


def timestamp(t: float) -> str:
    """RFC 3339 with microseconds, as the EVE sink writes it."""
    s = int(t)
    prefix = _clock_cache.get(s)
    if prefix is None:
        if len(_clock_cache) > 4096:
            _clock_cache.clear()
        prefix = _clock_cache[s] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s))
    return f"{prefix}.{int((t - s) * 1e6):06d}+00:00"


class _World:
    """The fixed population: hosts, servers, their names and certificates."""

    def __init__(self, rng: random.Random, hosts: int):
        self.hosts = [f"10.{20 + i // 250}.{i // 250 % 250}.{1 + i % 250}" for i in range(hosts)]
        self.servers = [(f"{rng.choice(('198.51.100', '203.0.113', '192.0.2'))}."
                         f"{rng.randrange(1, 255)}" if i % 7 else
                         f"198.18.{i // 250 % 250}.{1 + i % 250}",
                         rng.choice((443, 443, 443, 443, 8443, 993, 465)),
                         f"svc{i}.example.{rng.choice(('com', 'net', 'org'))}",
                         i % CERTS) for i in range(EXTERNALS)]
        self.cum_weights = list(accumulate(1 / (k + 1) for k in range(EXTERNALS)))   # Zipf
        self.cert_sha = [f"{rng.getrandbits(256):064x}" for _ in range(CERTS)]


def _tls(fid, t, src, sport, dst, dport, sni, sha) -> str:
    return (f'{{"timestamp":"{timestamp(t)}","flow_id":{fid},"event_type":"tls","src_ip":"{src}",'
            f'"src_port":{sport},"dest_ip":"{dst}","dest_port":{dport},"proto":"TCP","tls":'
            f'{{"sni":"{sni}","version":"TLS 1.3","ja3":{{'
            f'"hash":"304734bb1c086c3453b387400cf83f11",'
            f'"string":"771,4866-4867-4865,0-11-10,29-23,0"}},"ja3s":{{"hash":'
            f'"15af977ce25de452b96affa2addb1036","string":"771,4866,43-51"}},"ja4":'
            f'"t13d1812h2_85036bcba153_d41ae481755e","ja4s":"t130200_1302_a56c5b993250",'
            f'"cert_sha256":"{sha}","established":true,"resumed":false}}}}')


def _flow(fid, t_end, start, src, sport, dst, dport, app, up, down, interim: bool) -> str:
    return (f'{{"timestamp":"{timestamp(t_end)}","flow_id":{fid},"event_type":"flow",'
            f'"src_ip":"{src}","src_port":{sport},"dest_ip":"{dst}","dest_port":{dport},'
            f'"proto":"TCP","app_proto":"{app}","flow":{{"pkts_toserver":{up // 900 + 3},'
            f'"pkts_toclient":{down // 900 + 3},"bytes_toserver":{up},"bytes_toclient":{down},'
            f'"start":"{timestamp(start)}","end":"{timestamp(t_end)}","age":{int(t_end - start)},'
            f'"state":"{"established" if interim else "closed"}","reason":'
            f'"{"interim" if interim else "timeout"}","alerted":false,'
            f'"interim":{"true" if interim else "false"}}},"tcp":{{"tcp_flags":"1b",'
            f'"syn":true,"fin":true,"psh":true,"ack":true,"state":"closed"}}}}')


def _x509(t, sha, sni, n) -> str:
    status, score = ("self_signed", 80) if n % 50 == 0 else ("valid", 5)
    return (f'{{"timestamp":"{timestamp(t)}","flow_id":0,"event_type":"x509","x509":{{'
            f'"sha256":"{sha}","subject":"CN={sni}","issuerdn":"C=US, O=Bench CA, CN=Bench '
            f'Intermediate","serial":"{n:040X}","san":{{"dns":["{sni}"]}},"key":{{"type":"RSA",'
            f'"bits":2048}},"sni":"{sni}","validation":{{"status":"{status}","approved_ca":false,'
            f'"pin":"not_pinned"}},"score":{score},"reasons":[{{"id":"{status}","points":{score},'
            f'"detail":"synthetic"}}]}}}}')


def _alert(fid, t, src, dst, dport, sni, up, down, n) -> str:
    escalate = "true" if n % 3 == 0 else "false"
    return (f'{{"timestamp":"{timestamp(t)}","flow_id":{fid},"event_type":"alert","src_ip":"{src}",'
            f'"dest_ip":"{dst}","dest_port":{dport},"proto":"TCP","alert":{{"signature_id":9480001,'
            f'"signature":"EXFIL large upload over an encrypted channel","severity":1}},'
            f'"exfil":{{"alert_id":"{n:016x}","score":{60 + n % 40},"reasons":["{up} B uploaded"],'
            f'"evidence":{{"flows":[{fid}],"bytes":{{"toserver":{up},"toclient":{down}}},'
            f'"window_s":3600,"findings":{{"large_upload":{{"bytes_out":{up},"window":"1h"}}}}}},'
            f'"escalate":{escalate},"escalation_reason":"synthetic","tier":'
            f'{2 if escalate == "true" else 1},"containment":{{"block_ips":["{dst}"],'
            f'"block_ports":[{dport}],"block_domains":["{sni}"]}}}}}}')


def eve_lines(flows: int, hosts: int = 400, seed: int = 1):
    """The EVE lines (str, no newline) of a synthetic run of `flows` flows."""
    rng = random.Random(seed)
    world = _World(rng, hosts)
    pending = []                  # (flow index due, final line) of long flows
    seen_cert_day = set()
    t = float(START_S)
    for i in range(flows):
        t += rng.expovariate(FLOWS_PER_SECOND)
        fid = 1_000_000_000 + i
        src = world.hosts[int(rng.paretovariate(1.2)) % hosts]
        dst, dport, sni, cert = rng.choices(world.servers, cum_weights=world.cum_weights)[0]
        sport = 32768 + i % 28000
        day = int(t) // DAY_S
        if (cert, day) not in seen_cert_day:
            seen_cert_day.add((cert, day))
            yield _x509(t + 0.1, world.cert_sha[cert], sni, cert)
        tls = rng.random() < TLS_SHARE
        if tls:
            yield _tls(fid, t + 0.05, src, sport, dst, dport, sni, world.cert_sha[cert])
        app = "tls" if tls else "unknown"
        up, down = int(rng.lognormvariate(8.5, 1.6)), int(rng.lognormvariate(10, 1.5))
        if rng.random() < LONG_FLOW_SHARE:
            intervals = rng.randint(1, 4)
            for k in range(1, intervals + 1):
                yield _flow(fid, t + k * INTERIM_S, t, src, sport, dst, dport, app,
                            up * k // (intervals + 1), down * k // (intervals + 1), True)
            end = t + intervals * INTERIM_S + rng.uniform(1, INTERIM_S)
            pending.append((i + FINAL_DELAY_FLOWS,
                            _flow(fid, end, t, src, sport, dst, dport, app, up, down, False)))
        else:
            yield _flow(fid, t + rng.uniform(0.2, 30), t, src, sport, dst, dport, app, up, down,
                        False)
        if i % ALERT_EVERY == ALERT_EVERY - 1:
            yield _alert(fid, t + 31, src, dst, dport, sni, up, down, i // ALERT_EVERY)
        while pending and pending[0][0] <= i:
            yield pending.pop(0)[1]
        if len(seen_cert_day) > 4 * CERTS:
            seen_cert_day = {k for k in seen_cert_day if k[1] == day}
    for _, line in pending:
        yield line


def _stats(t: float, flows: int) -> str:
    return (f'{{"timestamp":"{timestamp(t)}","event_type":"stats","stats":{{"decoder":'
            f'{{"pkts":{flows * 40},"bytes":{flows * 30000}}},"flow":{{"total":{flows}}}}}}}')


def write_eve_dir(out: Path, flows: int, hosts: int = 400, seed: int = 1,
                  rotate_bytes: int = 256 << 20) -> list:
    """Write the run into `out` as rotated EVE files; returns their paths, oldest first."""
    out.mkdir(parents=True, exist_ok=True)
    chunks, size, fh = [], 0, None
    for line in eve_lines(flows, hosts, seed):
        if fh is None or size >= rotate_bytes:
            if fh:
                fh.close()
            chunks.append(out / f"chunk{len(chunks)}")
            fh, size = open(chunks[-1], "w", encoding="ascii", buffering=1 << 20), 0
        fh.write(line)
        fh.write("\n")
        size += len(line) + 1
    fh.write(_stats(START_S, flows) + "\n")
    fh.close()
    # the sink's names: the newest is eve.json, the oldest the highest number
    names = [out / ("eve.json" if k == 0 else f"eve.json.{k}") for k in range(len(chunks))]
    for chunk, name in zip(chunks, reversed(names)):
        os.replace(chunk, name)
    return list(reversed(names))


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="output directory to create")
    p.add_argument("--flows", type=int, default=2_000_000)
    p.add_argument("--hosts", type=int, default=400, help="internal hosts")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rotate-mb", type=int, default=256, help="size of each rotated file")
    args = p.parse_args(argv)
    started = time.monotonic()
    files = write_eve_dir(args.out, args.flows, args.hosts, args.seed, args.rotate_mb << 20)
    total = sum(f.stat().st_size for f in files)
    log.info("%d files, %.2f GB, %d flows in %.0f s", len(files), total / 1e9, args.flows,
             time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
