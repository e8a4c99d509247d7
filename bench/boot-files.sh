#!/usr/bin/env bash
# Boot-file delivery: Fulcrum against tftpd-hpa (TFTP) and nginx (HTTP), in
# the same run, on loopback, each server pinned to CPU 0 and the client to
# CPU 1, runs alternating between the servers.
#
#   sudo bash bench/boot-files.sh [--fulcrum target/release/fulcrum] [--runs 3]
#                                 [--tftp-mib 64] [--http-mib 256] [--windowsize 16]
#                                 [--storm 1000]
#
# (a) TFTP: one file of --tftp-mib MiB read with atftp at blksize 1468:
#     Fulcrum with windowsize (RFC 7440, --windowsize), Fulcrum without it,
#     and tftpd-hpa (which has no windowsize: the client falls back to one
#     block per ACK). Every copy is compared with the original.
# (b) A boot storm (bench/boot_storm.py): --storm machines at once, each
#     reading a 1 MiB loader over TFTP and then 8 MiB over HTTP: Fulcrum
#     for both, against tftpd-hpa + nginx. Failed machines, the time until
#     the last was served, per-machine p50/p99.
# (c) HTTP: one file of --http-mib MiB read with curl from Fulcrum's
#     /boot/files/ and from nginx (sendfile on, access log off).
# Prints MB/s per run, the medians and the ratios. Installs tftpd-hpa,
# nginx-light and atftp when missing (their services are not started).
set -euo pipefail
cd "$(dirname "$0")/.."
FULCRUM=target/release/fulcrum
RUNS=3
TFTP_MIB=64
HTTP_MIB=256
WINDOW=16
STORM=1000
while (($#)); do
  case $1 in
    --fulcrum) FULCRUM=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --tftp-mib) TFTP_MIB=$2; shift 2 ;;
    --http-mib) HTTP_MIB=$2; shift 2 ;;
    --windowsize) WINDOW=$2; shift 2 ;;
    --storm) STORM=$2; shift 2 ;;
    *) echo "boot-files: unknown argument $1" >&2; exit 2 ;;
  esac
