#!/usr/bin/env python3
"""Writes the payloads sent to a Fulcrum server in a pcap (Ethernet, IPv4)
as fuzz seeds: UDP to port 67 -> dhcp4/, UDP to port 69 -> tftp/, HTTP
requests to TCP port 80 -> boot_http/ (the boot_http target's format: a
peer byte, the request target, "\\n", the Host header). One file per
distinct payload, named by its SHA-1 as libFuzzer does.

    python3 fuzz/pcap-seeds.py capture.pcap fuzz/corpus
"""

import hashlib
import os
import struct
import sys


def packets(path):
    with open(path, "rb") as f:
        head = f.read(24)
        magic = struct.unpack("<I", head[:4])[0]
        endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            _, _, incl, _ = struct.unpack(endian + "IIII", rec)
            yield f.read(incl)


def payloads(frame):
    """(protocol, destination port, payload) of an IPv4 UDP or TCP frame."""
    if len(frame) < 14 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack(">H", ip[2:4])[0]
    proto = ip[9]
    body = ip[ihl:total]
    if proto == 17 and len(body) >= 8:
        return "udp", struct.unpack(">H", body[2:4])[0], body[8:]
    if proto == 6 and len(body) >= 20:
        off = (body[12] >> 4) * 4
        return "tcp", struct.unpack(">H", body[2:4])[0], body[off:]
    return None


def http_seed(req):
    """The boot_http seed of one HTTP request, or None."""
    head = req.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    parts = head[0].split(b" ")
    if len(parts) != 3 or parts[0] != b"GET":
        return None
    host = next((h.split(b":", 1)[1].strip() for h in head[1:] if h.lower().startswith(b"host:")), None)
    seed = b"\x00" + parts[1]
    return seed + b"\n" + host if host is not None else seed


def main():
    pcap, out = sys.argv[1], sys.argv[2]
    counts = {}
    for frame in packets(pcap):
        p = payloads(frame)
        if p is None or not p[2]:
            continue
        proto, port, data = p
        if proto == "udp" and port == 67:
            target = "dhcp4"
        elif proto == "udp" and port == 69:
            target = "tftp"
        elif proto == "tcp" and port == 80 and data.startswith(b"GET "):
            target, data = "boot_http", http_seed(data)
            if data is None:
                continue
        else:
            continue
        os.makedirs(os.path.join(out, target), exist_ok=True)
        name = os.path.join(out, target, hashlib.sha1(data).hexdigest())
        if not os.path.exists(name):
            with open(name, "wb") as f:
                f.write(data)
            counts[target] = counts.get(target, 0) + 1
    for target, n in sorted(counts.items()):
        print(f"pcap-seeds: {n} new {target} seeds")
    if not counts:
        sys.exit("pcap-seeds: no seeds in the capture")


if __name__ == "__main__":
    main()
