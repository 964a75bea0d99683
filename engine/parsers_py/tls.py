"""TLS record and handshake parsers in pure Python: the twin of engine/_tls.pxi.

Same functions, same dicts, same status names and caps as the compiled core
(tests/test_parser_twin.py checks that both agree on every handshake of the
corpus and on mutations of them). Written from the RFCs and the core's
documented behaviour, in plain Python: a memoryview over the input, struct
for the integers, lists that keep their first entries past a cap.

Nothing here raises on the content of the input: a truncated or malformed
message yields a record whose "status" names the first problem found ("ok"
when there was none), with everything decoded up to it.
"""
import operator
import struct

from .buffer import byte_view

TLS_STATUS_NAMES = (
    "ok", "truncated_version", "truncated_random", "truncated_session_id",
    "bad_session_id_length", "truncated_cipher_suites", "bad_cipher_suites_length",
    "empty_cipher_suites", "truncated_compression_methods", "empty_compression_methods",
    "truncated_cipher_suite", "truncated_compression_method", "truncated_extensions",
    "bad_extension_length", "duplicate_extension", "bad_sni", "bad_alpn",
    "bad_supported_versions", "bad_supported_groups", "bad_ec_point_formats",
    "bad_signature_algorithms", "bad_key_share", "bad_psk_key_exchange_modes",
    "trailing_data", "truncated_request_context", "truncated_certificate_list",
    "bad_certificate_list_length", "truncated_certificate", "bad_certificate_length",
    "empty_certificate", "bad_certificate_extensions", "not_sslv2_record",
    "truncated_record", "not_client_hello", "truncated_header",
    "bad_cipher_specs_length", "truncated_cipher_specs", "truncated_challenge",
    "bad_challenge_length",
)

# RFC 8446 4.1.3: a ServerHello with this random is a HelloRetryRequest
TLS_HRR_RANDOM = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")

# Named caps (DESIGN.md, bounded state), the same as engine/_core.pxd's
MAX_LIST = 512         # entries kept per list of 16-bit values
MAX_ALPN = 64          # ALPN protocol names kept
MAX_CERTS = 10         # certificates kept per chain
MAX_SESSION_ID = 32    # RFC 8446 4.1.2: legacy_session_id<0..32>

# extension types decoded here (IANA TLS ExtensionType values)
EXT_SERVER_NAME = 0x0000
EXT_SUPPORTED_GROUPS = 0x000a
EXT_EC_POINT_FORMATS = 0x000b
EXT_SIGNATURE_ALGORITHMS = 0x000d
EXT_ALPN = 0x0010
EXT_PRE_SHARED_KEY = 0x0029
EXT_EARLY_DATA = 0x002a
EXT_SUPPORTED_VERSIONS = 0x002b
EXT_PSK_KEY_EXCHANGE_MODES = 0x002d
EXT_KEY_SHARE = 0x0033
EXT_ECH = 0xfe0d

# handshake / record content types (RFC 8446 5.1, B.3)
CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
CLIENT_HELLO = 1

_U16 = struct.Struct(">H").unpack_from


def _u16(buf, pos) -> int:
    return _U16(buf, pos)[0]


def _u24(buf, pos) -> int:
    return int.from_bytes(buf[pos:pos + 3], "big")


def _u16s(data) -> tuple:
    """Every complete big-endian 16-bit value of data, in order."""
    return struct.unpack_from(f">{len(data) // 2}H", data)


def _block(buf, pos: int, width: int):
    """The `len<width>` block at buf[pos] as (start, end, cut): end is clamped
    to the data when the length runs past it (cut is then True); None when
    the length field itself is cut short."""
    n = len(buf)
    if n - pos < width:
        return None
    start = pos + width
    declared = int.from_bytes(buf[pos:start], "big")
    cut = declared > n - start
    return start, (n if cut else start + declared), cut


def is_grease(value) -> bool:
    """True for the RFC 8701 GREASE values 0x0a0a, 0x1a1a, ... 0xfafa; TypeError
    for a value that is not an integer."""
    value = operator.index(value)
    return 0 <= value <= 0xffff and (value & 0x0f0f) == 0x0a0a and (value >> 8) == (value & 0xff)


