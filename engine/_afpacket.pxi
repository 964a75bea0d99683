# AF_PACKET TPACKET_V3 capture ring, read in place (zero copy).
#
# Included by the hub engine/_core.pyx; the kernel structures and
# constants are declared in _core.pxd.  Every C-level name here starts
# with ``_afp_`` / ``AFP_`` and the one Python-visible class is
# ``AfPacketRing``.
#
# The kernel fills fixed-size blocks of the mmap'ed ring and hands a block
# to user space (TP_STATUS_USER) when it is full or its retire timeout
# passes.  ``fill`` writes the descriptors of the packets of user-owned
# blocks into caller-owned arrays, as CapfileScanner.fill does for a file:
# offsets point into the ring itself, which the object exports through the
# buffer protocol, so a batch's ``buf`` is the ring.  A block goes back to
# the kernel only at the start of the next ``fill``: the packets handed
# out stay valid until then.  No Python object is made per packet, and
# nothing here raises on what the kernel writes; opening failures return
# an errno with the failed step named in ``failed_step``, which
# engine/afpacket.py words for the operator.

from cpython.buffer cimport PyBUF_WRITABLE, PyBUF_FORMAT
from libc.errno cimport errno, EINVAL, ENODEV, ENETDOWN
from libc.string cimport memset, strncpy
from posix.mman cimport mmap, munmap, PROT_READ, PROT_WRITE, MAP_SHARED, MAP_FAILED
from posix.unistd cimport close as _afp_close

cdef enum:
    AFP_ARPHRD_LOOPBACK = 772       # the kernel shows lo's packets twice: out and in


