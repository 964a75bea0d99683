"""Live capture through an AF_PACKET TPACKET_V3 ring read by the core.

    handle = open_afpacket(LiveOptions("eth0", capture="afpacket"))  # CaptureError
    batch = handle.read(0.1)        # a Batch whose buf is the ring itself, or None

The same interface as engine.live.LiveHandle, for rates where libpcap's
copy of every packet is the bottleneck: the core's AfPacketRing
(engine/_afpacket.pxi) maps the kernel's ring and fills the batch arrays
with offsets into it, so no packet is copied and no Python object is made
per packet.  A batch stays valid until the next ``read``; only then are
its ring blocks given back to the kernel.

Ring geometry comes from the options: ``buffer_mb`` of ring in blocks big
enough for one ``snaplen`` packet, ``timeout_ms`` the block retire timeout
(the batching latency).  The snap length and the BPF filter are one
classic BPF program compiled by libpcap (pcapy-ng) and attached with
SO_ATTACH_FILTER, as libpcap does.  ``fanout_group`` joins a
PACKET_FANOUT_HASH group (with defragmentation), so that several handles
on one interface split the traffic by flow.
"""
from __future__ import annotations

import errno
import logging
import os
import struct
import tempfile
from dataclasses import dataclass

from .capture import Batch, batch_arrays
from .errors import CaptureError

__all__ = ["AfPacketHandle", "RingGeometry", "ring_geometry", "open_afpacket"]

log = logging.getLogger(__name__)

_MIN_BLOCK = 128 << 10          # a block holds many packets: fewer hand-overs
_MAX_BLOCK = 1 << 20            # smaller blocks: finer hand-over, less held by a batch
_FRAME_OVERHEAD = 128           # tpacket3_hdr + sockaddr_ll + alignment, rounded up
_PACKET_FANOUT_HASH = 0
_PACKET_FANOUT_FLAG_DEFRAG = 0x8000

# ARPHRD_* of the interface -> (LINKTYPE_* for the core, DLT_* for compiling
# the filter): SOCK_RAW gives the frame as the device's header_ops build it
_LINK_TYPES = {
    1: (1, 1),          # ARPHRD_ETHER: Ethernet
    772: (1, 1),        # ARPHRD_LOOPBACK: Ethernet with zero addresses
    0xFFFE: (101, 12),  # ARPHRD_NONE (tun, wireguard): raw IP
}


@dataclass(frozen=True)
class RingGeometry:
    block_size: int     # bytes, a power of two, a multiple of the page size
    block_nr: int
    frame_size: int     # TPACKET_V3 packs packets; the kernel checks only its arithmetic

    @property
    def size(self) -> int:
        return self.block_size * self.block_nr


