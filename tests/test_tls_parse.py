"""TLS handshake message parsers on literal-hex vectors (tls_vectors.py): every
test taking the `parsers` fixture runs on the compiled core and on its
pure-Python twin."""
import struct

import pytest

import tls_vectors as v

CH_KEYS = {"status", "legacy_version", "random", "session_id", "cipher_suites",
           "compression_methods", "extensions", "sni", "alpn", "supported_versions",
           "supported_groups", "ec_point_formats", "signature_algorithms", "key_share_groups",
           "psk_key_exchange_modes", "has_pre_shared_key", "has_early_data", "has_ech",
           "extensions_truncated", "capped"}
SH_KEYS = {"status", "legacy_version", "random", "session_id", "cipher_suite",
           "compression_method", "extensions", "selected_version", "alpn", "key_share_group",
           "is_hello_retry_request", "extensions_truncated", "capped"}


def u16(x):
    return struct.pack(">H", x)


def v16(b):
    return u16(len(b)) + b


def ch_with_extensions(exts: bytes) -> bytes:
    """A minimal ClientHello body around a raw extensions block (length included)."""
    return u16(0x0303) + bytes(32) + b"\x00" + v16(u16(0x1301)) + b"\x01\x00" + exts


def ext(t, data):
    return u16(t) + v16(data)


# ------------------------------------------------------------ ClientHello

def test_client_hello_from_openssl_decodes_every_field(parsers):
    ch = parsers.parse_client_hello(v.body(v.OPENSSL_TLS13_CLIENT_HELLO))
    assert set(ch) == CH_KEYS
    assert ch["status"] == "ok"
    assert ch["legacy_version"] == 0x0303
    assert len(ch["random"]) == 32 and len(ch["session_id"]) == 32
    assert ch["cipher_suites"][:3] == [0x1302, 0x1303, 0x1301]
    assert ch["cipher_suites"][-1] == 0x00ff and len(ch["cipher_suites"]) == 18
    assert ch["compression_methods"] == [0]
    assert ch["extensions"] == [0, 11, 10, 35, 16, 22, 23, 13, 43, 45, 51, 21]
    assert ch["sni"] == "server.example"
    assert ch["alpn"] == [b"h2", b"http/1.1"]
    assert ch["supported_versions"] == [0x0304, 0x0303]
    assert ch["supported_groups"][:2] == [0x001d, 0x0017]
    assert ch["ec_point_formats"] == [0, 1, 2]
    assert ch["signature_algorithms"][:3] == [0x0403, 0x0503, 0x0603]
    assert ch["key_share_groups"] == [0x001d]
    assert ch["psk_key_exchange_modes"] == [1]
    assert not (ch["has_pre_shared_key"] or ch["has_early_data"] or ch["has_ech"])
    assert not ch["extensions_truncated"] and not ch["capped"]


def test_client_hello_keeps_grease_in_every_list_in_order(parsers):
    ch = parsers.parse_client_hello(v.body(v.GREASE_CLIENT_HELLO))
    assert ch["status"] == "ok"
    assert ch["cipher_suites"][0] == 0x0a0a
    assert ch["extensions"][0] == 0x3a3a and ch["extensions"][-2:] == [0x1a1a, 0x0029]
    assert ch["supported_groups"] == [0x4a4a, 0x001d, 0x0017, 0x0018]
    assert ch["supported_versions"] == [0x5a5a, 0x0304, 0x0303]
    assert ch["key_share_groups"] == [0x4a4a, 0x001d]
    assert ch["signature_algorithms"] == [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501,
                                          0x0806, 0x0601]
    assert ch["sni"] == "example.com"
    assert ch["alpn"] == [b"h2", b"http/1.1"]
    assert ch["has_pre_shared_key"] and ch["has_early_data"] and ch["has_ech"]
    assert ch["random"] == bytes(range(32)) and ch["session_id"] == bytes(range(32, 64))


def test_client_hello_without_extensions_block_is_ok(parsers):
    ch = parsers.parse_client_hello(v.body(v.OLD_CLIENT_HELLO))
    assert ch["status"] == "ok"
    assert ch["legacy_version"] == 0x0301
    assert ch["cipher_suites"] == [4, 5, 0x2f]
    assert ch["extensions"] == [] and ch["sni"] is None and ch["alpn"] == []


