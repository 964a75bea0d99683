# The table of contents of the Cython core: C structs, enums and the
# signatures of the inline helpers. Bodies live in the .pxi files that
# _core.pyx includes, one per concern.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t

# ---------------------------------------------------------------- decode
cdef enum:  # DecodeStatus
    DEC_OK = 0            # a flow-bearing packet (TCP/UDP/ICMP) was decoded
    DEC_NOT_FLOW          # valid, but nothing a flow is kept for (ARP, LLDP, unknown IP proto...)
    DEC_FRAGMENT          # an IP fragment held for reassembly; no flow update yet
    DEC_ERR_LINKTYPE      # link type the core does not decode
    DEC_ERR_L2_TRUNCATED
    DEC_ERR_IPV4_HEADER   # bad version / IHL / total length
    DEC_ERR_IPV6_HEADER
    DEC_ERR_IPV6_EXTHDR   # extension header chain runs past the packet
    DEC_ERR_TCP_HEADER
    DEC_ERR_UDP_HEADER
    DEC_ERR_ICMP_HEADER
    DEC_ERR_TUNNEL        # GRE/VXLAN/Geneve/ERSPAN/Teredo header malformed
    DEC_ERR_TOO_DEEP      # more nested encapsulations than MAX_DEPTH
    DEC_ERR_FRAGMENT      # fragment dropped (table full, bad offsets, oversize)
    DEC_STATUS_COUNT

cdef enum:
    MAX_DEPTH = 8         # nested encapsulations followed before giving up
    MAX_VLANS = 3         # VLAN ids kept in the flow key (outermost first), as Suricata 7

cdef struct PacketView:
    # innermost 5-tuple; IPv4 addresses sit in the first 4 bytes, rest zero
    uint8_t src[16]
    uint8_t dst[16]
    uint16_t sport
    uint16_t dport
    uint16_t vlan[3]
    uint8_t nvlan
    uint8_t family           # 4 or 6
    uint8_t proto            # IANA protocol number of the flow
    uint8_t depth            # encapsulation depth (0 = not tunnelled)
    uint8_t tcp_flags
    uint8_t icmp_type
    uint8_t icmp_code
    # an ICMPv4 destination-unreachable quoting a TCP/UDP packet: the
    # quoted packet's tuple (IPv4 only), else emb_proto == 0
    uint8_t emb_proto
    uint8_t emb_src[4]
    uint8_t emb_dst[4]
    uint16_t emb_sport
    uint16_t emb_dport
    uint32_t seq
    uint32_t ack
    const uint8_t *payload
    uint32_t payload_len
    # bytes the flow is charged: the whole captured frame, or for a
    # tunnelled packet the inner packet from its first inner header (as
    # Suricata counts its tunnel pseudo-packets)
    uint32_t flow_len
    const uint8_t *pkt_start  # start of the (pseudo-)packet flow_len is measured from

# ------------------------------------------------------------- fragments
cdef struct FragTracker:
    uint8_t src[16]
    uint8_t dst[16]
    uint32_t ident
    uint8_t family
    uint8_t proto
    uint8_t in_use
    uint8_t have_last
    int64_t first_us
    uint8_t *data            # unfragmentable header + reassembled payload
    uint32_t hdr_len         # bytes of IP header kept in front of the payload
    uint32_t counted_hdr_len # header bytes Suricata counts (incl. extension headers)
    uint32_t prefix_len      # bytes before the IP header in the first fragment's packet
    uint32_t payload_total   # known once the last fragment arrived
    uint32_t units_seen      # 8-byte units received (bitmap population)
    uint8_t *bitmap          # one bit per 8-byte unit of payload

# ------------------------------------------------------------------ flows
cdef enum:  # FlowState
    FS_NEW = 0
    FS_ESTABLISHED = 1
    FS_CLOSED = 2

cdef enum:  # EndReason
    END_TIMEOUT = 0
    END_SHUTDOWN = 1
    END_MEMCAP = 2
    END_INTERIM = 3          # not an end: a long flow's periodic record