done
need=()
command -v in.tftpd >/dev/null || need+=(tftpd-hpa)
command -v nginx >/dev/null || need+=(nginx-light)
command -v atftp >/dev/null || need+=(atftp)
for t in curl python3 taskset cmp; do command -v "$t" >/dev/null || { echo "boot-files: missing $t" >&2; exit 1; }; done
if ((${#need[@]})); then
  echo "boot-files: installing ${need[*]}" >&2
  # Installed, never started: the benchmark runs its own on loopback.
  policy=/usr/sbin/policy-rc.d
  [[ -e $policy ]] || { printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && trap 'rm -f "$policy"' EXIT; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  rm -f "$policy"
fi
[[ -x $FULCRUM ]] || { echo "boot-files: build $FULCRUM first (cargo build --release)" >&2; exit 1; }

W=$(mktemp -d)
chmod 0755 "$W" # nginx's workers read the files as nobody
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
uport() { python3 -c 'import socket; s=socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$W/tftp" "$W/files" "$W/out"
head -c $((TFTP_MIB << 20)) /dev/urandom > "$W/tftp/big.bin"
head -c $((HTTP_MIB << 20)) /dev/urandom > "$W/files/big.bin"
head -c $((1 << 20)) /dev/urandom > "$W/tftp/loader.efi"
head -c $((8 << 20)) /dev/urandom > "$W/files/kernel.img"
chmod 0644 "$W/tftp/big.bin" "$W/files/big.bin" "$W/tftp/loader.efi" "$W/files/kernel.img"

# Fulcrum: TFTP and the boot routes only.
HP=$(port); AP=$(port); FT=$(uport); HT=$(uport); NP=$(port)
cat > "$W/fulcrum.toml" <<TOML
data_dir = "$W/fdata"
[http]
listen = "127.0.0.1:$HP"
[api]
listen = "127.0.0.1:$AP"
tls = false
[dhcp]
enabled = false
[dns]
enabled = false
[engine]
annealer = false
[tftp]
listen = "127.0.0.1:$FT"
root = "$W/tftp"
max_windowsize = $WINDOW
[boot]
files_dir = "$W/files"
TOML
FULCRUM_LOG=warn taskset -c 0 "$FULCRUM" serve --config "$W/fulcrum.toml" > "$W/fulcrum.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$AP/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$AP/healthz" >/dev/null || { cat "$W/fulcrum.log" >&2; exit 1; }

# tftpd-hpa: foreground, its own address, the same blksize cap.
taskset -c 0 in.tftpd --foreground --address "127.0.0.1:$HT" --blocksize 1468 --secure "$W/tftp" \
  > "$W/tftpd.log" 2>&1 &
PIDS+=($!)

# nginx: one worker, sendfile, no access log, everything in $W.
mkdir -p "$W/nginx"
cat > "$W/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $W/nginx/body;
  proxy_temp_path $W/nginx/proxy;
  fastcgi_temp_path $W/nginx/fastcgi;
  uwsgi_temp_path $W/nginx/uwsgi;
  scgi_temp_path $W/nginx/scgi;
  server { listen 127.0.0.1:$NP; root $W/files; }
}
CONF
taskset -c 0 nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" > "$W/nginx/stdout.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$NP/big.bin" && break; sleep 0.1; done

mbps() { python3 -c "import sys; print(f'{$1 / 1e6 / $2:.1f}')"; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

tftp_once() { # PORT WINDOW -> MB/s (fails when the copy differs)
  local out=$W/out/tftp.bin opts=(--option "blksize 1468" --option "tsize 0") t0 t1
  [[ $2 -gt 1 ]] && opts+=(--option "windowsize $2")
  rm -f "$out"
  t0=$(date +%s.%N)
  timeout 300 taskset -c 1 atftp "${opts[@]}" -g -r big.bin -l "$out" 127.0.0.1 "$1" >/dev/null 2>&1
  t1=$(date +%s.%N)
  cmp -s "$out" "$W/tftp/big.bin" || { echo "boot-files: the TFTP copy from port $1 differs" >&2; return 1; }
  mbps "$(stat -c %s "$out")" "$(python3 -c "print($t1 - $t0)")"
}

http_once() { # URL -> MB/s
  local speed
  speed=$(timeout 300 taskset -c 1 curl -sf -o /dev/null -w '%{speed_download}' "$1")
  python3 -c "print(f'{$speed / 1e6:.1f}')"
}

declare -a FW FN HPA FH NG
echo "# (a) TFTP ${TFTP_MIB} MiB, blksize 1468 (atftp), runs alternate"
for r in $(seq "$RUNS"); do
  FW+=("$(tftp_once "$FT" "$WINDOW")")
  FN+=("$(tftp_once "$FT" 1)")
  HPA+=("$(tftp_once "$HT" "$WINDOW")")
  echo "run $r: fulcrum windowsize $WINDOW ${FW[-1]} MB/s, fulcrum no windowsize ${FN[-1]} MB/s, tftpd-hpa ${HPA[-1]} MB/s"
done
echo "# (c) HTTP ${HTTP_MIB} MiB (curl), runs alternate"
for r in $(seq "$RUNS"); do
  FH+=("$(http_once "http://127.0.0.1:$HP/boot/files/big.bin")")
  NG+=("$(http_once "http://127.0.0.1:$NP/big.bin")")
  echo "run $r: fulcrum ${FH[-1]} MB/s, nginx ${NG[-1]} MB/s"
done
echo "# (b) boot storm: $STORM machines, 1 MiB over TFTP then 8 MiB over HTTP"
storm() { # TFTP_PORT HTTP_URL
  timeout 600 taskset -c 1 python3 bench/boot_storm.py --clients "$STORM" --windowsize "$WINDOW" \
    --tftp "127.0.0.1:$1" --tftp-file loader.efi --tftp-size $((1 << 20)) \
    --http "$2" --http-size $((8 << 20)) --timeout 300
}
echo "fulcrum:             $(storm "$FT" "http://127.0.0.1:$HP/boot/files/kernel.img")"
echo "tftpd-hpa + nginx:   $(storm "$HT" "http://127.0.0.1:$NP/kernel.img")"
fw=$(median "${FW[@]}"); fn=$(median "${FN[@]}"); hpa=$(median "${HPA[@]}"); fh=$(median "${FH[@]}"); ng=$(median "${NG[@]}")
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
echo "# medians"
echo "tftp: fulcrum windowsize $WINDOW $fw MB/s, no windowsize $fn MB/s, tftpd-hpa $hpa MB/s: $(ratio "$fw" "$hpa")x tftpd-hpa (goal 5x)"
echo "http: fulcrum $fh MB/s, nginx $ng MB/s: $(ratio "$fh" "$ng")x nginx (goal 0.9x)"
echo "fulcrum peak RSS: $(awk '/VmHWM/ {print $2, $3}' "/proc/${PIDS[0]}/status")"
