"""QUIC Initial packets in, TLS ClientHello / ServerHello bodies out.

The core hands this module, per UDP flow that looks like QUIC, the raw UDP
payloads of the first long-header datagrams in each direction. Initial
packets are encrypted with keys anyone can derive from the client's first
Destination Connection ID (RFC 9001 5.2, RFC 9369 3.3), so a passive sensor
can read the TLS handshake messages they carry:

    datagram -> long headers (coalesced packets walked by Length)
             -> header protection removed (RFC 9001 5.4, AES-128-ECB mask)
             -> payload decrypted (AEAD_AES_128_GCM)
             -> frames (PADDING, PING, ACK, CRYPTO, CONNECTION_CLOSE)
             -> CRYPTO stream reassembled per direction (bounded)
             -> TLS handshake messages -> ClientHello / ServerHello bodies

Everything here is a pure function of bytes. Malformed or undecryptable
traffic is a status code from the closed set QUIC_STATUS_NAMES, never an
exception (STYLE.md item 6); every attacker-controlled count or length has a
named cap below (STYLE.md item 5).
"""
import hmac
import re
from dataclasses import dataclass
from hashlib import sha256

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

# ---------------------------------------------------------------- versions

QUIC_V1 = 0x00000001
QUIC_V2 = 0x6B3343CF  # RFC 9369

# Initial salts (RFC 9001 5.2, RFC 9369 3.3.1, draft-ietf-quic-tls-29 5.2).
_SALT_V1 = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
_SALT_V2 = bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9")
_SALT_DRAFT29 = bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899")

_LABELS_V1 = (b"quic key", b"quic iv", b"quic hp")
_LABELS_V2 = (b"quicv2 key", b"quicv2 iv", b"quicv2 hp")

# Long-header packet types (the two bits after the fixed bit) per version.
# v1 and drafts: Initial 0, 0-RTT 1, Handshake 2, Retry 3 (RFC 9000 17.2).
# v2 rotates them: Retry 0, Initial 1, 0-RTT 2, Handshake 3 (RFC 9369 3.2).
_TYPES_V1 = ("initial", "0rtt", "handshake", "retry")
_TYPES_V2 = ("retry", "initial", "0rtt", "handshake")


def _version_params(version):
    """(salt, labels, packet type names) for a version we can decrypt, or None."""
    if version == QUIC_V1:
        return _SALT_V1, _LABELS_V1, _TYPES_V1
    if version == QUIC_V2:
        return _SALT_V2, _LABELS_V2, _TYPES_V2
    if 0xFF00001D <= version <= 0xFF000020:  # draft-29 .. draft-32
        return _SALT_DRAFT29, _LABELS_V1, _TYPES_V1
    return None


def version_name(version):
    """A short display name: "v1", "v2", "draft-29", "Q050", or hex."""
    if version is None:
        return None
    if version == QUIC_V1:
        return "v1"
    if version == QUIC_V2:
        return "v2"
    if version == 0:
        return "negotiation"
    if version >> 8 == 0xFF0000:
        return "draft-%d" % (version & 0xFF)
    raw = version.to_bytes(4, "big")
    if raw[:1] in (b"Q", b"T") and raw[1:].isdigit():  # Google QUIC
        return raw.decode("ascii")
    return "0x%08x" % version


def eve_version_name(version):
    """The version as Suricata 7 writes quic.version in EVE: "1", "v2", "Q046", else hex."""
    if version is None:
        return None
    if version == QUIC_V2:
        return "v2"
    if version in (0x51303433, 0x51303434, 0x51303435, 0x51303436):
        return version.to_bytes(4, "big").decode("ascii")
    return "%x" % version


# ------------------------------------------------------------------- caps

MAX_DATAGRAMS_PER_DIRECTION = 16   # the core sends at most this many; extra are ignored
MAX_PACKETS_PER_DATAGRAM = 8       # coalesced long-header packets walked per datagram
MAX_CID_LEN = 20                   # RFC 9000 17.2 for v1/v2 (RFC 8999 allows 255)
MAX_CRYPTO_BYTES = 64 * 1024       # CRYPTO stream kept per direction (DESIGN.md caps)
MAX_CRYPTO_FRAGMENTS = 256         # disjoint CRYPTO pieces held per direction
MAX_HANDSHAKE_MESSAGES = 16        # TLS messages split from one direction's stream
MAX_KEY_CANDIDATES = 4             # client DCIDs tried on server packets (Retry)