# one LRU list per timeout class, each ordered by last packet time
cdef enum:  # TimeoutClass
    TC_TCP_NEW = 0
    TC_TCP_ESTABLISHED
    TC_TCP_CLOSED
    TC_OTHER_NEW
    TC_OTHER_ESTABLISHED
    TC_COUNT

cdef struct FlowKey:
    uint8_t addr_a[16]       # the lower (addr, port) endpoint
    uint8_t addr_b[16]
    uint16_t port_a
    uint16_t port_b
    uint16_t vlan[3]
    uint8_t proto
    uint8_t family
    uint8_t depth
    uint8_t pad[3]

# ------------------------------------------------------ handshake capture
cdef enum:  # HalfMode: what one direction's bytes are being read as
    HM_START = 0          # no payload yet
    HM_PREAMBLE           # plaintext (STARTTLS, proxy): TLS may start at a segment
    HM_TLS                # walking TLS records until the handshake is over
    HM_SSH                # banner, then binary packets until KEXINIT
    HM_QUIC               # collecting long-header datagrams
    HM_DONE               # nothing more is kept for this direction

cdef enum:  # HalfKind: what was found
    HK_NONE = 0
    HK_TLS
    HK_SSLV2
    HK_SSH
    HK_QUIC

cdef enum:  # HalfFlags: anomalies of one direction's capture
    HF_TRUNCATED = 1      # the per-direction byte cap was reached
    HF_GAP = 2            # out-of-order storage overflowed: bytes missing
    HF_OVERLAP_DIFFERS = 4  # a retransmission carried different bytes (first copy kept)
    HF_MEMCAP = 8         # the global handshake memory cap was reached
    HF_MALFORMED = 16     # record/packet framing made no sense
    HF_ALERT = 32         # a TLS alert record was seen
    HF_ESTABLISHED = 64   # application data, or Finished after ChangeCipherSpec
    HF_CCS = 128          # ChangeCipherSpec seen

cdef struct OooSegment:
    uint32_t seq
    uint32_t len
    uint8_t *data

cdef struct HalfStream:
    uint8_t *buf             # the direction's bytes from its first payload byte
    uint32_t len
    uint32_t alloc
    uint32_t base_seq        # TCP sequence number of buf[0]
    uint32_t scan            # offset of the next record / packet header
    uint32_t start           # offset where TLS or SSH begins (after a preamble)
    uint8_t mode
    uint8_t kind
    uint8_t flags
    uint8_t n_ooo
    uint8_t n_datagrams      # QUIC datagrams kept
    uint8_t banner_done      # SSH: the identification line is complete
    uint8_t probe_pending    # a segment start awaits enough bytes to be judged
    uint32_t probe           # offset of that segment start
    uint32_t last_segment    # offset of the latest segment start
    OooSegment *ooo          # allocated on the first out-of-order segment
    int64_t established_us

cdef enum:
    JA4SSH_WINDOW = 200      # SSH packets per JA4SSH fingerprint (FoxIO)

# JA4SSH counters of an SSH flow's current window of packets
cdef struct Ja4ssh:
    uint16_t lens[2][200]    # payload lengths, per direction
    uint16_t n_lens[2]
    uint32_t pkts[2]         # packets with payload
    uint32_t acks[2]         # packets without payload but with ACK
    uint32_t count           # packets with payload in the window
    uint32_t index           # 1-based number of the window

cdef struct Session:
    HalfStream half[2]       # 0: to server (initiator's bytes), 1: to client
    uint32_t mem             # bytes charged to the global handshake memory cap


# Capture-loss inference, as Zeek's capture-loss script does: an ACK for
# data whose segments were never seen means the capture missed them.
cdef struct LossTrack:
    uint32_t seq_end[2]      # highest sequence number + length seen, per direction
    uint32_t acked[2]        # highest ACK sent by each direction
    uint32_t hole_lo[2]      # first unseen range [lo, hi) below seq_end, per direction
    uint32_t hole_hi[2]
    uint8_t known            # bit d: seq_end[d] valid; bit 2 + d: acked[d] valid
    uint8_t hole             # bit d: hole_lo/hi[d] hold an unfilled range

