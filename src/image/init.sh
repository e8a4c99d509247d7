#!/bin/sh
# /init of Fulcrum's discovery image (built by `fulcrum image build
# discovery`). It loads the drivers for the hardware it finds, brings up
# every NIC, gets an address on the one the machine booted from (DHCP, or
# SLAAC when Fulcrum's URL is an IPv6 one), and runs the agent, which does
# the rest. Everything goes to the serial console and the screen.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /tmp /run
# The boot script puts console=tty0 last, so /dev/console is the screen:
# the serial port gets everything too.
if [ -c /dev/ttyS0 ] && [ -c /dev/tty0 ]; then
    mkfifo /run/console
    tee /dev/tty0 </run/console >/dev/ttyS0 &
    exec >/run/console 2>&1
fi

say() { echo "fulcrum-image: $*"; }
say "$(cat /etc/fulcrum-image)"
# The command line, for whoever watches the console; a token on it (a
# bootenv may hand one over) is not for the console.
say "command line: $(sed 's/\([a-z_.]*token=\)[^ ]*/\1<redacted>/g' /proc/cmdline)"

# Drivers: whatever the devices ask for, until no new device appears
# (a PCI virtio function's driver makes virtio devices, and so on).
seen=""
i=0
while [ $i -lt 5 ]; do
    now=$(cat /sys/bus/*/devices/*/modalias 2>/dev/null | sort -u)
    [ "$now" = "$seen" ] && break
    for a in $now; do
        modprobe -q "$a" 2>/dev/null
    done
    seen=$now
    i=$((i + 1))
    sleep 0.2
done
say "drivers: $(cut -d' ' -f1 /proc/modules | sort | tr '\n' ' ')"

api=""; mac=""
for word in $(cat /proc/cmdline); do
    case "$word" in
        fulcrum.api=*) api="${word#fulcrum.api=}" ;;
        fulcrum.mac=*) mac="${word#fulcrum.mac=}" ;;
    esac
done

fail() {
    say "FAILED: $*"
    while true; do sleep 3600; done
}

# Every NIC up (the agent listens for LLDP on each); the booted one found.
ip link set lo up
iface=""
i=0
while [ -z "$iface" ] && [ $i -lt 50 ]; do
    for dev in /sys/class/net/*; do
        [ -e "$dev/device" ] || continue
        ip link set "${dev##*/}" up
        [ "$(cat "$dev/address")" = "$mac" ] && iface="${dev##*/}"
    done
    [ -z "$iface" ] && sleep 0.2
    i=$((i + 1))
done
[ -n "$iface" ] || fail "no interface with MAC $mac ($(ls /sys/class/net | tr '\n' ' '))"
say "booted from $iface ($mac)"

case "$api" in
    http://\[*)
        global() { ip -6 addr show dev "$iface" | grep 'scope global' | grep -v tentative; }
        i=0
        while [ -z "$(global)" ] && [ $i -lt 100 ]; do
            sleep 0.2
            i=$((i + 1))
        done
        [ -n "$(global)" ] || fail "no IPv6 address from the router advertisement"
        say "address $(global | awk '{ print $2 }')"
        ;;
    *)
        # The vendor class tells Fulcrum this is the agent (a network with
        # `unknown_clients = "discovery"` answers only it and firmware).
        # udhcpc stays in the foreground until it is bound (or gives up:
        # -n), then goes to the background and renews the lease for as
        # long as the agent runs, so a long erase or image write never
        # outlives its address.
        udhcpc -i "$iface" -s /etc/udhcpc.script -V fulcrum-discovery -n -t 10 -T 2 -A 2 ||
            fail "no DHCP lease on $iface"
        ;;
esac

/bin/fulcrum-agent
fail "the agent ended ($?)"