# ---------------------------------------------------------------- statuses

# The closed set of status codes. "ok" is the only success.
QUIC_STATUS_NAMES = (
    "ok",                   # decoded / hello found
    "no_packets",           # no datagram given for this direction
    "no_initial",           # datagrams given, none held a decryptable Initial
    "not_long_header",      # first byte is not a long header (short header, garbage)
    "truncated",            # the bytes end before the header or Length says
    "malformed_header",     # fixed bit clear, CID too long, bad varint, bad Length
    "unsupported_version",  # a version whose Initial keys we do not know
    "version_negotiation",  # version 0: a Version Negotiation packet
    "decrypt_failed",       # AEAD tag mismatch: wrong keys or corrupted packet
    "malformed_frame",      # a frame runs past the payload or breaks its own rules
    "unknown_frame",        # a frame type not allowed in Initial packets; rest skipped
    "connection_close",     # a CONNECTION_CLOSE frame was seen
    "crypto_gap",           # the CRYPTO stream has a hole before the hello ends
    "crypto_truncated",     # the CRYPTO stream hit MAX_CRYPTO_BYTES / fragment cap
    "unexpected_message",   # the stream does not start with the expected hello
    "no_client_initial",    # server packets, but no client Initial to derive keys from
)

# When a direction yields no hello, the status reported is the most telling one
# seen: later in this tuple wins.
_STATUS_RANK = (
    "no_packets", "no_initial", "no_client_initial", "not_long_header", "unsupported_version",
    "version_negotiation", "truncated", "malformed_header", "decrypt_failed",
    "unknown_frame", "malformed_frame", "connection_close", "crypto_gap",
    "crypto_truncated", "unexpected_message",
)

# ------------------------------------------------------------------ varint


def _varint(buf, pos):
    """RFC 9000 16: (value, next position), or (None, pos) when truncated."""
    if pos >= len(buf):
        return None, pos
    first = buf[pos]
    size = 1 << (first >> 6)
    if pos + size > len(buf):
        return None, pos
    value = first & 0x3F
    for i in range(1, size):
        value = (value << 8) | buf[pos + i]
    return value, pos + size


# ------------------------------------------------------------ long header


@dataclass(frozen=True)
class LongHeader:
    """One long-header packet inside a datagram (RFC 9000 17.2, RFC 8999 5.1).

    Offsets are into the datagram. For Initial, 0-RTT and Handshake packets
    `pn_offset` is where the protected packet number starts and `end` is
    where the packet ends (pn_offset + Length); other packets (Retry,
    Version Negotiation, unknown versions) run to the end of the datagram.
    `status` is "ok" or why the header could not be read; fields after the
    failure point are left at their defaults.
    """
    status: str
    offset: int = 0
    first_byte: int = 0
    version: int = None
    dcid: bytes = b""
    scid: bytes = b""
    packet_type: str = None   # "initial", "0rtt", "handshake", "retry", None if unknown
    type_bits: int = None     # the raw two type bits
    token: bytes = b""
    length: int = None        # the Length field: packet number + protected payload
    pn_offset: int = None
    end: int = None

    @property
    def is_initial(self):
        return self.status == "ok" and self.packet_type == "initial"