# the counters a flow accumulates, kept as one block so that a flow's
# record is copied out with one assignment
cdef struct FlowStats:
    uint64_t pkts_ts
    uint64_t pkts_tc
    uint64_t bytes_ts
    uint64_t bytes_tc
    int64_t first_us
    int64_t last_us
    uint8_t state
    uint8_t flags_ts
    uint8_t flags_tc
    uint8_t icmp_type
    uint8_t icmp_code
    uint8_t resp_icmp_type
    uint8_t resp_icmp_code
    uint8_t has_resp_icmp
    uint8_t app_kind         # HK_* found in the handshake (initiator's side first)
    uint64_t missed_bytes    # bytes acknowledged but never captured (Zeek's missed_bytes)

cdef struct Flow:
    FlowKey key
    uint64_t hash
    uint64_t flow_id
    int32_t lru_prev
    int32_t lru_next
    uint8_t lru_class
    uint8_t init_is_a        # the initiator is endpoint a of the key
    uint8_t fin_seen         # bit 0: toserver FIN, bit 1: toclient FIN
    uint8_t in_use
    uint8_t hs_state         # HS_* below: handshake capture of this flow
    uint8_t isn_known        # bit per direction: next_seq[] is valid
    uint32_t next_seq[2]     # next expected TCP sequence number per direction
    uint8_t not_bare_ack[2]  # TCP packets with flags other than ACK alone, per direction (saturating)
    uint8_t ja4ssh_done      # JA4SSH finished (flow ended) or refused (memory cap)
    Session *sess            # handshake buffers while capturing, else NULL
    Ja4ssh *ja4ssh           # JA4SSH window of an SSH flow, else NULL
    int64_t interim_mark_us  # when the flow's last (interim) record was due
    int32_t interim_prev     # the list of open flows by interim_mark_us, oldest first
    int32_t interim_next
    LossTrack loss
    uint32_t kept_bytes      # frame bytes of this flow put in the KeepRing (up to its budget)
    FlowStats st

cdef enum:  # HandshakeState of a flow
    HS_NONE = 0           # nothing captured yet
    HS_CAPTURING          # a Session holds the handshake bytes
    HS_BYPASS             # handshake handed over (or none): counters only

# who a record leaving the core is about: the flow, initiator first
cdef struct FlowTuple:
    uint64_t flow_id
    uint8_t src[16]          # the initiator
    uint8_t dst[16]
    uint16_t sport
    uint16_t dport
    uint16_t vlan[3]
    uint8_t family
    uint8_t proto
    uint8_t depth

# what leaves the core when a flow ends; copied out at batch boundaries
cdef struct FlowEnd:
    FlowTuple t
    uint8_t reason
    int64_t end_us           # packet time at which the record was emitted
    FlowStats st

# one JA4SSH window's result
cdef struct Ja4sshEnd:
    FlowTuple t
    uint32_t index
    uint16_t mode[2]
    uint32_t pkts[2]
    uint32_t acks[2]
    int64_t at_us

# a captured handshake handed to Python; the Session is freed after copying
cdef struct HandshakeEnd:
    FlowTuple t
    int64_t first_us
    int64_t at_us            # packet time of the hand-over
    Session *sess


cdef struct FragTable:
    FragTracker *slots
    uint32_t size            # power of two
    int64_t timeout_us
    int32_t release_slot     # reassembled datagram whose memory is freed on the next packet
    uint64_t evicted         # trackers dropped because the table was full
    uint64_t reassembled

cdef struct DecodeCtx:
    FragTable *frags
    # a UDP tunnel (VXLAN, Geneve, Teredo) also charges its outer UDP flow,
    # as Suricata does: the outer packet is kept here for the flow table
    PacketView outer
    bint has_outer
    int64_t ts_us
    uint64_t *counters       # indexed by DecodeStatus, plus the extras below