cdef class AfPacketRing:
    """One AF_PACKET socket bound to an interface, with its mmap'ed
    TPACKET_V3 receive ring: ``AfPacketRing()``, ``open(name)``, then
    ``start(...)`` once the filter is compiled for its link type."""
    cdef int _fd
    cdef unsigned int _ifindex
    cdef uint8_t *_ring
    cdef size_t _ring_size
    cdef uint32_t _block_size
    cdef uint32_t _block_nr
    cdef uint32_t _cur_block            # the block being read
    cdef uint32_t _cur_pkt              # its packets already handed out
    cdef const uint8_t *_cur_hdr        # its next packet header
    cdef uint32_t _release_from         # blocks read through, given back at the next fill
    cdef uint32_t _release_n
    cdef uint16_t _linktype
    cdef bint _skip_outgoing
    cdef int _exports
    cdef Py_ssize_t _shape[1]
    cdef Py_ssize_t _strides[1]
    cdef readonly int arphrd
    cdef readonly str failed_step
    cdef readonly uint64_t kernel_packets
    cdef readonly uint64_t kernel_drops
    cdef readonly uint64_t kernel_freezes
    cdef readonly uint64_t vlan_stripped

    def __cinit__(self):
        self._fd = -1
        self._ring = NULL
        self.failed_step = ""

    def __dealloc__(self):
        self._close_socket()
        self._unmap()

    def open(self, bytes ifname):
        """Open the socket (receiving nothing yet) and learn the interface's
        ARPHRD type.  Returns 0, or an errno with ``failed_step`` set."""
        cdef ifreq ifr
        if len(ifname) >= IFNAMSIZ:
            return self._failed("interface", ENODEV)     # no such name can exist
        self._fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0)   # no packet before bind
        if self._fd < 0:
            return self._failed("socket", errno)
        self._ifindex = if_nametoindex(ifname)
        if self._ifindex == 0:
            return self._failed("interface", errno)
        memset(&ifr, 0, sizeof(ifr))
        strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1)
        if ioctl(self._fd, SIOCGIFHWADDR, &ifr) < 0:
            return self._failed("interface", errno)
        self.arphrd = ifr.ifr_hwaddr.sa_family
        if ioctl(self._fd, SIOCGIFFLAGS, &ifr) < 0:
            return self._failed("interface", errno)
        if not ifr.ifr_flags & IFF_UP:
            return self._failed("down", ENETDOWN)
        self._skip_outgoing = self.arphrd == AFP_ARPHRD_LOOPBACK
        return 0

    def start(self, uint32_t block_size, uint32_t block_nr, uint32_t frame_size,
              uint32_t retire_ms, bint promisc, int64_t fanout_arg, bytes bpf, uint16_t linktype):
        """Attach the filter, map the ring, bind, and join the promiscuous
        and fanout settings.  ``bpf`` is the filter program, 8-byte struct
        sock_filter instructions; ``fanout_arg`` is PACKET_FANOUT's
        argument, or -1 for no group; ``linktype`` is the LINKTYPE_* value
        of every packet.  Returns 0, or an errno with ``failed_step`` set."""
        cdef sockaddr_ll sll
        cdef packet_mreq mreq
        cdef tpacket_req3 req
        cdef sock_fprog prog
        cdef int version = TPACKET_V3
        cdef uint32_t fanout
        cdef void *mem
        self._linktype = linktype
        # the filter goes on before bind: no unfiltered packet reaches the ring
        prog.len = <unsigned short>(len(bpf) // sizeof(sock_filter))
        prog.filter = <sock_filter *><char *>bpf
        if setsockopt(self._fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0:
            return self._failed("filter", errno)
        if setsockopt(self._fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) < 0:
            return self._failed("version", errno)
        memset(&req, 0, sizeof(req))
        req.tp_block_size = block_size
        req.tp_block_nr = block_nr
        req.tp_frame_size = frame_size
        req.tp_frame_nr = (block_size // frame_size) * block_nr
        req.tp_retire_blk_tov = retire_ms
        if setsockopt(self._fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0:
            return self._failed("ring", errno)
        mem = mmap(NULL, <size_t>block_size * block_nr, PROT_READ | PROT_WRITE, MAP_SHARED,
                   self._fd, 0)
        if mem == MAP_FAILED:
            return self._failed("mmap", errno)
        self._ring = <uint8_t *>mem
        self._ring_size = <size_t>block_size * block_nr
        self._block_size = block_size
        self._block_nr = block_nr
        memset(&sll, 0, sizeof(sll))
        sll.sll_family = AF_PACKET
        sll.sll_protocol = htons(ETH_P_ALL)
        sll.sll_ifindex = <int>self._ifindex
        if bind(self._fd, <sockaddr *>&sll, sizeof(sll)) < 0:
            return self._failed("bind", errno)
        if promisc:
            memset(&mreq, 0, sizeof(mreq))
            mreq.mr_ifindex = <int>self._ifindex
            mreq.mr_type = PACKET_MR_PROMISC
            if setsockopt(self._fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) < 0:
                return self._failed("promisc", errno)
        if fanout_arg >= 0:
            fanout = <uint32_t>fanout_arg
            if setsockopt(self._fd, SOL_PACKET, PACKET_FANOUT, &fanout, sizeof(fanout)) < 0:
                return self._failed("fanout", errno)
        return 0

    def join(self, int64_t fanout_arg, bytes bpf):
        """A started ring takes a new filter, then joins a fanout group
        (-1: none): how a spare handle opened with a filter that matches
        nothing starts capturing. Needs no privilege. Returns 0 or an errno
        (the socket stays open)."""
        cdef sock_fprog prog
        cdef uint32_t fanout
        prog.len = <unsigned short>(len(bpf) // sizeof(sock_filter))
        prog.filter = <sock_filter *><char *>bpf
        if setsockopt(self._fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0:
            self.failed_step = "filter"
            return errno
        if fanout_arg >= 0:
            fanout = <uint32_t>fanout_arg
            if setsockopt(self._fd, SOL_PACKET, PACKET_FANOUT, &fanout, sizeof(fanout)) < 0:
                self.failed_step = "fanout"
                return errno
        return 0

    cdef int _failed(self, str step, int err):
        """Record the failed step, close everything; the errno to return."""
        self.failed_step = step
        self._close_socket()
        self._unmap()
        return err if err != 0 else EINVAL

    @property
    def fd(self):
        return self._fd

    def fill(self, uint64_t[::1] offsets, uint32_t[::1] caplens, uint32_t[::1] wirelens,
             int64_t[::1] ts_us, uint16_t[::1] linktypes):
        """Give back the blocks the previous call read through, then write
        the descriptors of up to len(offsets) packets from user-owned
        blocks; return how many were written (0: none is ready)."""
        cdef Py_ssize_t cap = offsets.shape[0]
        cdef Py_ssize_t n = 0
        if (caplens.shape[0] < cap or wirelens.shape[0] < cap
                or ts_us.shape[0] < cap or linktypes.shape[0] < cap):
            raise ValueError("every descriptor array must be as long as offsets")
        if self._ring == NULL or cap == 0:
            return 0
        with nogil:
            self._release()
            n = self._fill(&offsets[0], &caplens[0], &wirelens[0], &ts_us[0], &linktypes[0],
                           cap)
        return n

    cdef inline tpacket_block_desc *_block(self, uint32_t i) noexcept nogil:
        return <tpacket_block_desc *>(self._ring + <size_t>i * self._block_size)

    cdef void _release(self) noexcept nogil:
        cdef uint32_t k
        for k in range(self._release_n):
            __atomic_store_n(&self._block((self._release_from + k) % self._block_nr)
                             .hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE)
        self._release_n = 0

    cdef Py_ssize_t _fill(self, uint64_t *offsets, uint32_t *caplens, uint32_t *wirelens,
                          int64_t *ts_us, uint16_t *linktypes, Py_ssize_t cap) noexcept nogil:
        cdef tpacket_block_desc *blk
        cdef const tpacket3_hdr *h
        cdef const sockaddr_ll *sll
        cdef Py_ssize_t n = 0
        cdef uint32_t num
        cdef size_t sll_off = TPACKET_ALIGN(sizeof(tpacket3_hdr))
        while n < cap:
            if self._release_n and self._cur_block == self._release_from:
                break                       # wrapped round to a block read in this call
            blk = self._block(self._cur_block)
            if not __atomic_load_n(&blk.hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER:
                break
            num = blk.hdr.bh1.num_pkts
            if self._cur_pkt == 0:
                self._cur_hdr = <const uint8_t *>blk + blk.hdr.bh1.offset_to_first_pkt
            while self._cur_pkt < num and n < cap:
                h = <const tpacket3_hdr *>self._cur_hdr
                sll = <const sockaddr_ll *>(self._cur_hdr + sll_off)
                if not (self._skip_outgoing and sll.sll_pkttype == PACKET_OUTGOING):
                    offsets[n] = <uint64_t>(self._cur_hdr - self._ring) + h.tp_mac
                    caplens[n] = h.tp_snaplen
                    wirelens[n] = h.tp_len
                    ts_us[n] = <int64_t>h.tp_sec * 1000000 + h.tp_nsec // 1000
                    linktypes[n] = self._linktype
                    if h.tp_status & TP_STATUS_VLAN_VALID:
                        self.vlan_stripped += 1
                    n += 1
                self._cur_pkt += 1
                self._cur_hdr += h.tp_next_offset
            if self._cur_pkt < num:
                break                       # the arrays are full mid-block
            # read through: the kernel gets it back at the next fill
            if self._release_n == 0:
                self._release_from = self._cur_block
            self._release_n += 1
            self._cur_block = (self._cur_block + 1) % self._block_nr
            self._cur_pkt = 0
        return n

    def wait(self, int timeout_ms):
        """Wait until the kernel hands a block over or ``timeout_ms``
        passes (GIL released); True when one may be ready."""
        cdef pollfd p
        cdef int rc
        if self._fd < 0:
            return False
        p.fd = self._fd
        p.events = POLLIN | POLLERR
        p.revents = 0
        with nogil:
            rc = poll(&p, 1, timeout_ms)
        return rc > 0

    def update_stats(self):
        """Add the kernel's counters since the last call (PACKET_STATISTICS
        resets them on every read) to kernel_packets, kernel_drops and
        kernel_freezes.  tp_packets counts the dropped packets too."""
        cdef tpacket_stats_v3 st
        cdef socklen_t size = sizeof(st)
        if self._fd < 0:
            return
        if getsockopt(self._fd, SOL_PACKET, PACKET_STATISTICS, &st, &size) == 0:
            self.kernel_packets += st.tp_packets
            self.kernel_drops += st.tp_drops
            self.kernel_freezes += st.tp_freeze_q_cnt

    def close(self):
        """Close the socket; the ring is unmapped once no buffer view of it
        is left (batches must not be used after close)."""
        self._close_socket()
        if self._exports == 0:
            self._unmap()

    cdef void _close_socket(self) noexcept:
        if self._fd >= 0:
            _afp_close(self._fd)
            self._fd = -1

    cdef void _unmap(self) noexcept:
        if self._ring != NULL:
            munmap(self._ring, self._ring_size)
            self._ring = NULL

    def __getbuffer__(self, Py_buffer *view, int flags):
        if self._ring == NULL or self._fd < 0:
            raise ValueError("the AF_PACKET ring is closed")
        if flags & PyBUF_WRITABLE:
            raise BufferError("the AF_PACKET ring is read-only")
        self._shape[0] = <Py_ssize_t>self._ring_size
        self._strides[0] = 1
        view.buf = self._ring
        view.obj = self
        view.len = <Py_ssize_t>self._ring_size
        view.readonly = 1
        view.itemsize = 1
        view.format = NULL
        if flags & PyBUF_FORMAT:
            view.format = "B"
        view.ndim = 1
        view.shape = self._shape
        view.strides = self._strides
        view.suboffsets = NULL
        view.internal = NULL
        self._exports += 1

    def __releasebuffer__(self, Py_buffer *view):
        self._exports -= 1
        if self._exports == 0 and self._fd < 0:
            self._unmap()