class _Findings:
    """What one parse found besides the fields: the first problem (it is
    the one reported) and whether a list hit its cap."""
    __slots__ = ("status", "capped")

    def __init__(self):
        self.status = "ok"
        self.capped = False

    def problem(self, status: str) -> None:
        if self.status == "ok":
            self.status = status

    def keep(self, target: list, values, cap: int = MAX_LIST) -> None:
        """Append values to target up to cap entries; the rest is counted as capped."""
        room = cap - len(target)
        if len(values) > room:
            self.capped = True
            values = values[:max(room, 0)]
        target.extend(values)


# ---------------------------------------------------------------- lists

def _u16_list(data, len_bytes: int, target: list, found: _Findings) -> bool:
    """`len<len_bytes> uint16 values[]` filling the whole of data.

    Keeps every complete value that lies inside the data; False when the
    length prefix disagrees with the data, is odd or is zero."""
    if len(data) < len_bytes:
        return False
    declared = int.from_bytes(data[:len_bytes], "big")
    found.keep(target, _u16s(data[len_bytes:len_bytes + declared]))
    return declared == len(data) - len_bytes and declared % 2 == 0 and declared != 0


def _u8_list(data, target: list) -> bool:
    """`len<1> uint8 values[]` filling the whole of data (at most 255: never capped)."""
    if not data:
        return False
    declared = data[0]
    target.extend(data[1:1 + declared])
    return declared == len(data) - 1 and declared != 0


def _entries(data, head: int, width: int):
    """Split `len<2> { head bytes, body len<width> bytes }*` filling the whole
    of data (SNI, ALPN and key share lists have this shape).

    Returns (entries, framed): every complete entry as (head, body) in
    order, and whether the entries tile the data exactly (False when one runs
    past the end). Whether len<2> itself is right is the caller's check."""
    n, pos, entries = len(data), 2, []
    if n < 2:
        return entries, False
    while pos < n:
        if n - pos < head + width:
            return entries, False
        size = int.from_bytes(data[pos + head:pos + head + width], "big")
        if size > n - pos - head - width:
            return entries, False
        body = pos + head + width
        entries.append((data[pos:pos + head], data[body:body + size]))
        pos = body + size
    return entries, True


def _prefix_is_length(data) -> bool:
    return _u16(data, 0) == len(data) - 2


def _names(data, most: int, target: list, found: _Findings) -> bool:
    """ALPN ProtocolNameList: len<2> { ProtocolName len<1> bytes (non-empty) }+

    Keeps the first `most` names (past them, found.capped); False when the
    list is malformed, empty, or has an empty name."""
    entries, framed = _entries(data, 0, 1)
    found.keep(target, [bytes(name) for _, name in entries], most)
    return framed and _prefix_is_length(data) and len(data) > 2 \
        and all(name for _, name in entries)


# ---------------------------------------------------------------- ClientHello

def _sni(data, hello: dict) -> bool:
    """ServerNameList: len<2> { name_type<1>, HostName len<2> bytes }+;
    the first host_name (type 0) is kept, as latin-1 text."""
    entries, framed = _entries(data, 1, 2)
    host_names = [name for name_type, name in entries if name_type[0] == 0]
    if host_names and hello["sni"] is None:
        hello["sni"] = bytes(host_names[0]).decode("latin-1")
    return framed and _prefix_is_length(data) and len(data) > 2


def _key_share_groups(data, target: list, found: _Findings) -> bool:
    """client_shares: len<2> { group<2>, key_exchange len<2> bytes }* (may be empty)"""
    entries, framed = _entries(data, 2, 2)
    found.keep(target, [_u16(group, 0) for group, _ in entries])
    return framed and _prefix_is_length(data)