cdef enum:  # extra decode counters, after the DecodeStatus ones
    CNT_IPV4_TRUNCATED = DEC_STATUS_COUNT   # IP total length beyond the captured bytes
    CNT_IPV6_TRUNCATED
    CNT_TUNNELLED
    CNT_ICMP_ERROR_MAPPED
    CNT_VLAN_DROPPED_TAG                    # tags beyond MAX_VLANS (not in the key)
    CNT_DECODE_COUNTERS

cdef struct FlowTable:
    Flow *flows              # slot pool; grows by doubling up to max_flows
    uint32_t capacity
    uint32_t max_flows
    uint32_t active
    int32_t free_head        # free slots chained through lru_next
    uint32_t *index          # open addressing, linear probing: slot + 1, 0 = empty
    uint32_t index_mask
    int32_t lru_head[5]      # one list per TimeoutClass, oldest first
    int32_t lru_tail[5]
    int64_t timeout_us[5]
    FlowEnd *ended           # records waiting to be taken at the batch boundary
    uint32_t n_ended
    uint32_t cap_ended
    uint64_t created
    uint64_t evicted_memcap
    uint64_t timed_out
    int64_t next_sweep_us
    int64_t interim_us       # period of interim records of long flows (0: none)
    int32_t interim_head     # open flows by interim_mark_us (the sweep's interim
    int32_t interim_tail     # records of idle-but-open flows come from its head)
    bint capture_handshakes  # False: flow-only, every flow bypassed from its first packet
    uint64_t interims
    uint64_t ack_events      # ACKs that acknowledged new data (capture-loss denominator)
    uint64_t gap_events      # of those, ACKs for data never captured
    uint64_t gap_bytes
    int32_t charged_slot     # slot of the flow the last packet was charged to, -1: none
    HandshakeEnd *handshakes # handshakes waiting to be taken at the batch boundary
    uint32_t n_handshakes
    uint32_t cap_handshakes
    Ja4sshEnd *ja4ssh_ends   # JA4SSH windows waiting to be taken
    uint32_t n_ja4ssh
    uint32_t cap_ja4ssh
    # handshake capture caps and accounting
    uint32_t hs_bytes_cap    # per direction
    uint32_t hs_preamble_cap # plaintext bytes before TLS is given up on
    uint8_t ooo_max          # out-of-order segments held per direction
    uint8_t quic_datagrams_max
    uint64_t hs_mem_cap
    uint64_t hs_mem_used
    uint64_t hs_memcap_hits
    uint64_t ooo_dropped
    uint64_t overlap_differs
    uint64_t hs_truncated


# ------------------------------------------ kept packets (engine/_keep.pxi)
# the first bytes of every flow's frames, as captured, in one ring for all
# flows: a byte arena of records that never wrap, the oldest overwritten
cdef struct KeptHeader:
    uint64_t flow_id
    int64_t ts_us
    uint32_t caplen
    uint32_t wirelen
    uint32_t size            # header and frame, rounded up to 8 bytes
    uint16_t linktype
    uint16_t pad

cdef struct KeepRing:
    uint8_t *buf             # NULL: keeping is off
    uint64_t cap
    uint64_t head            # where the next record goes
    uint64_t tail            # the oldest record
    uint64_t end             # while wrapped: where the records before offset 0 stop
    uint64_t count           # records held
    bint wrapped             # records run tail..end, then 0..head
    uint32_t per_flow        # frame bytes kept per flow (the frame that crosses it is kept)
    uint64_t kept            # frames put in the ring
    uint64_t evicted         # frames overwritten by newer ones


# -------------------- TLS handshake messages (engine/_tls.pxi)
cdef enum:
    TLS_MAX_LIST = 512      # entries kept per list of 16-bit values
    TLS_MAX_U8_LIST = 255   # u8-length lists can never be longer
    TLS_MAX_ALPN = 64       # ALPN protocol names kept
    TLS_MAX_CERTS = 10      # certificates kept per chain (DESIGN.md caps table)

