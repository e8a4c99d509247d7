#!/usr/bin/env bash
# Runs Fulcrum's whole test suite: unit tests, API/CLI/durability/race tests
# on loopback, real-client tests in network namespaces, the QEMU network
# boot, and the systemd unit check. Installs the Debian packages the tests
# need first (as root, with apt-get) when any is missing.
#
#   sudo bash scripts/test-all.sh        # what CI runs (.ci/run)
#
# Without root the namespace and QEMU tests skip with a notice; with
# CI=true they fail instead, so nothing is silently left out.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  iproute2 curl               # namespaces, the HTTP client
  openssl                     # an operator's own CA and certificates, fingerprints cross-checked
  udhcpc isc-dhcp-client dhcpcd-base  # DHCP clients (v4 and v6)
  ndisc6 isc-dhcp-relay tcpdump  # rdisc6 (router advertisements), dhcrelay -4/-6, what a relay sees
  kea-admin                   # perfdhcp: 50,000 clients per family
  tftp-hpa atftp              # TFTP clients
  qemu-system-x86 ipxe-qemu ipxe  # the network-booted VM, its NIC ROM, the iPXE loaders
  pxelinux syslinux-common    # lpxelinux.0 and ldlinux.c32: the PXELINUX QEMU boot
  ovmf                        # UEFI firmware for the UEFI PXE guest
  busybox-static cpio xz-utils kmod  # the discovery image the QEMU tests build (depmod)
  systemd                     # systemd-analyze verify
  python3 python3-yaml        # a role script in the engine tests; reading the shipped user-data
  python3-pip ipmitool        # pyghmi's BMC server (installed below), the IPMI power driver's client
  python3-venv                # schemathesis's own environment (installed below)
  openssh-client openssh-server  # the script jig over SSH, against an sshd in a namespace
  bind9-dnsutils knot-dnsutils bind9-utils  # dig, kdig, named-checkzone
  knot dnsmasq-base           # a site's secondary (Knot); an upstream resolver and a site DHCP server (dnsmasq)
  prometheus                  # promtool check metrics on /metrics
  debootstrap binutils        # the .deb test's Debian chroot; strip and objdump for packaging/build-deb
  chromium chromium-driver    # the web UI test's headless browser
  xorriso                     # the ISOs the import test builds
  qemu-utils                  # qemu-img: the qcow2 image the Redfish lifecycle test deploys
)

# What iso/build needs on the build host (tests/it/admin_iso.rs), as it says.
read -ra iso_needs < <(bash iso/build --print-needs)
packages+=("${iso_needs[@]}")

# The packages of the list that are not installed.
missing_packages() {
  local p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

# Installing what is missing can remove what was there: a machine with
# qemu-utils from backports loses it when Debian's qemu-system-x86 comes in.
# So the list is checked again after each install, until it holds (3 rounds).
for round in 1 2 3; do
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]})) || break
  if ((round == 3)); then
    echo "test-all: still missing after two installs: ${missing[*]}" >&2
    exit 1
  fi
  echo "test-all: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "test-all: need root to install packages (run with sudo)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  ((round > 1)) || apt-get update -qq
  # Install daemons (sshd, knot) without starting them on this machine: the tests
  # start their own, inside namespaces.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  rm -f "$policy"
done

# pyghmi and sushy-tools (PyPI) for the emulated BMCs of
# tests/it/power_ipmi.rs and power_redfish.rs, kept under target/ so that
# the system Python is left alone.
pydeps=target/pydeps
if [[ ! -e $pydeps/pyghmi || ! -e $pydeps/sushy_tools ]]; then
  echo "test-all: installing pyghmi and sushy-tools into $pydeps"
  python3 -m pip install --quiet --disable-pip-version-check --target "$pydeps" 'pyghmi==1.6.19' 'sushy-tools==2.2.0'
fi

# schemathesis (PyPI) for tests/it/openapi.rs, in a virtual environment of
# its own under target/ (it brings a command and many dependencies).
venv=target/schemathesis
if [[ ! -x $venv/bin/schemathesis ]]; then
  echo "test-all: installing schemathesis into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
fi

# playwright-core (npm, no browser download: it drives Debian's chromium)
# for tests/it/web_ui.rs, kept under target/ as well. Node.js is the
# machine's; Debian's nodejs and npm when there is none.
npmdeps=target/npm
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "test-all: installing nodejs and npm"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
fi
if [[ ! -e $npmdeps/node_modules/playwright-core ]]; then
  echo "test-all: installing playwright-core into $npmdeps"
  mkdir -p "$npmdeps"
  npm install --silent --no-audit --no-fund --prefix "$npmdeps" 'playwright-core@1.64.1'
fi

# Unit tests (the server's and the agent's) and the integration suite (one binary, tests/it; no
# doc-tests: the crate has none), then one summary line over every test
# binary and the wall time of the whole command.
log=$(mktemp)
set +e
cargo test --locked --no-fail-fast --workspace --lib --bins --tests -- --test-threads="${TEST_THREADS:-4}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "%d passed, %d failed, %d skipped\n", p, f, i }' "$log"
rm -f "$log"
echo "test-all: wall time $((SECONDS / 60)) min $((SECONDS % 60)) s"
exit "$status"
