#!/usr/bin/env bash
# Captures the DNS fuzz seeds (fuzz/corpus/dns/) from real clients: dig and
# kdig queries of every kind Fulcrum answers, sent to a listener on loopback
# that only records them. No root needed.
#   bash fuzz/capture-dns-corpus.sh
set -euo pipefail
cd "$(dirname "$0")"
out=corpus/dns
mkdir -p "$out"
port=15399
key="hmac-sha256:xfr:ZnVsY3J1bS10ZXN0LWtleS1mb3ItdHNpZy0zMmJ5dGVz"
capture() { # NAME CLIENT ARGS...
  local name=$1; shift
  python3 - "$out/$name" "$port" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[2])))
s.settimeout(5)
d, _ = s.recvfrom(65535)
open(sys.argv[1], "wb").write(d)
PY
  local py=$!
  sleep 0.3
  "$@" >/dev/null 2>&1 || true
  wait "$py" || true
}
d=(dig +tries=1 +time=1 @127.0.0.1 -p $port)
k=(kdig +retry=0 +timeout=1 @127.0.0.1 -p $port)
capture a "${d[@]}" a.t.test A
capture aaaa "${d[@]}" a.t.test AAAA
capture ptr4 "${d[@]}" -x 10.9.0.10
capture ptr6 "${d[@]}" -x fd00::1
capture soa-noedns "${d[@]}" +noedns t.test SOA
capture any "${d[@]}" t.test ANY
capture txt-dnssec "${d[@]}" +dnssec missing.t.test TXT
capture ns "${d[@]}" t.test NS
capture tsig-soa "${d[@]}" -y "$key" t.test SOA
capture ixfr "${d[@]}" +notcp t.test IXFR=5
capture kdig-mx "${k[@]}" t.test MX
capture kdig-srv "${k[@]}" +nsid +subnet=10.9.0.0/24 _http._tcp.t.test SRV
capture outside "${d[@]}" example.org A
ls -l "$out"
