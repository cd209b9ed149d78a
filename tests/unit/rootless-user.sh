#!/bin/bash
# Make the unprivileged user that test-runtime's rootless tests run as
# (default husktest), with a subordinate id range in /etc/subuid and
# /etc/subgid, as a rootless husk user has.  Idempotent; needs root and
# newuidmap/newgidmap (Debian's uidmap, which tests/install-deps.sh
# installs).  test-runtime calls it when running as root under CI (CI set)
# and the user is missing; elsewhere it only skips, so a developer's
# machine gets no new user unasked.
#
# Usage: rootless-user.sh [USER]
set -euo pipefail

user=${1:-husktest}
start=200000
count=65536

if [[ $(id -u) != 0 ]]; then
  echo "rootless-user.sh: must run as root" >&2
  exit 1
fi
for tool in newuidmap newgidmap useradd; do
  command -v "$tool" >/dev/null || {
    echo "rootless-user.sh: $tool missing (apt-get install uidmap passwd)" >&2
    exit 1
  }
done
id "$user" >/dev/null 2>&1 || useradd -m -s /bin/sh "$user"
# useradd may have given the user a range already (SUB_UID_* in
# /etc/login.defs): keep it.
for f in /etc/subuid /etc/subgid; do
  grep -q "^$user:" "$f" 2>/dev/null || echo "$user:$start:$count" >>"$f"
done
