#!/bin/bash
# Install everything needed to build and test husk on Debian 12.
# Idempotent: apt-get runs only when a package is missing, and
# `apt-get update` only when a missing package is unknown to apt's lists.
set -euo pipefail

packages=(
  meson ninja-build pkg-config gcc
  libyajl-dev libseccomp-dev libcap-dev zlib1g-dev libcurl4-openssl-dev
  libgpgme-dev libarchive-dev libzstd-dev libssl-dev libcmocka-dev libisal-dev
  bats scdoc skopeo docker-registry busybox-static uidmap clang-format
  hyperfine podman runc jq zstd python3 python3-cryptography curl openssl man-db
  passwd util-linux tmux slirp4netns
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  if [[ $status != installed ]]; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: must run as root to install packages" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Update the lists only when apt does not know a candidate for some package
# (a fresh image has empty lists); a plain install is tried first otherwise.
need_update=0
for p in "${missing[@]}"; do
  cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [[ -z $cand || $cand == "(none)" ]]; then
    need_update=1
    break
  fi
done
if [[ $need_update -eq 1 ]]; then
  apt-get update -q
fi
if ! apt-get install -y -q "${missing[@]}"; then
  # Stale lists can point at files the mirror no longer has.
  apt-get update -q
  apt-get install -y -q "${missing[@]}"
fi
