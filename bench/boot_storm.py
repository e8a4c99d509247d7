#!/usr/bin/env python3
"""A boot storm: N machines power on at once; each reads a loader over TFTP
and then a larger file over HTTP, as iPXE does after its loader. Python
stdlib only (asyncio). Prints one JSON line: clients, failed, the time
until the last client was done, and per-client percentiles.

    boot_storm.py --tftp HOST:PORT --tftp-file NAME --tftp-size BYTES
                  --http URL --http-size BYTES [--clients 1000]
                  [--windowsize 16] [--timeout 120]

A TFTP client asks for blksize 1468 (and windowsize when > 1), ACKs each
window, re-ACKs after 1 s of silence and gives up after 10 silent
seconds; a client fails when either file is short, or it times out.
"""

import argparse
import asyncio
import json
import resource
import struct
import time

BLKSIZE = 1468


class Tftp(asyncio.DatagramProtocol):
    def __init__(self, window, size, done):
        self.window, self.size, self.done = window, size, done
        self.got, self.last = 0, 0  # bytes, last block in order
        self.blksize = 512  # RFC 1350's, until an OACK grants another
        self.heard = time.monotonic()
        self.peer = None
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def ack(self, block):
        self.transport.sendto(struct.pack("!HH", 4, block & 0xFFFF), self.peer)

    def datagram_received(self, data, addr):
        if self.done.done() or len(data) < 4:
            return
        self.heard = time.monotonic()
        self.peer = addr  # the server's transfer port (TID)
        op = struct.unpack("!H", data[:2])[0]
        if op == 6:  # OACK: the window is what the server granted (none: 1)
            opts = data[2:].split(b"\0")
            granted = dict(zip(opts[0::2], opts[1::2]))
            self.window = int(granted.get(b"windowsize", b"1") or 1)
            self.blksize = int(granted.get(b"blksize", b"512") or 512)
            self.ack(0)
        elif op == 3:  # DATA
            block = struct.unpack("!H", data[2:4])[0]
            if block == (self.last + 1) & 0xFFFF:
                self.last += 1
                self.got += len(data) - 4
                final = len(data) - 4 < self.blksize
                if final or self.last % self.window == 0:
                    self.ack(self.last)
                if final:
                    self.done.set_result(self.got)
            else:
                self.ack(self.last)  # a gap: say where we are
        elif op == 5:  # ERROR
            self.done.set_result(-1)


async def tftp_get(server, name, window, size):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    transport, proto = await loop.create_datagram_endpoint(
        lambda: Tftp(window, size, done), local_addr=("127.0.0.1", 0)
    )
    try:
        opts = [b"blksize", str(BLKSIZE).encode(), b"tsize", b"0"]
        if window > 1:
            opts += [b"windowsize", str(window).encode()]
        rrq = struct.pack("!H", 1) + b"\0".join([name.encode(), b"octet"] + opts) + b"\0"
        transport.sendto(rrq, server)
        while not done.done():
            try:
                await asyncio.wait_for(asyncio.shield(done), 1.0)
            except asyncio.TimeoutError:
                if time.monotonic() - proto.heard > 10:
                    return -1
                if proto.peer is None:
                    transport.sendto(rrq, server)
                else:
                    proto.ack(proto.last)
        return done.result()
    finally:
        transport.close()


async def http_get(host, port, path):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            return -1
        got = 0
        while True:
            chunk = await reader.read(1 << 20)
            if not chunk:
                return got
            got += len(chunk)
    finally:
        writer.close()


async def machine(args, tftp, http, start):
    await start.wait()
    t0 = time.monotonic()
    try:
        n = await tftp_get(tftp, args.tftp_file, args.windowsize, args.tftp_size)
        if n != args.tftp_size:
            return None, "tftp"
        n = await http_get(*http)
        if n != args.http_size:
            return None, "http"
        return time.monotonic() - t0, None
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
        return None, type(e).__name__


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tftp", required=True)
    p.add_argument("--tftp-file", required=True)
    p.add_argument("--tftp-size", type=int, required=True)
    p.add_argument("--http", required=True)
    p.add_argument("--http-size", type=int, required=True)
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--windowsize", type=int, default=16)
    p.add_argument("--timeout", type=float, default=120)
    args = p.parse_args()
    # A UDP socket and a TCP connection per machine.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(4096, 3 * args.clients)), hard))
    host, port = args.tftp.rsplit(":", 1)
    tftp = (host, int(port))
    rest = args.http.split("://", 1)[1]
    hostport, path = rest.split("/", 1)
    hhost, hport = hostport.rsplit(":", 1)
    http = (hhost, int(hport), "/" + path)
    start = asyncio.Event()
    tasks = [asyncio.create_task(machine(args, tftp, http, start)) for _ in range(args.clients)]
    t0 = time.monotonic()
    start.set()
    done, pending = await asyncio.wait(tasks, timeout=args.timeout)
    for t in pending:
        t.cancel()
    wall = time.monotonic() - t0
    results = [t.result() for t in done]
    times = sorted(r[0] for r in results if r[0] is not None)
    why = {}
    for _, w in results:
        if w:
            why[w] = why.get(w, 0) + 1
    if pending:
        why["timeout"] = len(pending)
    pct = lambda q: round(times[min(len(times) - 1, int(q * len(times)))], 2) if times else None
    print(json.dumps({
        "clients": args.clients, "served": len(times), "failed": args.clients - len(times), "why": why,
        "seconds": round(wall, 2), "p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0),
    }))


if __name__ == "__main__":
    asyncio.run(main())