def test_client_hello_accepts_any_bytes_like(parsers):
    msg = v.body(v.GREASE_CLIENT_HELLO)
    want = parsers.parse_client_hello(msg)
    assert parsers.parse_client_hello(bytearray(msg)) == want
    assert parsers.parse_client_hello(memoryview(b"xx" + msg)[2:]) == want


def test_client_hello_truncated_at_every_offset_gives_a_status(parsers):
    for vector in (v.OPENSSL_TLS13_CLIENT_HELLO, v.GREASE_CLIENT_HELLO, v.OLD_CLIENT_HELLO):
        msg = v.body(vector)
        for cut in range(len(msg)):
            ch = parsers.parse_client_hello(msg[:cut])
            assert set(ch) == CH_KEYS
            assert ch["status"] in parsers.TLS_STATUS_NAMES
            # a hello cut right where its extensions begin is a valid hello without them
            no_ext = ch["compression_methods"] and ch["extensions"] == [] and cut == len(msg) - \
                int.from_bytes(msg[cut:cut + 2], "big") - 2
            if vector is not v.OLD_CLIENT_HELLO and not no_ext:
                assert ch["status"] != "ok", cut


def test_client_hello_truncated_in_extensions(parsers):
    msg = v.body(v.GREASE_CLIENT_HELLO)
    ch = parsers.parse_client_hello(msg[:-40])
    assert ch["status"] == "truncated_extensions"
    assert ch["extensions_truncated"]
    assert ch["sni"] == "example.com"          # what came before the cut is kept
    assert 0x0029 not in ch["extensions"]


def test_client_hello_truncated_in_cipher_suites_keeps_the_complete_ones(parsers):
    msg = v.body(v.GREASE_CLIENT_HELLO)
    ch = parsers.parse_client_hello(msg[:2 + 32 + 33 + 2 + 5])
    assert ch["status"] == "truncated_cipher_suites"
    assert ch["cipher_suites"] == [0x0a0a, 0x1301]


def test_client_hello_extension_length_past_the_end(parsers):
    body = ch_with_extensions(v16(ext(0x0017, b"") + u16(0x0010) + u16(50) + b"\x00\x03\x02h2"))
    ch = parsers.parse_client_hello(body)
    assert ch["status"] == "bad_extension_length"
    assert ch["extensions"] == [0x0017] and ch["extensions_truncated"]


def test_client_hello_16mib_and_64k_lengths_are_statuses_not_allocations(parsers):
    assert parsers.parse_client_hello(u16(0x0303) + bytes(32) + b"\x00\xff\xff")["status"] == \
        "truncated_cipher_suites"
    body = ch_with_extensions(u16(0xffff) + ext(0x0017, b""))
    ch = parsers.parse_client_hello(body)
    assert ch["status"] == "truncated_extensions" and ch["extensions"] == [0x0017]
    msgs, truncated, consumed = parsers.parse_handshake_messages(b"\x01\xff\xff\xff" + bytes(100))
    assert msgs == [] and truncated and consumed == 0


def test_client_hello_odd_cipher_list_and_empty_lists(parsers):
    body = u16(0x0303) + bytes(32) + b"\x00" + u16(3) + b"\x13\x01\x00" + b"\x01\x00"
    ch = parsers.parse_client_hello(body)
    assert ch["status"] == "bad_cipher_suites_length" and ch["cipher_suites"] == [0x1301]
    body = u16(0x0303) + bytes(32) + b"\x00" + u16(0) + b"\x01\x00"
    assert parsers.parse_client_hello(body)["status"] == "empty_cipher_suites"
    body = u16(0x0303) + bytes(32) + b"\x00" + v16(u16(0x1301)) + b"\x00"
    assert parsers.parse_client_hello(body)["status"] == "empty_compression_methods"
    for t in (0x000a, 0x000d, 0x0010, 0x0000):
        ch = parsers.parse_client_hello(ch_with_extensions(v16(ext(t, u16(0)))))
        assert ch["status"].startswith("bad_"), hex(t)
    ch = parsers.parse_client_hello(ch_with_extensions(v16(ext(0x002b, b"\x03\x03\x04"))))
    assert ch["status"] == "bad_supported_versions" and ch["supported_versions"] == [0x0304]


