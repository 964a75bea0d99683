"""Dropping root after the capture handles are open (`exfilwatch live --user`).

Opening an AF_PACKET socket needs CAP_NET_RAW (CAP_NET_ADMIN for
promiscuous mode); reading an open one needs nothing. So the sensor opens
its handles as root, then becomes an unprivileged user for the months it
runs: supplementary groups, group, then user (in that order: once the
user is set, the groups can no longer be changed).

Before dropping, the directories the sensor will write (output, state) are
checked as that user, so that the problem is named now rather than as a
permission error later.
"""
from __future__ import annotations

import grp
import logging
import os
import pwd
from dataclasses import dataclass

from .errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    name: str
    uid: int
    gid: int
    groups: tuple


def lookup_user(name: str) -> Identity:
    """The user's ids; ConfigError naming the user when there is none, or
    when this process cannot become it (not started as root)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ConfigError(f"--user {name}: there is no such user on this host.") from None
    if os.geteuid() != 0 and os.geteuid() != entry.pw_uid:
        raise ConfigError(f"--user {name}: exfilwatch must start as root to switch to another "
                          f"user (it runs as uid {os.geteuid()}).")
    return Identity(name, entry.pw_uid, entry.pw_gid,
                    tuple(os.getgrouplist(name, entry.pw_gid)))


def check_writable(identity: Identity, directories: dict) -> None:
    """ConfigError naming the first directory (``{option: path}``), or file
    or directory below it, the user cannot write to. A missing directory is
    created for the user (as `mkdir -p` then chown would), an existing one is
    tested as the user in a short-lived child process, so that modes, ACLs
    and every parent directory count as they will."""
    for option, path in directories.items():
        if path is None:
            continue
        path = os.path.abspath(path)
        if not os.path.exists(path):
            os.makedirs(path)
            os.chown(path, identity.uid, identity.gid)
            log.info("Created %s for user %s.", path, identity.name)
        # everything below it too: eve.json and its rotations, spools, the baseline
        targets = [os.path.join(top, name) for top, dirs, files in os.walk(path)
                   for name in dirs + files]
        blocked = _not_writable_as(identity, [path] + targets)
        if blocked:
            group = grp.getgrgid(identity.gid).gr_name
            raise ConfigError(
                f"{option} {path}: user {identity.name} cannot write to {blocked}; "
                f"give it to that user (chown -R {identity.name}:{group} {path}) "
                f"or run without --user.")


def _not_writable_as(identity: Identity, paths: list) -> str | None:
    """The first of ``paths`` the user cannot write to, or None."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                               # the child: become the user, then ask
        try:
            os.close(read_end)
            _become(identity)
            blocked = next((p for p in paths if not os.access(
                p, os.W_OK | (os.X_OK if os.path.isdir(p) else 0))), "")
            os.write(write_end, blocked.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        answer = fh.read().decode()
    os.waitpid(pid, 0)
    return answer or None


def drop_privileges(identity: Identity) -> None:
    """Become the user for good (no way back to root afterwards)."""
    _become(identity)
    if os.getuid() != identity.uid or os.geteuid() != identity.uid:
        raise RuntimeError(f"setuid to {identity.name} did not take effect")
    log.info("Running as user %s (uid %d, gid %d).", identity.name, identity.uid, identity.gid)


def _become(identity: Identity) -> None:
    os.setgroups(list(identity.groups))
    os.setgid(identity.gid)
    os.setuid(identity.uid)
