"""python-p3: Alore's sockets from Python's asyncio, as a WASI 0.3 command.

    python-p3 PORT [PORT ...]    read every line from each 127.0.0.1:PORT at once, and print
                                 how many lines each sent and its last line

Built with componentize-py 0.25.1 from the world in wit/world.wit, which imports the WASI 0.3
edition's contract (alore:socket@0.2.0): its async functions are coroutines here, so one
`asyncio.gather` waits on every connection at once, in one instance. Plug the alore-socket
component into it (wac plug, or `alore-socket run`) to run it. A contract error arrives as
`Err`, whose value is one of the contract's three errors: it is printed as one line and the
command exits with status 1.
"""

import asyncio
import sys

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import socket as alore

# How long a connection may take, and each wait for a line, in milliseconds.
TIMEOUT_MS = 10000


def describe(error) -> str:
    """One line for one of the contract's errors, as the Rust examples print them."""
    if isinstance(error, alore.Error_NameError):
        return f"NameError: {error.value}"
    if isinstance(error, alore.Error_ValueError):
        return f"ValueError: {error.value}"
    kind = error.value.kind.name.lower().replace("_", "-")
    return f"IoError ({kind}): {error.value.message}"


async def fetch(port: int) -> str:
    options = alore.ConnectOptions(alore.Buffering.BUFFERED, TIMEOUT_MS)
    socket = await alore.Socket.connect("127.0.0.1", port, options)
    await socket.set_timeout(TIMEOUT_MS)
    # Every line to the end of the stream; read-lines closes the socket.
    lines = await socket.read_lines()
    last = lines[-1].decode(errors="replace") if lines else ""
    return f"{port}: {len(lines)} lines, the last {last!r}\n"


class Run(exports.Run):
    async def run(self) -> None:
        ports = [int(arg) for arg in sys.argv[1:]]
        try:
            results = await asyncio.gather(*(fetch(port) for port in ports))
        except Err as e:
            print(describe(e.value), file=sys.stderr)
            raise Err(None)
        # One write for all of it: each print would be a host call of its own.
        sys.stdout.write("".join(results))