def test_client_hello_bad_session_id_length(parsers):
    body = u16(0x0303) + bytes(32) + b"\x21" + bytes(40)
    assert parsers.parse_client_hello(body)["status"] == "bad_session_id_length"


def test_client_hello_duplicate_extension_is_flagged_and_first_one_kept(parsers):
    sni = lambda name: ext(0, v16(b"\x00" + v16(name)))
    ch = parsers.parse_client_hello(ch_with_extensions(v16(sni(b"a.example") + sni(b"b.example"))))
    assert ch["status"] == "duplicate_extension"
    assert ch["sni"] == "a.example" and ch["extensions"] == [0, 0]


def test_client_hello_sni_survives_any_bytes(parsers):
    sni = ext(0, v16(b"\x00" + v16(b"\xff\x00\xe9")))
    ch = parsers.parse_client_hello(ch_with_extensions(v16(sni)))
    assert ch["sni"] == "\xff\x00\xe9"


def test_client_hello_lists_past_the_cap_keep_the_first_entries(parsers):
    ciphers = b"".join(u16(i) for i in range(1, 2001))
    body = u16(0x0303) + bytes(32) + b"\x00" + v16(ciphers) + b"\x01\x00"
    ch = parsers.parse_client_hello(body)
    assert ch["status"] == "ok" and ch["capped"]
    assert ch["cipher_suites"] == list(range(1, 513))
    exts = b"".join(ext(0x1000 + i, b"") for i in range(600))
    ch = parsers.parse_client_hello(ch_with_extensions(v16(exts)))
    assert ch["capped"] and len(ch["extensions"]) == 512


def test_client_hello_alpn_past_the_cap_keeps_the_first_64_names(parsers):
    names = [b"p%d" % i for i in range(70)]
    alpn = ext(0x0010, v16(b"".join(bytes([len(n)]) + n for n in names)))
    ch = parsers.parse_client_hello(ch_with_extensions(v16(alpn)))
    assert ch["status"] == "ok" and ch["capped"]
    assert ch["alpn"] == names[:64]


def test_sslv2_cipher_specs_past_the_cap_keep_the_first_512(parsers):
    specs = b"".join(i.to_bytes(3, "big") for i in range(600))
    challenge = bytes(16)
    body = b"\x01\x00\x02" + struct.pack(">HHH", len(specs), 0, len(challenge)) + specs + challenge
    r = parsers.parse_sslv2_client_hello(struct.pack(">H", 0x8000 | len(body)) + body)
    assert r["status"] == "ok" and r["capped"]
    assert r["cipher_specs"] == list(range(512))


def test_client_hello_trailing_bytes_after_extensions(parsers):
    ch = parsers.parse_client_hello(ch_with_extensions(v16(ext(0x0017, b"")) + b"\x00"))
    assert ch["status"] == "trailing_data" and ch["extensions"] == [0x0017]


# ------------------------------------------------------------ ServerHello

def test_server_hello_tls13_from_openssl(parsers):
    sh = parsers.parse_server_hello(v.body(v.OPENSSL_TLS13_SERVER_HELLO))
    assert set(sh) == SH_KEYS
    assert sh["status"] == "ok"
    assert sh["legacy_version"] == 0x0303 and sh["cipher_suite"] == 0x1302
    assert sh["compression_method"] == 0
    assert sh["extensions"] == [0x002b, 0x0033]
    assert sh["selected_version"] == 0x0304 and sh["key_share_group"] == 0x001d
    assert sh["alpn"] is None and not sh["is_hello_retry_request"]


def test_server_hello_tls12_with_alpn(parsers):
    sh = parsers.parse_server_hello(v.body(v.OPENSSL_TLS12_SERVER_HELLO))
    assert sh["status"] == "ok"
    assert sh["cipher_suite"] == 0xc02c and sh["session_id"] == b""
    assert sh["extensions"] == [0xff01, 0x000b, 0x0023, 0x0010, 0x0017]
    assert sh["alpn"] == b"h2" and sh["selected_version"] is None