def parse_long_header(datagram, offset=0):
    """Read the long header of the packet starting at `offset` of `datagram`."""
    buf = bytes(datagram)
    n = len(buf)
    if offset >= n:
        return LongHeader("truncated", offset)
    first = buf[offset]
    if not first & 0x80:
        return LongHeader("not_long_header", offset, first)
    if offset + 6 > n:
        return LongHeader("truncated", offset, first)
    version = int.from_bytes(buf[offset + 1:offset + 5], "big")
    params = _version_params(version)
    if version != 0 and params is None:
        # Not ours to read further: Google QUIC (Q043-Q046) even breaks the
        # RFC 8999 connection ID layout. The CIDs are best effort.
        dcid = scid = b""
        dcid_len = buf[offset + 5]
        if offset + 6 + dcid_len + 1 <= n:
            dcid = buf[offset + 6:offset + 6 + dcid_len]
            scid_len = buf[offset + 6 + dcid_len]
            scid = buf[offset + 7 + dcid_len:offset + 7 + dcid_len + scid_len]
        return LongHeader("unsupported_version", offset, first, version, dcid, scid, end=n)
    pos = offset + 5
    dcid_len = buf[pos]
    pos += 1
    if pos + dcid_len + 1 > n:
        return LongHeader("truncated", offset, first, version)
    dcid = buf[pos:pos + dcid_len]
    pos += dcid_len
    scid_len = buf[pos]
    pos += 1
    if pos + scid_len > n:
        return LongHeader("truncated", offset, first, version, dcid)
    scid = buf[pos:pos + scid_len]
    pos += scid_len
    if version == 0:
        # Version Negotiation: a list of versions follows, to the end.
        return LongHeader("version_negotiation", offset, first, version, dcid, scid, end=n)
    if dcid_len > MAX_CID_LEN or scid_len > MAX_CID_LEN or not first & 0x40:
        return LongHeader("malformed_header", offset, first, version, dcid, scid)
    type_bits = (first >> 4) & 0x03
    packet_type = params[2][type_bits]
    if packet_type == "retry":
        # Retry: token then a 16-byte integrity tag, no Length (RFC 9000 17.2.5).
        return LongHeader("ok", offset, first, version, dcid, scid, packet_type,
                          type_bits, token=buf[pos:max(pos, n - 16)], end=n)
    token = b""
    if packet_type == "initial":
        token_len, pos2 = _varint(buf, pos)
        if token_len is None or pos2 + token_len > n:
            return LongHeader("truncated", offset, first, version, dcid, scid,
                              packet_type, type_bits)
        token = buf[pos2:pos2 + token_len]
        pos = pos2 + token_len
    length, pos2 = _varint(buf, pos)
    if length is None:
        return LongHeader("truncated", offset, first, version, dcid, scid,
                          packet_type, type_bits, token)
    end = pos2 + length
    status = "ok"
    if length < 1 + 16 + 1:
        # shorter than a 1-byte packet number, a tag and one byte of payload
        status = "malformed_header"
    elif end > n:
        status = "truncated"
    return LongHeader(status, offset, first, version, dcid, scid, packet_type,
                      type_bits, token, length, pos2, end)


def split_coalesced(datagram):
    """The long-header packets of one datagram, walked by their Length fields.

    Stops at the first packet that is not a well-formed long header with a
    Length (a short-header packet, zero padding after the last packet, a
    truncated packet); that last header is included when it is not "ok" so
    the caller can see why. At most MAX_PACKETS_PER_DATAGRAM headers.
    """
    buf = bytes(datagram)
    headers = []
    offset = 0
    while offset < len(buf) and len(headers) < MAX_PACKETS_PER_DATAGRAM:
        hdr = parse_long_header(buf, offset)
        if hdr.status == "not_long_header" and headers:
            break  # a coalesced short-header packet or padding: not ours
        headers.append(hdr)
        if hdr.status != "ok" or hdr.pn_offset is None:
            break
        offset = hdr.end
    return headers


def looks_like_quic_initial(datagram):
    """True if the datagram starts with a well-formed QUIC Initial header.

    Cheap structural check for detection (no decryption): long header with
    the fixed bit set, a version whose Initials we can decrypt, the Initial
    packet type of that version, CIDs within 20 bytes, and a Length that
    fits in the datagram. Client Initial datagrams are padded to 1200 bytes
    (RFC 9000 14.1) but this does not require it, so server Initials and
    snaplen-cut captures also match.
    """
    if not datagram or not datagram[0] & 0x80:
        return False
    return parse_long_header(datagram).is_initial


# -------------------------------------------------------------- key schedule


