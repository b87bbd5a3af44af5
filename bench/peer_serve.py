"""The peer's uvicorn workers, each on its own listening socket of one port (SO_REUSEPORT).

``python bench/peer_serve.py PORT WORKERS APP LOOP HTTP`` binds WORKERS sockets to 127.0.0.1:PORT with
SO_REUSEPORT, starts one uvicorn process per socket (event loop LOOP, HTTP parser HTTP, no access log) and waits;
SIGTERM stops them all. The kernel spreads new connections over the sockets by a hash of their addresses. With
uvicorn's own ``--workers`` every worker accepts from one shared socket, and the benchmark's clients, which connect
all at once, were sometimes all taken by one worker: the peer then ran on one core (~3.8k inferences/s at 16
clients instead of ~6.2k).
"""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
from types import FrameType


def listening_socket(port: int) -> socket.socket:
    """A socket bound to 127.0.0.1:``port`` that other sockets of this user may bind too, listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def serve(fd: int, app: str, loop: str, http: str) -> None:
    """One worker: uvicorn serving ``app`` on the listening socket ``fd``.

    The socket goes to uvicorn as a socket object, known as TCP, so that its connections get TCP_NODELAY
    (``uvicorn --fd`` takes any descriptor for a Unix socket, and replies then wait for delayed ACKs).
    """
    import uvicorn
    sock = socket.socket(fileno=fd)
    config = uvicorn.Config(app, loop=loop, http=http, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def main(argv: list[str]) -> int:
    """``PORT WORKERS APP LOOP HTTP``: start the workers and wait for them; ``--serve FD APP LOOP HTTP``: one worker."""
    if argv[0] == "--serve":
        serve(int(argv[1]), *argv[2:5])
        return 0
    port, workers, app, loop, http = int(argv[0]), int(argv[1]), argv[2], argv[3], argv[4]
    sockets = [listening_socket(port) for _ in range(workers)]
    children = [subprocess.Popen([sys.executable, __file__, "--serve", str(sock.fileno()), app, loop, http],
                                 pass_fds=[sock.fileno()]) for sock in sockets]
    for sock in sockets:
        sock.close()   # the workers hold their own copies

    def stop(_signum: int, _frame: FrameType | None) -> None:
        for child in children:
            child.terminate()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return max(child.wait() for child in children)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