cdef enum:  # TlsStatus: the first problem found; index into TLS_STATUS_NAMES
    TLS_OK = 0
    TLS_TRUNCATED_VERSION
    TLS_TRUNCATED_RANDOM
    TLS_TRUNCATED_SESSION_ID
    TLS_BAD_SESSION_ID_LENGTH
    TLS_TRUNCATED_CIPHER_SUITES
    TLS_BAD_CIPHER_SUITES_LENGTH
    TLS_EMPTY_CIPHER_SUITES
    TLS_TRUNCATED_COMPRESSION_METHODS
    TLS_EMPTY_COMPRESSION_METHODS
    TLS_TRUNCATED_CIPHER_SUITE
    TLS_TRUNCATED_COMPRESSION_METHOD
    TLS_TRUNCATED_EXTENSIONS
    TLS_BAD_EXTENSION_LENGTH
    TLS_DUPLICATE_EXTENSION
    TLS_BAD_SNI
    TLS_BAD_ALPN
    TLS_BAD_SUPPORTED_VERSIONS
    TLS_BAD_SUPPORTED_GROUPS
    TLS_BAD_EC_POINT_FORMATS
    TLS_BAD_SIGNATURE_ALGORITHMS
    TLS_BAD_KEY_SHARE
    TLS_BAD_PSK_KEY_EXCHANGE_MODES
    TLS_TRAILING_DATA
    TLS_TRUNCATED_REQUEST_CONTEXT
    TLS_TRUNCATED_CERTIFICATE_LIST
    TLS_BAD_CERTIFICATE_LIST_LENGTH
    TLS_TRUNCATED_CERTIFICATE
    TLS_BAD_CERTIFICATE_LENGTH
    TLS_EMPTY_CERTIFICATE
    TLS_BAD_CERTIFICATE_EXTENSIONS
    TLS_NOT_SSLV2_RECORD
    TLS_TRUNCATED_RECORD
    TLS_NOT_CLIENT_HELLO
    TLS_TRUNCATED_HEADER
    TLS_BAD_CIPHER_SPECS_LENGTH
    TLS_TRUNCATED_CIPHER_SPECS
    TLS_TRUNCATED_CHALLENGE
    TLS_BAD_CHALLENGE_LENGTH
    TLS_STATUS_COUNT

cdef enum:  # extension types decoded here
    TLS_EXT_SERVER_NAME = 0x0000
    TLS_EXT_SUPPORTED_GROUPS = 0x000a
    TLS_EXT_EC_POINT_FORMATS = 0x000b
    TLS_EXT_SIGNATURE_ALGORITHMS = 0x000d
    TLS_EXT_ALPN = 0x0010
    TLS_EXT_PRE_SHARED_KEY = 0x0029
    TLS_EXT_EARLY_DATA = 0x002a
    TLS_EXT_SUPPORTED_VERSIONS = 0x002b
    TLS_EXT_PSK_KEY_EXCHANGE_MODES = 0x002d
    TLS_EXT_KEY_SHARE = 0x0033
    TLS_EXT_ECH = 0xfe0d

cdef struct TlsSpan:          # a slice of the input: [off, off + len)
    size_t off
    size_t len

cdef struct TlsU16List:
    uint16_t v[TLS_MAX_LIST]
    uint32_t n

cdef struct TlsU8List:
    uint8_t v[TLS_MAX_U8_LIST]
    uint32_t n

cdef struct TlsClientHello:
    int reached               # 0 nothing, 1 version, 2 random, 3 session id,
                              # 4 cipher suites, 5 compression methods
    uint16_t legacy_version
    TlsSpan random
    TlsSpan session_id
    TlsU16List cipher_suites
    TlsU8List compression_methods
    TlsU16List extensions
    bint has_sni
    TlsSpan sni
    TlsSpan alpn[TLS_MAX_ALPN]
    uint32_t n_alpn
    TlsU16List supported_versions
    TlsU16List supported_groups
    TlsU8List ec_point_formats
    TlsU16List signature_algorithms
    TlsU16List key_share_groups
    TlsU8List psk_key_exchange_modes
    bint has_pre_shared_key
    bint has_early_data
    bint has_ech
    bint extensions_truncated
    bint capped

