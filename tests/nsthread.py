"""Run a function inside one of the test's network namespaces, in-process.

    handle = call_in_namespace(net.client_ns, open_interface, options)

A network namespace is per thread: a short-lived thread joins the
namespace (setns), runs the function and ends.  Sockets it opened stay in
that namespace and can be used from any thread afterwards, so a test can
capture on, or send from, a veth end that only exists inside the
namespaces it created (tests/netns.py).
"""
import ctypes
import os
import threading

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def call_in_namespace(ns: str, fn, *args, **kwargs):
    outcome = {}

    def run():
        try:
            fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns into network namespace {ns}: {os.strerror(err)}")
            finally:
                os.close(fd)
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as exc:        # re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name=f"netns-{ns}")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
