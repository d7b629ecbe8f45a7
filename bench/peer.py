"""The benchmark's Python contender: the same workloads with the socket module.

Usage: python3 peer.py WORKLOAD PORT COUNT [SIZE]; prints the elapsed seconds, or for
"roundtrip" one line of per-iteration microseconds.
"""
import socket
import sys
import time

CHUNK = 64 * 1024


def main():
    workload, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    address = ("127.0.0.1", port)
    if workload == "receive":
        with socket.create_connection(address) as s:
            buf = bytearray(CHUNK)
            view = memoryview(buf)
            start, got = time.perf_counter(), 0
            while got < count:
                n = s.recv_into(view)
                if n == 0:
                    break
                got += n
            print(time.perf_counter() - start)
    elif workload == "send":
        with socket.create_connection(address) as s:
            chunk = b"x" * CHUNK
            start, sent = time.perf_counter(), 0
            while sent < count:
                s.sendall(chunk[: min(CHUNK, count - sent)])
                sent += min(CHUNK, count - sent)
            s.recv(1)
            print(time.perf_counter() - start)
    elif workload == "lines":
        with socket.create_connection(address) as s:
            f = s.makefile("rb")
            start = time.perf_counter()
            for _ in range(count):
                f.readline()
            print(time.perf_counter() - start)
    elif workload == "roundtrip":
        with socket.create_connection(address) as s:
            f = s.makefile("rb")
            times = []
            for _ in range(count):
                t = time.perf_counter()
                s.sendall(b"ping\n")
                f.readline()
                times.append((time.perf_counter() - t) * 1e6)
            print(" ".join(f"{t:.1f}" for t in times))
    elif workload == "connect":
        start = time.perf_counter()
        for _ in range(count):
            socket.create_connection(address).close()
        print(time.perf_counter() - start)
    elif workload == "lookup":
        start = time.perf_counter()
        for _ in range(count):
            socket.getaddrinfo("localhost", None, socket.AF_INET)
        print(time.perf_counter() - start)


main()