# extension type -> (decoder(data, hello, found) -> well formed, status when not)
_CLIENT_EXTENSIONS = {
    EXT_SERVER_NAME: (lambda d, h, f: _sni(d, h), "bad_sni"),
    EXT_ALPN: (lambda d, h, f: _names(d, MAX_ALPN, h["alpn"], f), "bad_alpn"),
    EXT_SUPPORTED_VERSIONS: (lambda d, h, f: _u16_list(d, 1, h["supported_versions"], f),
                             "bad_supported_versions"),
    EXT_SUPPORTED_GROUPS: (lambda d, h, f: _u16_list(d, 2, h["supported_groups"], f),
                           "bad_supported_groups"),
    EXT_EC_POINT_FORMATS: (lambda d, h, f: _u8_list(d, h["ec_point_formats"]),
                           "bad_ec_point_formats"),
    EXT_SIGNATURE_ALGORITHMS: (lambda d, h, f: _u16_list(d, 2, h["signature_algorithms"], f),
                               "bad_signature_algorithms"),
    EXT_KEY_SHARE: (lambda d, h, f: _key_share_groups(d, h["key_share_groups"], f),
                    "bad_key_share"),
    EXT_PSK_KEY_EXCHANGE_MODES: (lambda d, h, f: _u8_list(d, h["psk_key_exchange_modes"]),
                                 "bad_psk_key_exchange_modes"),
}

# extensions whose presence alone is recorded
_CLIENT_FLAGS = {EXT_PRE_SHARED_KEY: "has_pre_shared_key", EXT_EARLY_DATA: "has_early_data",
                 EXT_ECH: "has_ech"}


def _client_extension(etype: int, data, hello: dict, found: _Findings) -> None:
    if etype in _CLIENT_FLAGS:
        hello[_CLIENT_FLAGS[etype]] = True
    elif etype in _CLIENT_EXTENSIONS:
        decode, status = _CLIENT_EXTENSIONS[etype]
        if not decode(data, hello, found):
            found.problem(status)


def _extensions(buf, pos: int, hello: dict, found: _Findings, decode) -> None:
    """Walk `extensions len<2> { type<2>, data len<2> }*` from buf[pos].

    Records every complete extension's type (GREASE kept) and hands the data
    of the first of each type to decode(type, data, hello, found); a repeat
    is duplicate_extension (RFC 8446 4.2), except for GREASE types. A block
    running past the data is truncated_extensions; an entry running past a
    block that fits, bad_extension_length."""
    if pos == len(buf):
        return                              # no extensions block at all: allowed
    block = _block(buf, pos, 2)
    if block is None:
        hello["extensions_truncated"] = True
        found.problem("truncated_extensions")
        return
    pos, end, block_cut = block
    overrun = "truncated_extensions" if block_cut else "bad_extension_length"
    seen = set()
    while pos < end:
        if end - pos < 4 or _u16(buf, pos + 2) > end - pos - 4:
            hello["extensions_truncated"] = True
            found.problem(overrun)
            break
        etype, size = struct.unpack_from(">HH", buf, pos)
        found.keep(hello["extensions"], (etype,))
        if etype not in seen:
            seen.add(etype)
            decode(etype, buf[pos + 4:pos + 4 + size], hello, found)
        elif not is_grease(etype):
            found.problem("duplicate_extension")
        pos += 4 + size
    if block_cut:
        hello["extensions_truncated"] = True
        found.problem("truncated_extensions")
    elif end < len(buf):
        found.problem("trailing_data")


def _version_random_session_id(buf, hello: dict, found: _Findings, session_id=True):
    """legacy_version<2>, random<32>, legacy_session_id len<1> (unless
    session_id is False: TLS 1.3 draft ServerHellos have none).

    Returns the offset after them, or None with the problem noted."""
    n = len(buf)
    if n < 2:
        found.problem("truncated_version")
        return None
    hello["legacy_version"] = _u16(buf, 0)
    if n < 34:
        found.problem("truncated_random")
        return None
    hello["random"] = bytes(buf[2:34])
    if not session_id:
        hello["session_id"] = b""
        return 34
    if n < 35:
        found.problem("truncated_session_id")
        return None
    size = buf[34]
    if size > MAX_SESSION_ID:
        found.problem("bad_session_id_length")
        return None
    if n - 35 < size:
        found.problem("truncated_session_id")
        return None
    hello["session_id"] = bytes(buf[35:35 + size])
    return 35 + size