def test_hello_retry_request_is_detected(parsers):
    sh = parsers.parse_server_hello(v.body(v.HELLO_RETRY_REQUEST))
    assert sh["status"] == "ok" and sh["is_hello_retry_request"]
    assert sh["random"] == v.HRR_RANDOM
    assert sh["key_share_group"] == 0x0017 and sh["selected_version"] == 0x0304


def test_server_hello_truncated_at_every_offset_gives_a_status(parsers):
    for vector in (v.OPENSSL_TLS13_SERVER_HELLO, v.OPENSSL_TLS12_SERVER_HELLO,
                   v.HELLO_RETRY_REQUEST):
        msg = v.body(vector)
        for cut in range(len(msg)):
            sh = parsers.parse_server_hello(msg[:cut])
            assert set(sh) == SH_KEYS
            if cut != 2 + 32 + 1 + len(sh["session_id"] or b"") + 3:   # no extensions: valid
                assert sh["status"] != "ok", cut


def test_server_hello_tls13_draft_layout_has_no_session_id(parsers):
    body = u16(0x7f12) + bytes(32) + u16(0x1301) + v16(ext(0x0028, u16(0x001d) + v16(b"k")))
    sh = parsers.parse_server_hello(body)
    assert sh["status"] == "ok" and sh["cipher_suite"] == 0x1301
    assert sh["extensions"] == [0x0028] and sh["compression_method"] is None


# ------------------------------------------------------------ Certificate

def test_certificate_tls12_form(parsers):
    c = parsers.parse_certificate(v.body(v.OPENSSL_TLS12_CERTIFICATE))
    assert set(c) == {"status", "request_context", "certificates", "certificates_dropped"}
    assert c["status"] == "ok"
    assert [len(d) for d in c["certificates"]] == [295, 300]
    assert all(d[:1] == b"\x30" for d in c["certificates"])
    assert c["certificates_dropped"] == 0


def test_certificate_tls13_form_matches_the_tls12_chain(parsers):
    c13 = parsers.parse_certificate(v.body(v.CERTIFICATE_TLS13), tls13=True)
    c12 = parsers.parse_certificate(v.body(v.OPENSSL_TLS12_CERTIFICATE))
    assert c13["status"] == "ok" and c13["request_context"] == b""
    assert c13["certificates"] == c12["certificates"]


def test_certificate_truncated_at_every_offset_gives_a_status(parsers):
    for vector, t13 in ((v.OPENSSL_TLS12_CERTIFICATE, False), (v.CERTIFICATE_TLS13, True)):
        msg = v.body(vector)
        for cut in range(len(msg)):
            c = parsers.parse_certificate(msg[:cut], tls13=t13)
            assert c["status"] != "ok", cut
            assert len(c["certificates"]) <= 2


def test_certificate_chain_past_the_cap_counts_the_dropped(parsers):
    der = lambda i: b"\x30\x03\x02\x01" + bytes([i])
    entries = b"".join(struct.pack(">I", 5)[1:] + der(i) for i in range(13))
    body = struct.pack(">I", len(entries))[1:] + entries
    c = parsers.parse_certificate(body)
    assert c["status"] == "ok"
    assert c["certificates"] == [der(i) for i in range(10)]
    assert c["certificates_dropped"] == 3


def test_certificate_zero_length_entry_and_bad_list_length(parsers):
    c = parsers.parse_certificate(b"\x00\x00\x03\x00\x00\x00")
    assert c["status"] == "empty_certificate" and c["certificates"] == []
    c = parsers.parse_certificate(b"\xff\xff\xff\x00\x00\x01\x30")
    assert c["status"] == "truncated_certificate_list" and c["certificates"] == [b"\x30"]
    c = parsers.parse_certificate(b"\x00\x00\x04\x00\x00\x05\x30")
    assert c["status"] == "bad_certificate_length"


# ------------------------------------------------------------ SSLv2

