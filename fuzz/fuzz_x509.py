"""Fuzz the X.509 path: engine.certs parse_certificate and CertCache.get,
engine.scoring.score_certificate and engine.validation ChainValidator.validate,
on arbitrary DER (one chain per input, leaf first).

Input: [u8 flags][u8 sni length][sni][u32 packet time, s][DER chunks...].
"""
from common import Reader, fuzzing_imports, main

with fuzzing_imports(__name__):
    from engine import certs
    from engine.scoring import score_certificate
    from engine.scoring.model import CertContext
    from engine.validation import ChainValidator

import cert_factory  # tests/: a root of our own, so some chains can end in an anchor

MAX_CHAIN = 6
_ROOT = cert_factory.mint_root("Fuzz Root CA", key=cert_factory.new_key("p256"))
# tiny caches: eviction paths run on every few inputs
CACHE = certs.CertCache(max_entries=4)
VALIDATOR = ChainValidator(roots=[_ROOT.cert], approved_cas=(),
                           pins={"pinned.example": "00" * 32},
                           max_intermediate_subjects=2, max_results=4)


def TestOneInput(data: bytes) -> None:
    r = Reader(data)
    flags = r.u8()
    sni = r.take(r.u8()).decode("utf-8", "surrogateescape") or None
    at_us = r.u32() * 1_000_000 + (r.u8() << 40 if flags & 8 else 0)
    chain = r.chunks(MAX_CHAIN)
    if flags & 1:
        chain.append(_ROOT.der)
    validation = VALIDATOR.validate(chain, sni, at_us)
    assert validation is not None
    context = CertContext(sni=sni, at_us=None if flags & 2 else at_us,
                          first_seen_in_org=bool(flags & 4),
                          snis_seen=frozenset({sni or "", "other.example"}))
    for i, der in enumerate(chain):
        info = CACHE.get(der) if flags & 16 else certs.parse_certificate(der)
        score = score_certificate(info, validation if i == 0 else None, context)
        assert 0 <= score.score <= 100


if __name__ == "__main__":
    main(TestOneInput)
