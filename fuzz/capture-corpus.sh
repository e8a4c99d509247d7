#!/usr/bin/env bash
# Captures the fuzz seed corpora from real clients talking to a real
# Fulcrum, all inside two network namespaces this script makes (and
# removes on exit):
#
#   fz-srv-PID   fulcrum serve on br0 (10.77.0.1/24), tcpdump on br0, and a
#                tap on br0 for QEMU
#   fz-cli-PID   the clients, on a veth into br0
#
# Clients: dhclient (ISC), udhcpc (busybox), dhcpcd; atftp and tftp-hpa
# (with blksize/tsize/timeout options); curl on the boot routes; and QEMU's
# iPXE ROM (DHCP with the iPXE user class, then the boot script over HTTP).
# The payloads sent TO the server are written one per file, deduplicated,
# under fuzz/corpus/{dhcp4,tftp,boot_http}/. boot_http seeds are in the
# fuzz target's format (src/fuzzing.rs): a peer byte, the request target,
# "\n", the Host header.
#
#   sudo bash fuzz/capture-corpus.sh   # needs: iproute2 tcpdump isc-dhcp-client
#                                      # udhcpc dhcpcd-base atftp tftp-hpa curl
#                                      # qemu-system-x86 ipxe-qemu ipxe python3
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "capture-corpus: run as root (namespaces)" >&2; exit 1; }

bin=target/release/fulcrum
[[ -x $bin ]] || { echo "capture-corpus: build first (cargo build --release)" >&2; exit 1; }
srv=fz-srv-$$
cli=fz-cli-$$
work=$(mktemp -d)
pids=()
made=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # Whatever still runs inside the namespaces (a daemonised client) ends
  # with them.
  for ns in "${made[@]}"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  done
  wait 2>/dev/null || true
  for ns in "${made[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  if [[ " ${made[*]} " == *" $cli "* ]]; then rm -rf "/etc/netns/$cli"; fi
  rm -rf "$work"
}
trap cleanup EXIT

S="ip netns exec $srv"
C="ip netns exec $cli"
ip netns add "$srv" && made+=("$srv")
ip netns add "$cli" && made+=("$cli")
# DHCP clients rewrite /etc/resolv.conf: inside the client namespace,
# `ip netns exec` puts this file there instead, so the host's is never
# touched (the clients are also told to run no hook scripts).
mkdir -p "/etc/netns/$cli"
echo "nameserver 10.77.0.1" > "/etc/netns/$cli/resolv.conf"
$S ip link set lo up
$C ip link set lo up
$S ip link add br0 type bridge
$S ip link set br0 type bridge forward_delay 0
$S ip addr add 10.77.0.1/24 dev br0
$S ip link set br0 up
# Made directly inside the namespaces: nothing is left on the host if a
# step fails.
ip link add fz-veth0 netns "$srv" type veth peer name fz-veth1 netns "$cli"
$S ip link set fz-veth0 master br0
$S ip link set fz-veth0 up
$C ip link set fz-veth1 address 52:54:00:77:00:02
$C ip link set fz-veth1 up
$S ip tuntap add dev tap0 mode tap
$S ip link set tap0 master br0
$S ip link set tap0 up

mkdir -p "$work/tftp" "$work/data"
cp /usr/lib/ipxe/undionly.kpxe "$work/tftp/"
cat > "$work/fulcrum.toml" <<EOF
data_dir = "$work/data"
[http]
listen = "10.77.0.1:80"
[api]
listen = "127.0.0.1:8443"
[dhcp]
listen4 = "0.0.0.0:67"
interfaces = ["br0"]
[tftp]
listen = "10.77.0.1:69"
root = "$work/tftp"
EOF
$S tcpdump -i br0 -U -s 0 -w "$work/capture.pcap" "udp port 67 or udp port 69 or tcp port 80" 2>"$work/tcpdump.log" &
pids+=($!)
$S "$bin" serve --config "$work/fulcrum.toml" >"$work/fulcrum.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  $S curl -fsS --max-time 1 http://10.77.0.1/healthz >/dev/null 2>&1 && break
  sleep 0.2