def hkdf_extract(salt, ikm):
    """HKDF-Extract with SHA-256 (RFC 5869 2.2)."""
    return hmac.new(salt, ikm, sha256).digest()


def hkdf_label(label, context, length):
    """The HkdfLabel structure (RFC 8446 7.1) given to HKDF-Expand as info."""
    full_label = b"tls13 " + label
    return (length.to_bytes(2, "big") + bytes([len(full_label)]) + full_label
            + bytes([len(context)]) + context)


def hkdf_expand_label(secret, label, context, length):
    """TLS 1.3 HKDF-Expand-Label (RFC 8446 7.1) with SHA-256."""
    info = hkdf_label(label, context, length)
    return HKDFExpand(algorithm=hashes.SHA256(), length=length, info=info).derive(secret)


@dataclass(frozen=True)
class PacketKeys:
    """AEAD key, IV and header-protection key of one direction."""
    secret: bytes
    key: bytes
    iv: bytes
    hp: bytes


@dataclass(frozen=True)
class InitialSecrets:
    initial_secret: bytes
    client: PacketKeys
    server: PacketKeys


def initial_secrets(dcid, version):
    """Initial keys of both directions from the client's first DCID.

    Returns None for a version whose salt we do not know.
    """
    params = _version_params(version)
    if params is None:
        return None
    salt, (key_label, iv_label, hp_label), _ = params
    initial = hkdf_extract(salt, bytes(dcid))

    def keys(label):
        secret = hkdf_expand_label(initial, label, b"", 32)
        return PacketKeys(secret,
                          hkdf_expand_label(secret, key_label, b"", 16),
                          hkdf_expand_label(secret, iv_label, b"", 12),
                          hkdf_expand_label(secret, hp_label, b"", 16))

    return InitialSecrets(initial, keys(b"client in"), keys(b"server in"))


# ------------------------------------------------------- packet protection


def header_protection_mask(hp_key, sample):
    """AES-128-ECB of the 16-byte sample; the first 5 bytes are the mask (RFC 9001 5.4.3)."""
    encryptor = Cipher(algorithms.AES(hp_key), modes.ECB()).encryptor()
    return encryptor.update(sample) + encryptor.finalize()


def decode_packet_number(largest_pn, truncated_pn, pn_nbits):
    """RFC 9000 A.3. `largest_pn` is -1 when nothing was received yet."""
    expected_pn = largest_pn + 1
    pn_win = 1 << pn_nbits
    pn_hwin = pn_win // 2
    pn_mask = pn_win - 1
    candidate = (expected_pn & ~pn_mask) | truncated_pn
    if candidate <= expected_pn - pn_hwin and candidate < (1 << 62) - pn_win:
        return candidate + pn_win
    if candidate > expected_pn + pn_hwin and candidate >= pn_win:
        return candidate - pn_win
    return candidate


@dataclass(frozen=True)
class DecryptedPacket:
    status: str
    packet_number: int = None
    payload: bytes = None   # the frames, when status is "ok"
    reserved_bits: int = 0  # must be 0 (RFC 9000 17.2); nonzero is a peer anomaly