cdef struct TlsServerHello:
    int reached               # 0 nothing, 1 version, 2 random, 3 session id,
                              # 4 cipher suite, 5 compression method
    uint16_t legacy_version
    TlsSpan random
    TlsSpan session_id
    uint16_t cipher_suite
    uint8_t compression_method
    TlsU16List extensions
    bint has_selected_version
    uint16_t selected_version
    bint has_alpn
    TlsSpan alpn
    bint has_key_share_group
    uint16_t key_share_group
    bint extensions_truncated
    bint capped

cdef struct TlsCertificate:
    TlsSpan request_context
    TlsSpan certs[TLS_MAX_CERTS]
    uint32_t n_certs
    uint32_t dropped

cdef struct TlsSslv2Hello:
    int reached               # 0 nothing, 1 header (version and lengths read)
    uint16_t legacy_version
    uint32_t specs[TLS_MAX_LIST]
    uint32_t n_specs
    TlsSpan session_id
    TlsSpan challenge
    bint capped


# ----------------------------- SSH identification and KEXINIT (engine/_ssh.pxi)
cdef enum:
    SSH_MAX_BANNER_LEN = 255          # DESIGN.md cap: the kept banner, without CR/LF
    SSH_MAX_LINE_LEN = 8192           # a line (banner or pre-banner) must end within this (OpenSSH)
    SSH_MAX_PRE_BANNER_LINES = 1024   # lines skipped before "SSH-" (OpenSSH's limit)
    SSH_MAX_PACKET_LEN = 35000        # RFC 4253 6.1: packets up to this size must be handled
    SSH_MAX_PACKETS_BEFORE_KEXINIT = 16   # plaintext packets (IGNORE, DEBUG...) skipped
    SSH_MSG_KEXINIT = 20
    SSH_MSG_NEWKEYS = 21
    SSH_KEXINIT_COOKIE_LEN = 16
    SSH_KEXINIT_NAMELISTS = 10

cdef enum:  # SshStatus; names in SSH_STATUS_NAMES, same order
    SSH_OK = 0                 # banner and KEXINIT parsed
    SSH_NO_BANNER              # no "SSH-" line: empty, not SSH, or too many/too long pre-banner lines
    SSH_BANNER_TOO_LONG        # the "SSH-" line does not end within SSH_MAX_LINE_LEN
    SSH_TRUNCATED_BANNER       # the data ends inside the "SSH-" line
    SSH_BAD_BANNER             # "SSH-" line without "-" after the protocol version
    SSH_V1                     # SSH-1 (e.g. "1.5"): no KEXINIT exists in that protocol
    SSH_NO_KEXINIT             # banner only, or no KEXINIT among the first packets
    SSH_TRUNCATED_PACKET       # the data ends inside a binary packet
    SSH_BAD_PACKET_LENGTH      # packet_length 0..1 or above SSH_MAX_PACKET_LEN
    SSH_BAD_PADDING_LENGTH     # padding_length leaves no room for the message number
    SSH_BAD_KEXINIT            # KEXINIT payload shorter than its fields say
    SSH_STATUS_COUNT

cdef struct SshSpan:
    size_t off                 # offset into the parsed buffer
    size_t len

cdef struct SshRecord:
    int status
    uint32_t pre_banner_lines  # lines skipped before the "SSH-" line
    bint has_banner
    SshSpan banner             # the kept banner (at most SSH_MAX_BANNER_LEN), no CR/LF
    bint banner_truncated
    bint has_version           # proto/software/comments below are valid
    SshSpan proto              # inside the kept banner
    SshSpan software
    bint has_comments
    SshSpan comments
    uint32_t packets_skipped   # packets before the KEXINIT that were not KEXINIT
    bint has_kexinit
    size_t kexinit_off         # offset of the KEXINIT packet's packet_length field
    uint32_t packet_length
    uint8_t padding_length
    SshSpan cookie
    SshSpan lists[10]          # SSH_KEXINIT_NAMELISTS
    bint first_kex_packet_follows
    uint32_t reserved

