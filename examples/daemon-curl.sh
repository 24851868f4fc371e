#!/bin/sh
# A worker in shell: ask `tapnet serve` for a network over its unix socket with curl, boot a VM
# on it with its own metadata, release the network. Nothing but curl, sed and QEMU.
#
#   sh examples/daemon-curl.sh KERNEL INITRD [SOCKET]     (a member of the socket's group)
set -eu
kernel=$1 initrd=$2 socket=${3:-/run/tapnet/api.sock}

api() { curl -sS --fail-with-body --unix-socket "$socket" -H 'content-type: application/json' "$@"; }
field() { printf '%s' "$net" | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

# The network is tied to this shell (pid and start time): if the script dies, even by SIGKILL,
# the daemon releases it. The handler is a JSON table: path → answer, for every network ("*").
net=$(api -X POST http://tapnet/v1/networks --data-binary @- <<JSON
{
  "holder": { "pid": $$ },
  "wait": 60,
  "handler": { "*": {
    "/scenario": "echo \"curl worker's VM on \$TAPNET_IP\"\nwget -qO- http://taskcluster/secret\n",
    "/secret": "secret-for-the-curl-job",
    "/result": "thanks\n"
  } }
}
JSON
)
name=$(field name) id=$(field id)
# With the acquisition's id a late or repeated release cannot free the next holder's network.
trap 'api -X DELETE "http://tapnet/v1/networks/$name?id=$id" >/dev/null' EXIT
echo "acquired $name ($(field subnet))"

# no_timer_check: a TCG guest on a busy host can miss the kernel's IO-APIC timer check and panic.
log=$(mktemp)
timeout 240 qemu-system-x86_64 -nodefaults -display none -no-reboot -accel tcg -m 256 \
  -serial "file:$log" -kernel "$kernel" -initrd "$initrd" \
  -append 'console=ttyS0 quiet panic=-1 no_timer_check tapnet.net=dhcp' \
  -netdev "$(field netdev)" -device "$(field device)"
if ! grep -o 'scenario done exit=[0-9]*' "$log"; then
  echo "the VM did not finish its scenario; its console ends with:" >&2
  tail -n 20 "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
# The daemon counted this VM's metadata requests: the scenario, the secret, the result.
api "http://tapnet/v1/networks/$name" | sed -n 's/.*"2xx":\([0-9]*\).*/metadata requests answered 2xx: \1/p'