def _client_hello(buf, hello: dict, found: _Findings) -> None:
    pos = _version_random_session_id(buf, hello, found)
    if pos is None:
        return
    # cipher_suites len<2..2^16-2>: the complete suites before a cut are kept
    block = _block(buf, pos, 2)
    if block is not None:
        pos, end, cut = block
        found.keep(hello["cipher_suites"], _u16s(buf[pos:end]))
    if block is None or cut:
        found.problem("truncated_cipher_suites")
        return
    if (end - pos) % 2:
        found.problem("bad_cipher_suites_length")
    elif end == pos:
        found.problem("empty_cipher_suites")
    # compression_methods len<1..2^8-1>
    block = _block(buf, end, 1)
    if block is not None:
        pos, end, cut = block
        hello["compression_methods"].extend(buf[pos:end])
    if block is None or cut:
        found.problem("truncated_compression_methods")
        return
    if end == pos:
        found.problem("empty_compression_methods")
    _extensions(buf, end, hello, found, _client_extension)


def parse_client_hello(body) -> dict:
    """Decode a ClientHello body (the bytes after the 4-byte handshake header).

    Same record as the core's parse_client_hello: status, legacy_version,
    random, session_id (None when not reached), cipher_suites,
    compression_methods, extensions, sni, alpn, supported_versions,
    supported_groups, ec_point_formats, signature_algorithms,
    key_share_groups, psk_key_exchange_modes, has_pre_shared_key,
    has_early_data, has_ech, extensions_truncated, capped."""
    buf = byte_view(body)
    found = _Findings()
    hello = {
        "status": "ok", "legacy_version": None, "random": None, "session_id": None,
        "cipher_suites": [], "compression_methods": [], "extensions": [], "sni": None,
        "alpn": [], "supported_versions": [], "supported_groups": [], "ec_point_formats": [],
        "signature_algorithms": [], "key_share_groups": [], "psk_key_exchange_modes": [],
        "has_pre_shared_key": False, "has_early_data": False, "has_ech": False,
        "extensions_truncated": False, "capped": False,
    }
    _client_hello(buf, hello, found)
    hello["status"], hello["capped"] = found.status, found.capped
    return hello


# ---------------------------------------------------------------- ServerHello

def _server_extension(etype: int, data, hello: dict, found: _Findings) -> None:
    n = len(data)
    if etype == EXT_SUPPORTED_VERSIONS:
        # ServerHello: the one selected version
        if n == 2:
            hello["selected_version"] = _u16(data, 0)
        else:
            found.problem("bad_supported_versions")
    elif etype == EXT_KEY_SHARE:
        # ServerHello: group<2> key_exchange len<2>; HelloRetryRequest: group<2>
        if n >= 2:
            hello["key_share_group"] = _u16(data, 0)
        if not (n == 2 or (n >= 4 and _u16(data, 2) == n - 4)):
            found.problem("bad_key_share")
    elif etype == EXT_ALPN:
        # exactly one protocol name (RFC 7301 3.1); more than one is not capped but bad
        names, one = [], _Findings()
        if not _names(data, 1, names, one) or one.capped:
            found.problem("bad_alpn")
        if names:
            hello["alpn"] = names[0]


def _tls13_draft_layout(version: int) -> bool:
    # a ServerHello.version of 0x0304 (early drafts put the final number
    # there) or 0x7fNN with NN < 22 (draft-NN) names the old draft layout;
    # Facebook's 0xfb1a is draft-26 based, with the final layout
    return version == 0x0304 or ((version >> 8) == 0x7f and (version & 0xff) < 22)


def _server_hello(buf, hello: dict, found: _Findings) -> None:
    n = len(buf)
    draft = n >= 2 and _tls13_draft_layout(_u16(buf, 0))
    # TLS 1.3 drafts before -22: version, random, cipher_suite, extensions
    # (no session id echo, no compression method)
    pos = _version_random_session_id(buf, hello, found, session_id=not draft)
    if pos is None:
        return
    if n - pos < 2:
        found.problem("truncated_cipher_suite")
        return
    hello["cipher_suite"] = _u16(buf, pos)
    pos += 2
    if not draft:
        if n - pos < 1:
            found.problem("truncated_compression_method")
            return
        hello["compression_method"] = buf[pos]
        pos += 1
    _extensions(buf, pos, hello, found, _server_extension)