# ------------------------------------------------- AF_PACKET TPACKET_V3 ring
# The kernel's side of the capture ring read by _afpacket.pxi: only the
# fields and constants that file uses.
cdef extern from "<linux/if_packet.h>" nogil:
    struct tpacket_req3:
        unsigned int tp_block_size
        unsigned int tp_block_nr
        unsigned int tp_frame_size
        unsigned int tp_frame_nr
        unsigned int tp_retire_blk_tov
        unsigned int tp_sizeof_priv
        unsigned int tp_feature_req_word
    struct tpacket_hdr_v1:
        uint32_t block_status
        uint32_t num_pkts
        uint32_t offset_to_first_pkt
    union tpacket_bd_header_u:
        tpacket_hdr_v1 bh1
    struct tpacket_block_desc:
        tpacket_bd_header_u hdr
    struct tpacket3_hdr:
        uint32_t tp_next_offset
        uint32_t tp_sec
        uint32_t tp_nsec
        uint32_t tp_snaplen
        uint32_t tp_len
        uint32_t tp_status
        uint16_t tp_mac
    struct tpacket_stats_v3:
        unsigned int tp_packets
        unsigned int tp_drops
        unsigned int tp_freeze_q_cnt
    struct sockaddr_ll:
        unsigned short sll_family
        unsigned short sll_protocol
        int sll_ifindex
        unsigned char sll_pkttype
    struct packet_mreq:
        int mr_ifindex
        unsigned short mr_type
    enum:
        PACKET_ADD_MEMBERSHIP
        PACKET_RX_RING
        PACKET_STATISTICS
        PACKET_VERSION
        PACKET_FANOUT
        PACKET_FANOUT_HASH
        PACKET_FANOUT_FLAG_DEFRAG
        PACKET_MR_PROMISC
        PACKET_OUTGOING
        TPACKET_V3
        TP_STATUS_KERNEL
        TP_STATUS_USER
        TP_STATUS_VLAN_VALID
        TPACKET_ALIGNMENT
    size_t TPACKET_ALIGN(size_t x)

cdef extern from "<linux/filter.h>" nogil:
    struct sock_filter:
        uint16_t code
        uint8_t jt
        uint8_t jf
        uint32_t k
    struct sock_fprog:
        unsigned short len
        sock_filter *filter

cdef extern from "<linux/if_ether.h>" nogil:
    enum:
        ETH_P_ALL

cdef extern from "<net/if.h>" nogil:
    enum:
        IFNAMSIZ
        IFF_UP
    struct sockaddr:
        unsigned short sa_family
    struct ifreq:
        char ifr_name[16]
        sockaddr ifr_hwaddr
        short ifr_flags
    unsigned int if_nametoindex(const char *ifname)

cdef extern from "<sys/socket.h>" nogil:
    enum:
        AF_PACKET
        SOCK_RAW
        SOCK_CLOEXEC
        SOL_PACKET
        SOL_SOCKET
        SO_ATTACH_FILTER
    ctypedef unsigned int socklen_t
    int socket(int domain, int type, int protocol)
    int bind(int fd, const sockaddr *addr, socklen_t len)
    int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
    int getsockopt(int fd, int level, int name, void *val, socklen_t *len)

cdef extern from "<sys/ioctl.h>" nogil:
    enum:
        SIOCGIFHWADDR
        SIOCGIFFLAGS
    int ioctl(int fd, unsigned long request, ...)

cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    enum:
        POLLIN
        POLLERR
    int poll(pollfd *fds, unsigned long nfds, int timeout)

cdef extern from "<arpa/inet.h>" nogil:
    uint16_t htons(uint16_t v)

# acquire/release ordering on the ring's block status words, shared with the kernel
cdef extern from *:
    uint32_t __atomic_load_n(uint32_t *p, int order) nogil
    void __atomic_store_n(uint32_t *p, uint32_t v, int order) nogil
    int __ATOMIC_ACQUIRE
    int __ATOMIC_RELEASE