def decrypt_packet(datagram, header, keys, largest_pn=-1):
    """Remove header protection and decrypt one long-header packet.

    `header` comes from parse_long_header on the same datagram; `keys` is
    the PacketKeys of the sending side.
    """
    buf = bytes(datagram)
    if header.status != "ok" or header.pn_offset is None:
        return DecryptedPacket(header.status)
    pn_offset, end = header.pn_offset, header.end
    sample_at = pn_offset + 4
    if sample_at + 16 > end:
        return DecryptedPacket("truncated")
    mask = header_protection_mask(keys.hp, buf[sample_at:sample_at + 16])
    first = header.first_byte ^ (mask[0] & 0x0F)
    pn_len = (first & 0x03) + 1
    truncated_pn = 0
    for i in range(pn_len):
        truncated_pn = (truncated_pn << 8) | (buf[pn_offset + i] ^ mask[1 + i])
    aad = (bytes([first]) + buf[header.offset + 1:pn_offset]
           + truncated_pn.to_bytes(pn_len, "big"))
    pn = decode_packet_number(largest_pn, truncated_pn, pn_len * 8)
    nonce = (int.from_bytes(keys.iv, "big") ^ pn).to_bytes(12, "big")
    ciphertext = buf[pn_offset + pn_len:end]
    if len(ciphertext) < 16:
        return DecryptedPacket("truncated", pn)
    try:
        payload = AESGCM(keys.key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        return DecryptedPacket("decrypt_failed", pn)
    # Reserved bits must be zero after removing protection (RFC 9000 17.2).
    # The packet authenticated, so nonzero bits are the peer's violation, not
    # a wrong key: keep the payload as evidence and let the caller flag it.
    return DecryptedPacket("ok", pn, payload, (first >> 2) & 0x03)


# ------------------------------------------------------------------ frames

FRAME_PADDING = 0x00
FRAME_PING = 0x01
FRAME_ACK = 0x02
FRAME_ACK_ECN = 0x03
FRAME_CRYPTO = 0x06
FRAME_CONNECTION_CLOSE = 0x1C
FRAME_CONNECTION_CLOSE_APP = 0x1D

_NONZERO = re.compile(rb"[^\x00]")


@dataclass(frozen=True)
class Frames:
    """What an Initial packet's payload held."""
    status: str                 # "ok", "malformed_frame" or "unknown_frame"
    crypto: tuple = ()          # ((offset, data), ...) in payload order
    close_error: int = None     # CONNECTION_CLOSE error code, if any
    unknown_type: int = None    # the frame type that stopped parsing


def parse_frames(payload):
    """Walk the frames of a decrypted Initial/Handshake payload (RFC 9000 19)."""
    buf = bytes(payload)
    n = len(buf)
    pos = 0
    crypto = []
    close_error = None
    while pos < n:
        ftype, pos2 = _varint(buf, pos)
        if ftype is None:
            return Frames("malformed_frame", tuple(crypto), close_error)
        if ftype == FRAME_PADDING:
            # skip the whole run of padding in one regex step
            nonzero = _NONZERO.search(buf, pos2)
            pos = nonzero.start() if nonzero else n
            continue
        pos = pos2
        if ftype == FRAME_PING:
            continue
        if ftype in (FRAME_ACK, FRAME_ACK_ECN):
            fields = 4  # largest acked, delay, range count, first range
            values = []
            for _ in range(fields):
                value, pos = _varint(buf, pos)
                if value is None:
                    return Frames("malformed_frame", tuple(crypto), close_error)
                values.append(value)
            extra = 2 * values[2] + (3 if ftype == FRAME_ACK_ECN else 0)
            if extra > n - pos:  # every varint is at least one byte
                return Frames("malformed_frame", tuple(crypto), close_error)
            for _ in range(extra):
                value, pos = _varint(buf, pos)
                if value is None:
                    return Frames("malformed_frame", tuple(crypto), close_error)
            continue
        if ftype == FRAME_CRYPTO:
            offset, pos = _varint(buf, pos)
            length, pos3 = _varint(buf, pos)
            if offset is None or length is None or pos3 + length > n:
                return Frames("malformed_frame", tuple(crypto), close_error)
            crypto.append((offset, buf[pos3:pos3 + length]))
            pos = pos3 + length
            continue
        if ftype in (FRAME_CONNECTION_CLOSE, FRAME_CONNECTION_CLOSE_APP):
            error, pos = _varint(buf, pos)
            if error is None:
                return Frames("malformed_frame", tuple(crypto), close_error)
            if ftype == FRAME_CONNECTION_CLOSE:
                _frame_type, pos = _varint(buf, pos)
                if _frame_type is None:
                    return Frames("malformed_frame", tuple(crypto), error)
            reason_len, pos = _varint(buf, pos)
            if reason_len is None or pos + reason_len > n:
                return Frames("malformed_frame", tuple(crypto), error)
            pos += reason_len
            close_error = error
            continue
        return Frames("unknown_frame", tuple(crypto), close_error, ftype)
    return Frames("ok", tuple(crypto), close_error)


# --------------------------------------------------------- CRYPTO reassembly


class CryptoReassembler:
    """One direction's CRYPTO stream, out of order, overlaps first-copy-wins.

    Holds at most MAX_CRYPTO_BYTES of stream (bytes beyond are dropped and
    `truncated` set) in at most MAX_CRYPTO_FRAGMENTS disjoint pieces (a
    fragment that would make more is dropped and `truncated` set).
    """

    def __init__(self, cap=MAX_CRYPTO_BYTES, max_fragments=MAX_CRYPTO_FRAGMENTS):
        self.cap = cap
        self.max_fragments = max_fragments
        self.pieces = []   # sorted, disjoint, non-adjacent [start, bytearray]
        self.truncated = False

    def add(self, offset, data):
        """Add stream bytes at `offset`; returns nothing, never raises."""
        if offset >= self.cap:
            if data:
                self.truncated = True
            return
        if offset + len(data) > self.cap:
            data = data[:self.cap - offset]
            self.truncated = True
        if not data:
            return
        start, end = offset, offset + len(data)
        # the parts of [start, end) not yet held, first copy wins
        new = []
        cursor = start
        for p_start, p_data in self.pieces:
            p_end = p_start + len(p_data)
            if p_end <= cursor:
                continue
            if p_start >= end:
                break
            if p_start > cursor:
                new.append((cursor, data[cursor - start:p_start - start]))
            cursor = max(cursor, p_end)
            if cursor >= end:
                break
        if cursor < end:
            new.append((cursor, data[cursor - start:]))
        for n_start, n_data in new:
            self._insert(n_start, n_data)

    def _insert(self, start, data):
        pieces = self.pieces
        i = 0
        while i < len(pieces) and pieces[i][0] < start:
            i += 1
        end = start + len(data)
        joins_prev = i > 0 and pieces[i - 1][0] + len(pieces[i - 1][1]) == start
        joins_next = i < len(pieces) and pieces[i][0] == end
        if not joins_prev and not joins_next and len(pieces) >= self.max_fragments:
            self.truncated = True
            return
        if joins_prev:
            pieces[i - 1][1].extend(data)
            if joins_next:
                pieces[i - 1][1].extend(pieces[i][1])
                del pieces[i]
        elif joins_next:
            pieces[i] = [start, bytearray(data) + pieces[i][1]]
        else:
            pieces.insert(i, [start, bytearray(data)])

    def contiguous(self):
        """The stream from offset 0 up to the first hole."""
        if self.pieces and self.pieces[0][0] == 0:
            return bytes(self.pieces[0][1])
        return b""

    def has_gap(self):
        """True when bytes are held beyond a hole."""
        return bool(self.pieces) and (self.pieces[0][0] != 0 or len(self.pieces) > 1)


HANDSHAKE_CLIENT_HELLO = 1
HANDSHAKE_SERVER_HELLO = 2


def split_handshake_messages(stream):
    """TLS handshake messages of a contiguous stream (RFC 8446 4).

    Returns (messages, complete): messages is a list of (type, body) for
    every whole message (at most MAX_HANDSHAKE_MESSAGES); complete is False
    when the stream ends inside a message.
    """
    messages = []
    pos = 0
    n = len(stream)
    while pos < n and len(messages) < MAX_HANDSHAKE_MESSAGES:
        if pos + 4 > n:
            return messages, False
        length = int.from_bytes(stream[pos + 1:pos + 4], "big")
        if pos + 4 + length > n:
            return messages, False
        messages.append((stream[pos], bytes(stream[pos + 4:pos + 4 + length])))
        pos += 4 + length
    return messages, True


# ------------------------------------------------------------- top level


class _Direction:
    """Decode state of one direction while decode_initials runs."""

    def __init__(self, name):
        self.name = name
        self.stream = CryptoReassembler()
        self.decrypted = 0
        self.largest_pn = -1
        self.statuses = set()
        self.close_error = None
        self.version = None

    def note(self, status, errors, datagram, packet=None, **detail):
        self.statuses.add(status)
        entry = {"direction": self.name, "datagram": datagram, "packet": packet,
                 "status": status}
        entry.update(detail)
        errors.append(entry)

    def worst(self):
        ranked = [s for s in _STATUS_RANK if s in self.statuses]
        return ranked[-1] if ranked else "no_initial"


def _decode_direction(direction, datagrams, key_source, errors):
    """Decrypt every Initial of one direction into direction.stream.

    key_source(version) yields candidate PacketKeys for a packet of that
    version, in the order to try them.
    """
    for d_index, datagram in enumerate(datagrams[:MAX_DATAGRAMS_PER_DIRECTION]):
        headers = split_coalesced(datagram)
        for p_index, hdr in enumerate(headers):
            if hdr.status != "ok":
                direction.note(hdr.status, errors, d_index, p_index,
                               version=hdr.version)
                continue
            if hdr.packet_type != "initial":
                continue  # Handshake / 0-RTT / Retry: not ours to decrypt
            candidates = key_source(hdr)
            if not candidates:
                direction.note("no_client_initial", errors, d_index, p_index,
                               version=hdr.version)
                continue
            for keys in candidates:
                result = decrypt_packet(datagram, hdr, keys, direction.largest_pn)
                if result.status != "decrypt_failed":
                    break
            if result.status != "ok":
                direction.note(result.status, errors, d_index, p_index, version=hdr.version)
                continue
            if result.reserved_bits:
                direction.note("malformed_header", errors, d_index, p_index,
                               reserved_bits=result.reserved_bits)
            direction.decrypted += 1
            direction.largest_pn = max(direction.largest_pn, result.packet_number)
            if direction.version is None:
                direction.version = hdr.version
            frames = parse_frames(result.payload)
            for offset, data in frames.crypto:
                direction.stream.add(offset, data)
            if frames.close_error is not None:
                direction.close_error = frames.close_error
                direction.note("connection_close", errors, d_index, p_index,
                               error_code=frames.close_error)
            if frames.status != "ok":
                detail = {}
                if frames.unknown_type is not None:
                    detail["frame_type"] = frames.unknown_type
                direction.note(frames.status, errors, d_index, p_index, **detail)


def _hello_of(direction, wanted_type):
    """(status, body or None) for the hello expected first on this stream."""
    stream = direction.stream.contiguous()
    messages, complete = split_handshake_messages(stream)
    if messages:
        msg_type, body = messages[0]
        if msg_type == wanted_type:
            return "ok", body
        return "unexpected_message", None
    if direction.decrypted == 0:
        return direction.worst(), None
    if direction.stream.truncated:
        return "crypto_truncated", None
    if stream and not complete:
        # the message header is there, the rest is missing or beyond the cap
        length = int.from_bytes(stream[1:4], "big") if len(stream) >= 4 else 0
        if 4 + length > direction.stream.cap:
            return "crypto_truncated", None
        return "crypto_gap", None
    if direction.stream.has_gap():
        return "crypto_gap", None
    ranked = [s for s in _STATUS_RANK if s in direction.statuses]
    return (ranked[-1] if ranked else "crypto_gap"), None


def decode_initials(client_datagrams, server_datagrams):
    """Decrypt the Initial packets of one QUIC connection, both directions.

    `client_datagrams` / `server_datagrams`: UDP payloads in capture order
    (at most MAX_DATAGRAMS_PER_DIRECTION of each are read). Client Initials
    are decrypted with keys from their own DCID; server Initials with keys
    from the client's DCIDs (the first one, then those a Retry made the
    client switch to), for the server packet's own version (compatible
    version negotiation may switch v1 -> v2).

    Returns a dict (never raises on traffic):
      version, version_name       the client's first Initial (None if none)
      version_eve                 the same as Suricata writes quic.version
      server_version              the server's first decrypted Initial
      client_dcid, client_scid    bytes of the client's first Initial
      server_scid                 bytes of the server's first Initial
      status                      "ok" when every direction given yielded
                                  its hello, else the first failing status
      client_status, server_status  per direction ("no_packets" if none given)
      client_hello, server_hello  handshake message bodies (no 4-byte header)
      client_packets_decrypted, server_packets_decrypted
      client_crypto_bytes, server_crypto_bytes   contiguous stream length
      client_close_error, server_close_error     CONNECTION_CLOSE codes
      datagrams_ignored           datagrams beyond the per-direction cap
      errors                      list of {direction, datagram, packet,
                                  status, ...} for every packet not decoded
    """
    client_datagrams = [bytes(d) for d in (client_datagrams or ())]
    server_datagrams = [bytes(d) for d in (server_datagrams or ())]
    errors = []
    client = _Direction("client")
    server = _Direction("server")

    # the client's Initial DCIDs in order: the first, then any after a Retry
    first_hdr = None
    dcids = []
    for datagram in client_datagrams[:MAX_DATAGRAMS_PER_DIRECTION]:
        for hdr in split_coalesced(datagram):
            if hdr.is_initial:
                if first_hdr is None:
                    first_hdr = hdr
                if hdr.dcid not in dcids and len(dcids) < MAX_KEY_CANDIDATES:
                    dcids.append(hdr.dcid)
    cache = {}

    def secrets_for(dcid, version):
        if (dcid, version) not in cache:
            cache[(dcid, version)] = initial_secrets(dcid, version)
        return cache[(dcid, version)]

    # Initial keys stay those of the client's first DCID even after the
    # client switches to the server's SCID (RFC 9001 5.2); only a Retry
    # makes the client derive new ones from the Retry's SCID, which is then
    # the DCID of its next Initial. So both sides try every client Initial
    # DCID, in order (the packet's own DCID first for the client).
    def keys_for(hdr, side):
        found = []
        for dcid in ([hdr.dcid] if side == "client" else []) + dcids:
            secrets = secrets_for(dcid, hdr.version)
            if secrets is not None:
                keys = getattr(secrets, side)
                if keys not in found:
                    found.append(keys)
        return found

    def client_keys(hdr):
        return keys_for(hdr, "client")

    def server_keys(hdr):
        return keys_for(hdr, "server")

    _decode_direction(client, client_datagrams, client_keys, errors)
    _decode_direction(server, server_datagrams, server_keys, errors)

    if client_datagrams:
        client_status, client_hello = _hello_of(client, HANDSHAKE_CLIENT_HELLO)
    else:
        client_status, client_hello = "no_packets", None
    if server_datagrams:
        server_status, server_hello = _hello_of(server, HANDSHAKE_SERVER_HELLO)
    else:
        server_status, server_hello = "no_packets", None

    if client_status != "ok":
        status = client_status
    elif server_datagrams and server_status != "ok":
        status = server_status
    else:
        status = "ok"

    if first_hdr is not None:
        version = first_hdr.version
    else:
        # no Initial: report what the first long header said, if anything
        version = None
        for datagram in client_datagrams[:1]:
            hdr = parse_long_header(datagram)
            version = hdr.version
    server_first = None
    for datagram in server_datagrams[:MAX_DATAGRAMS_PER_DIRECTION]:
        for hdr in split_coalesced(datagram):
            if hdr.is_initial:
                server_first = hdr
                break
        if server_first is not None:
            break

    ignored = (max(0, len(client_datagrams) - MAX_DATAGRAMS_PER_DIRECTION)
               + max(0, len(server_datagrams) - MAX_DATAGRAMS_PER_DIRECTION))
    return {
        "version": version,
        "version_name": version_name(version),
        "version_eve": eve_version_name(version),
        "server_version": server.version,
        "client_dcid": first_hdr.dcid if first_hdr else None,
        "client_scid": first_hdr.scid if first_hdr else None,
        "server_scid": server_first.scid if server_first else None,
        "status": status,
        "client_status": client_status,
        "server_status": server_status,
        "client_hello": client_hello,
        "server_hello": server_hello,
        "client_packets_decrypted": client.decrypted,
        "server_packets_decrypted": server.decrypted,
        "client_crypto_bytes": len(client.stream.contiguous()),
        "server_crypto_bytes": len(server.stream.contiguous()),
        "client_close_error": client.close_error,
        "server_close_error": server.close_error,
        "datagrams_ignored": ignored,
        "errors": errors,
    }
