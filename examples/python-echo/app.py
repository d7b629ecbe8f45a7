"""python-echo: Alore's sockets from Python, as a WebAssembly command.

    python-echo HOST PORT        send each line of stdin, print each reply line
    python-echo --listen PORT    accept one connection on 127.0.0.1:PORT, echo its lines

Built with componentize-py from the world in wit/world.wit; plug the alore-socket component
into it (wac plug, or `alore-socket run`) to run it. Every contract error arrives as the
exception componentize-py raises for an error result, `Err`, whose value is one of the
contract's three errors: it is printed as one line and the command exits with status 1.
"""

import sys

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import server_socket
from wit_world.imports import socket as alore

# How long a reply may take, in milliseconds, before the read fails with timed-out.
REPLY_TIMEOUT_MS = 5000


def describe(error) -> str:
    """One line for one of the contract's errors, as the Rust examples print them."""
    if isinstance(error, alore.Error_NameError):
        return f"NameError: {error.value}"
    if isinstance(error, alore.Error_ValueError):
        return f"ValueError: {error.value}"
    kind = error.value.kind.name.lower().replace("_", "-")
    return f"IoError ({kind}): {error.value.message}"


def client(host: str, port: int) -> None:
    # `connect`, not the constructor: componentize-py 0.25.1 cannot call a constructor that
    # returns a result.
    options = alore.ConnectOptions(alore.Buffering.LINE_BUFFERED, REPLY_TIMEOUT_MS)
    with alore.Socket.connect(host, port, options) as socket:
        socket.set_timeout(REPLY_TIMEOUT_MS)
        replies = []
        for line in sys.stdin.buffer.read().splitlines():
            socket.write_ln(line)
            replies.append(socket.read_ln())
        # One write for all of it: each print would be a host call of its own.
        sys.stdout.buffer.write(b"".join(reply + b"\n" for reply in replies))


def serve_one(port: int) -> None:
    with server_socket.ServerSocket.listen(port, "127.0.0.1") as server:
        with server.accept(alore.Buffering.LINE_BUFFERED) as socket:
            socket.set_timeout(REPLY_TIMEOUT_MS)
            while True:
                try:
                    line = socket.read_ln()
                except Err as e:
                    if isinstance(e.value, alore.Error_IoError) and (
                        e.value.value.kind == alore.IoErrorKind.END_OF_STREAM
                    ):
                        return
                    raise
                socket.write_ln(line)


class Run(exports.Run):
    def run(self) -> None:
        args = sys.argv[1:]
        try:
            if len(args) == 2 and args[0] == "--listen":
                serve_one(int(args[0 + 1]))
            elif len(args) == 2:
                client(args[0], int(args[1]))
            else:
                print("usage: python-echo HOST PORT | --listen PORT", file=sys.stderr)
                raise Err(None)
        except Err as e:
            if e.value is not None:
                print(f"python-echo: {describe(e.value)}", file=sys.stderr)
            raise Err(None)