def parse_server_hello(body) -> dict:
    """Decode a ServerHello body (HelloRetryRequest included).

    Same record as the core's parse_server_hello: status, legacy_version,
    random, session_id, cipher_suite, compression_method (None when not
    reached), extensions, selected_version, alpn, key_share_group,
    is_hello_retry_request, extensions_truncated, capped."""
    buf = byte_view(body)
    found = _Findings()
    hello = {
        "status": "ok", "legacy_version": None, "random": None, "session_id": None,
        "cipher_suite": None, "compression_method": None, "extensions": [],
        "selected_version": None, "alpn": None, "key_share_group": None,
        "is_hello_retry_request": False, "extensions_truncated": False, "capped": False,
    }
    _server_hello(buf, hello, found)
    hello["status"], hello["capped"] = found.status, found.capped
    hello["is_hello_retry_request"] = hello["random"] == TLS_HRR_RANDOM
    return hello


# ---------------------------------------------------------------- Certificate

def _certificate_list(buf, pos: int, tls13: bool, chain: dict, found: _Findings) -> None:
    """certificate_list len<3> { cert_data len<3> [, extensions len<2> (TLS 1.3)] }*"""
    block = _block(buf, pos, 3)
    if block is None:
        found.problem("truncated_certificate_list")
        return
    pos, end, list_cut = block
    while pos < end:
        if end - pos < 3 or _u24(buf, pos) > end - pos - 3:
            found.problem("truncated_certificate" if list_cut else "bad_certificate_length")
            break
        size = _u24(buf, pos)
        if size == 0:
            found.problem("empty_certificate")
        elif len(chain["certificates"]) < MAX_CERTS:
            chain["certificates"].append(bytes(buf[pos + 3:pos + 3 + size]))
        else:
            chain["certificates_dropped"] += 1
        pos += 3 + size
        if tls13:
            if end - pos < 2 or _u16(buf, pos) > end - pos - 2:
                found.problem("truncated_certificate" if list_cut
                              else "bad_certificate_extensions")
                break
            pos += 2 + _u16(buf, pos)
    if list_cut:
        found.problem("truncated_certificate_list")
    elif end < len(buf):
        found.problem("trailing_data")


def parse_certificate(body, tls13=False) -> dict:
    """Decode a Certificate body: the TLS 1.2 form, or with tls13=True the
    TLS 1.3 form (request_context len<1> first, extensions after each entry).

    Same record as the core's: status, request_context (b"" for TLS 1.2),
    certificates (DER bytes in order, at most MAX_CERTS),
    certificates_dropped (well-formed entries past the cap). Zero-length
    entries are skipped with status "empty_certificate"."""
    buf = byte_view(body)
    found = _Findings()
    chain = {"status": "ok", "request_context": b"", "certificates": [],
             "certificates_dropped": 0}
    pos = 0
    if tls13:
        if len(buf) < 1 or buf[0] > len(buf) - 1:
            found.problem("truncated_request_context")
            pos = None
        else:
            chain["request_context"] = bytes(buf[1:1 + buf[0]])
            pos = 1 + buf[0]
    if pos is not None:
        _certificate_list(buf, pos, bool(tls13), chain, found)
    chain["status"] = found.status
    return chain


# ---------------------------------------------------------------- SSLv2 ClientHello