def ring_geometry(buffer_mb: int, snaplen: int) -> RingGeometry:
    """``buffer_mb`` MiB of blocks: 128 KiB, doubled up to 1 MiB while the
    buffer still holds sixteen, and doubled further until one packet of
    ``snaplen`` bytes fits."""
    total = buffer_mb << 20
    block = _MIN_BLOCK
    while block < _MAX_BLOCK and block * 16 <= total:
        block <<= 1
    while block < snaplen + _FRAME_OVERHEAD:
        block <<= 1
    frame = min(block, 1 << max(11, (snaplen + _FRAME_OVERHEAD - 1).bit_length()))
    return RingGeometry(block, max(1, total // block), frame)


def _compile_filter(expr: str | None, dlt: int, snaplen: int) -> bytes:
    """The filter as struct sock_filter instructions. With no expression it
    still cuts packets to ``snaplen``, which is how AF_PACKET snaps."""
    import pcapy

    if expr:
        _check_filter(expr, dlt)
    program = pcapy.compile(dlt, snaplen, expr or "", 1, 0)
    return b"".join(struct.pack("=HBBI", *insn) for insn in program.get_bpf())


def _check_filter(expr: str, dlt: int) -> None:
    """Raise CaptureError when libpcap refuses ``expr``. pcapy.compile() reads
    libpcap's error text after freeing it (AddressSanitizer sees it), so
    the expression is tried first on a savefile handle of the same link
    type, whose setfilter() reports errors safely."""
    import pcapy

    with tempfile.NamedTemporaryFile(suffix=".pcap") as header:
        header.write(struct.pack("=IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, dlt))
        header.flush()
        handle = pcapy.open_offline(header.name)
        try:
            handle.setfilter(expr)
        except pcapy.PcapError as exc:
            raise CaptureError(f"The BPF filter {expr!r} is not valid: {exc}.") from exc
        finally:
            handle.close()


class AfPacketHandle:
    """An AF_PACKET socket on one interface and the batches read from its ring."""

    def __init__(self, options):
        from ._core import AfPacketRing

        self.options = options
        self.interface = options.interface
        self.geometry = ring_geometry(options.buffer_mb, options.snaplen)
        available = _mem_available()
        if available is not None and self.geometry.size > available // 2:
            # the kernel would try to pin it all, and the OOM killer ends the process
            raise CaptureError(
                f"The AF_PACKET ring of {self.geometry.size >> 20} MiB for interface "
                f"{self.interface} is more than half the memory available "
                f"({available >> 20} MiB): lower --buffer-mb (now {options.buffer_mb}).")
        self.packets_read = 0
        self._vlan_warned = False
        self._ring = AfPacketRing()
        self.linktype = self._open()
        self._arrays = batch_arrays(options.batch_size)
        self._ifdrops_at_open = _rx_dropped(self.interface)

    def _open(self) -> int:
        """Open the socket, compile the filter for the interface's link type,
        start the ring; the LINKTYPE_* value of its packets."""
        opts, geo, ring = self.options, self.geometry, self._ring
        rc = ring.open(self.interface.encode())
        if rc:
            raise CaptureError(self._open_error(ring.failed_step, rc))
        if ring.arphrd not in _LINK_TYPES:
            ring.close()
            raise CaptureError(
                f"Interface {self.interface} has link type ARPHRD {ring.arphrd}, which "
                f"--capture afpacket does not decode; use --capture pcap.")
        linktype, dlt = _LINK_TYPES[ring.arphrd]
        try:
            bpf = _compile_filter(opts.bpf, dlt, opts.snaplen)
        except CaptureError:
            ring.close()
            raise
        rc = ring.start(geo.block_size, geo.block_nr, geo.frame_size, opts.timeout_ms,
                        opts.promisc, _fanout_arg(opts), bpf, linktype)
        if rc:
            raise CaptureError(self._open_error(ring.failed_step, rc))
        self._dlt = dlt
        return linktype

    def join(self, options) -> None:
        """Start capturing as ``options`` says: a spare handle (opened by
        live.open_spare with a filter that matches nothing, outside any
        fanout group) takes its real filter, then its group. Needs no
        privilege, so a worker restarted after --user can do it."""
        bpf = _compile_filter(options.bpf, self._dlt, options.snaplen)
        rc = self._ring.join(_fanout_arg(options), bpf)
        if rc:
            raise CaptureError(self._open_error(self._ring.failed_step, rc))
        self.options = options

    def _open_error(self, step: str, err: int) -> str:
        iface, opts = self.interface, self.options
        if err in (errno.EPERM, errno.EACCES) and step in ("socket", "promisc"):
            need = "CAP_NET_RAW" if step == "socket" else "CAP_NET_ADMIN"
            return (f"No permission to capture on interface {iface}: run exfilwatch as root or "
                    f"give it the {need} capability.")
        if step == "interface" and err in (errno.ENODEV, errno.ENXIO):
            return f"Interface {iface} does not exist."
        if step == "down":
            return f"Interface {iface} is down; bring it up before capturing on it."
        if err == errno.ENOMEM and step in ("ring", "mmap"):
            return (f"The AF_PACKET ring of {self.geometry.size >> 20} MiB for interface {iface} "
                    f"is too large for the memory available: lower --buffer-mb "
                    f"(now {opts.buffer_mb}).")
        if step == "fanout":
            return (f"Cannot join fanout group {opts.fanout_group} on interface {iface}: "
                    f"{os.strerror(err)} (the group id is in use with other settings, "
                    f"or on another interface).")
        return f"Cannot capture on interface {iface} with AF_PACKET ({step}): {os.strerror(err)}."

    def read(self, wait_s: float):
        """The next batch, or None when nothing came within ``wait_s``.
        A batch is valid until the next call."""
        offsets, caplens, wirelens, ts_us, linktypes = self._arrays
        n = self._ring.fill(offsets, caplens, wirelens, ts_us, linktypes)
        if n == 0:
            if not self._ring.wait(int(wait_s * 1000)):
                return None
            n = self._ring.fill(offsets, caplens, wirelens, ts_us, linktypes)
            if n == 0:
                return None
        self.packets_read += n
        return Batch(self._ring, offsets[:n], caplens[:n], wirelens[:n], ts_us[:n],
                     linktypes[:n], n)

    def kernel_stats(self) -> dict:
        """The kernel's counters since the handle opened: packets received
        (that passed the filter, dropped ones included, as libpcap counts),
        dropped for want of ring space, dropped by the interface; and how
        often the ring was full."""
        ring = self._ring
        ring.update_stats()
        if ring.vlan_stripped and not self._vlan_warned:
            self._vlan_warned = True
            log.warning("Interface %s hands VLAN tags over outside the frame (VLAN offload); "
                        "--capture afpacket keys those flows without their VLAN id: turn the "
                        "offload off (ethtool -K %s rxvlan off) or use --capture pcap.",
                        self.interface, self.interface)
        return {"kernel_packets": ring.kernel_packets, "kernel_drops": ring.kernel_drops,
                "kernel_ifdrops": max(0, _rx_dropped(self.interface) - self._ifdrops_at_open),
                "kernel_ring_full": ring.kernel_freezes}

    def close(self) -> None:
        self._ring.close()


def _fanout_arg(options) -> int:
    """PACKET_FANOUT's argument for the handle's group, or -1 for none."""
    if options.fanout_group is None:
        return -1
    return options.fanout_group | (_PACKET_FANOUT_HASH | _PACKET_FANOUT_FLAG_DEFRAG) << 16


def _rx_dropped(iface: str) -> int:
    """The interface's rx_dropped counter, as libpcap reads it for ps_ifdrop
    (0 when sysfs does not show the interface, e.g. from another namespace)."""
    try:
        with open(f"/sys/class/net/{iface}/statistics/rx_dropped", encoding="ascii") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return 0


def _mem_available() -> int | None:
    """Bytes of memory the kernel says can be allocated (None if unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) << 10
    except (OSError, ValueError, IndexError):
        pass
    return None


def open_afpacket(options) -> AfPacketHandle:
    """Open an AF_PACKET ring on ``options.interface``. Raises CaptureError
    with a sentence naming the interface, the filter or the option at fault."""
    return AfPacketHandle(options)