done
token=$(cat "$work/data/admin.token")
printf 'Authorization: Bearer %s\n' "$token" > "$work/auth.header"
api() { $S curl -fsS --max-time 5 -k -H "@$work/auth.header" -H 'Content-Type: application/json' "$@"; }
api -X POST https://127.0.0.1:8443/api/v1/networks -d '{"name":"fz","subnet":"10.77.0.0/24","router":"10.77.0.1",
  "server":"10.77.0.1","static":{"start":"10.77.0.10","end":"10.77.0.99"},
  "dynamic":{"start":"10.77.0.100","end":"10.77.0.200"},"domain":"fz.test","interface":"br0"}' >/dev/null
api -X POST https://127.0.0.1:8443/api/v1/nodes -d '{"name":"known.fz.test","macs":["52:54:00:77:00:02"],
  "bootenv":"ubuntu-24.04"}' >/dev/null

echo "capture-corpus: DHCP clients"
$C timeout 20 dhclient -1 -v -sf /bin/true -pf "$work/dhclient.pid" -lf "$work/dhclient.leases" fz-veth1 >/dev/null 2>&1 || true
$C timeout 20 dhclient -r -sf /bin/true -pf "$work/dhclient.pid" -lf "$work/dhclient.leases" fz-veth1 >/dev/null 2>&1 || true
$C timeout 20 udhcpc -i fz-veth1 -s /bin/true -n -q -f -V PXEClient:Arch:00000:UNDI:002001 >/dev/null 2>&1 || true
$C timeout 20 udhcpc -i fz-veth1 -s /bin/true -n -q -f -x hostname:probe -R >/dev/null 2>&1 || true
# dhcpcd keeps state under /var/lib/dhcpcd and /run/dhcpcd: tmpfs over
# both, in a mount namespace of its own.
$C unshare -m sh -c 'for d in /var/lib/dhcpcd /run/dhcpcd; do [ -d $d ] && mount -t tmpfs none $d; done
  exec timeout 30 dhcpcd -4 -1 -B -d -f /dev/null --script /bin/true --nohook resolv.conf -t 15 fz-veth1' >/dev/null 2>&1 || true
$C ip addr flush dev fz-veth1
$C ip addr add 10.77.0.2/24 dev fz-veth1

echo "capture-corpus: TFTP clients"
$C timeout 10 atftp -g -r undionly.kpxe -l /dev/null 10.77.0.1 >/dev/null 2>&1 || true
$C timeout 10 atftp --option "blksize 1428" --option "tsize 0" --option "timeout 2" -g -r undionly.kpxe -l /dev/null 10.77.0.1 >/dev/null 2>&1 || true
$C timeout 10 atftp -g -r ../etc/passwd -l /dev/null 10.77.0.1 >/dev/null 2>&1 || true
$C timeout 10 tftp -m octet 10.77.0.1 -c get undionly.kpxe /dev/null >/dev/null 2>&1 || true
$C timeout 10 tftp -m netascii 10.77.0.1 -c get missing.efi /dev/null >/dev/null 2>&1 || true
$C timeout 10 tftp 10.77.0.1 -c put /etc/hostname hostname >/dev/null 2>&1 || true

echo "capture-corpus: HTTP boot routes"
for path in "/boot/ipxe?mac=52:54:00:77:00:02" "/boot/ipxe?mac=52-54-00-77-00-99" \
  "/boot/templates/52:54:00:77:00:02/user-data" "/boot/templates/52:54:00:77:00:02/meta-data" \
  "/boot/loaders/undionly.kpxe" "/boot/files/ubuntu-24.04/vmlinuz"; do
  $C curl -sS --max-time 5 -o /dev/null "http://10.77.0.1$path" || true
done

echo "capture-corpus: QEMU iPXE ROM (about 20 s)"
$S timeout 25 qemu-system-x86_64 -m 256 -display none -serial null -monitor none -no-reboot \
  -netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
  -device virtio-net-pci,netdev=n0,mac=52:54:00:77:00:09 -boot n >/dev/null 2>&1 || true

sleep 1
kill "${pids[0]}"
wait "${pids[0]}" 2>/dev/null || true
python3 fuzz/pcap-seeds.py "$work/capture.pcap" fuzz/corpus
# Under sudo, the seeds belong to whoever ran it.
if [[ -n ${SUDO_UID:-} ]]; then chown -R "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" fuzz/corpus; fi
