"""systemd's notify protocol (``sd_notify``): READY=1, STATUS=..., STOPPING=1 over ``$NOTIFY_SOCKET``.

The socket is an ``AF_UNIX`` datagram socket; a name starting with ``@`` is in the abstract namespace. Without
``NOTIFY_SOCKET`` (not started by systemd with ``Type=notify``) every call is a no-op.
"""
from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("inferd.systemd")


def notify_address(environ: dict[str, str] | None = None) -> str | bytes | None:
    """The address to send to, from ``NOTIFY_SOCKET``; abstract names (``@name``) become a NUL-prefixed name."""
    path = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
    if not path:
        return None
    if path.startswith("@"):
        return b"\0" + path[1:].encode()
    if not path.startswith("/"):
        return None   # systemd only hands out absolute paths or abstract names; anything else is ignored
    return path


def notify(message: str, environ: dict[str, str] | None = None) -> bool:
    """Send one notification (e.g. ``READY=1``; several lines allowed); True when a datagram was sent."""
    address = notify_address(environ)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode(), address)
    except OSError as exc:
        log.warning("sd_notify to %s failed: %s", os.environ.get("NOTIFY_SOCKET"), exc)
        return False
    return True


def ready(status: str) -> bool:
    """The server is serving: listeners up, preloads finished."""
    return notify(f"READY=1\nSTATUS={status}\nMAINPID={os.getpid()}")


def status(text: str) -> bool:
    """A free-form status line shown by ``systemctl status``."""
    return notify(f"STATUS={text}")


def stopping() -> bool:
    """The server began its graceful shutdown."""
    return notify("STOPPING=1\nSTATUS=shutting down")