def _sslv2_client_hello(buf, hello: dict, found: _Findings) -> None:
    """SSL 2.0 CLIENT-HELLO in a 2-byte-header record (draft-hickman-netscape-ssl-00;
    RFC 6101 appendix E.2 for the TLS-compatible form):
        length<2> with the high bit set | msg_type<1> = 1 | version<2> |
        cipher_spec_length<2> | session_id_length<2> | challenge_length<2> |
        cipher_specs<3>* | session_id | challenge"""
    n = len(buf)
    if n < 2:
        found.problem("truncated_header")
        return
    if not buf[0] & 0x80:
        found.problem("not_sslv2_record")
        return
    record_len = _u16(buf, 0) & 0x7fff
    if record_len > n - 2:
        found.problem("truncated_record")
    else:
        buf = buf[:2 + record_len]          # whatever follows the record is not ours
        n = len(buf)
    if n - 2 < 9:
        found.problem("truncated_header")
        return
    if buf[2] != 1:
        # a record that is no CLIENT-HELLO at all says more than its truncation
        found.status = "not_client_hello"
        return
    hello["legacy_version"], specs_len, sid_len, challenge_len = struct.unpack_from(
        ">4H", buf, 3)
    pos = 11
    if specs_len % 3:
        found.problem("bad_cipher_specs_length")
    specs = buf[pos:pos + specs_len]
    found.keep(hello["cipher_specs"],
               [_u24(specs, i) for i in range(0, len(specs) - len(specs) % 3, 3)])
    if specs_len > n - pos:
        found.problem("truncated_cipher_specs")
        return
    pos += specs_len
    if sid_len > n - pos:
        found.problem("truncated_session_id")
        return
    if sid_len not in (0, 16):
        found.problem("bad_session_id_length")
    hello["session_id"] = bytes(buf[pos:pos + sid_len])
    pos += sid_len
    if not 16 <= challenge_len <= 32:
        found.problem("bad_challenge_length")
    if challenge_len > n - pos:
        found.problem("truncated_challenge")
        return
    hello["challenge"] = bytes(buf[pos:pos + challenge_len])
    if pos + challenge_len < n:
        found.problem("trailing_data")


def parse_sslv2_client_hello(record) -> dict:
    """Decode an SSLv2-compatible ClientHello *record* (2-byte header included).

    Same record as the core's: status, legacy_version (None when the header
    was not reached), cipher_specs (3-byte kinds as ints), cipher_suites
    (the specs whose first byte is 0, as 16-bit TLS suites), session_id,
    challenge, capped."""
    found = _Findings()
    hello = {"status": "ok", "legacy_version": None, "cipher_specs": [], "cipher_suites": [],
             "session_id": b"", "challenge": b"", "capped": False}
    _sslv2_client_hello(byte_view(record), hello, found)
    hello["cipher_suites"] = [s for s in hello["cipher_specs"] if s <= 0xffff]
    hello["status"], hello["capped"] = found.status, found.capped
    return hello


# ---------------------------------------------------------------- framing

def parse_handshake_messages(stream) -> tuple:
    """Split concatenated handshake bytes into (msg_type, body) pairs.

    Returns (messages, truncated, consumed) like the core: the complete
    messages in order, whether bytes are left that start a message not yet
    complete, and how many bytes the complete messages took."""
    buf = byte_view(stream)
    n, pos = len(buf), 0
    messages = []
    while n - pos >= 4:
        size = _u24(buf, pos + 1)
        if size > n - pos - 4:
            break
        messages.append((buf[pos], bytes(buf[pos + 4:pos + 4 + size])))
        pos += 4 + size
    return messages, pos < n, pos


def _encrypted_hello_allowed(fragment) -> bool:
    # after ChangeCipherSpec only a whole ClientHello is still in the clear:
    # the second hello after a HelloRetryRequest in middlebox-compatibility mode
    return len(fragment) >= 4 and fragment[0] == CLIENT_HELLO \
        and _u24(fragment, 1) + 4 == len(fragment)


def split_tls_records(data) -> tuple:
    """A direction's TLS bytes -> (handshake bytes in the clear, alerts in the
    clear as (level, description) pairs, whether the record framing broke).

    Same contract as the core's: application data ends the handshake, a
    record cut by the end of the data is taken up to the end."""
    buf = byte_view(data)
    n, pos = len(buf), 0
    handshake = bytearray()
    alerts = []
    after_ccs = malformed = False
    while n - pos >= 5:
        ctype, major, size = buf[pos], buf[pos + 1], _u16(buf, pos + 3)
        if major != 3 or not CHANGE_CIPHER_SPEC <= ctype <= 24:
            malformed = True
            break
        if ctype == APPLICATION_DATA:
            break
        fragment = buf[pos + 5:pos + 5 + size]
        if ctype == CHANGE_CIPHER_SPEC:
            after_ccs = True
        elif ctype == ALERT and len(fragment) >= 2 and not after_ccs:
            alerts.append((fragment[0], fragment[1]))
        elif ctype == HANDSHAKE:
            if after_ccs and not _encrypted_hello_allowed(fragment):
                break
            handshake += fragment
        pos += 5 + len(fragment)
    return bytes(handshake), alerts, malformed
