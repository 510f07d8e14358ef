#!/usr/bin/env bash
# Build the registry-free base image, Debian bookworm with its python3 (3.11), from a Debian
# mirror with debootstrap, for machines where no image can be pulled:
#
#   sudo deploy/base/build_base.sh [TAG]        (default autocomplete-base:bookworm)
#
# Needs root, debootstrap and a running Docker engine. MIRROR (default deb.debian.org)
# and SECURITY_MIRROR name other mirrors. Where images can be pulled, skip this and build
# with --build-arg BASE_IMAGE=python:3.11-slim-bookworm.
set -euo pipefail

TAG="${1:-autocomplete-base:bookworm}"
SUITE=bookworm
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/autocomplete-base.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

command -v debootstrap >/dev/null || { echo "needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
start=$(date +%s)
rootfs="$WORK/rootfs"
# minbase: apt, dpkg, coreutils and no more; python3-venv brings ensurepip, and no
# Recommends (so no build-essential) come along with python3-pip.
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    "$SUITE" "$rootfs" "$MIRROR"

cat > "$rootfs/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
# What a container image does without: apt's caches, docs, the package lists.
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
       "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
       "$rootfs"/var/log/*.log "$rootfs"/tmp/* "$rootfs"/root/.cache
# Keep containers from starting services when packages are installed in a build.
printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
chmod +x "$rootfs/usr/sbin/policy-rc.d"

tar --numeric-owner -C "$rootfs" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV LANG=C.UTF-8' \
    -c 'CMD ["python3"]' \
    -m "debootstrap $SUITE minbase + python3 from $MIRROR" - "$TAG"
docker run --rm "$TAG" python3 -c 'import sys, venv, ensurepip; print(sys.version)'
echo "built $TAG in $(( $(date +%s) - start )) s"