def test_sslv2_client_hello_record(parsers):
    r = parsers.parse_sslv2_client_hello(v.SSLV2_CLIENT_HELLO)
    assert r["status"] == "ok"
    assert r["legacy_version"] == 0x0002
    assert r["cipher_specs"] == [0x010080, 0x000005, 0x00002f]
    assert r["cipher_suites"] == [0x0005, 0x002f]
    assert r["challenge"] == bytes(range(16, 32)) and r["session_id"] == b""


def test_sslv2_truncated_at_every_offset_and_not_sslv2(parsers):
    for cut in range(len(v.SSLV2_CLIENT_HELLO)):
        assert parsers.parse_sslv2_client_hello(v.SSLV2_CLIENT_HELLO[:cut])["status"] != "ok"
    assert parsers.parse_sslv2_client_hello(b"\x16\x03\x01\x00\x05")["status"] == "not_sslv2_record"
    bad = bytearray(v.SSLV2_CLIENT_HELLO)
    bad[2] = 4
    assert parsers.parse_sslv2_client_hello(bytes(bad))["status"] == "not_client_hello"


# ------------------------------------------------------------ splitting and GREASE

def test_handshake_stream_splits_into_messages_and_flags_the_tail(parsers):
    stream = v.OPENSSL_TLS12_SERVER_HELLO + v.OPENSSL_TLS12_CERTIFICATE + b"\x0e\x00\x00\x00"
    msgs, truncated, consumed = parsers.parse_handshake_messages(stream)
    assert [t for t, _ in msgs] == [2, 11, 14]
    assert msgs[0][1] == v.body(v.OPENSSL_TLS12_SERVER_HELLO) and msgs[2][1] == b""
    assert not truncated and consumed == len(stream)
    for cut in range(len(stream)):
        msgs, truncated, consumed = parsers.parse_handshake_messages(stream[:cut])
        assert consumed <= cut and truncated == (consumed < cut)


@pytest.mark.parametrize("value,expected", [(0x0a0a, True), (0xfafa, True), (0x1a1a, True),
                                            (0x0a1a, False), (0x0b0b, False), (0x1301, False)])
def test_grease_values(parsers, value, expected):
    assert parsers.is_grease(value) is expected


def test_grease_takes_integers_only(parsers):
    # regression: the core cast any number to uint16, so 2570.5 (0x0a0a + 0.5)
    # counted as GREASE; found by comparing with the pure-Python twin
    assert parsers.is_grease(True) is False and parsers.is_grease(-1) is False
    for value in (2570.5, 2570.0, -1.5, None, "0a0a"):
        with pytest.raises(TypeError):
            parsers.is_grease(value)


def test_random_garbage_never_raises(parsers):
    import random
    rng = random.Random(1048)
    seeds = [v.body(v.GREASE_CLIENT_HELLO), v.body(v.OPENSSL_TLS13_SERVER_HELLO),
             v.body(v.CERTIFICATE_TLS13), v.SSLV2_CLIENT_HELLO]
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = bytes(data[:rng.randrange(len(data) + 1)])
        for f in (parsers.parse_client_hello, parsers.parse_server_hello, parsers.parse_certificate,
                  parsers.parse_sslv2_client_hello, parsers.parse_handshake_messages):
            f(data)
        parsers.parse_certificate(data, tls13=True)


def test_record_splitter_takes_any_buffer_like_the_parsers_and_refuses_none(parsers):
    # regression: split_tls_records read its input through a typed memoryview,
    # which took None as empty input and refused byte buffers of another item
    # format (array('b'), array('H')) that every other parser takes
    import array
    records = b"\x15\x03\x03\x00\x02\x02\x28" + b"\x16\x03\x03\x00\x04\x0e\x00\x00\x00"
    want = (b"\x0e\x00\x00\x00", [(2, 40)], False)
    assert parsers.split_tls_records(records) == want
    for view in (array.array("b", records), array.array("H", records),
                 memoryview(records)):
        assert parsers.split_tls_records(view) == want
    with pytest.raises(TypeError):
        parsers.split_tls_records(None)
    with pytest.raises(BufferError):
        parsers.split_tls_records(memoryview(records)[::2])
