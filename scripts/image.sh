#!/usr/bin/env bash
# Builds a container image of the current tree with the local Docker daemon, offline: no base
# image is pulled.  The image is one layer made from scratch:
#   /usr/bin/tessera                   the Release binary (stripped), the entrypoint
#   /lib64/ld-linux-x86-64.so.2        the dynamic loader the binary names (PT_INTERP)
#   /lib/x86_64-linux-gnu/*.so.*       exactly the shared libraries the loader resolves for it
#                                      (ldd: its ELF dependencies, transitively), checked against
#                                      every copied file's DT_NEEDED entries (readelf)
#   /etc/ssl/certs/ca-certificates.crt CA certificates (libcurl's default bundle path on Debian)
#   /etc/passwd, /etc/group            nobody/nogroup (65534), the user it runs as
#   /etc/nsswitch.conf                 "hosts: files dns" (without it glibc asks DNS before
#                                      /etc/hosts, and `localhost` targets may not resolve)
# It runs as 65534:65534 and writes nothing to its root filesystem (run it with --read-only;
# the TSDB goes to a volume given by --storage.tsdb.path).
#
# Usage: scripts/image.sh [TAG]     (default tessera:dev; the tag is the last line printed)
# Env:   DOCKER      the docker CLI (default: docker; DOCKER_HOST picks the daemon)
#        TS_IMAGE_BUILD_DIR  the CMake build dir for the Release binary (default: build-image)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-tessera:dev}
docker=${DOCKER:-docker}
build=${TS_IMAGE_BUILD_DIR:-build-image}
die() { echo "image.sh: $*" >&2; exit 1; }

for t in cmake ldd readelf strip tar "$docker"; do
    command -v "$t" >/dev/null || die "$t not found (scripts/deps.sh installs what the build needs)"
done
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target tessera >/dev/null
bin=$build/cmd/tessera/tessera
[ -x "$bin" ] || die "no binary at $bin"

root=$(mktemp -d /tmp/tessera-image-XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/etc/ssl/certs"
strip --strip-unneeded -o "$root/usr/bin/tessera" "$bin"
chmod 0755 "$root/usr/bin/tessera"

# The loader the kernel starts (PT_INTERP), then every library it resolves, at the path it
# resolved it to (symlinks followed: the file lands under its soname).
interp=$(readelf -l "$bin" | sed -n 's/.*\[Requesting program interpreter: \(.*\)\]/\1/p')
[ -n "$interp" ] || die "$bin names no program interpreter"
mkdir -p "$root$(dirname "$interp")"
cp -L "$interp" "$root$interp"
ldd_out=$(ldd "$bin") || die "ldd $bin failed"
if grep -q 'not found' <<<"$ldd_out"; then die "unresolved libraries: $(grep 'not found' <<<"$ldd_out")"; fi
while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 }' <<<"$ldd_out")

# Every DT_NEEDED of every copied ELF file must be in the image (nothing missing), and every
# copied library must be needed by some file (nothing extra).
needed=$(find "$root" -type f \( -name '*.so*' -o -name tessera \) -exec readelf -d {} + |
    sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u)
libdir=$root/lib/x86_64-linux-gnu
for n in $needed; do
    [ -e "$libdir/$n" ] || [ "/lib64/$n" = "$interp" ] || die "library $n is needed but was not copied"
done
for f in "$libdir"/*; do
    grep -qxF "$(basename "$f")" <<<"$needed" || die "$(basename "$f") was copied but nothing needs it"
done

cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/" ||
    die "no CA bundle at /etc/ssl/certs/ca-certificates.crt (Debian's ca-certificates)"
echo 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >"$root/etc/passwd"
echo 'nogroup:x:65534:' >"$root/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
chmod -R u=rwX,go=rX "$root"

# Reproducible layer: owners root, times from the last commit.
mtime=$(git log -1 --format=%ct 2>/dev/null || echo 0)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
version=$("$bin" --version 2>/dev/null | head -n 1 | awk '{ print $NF }') || version=""
tar -C "$root" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" -c . |
    "$docker" import \
        --change 'ENTRYPOINT ["/usr/bin/tessera"]' \
        --change 'USER 65534:65534' \
        --change 'ENV PATH=/usr/bin' \
        --change 'EXPOSE 9090 10901' \
        --change "LABEL org.opencontainers.image.title=tessera" \
        --change "LABEL org.opencontainers.image.revision=$rev" \
        --change "LABEL org.opencontainers.image.version=${version:-dev}" \
        -m "scripts/image.sh at $rev" - "$tag" >/dev/null ||
    die "docker import failed (is the daemon running? DOCKER_HOST=${DOCKER_HOST:-default})"
size=$("$docker" image inspect --format '{{.Size}}' "$tag")
echo "image $tag: $(awk -v s="$size" 'BEGIN { printf "%.1f MB (%d bytes)", s / 1e6, s }'), $(find "$root" -type f | wc -l) files" >&2
echo "$tag"
