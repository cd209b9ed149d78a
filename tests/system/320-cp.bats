#!/usr/bin/env bats
# husk cp: both directions, running and stopped containers, -a, -L, tar
# streams with "-", Docker's destination rules, bad input, and paths that
# try to leave the container's root (a symlink to /, and a directory and
# a symlink swapped in a loop while cp runs 500 times).  Issue 4 item 4.

load helpers

setup_file() {
  load helpers
  ctr_setup_file
}

setup() {
  ctr_setup
  HOSTDIR=$BATS_TEST_TMPDIR/host
  mkdir -p "$HOSTDIR"
}

teardown() {
  ctr_cleanup
  # host_chown's subordinate ids: give the files back so they can go.
  if [[ $(id -u) -ne 0 && -d ${HOSTDIR:-} ]]; then
    husk unshare chown -R 0:0 "$HOSTDIR" 2>/dev/null || true
  fi
}

# host_chown IDS PATH: chown -R a host path to ids as the container sees
# them: directly as root, rootless through husk's user namespace (which
# maps them to the user's subordinate range, as `cp -a` reads them back).
host_chown() {
  if [[ $(id -u) -eq 0 ]]; then
    chown -R "$1" "$2"
  else
    husk unshare chown -R "$1" "$2"
  fi
}

# A stopped container "c" with a small tree.
make_stopped() {
  run_husk run --name c "$IMAGE" sh -c '
    mkdir -p /data/sub && echo one > /data/one && echo two > /data/sub/two &&
    chown -R 1000:1000 /data && ln -s /data/one /data/link && echo file > /file'
}

@test "cp: a file and a directory out of a stopped container, ownership kept as root" {
  make_stopped
  run_husk cp c:/file "$HOSTDIR/"
  assert_equal "$(cat "$HOSTDIR/file")" file
  run_husk cp c:/data "$HOSTDIR/d"
  assert_equal "$(cat "$HOSTDIR/d/sub/two")" two
  # Copied out by root: the owners kept; by a user: the user's files.
  local owner=1000:1000
  [[ $(id -u) -eq 0 ]] || owner=$(id -u):$(id -g)
  assert_equal "$(stat -c %u:%g "$HOSTDIR/d/one")" "$owner"
  assert_equal "$(readlink "$HOSTDIR/d/link")" /data/one
  # An existing directory receives the source as a subdirectory, SRC/. its contents.
  run_husk cp c:/data "$HOSTDIR/d"
  [[ -f $HOSTDIR/d/data/one ]] || fail "data not copied into the existing directory"
  mkdir "$HOSTDIR/contents"
  run_husk cp c:/data/. "$HOSTDIR/contents"
  [[ -f $HOSTDIR/contents/sub/two && ! -e $HOSTDIR/contents/data ]] || fail "SRC/. did not copy the contents"
}

@test "cp: -L follows a symlink source, without it the link is copied" {
  make_stopped
  run_husk cp c:/data/link "$HOSTDIR/nofollow"
  [[ -L $HOSTDIR/nofollow ]] || fail "the link was not copied as a link"
  run_husk cp -L c:/data/link "$HOSTDIR/follow"
  [[ -f $HOSTDIR/follow && ! -L $HOSTDIR/follow ]] || fail "-L did not follow"
  assert_equal "$(cat "$HOSTDIR/follow")" one
}

@test "cp: into a stopped container, files become root's unless -a" {
  make_stopped
  mkdir -p "$HOSTDIR/src/in"
  echo hello >"$HOSTDIR/src/in/h"
  host_chown 1234:1234 "$HOSTDIR/src"
  run_husk cp "$HOSTDIR/src" c:/plain
  run_husk cp -a "$HOSTDIR/src" c:/kept
  run_husk cp "$HOSTDIR/src/in/h" c:/data/one
  run_husk commit -q c img-cp
  run_husk run --rm img-cp sh -c 'stat -c "%u:%g %n" /plain/in/h /kept/in/h; cat /data/one'
  assert_line "0:0 /plain/in/h"
  assert_line "1234:1234 /kept/in/h"
  assert_line hello
}

@test "cp: a running container, both ways, and tar streams with -" {
  run_husk run -d --name r "$IMAGE" sh -c 'mkdir /live; echo alive > /live/f; while :; do sleep 0.2; done'
  ctr_wait_status r running
  sleep 0.3
  run_husk cp r:/live/f "$HOSTDIR/f"
  assert_equal "$(cat "$HOSTDIR/f")" alive
  echo in >"$HOSTDIR/in"
  run_husk cp "$HOSTDIR/in" r:/live/
  assert_equal "$(husk cp r:/live/in - | tar -xOf -)" in
  # stdout: a tar of the source under its base name.
  husk cp r:/live - >"$HOSTDIR/out.tar"
  run tar -tf "$HOSTDIR/out.tar"
  assert_line live/
  assert_line live/f
  # stdin: a tar extracted into an existing directory.
  mkdir -p "$HOSTDIR/t/x"
  echo fromtar >"$HOSTDIR/t/x/y"
  tar -C "$HOSTDIR/t" -cf "$HOSTDIR/in.tar" x
  run_husk --stdin "$HOSTDIR/in.tar" cp - r:/live
  assert_equal "$(husk cp r:/live/x/y - | tar -xOf -)" fromtar
  run_husk 125 --stdin "$HOSTDIR/in.tar" cp - r:/live/f
  assert_husk_error "must be a directory"
}

@test "cp: bad input: missing parent, file over directory, directory over file, missing source" {
  make_stopped
  echo x >"$HOSTDIR/x"
  run_husk 125 cp "$HOSTDIR/x" c:/nonexistent/dir/x
  assert_husk_error "No such file or directory"
  mkdir -p "$HOSTDIR/d"
  run_husk 125 cp "$HOSTDIR/d" c:/file
  assert_husk_error "cannot overwrite non-directory"
  cp "$HOSTDIR/x" "$HOSTDIR/data"
  run_husk 125 cp "$HOSTDIR/data" c:/
  assert_husk_error "cannot overwrite directory"
  run_husk 125 cp c:/nope "$HOSTDIR/"
  assert_husk_error "could not be found on container c"
  run_husk 125 cp c:/file "$HOSTDIR/missing/x"
  run_husk 125 cp "$HOSTDIR/x" nosuch:/x
  assert_husk_error "no container with name or ID"
  run_husk 125 cp "$HOSTDIR/x" "$HOSTDIR/y"
  run_husk diff c
  refute_line --partial "/nonexistent"
}

@test "cp: a symlink to / inside the container never leads to the host" {
  local canary=$BATS_TEST_TMPDIR/canary
  echo SECRET >"$canary"
  run_husk run --name s "$IMAGE" sh -c "ln -s / /escape; mkdir -p /escape2"
  run_husk 125 cp "s:/escape$canary" "$HOSTDIR/got"
  [[ ! -e $HOSTDIR/got ]] || fail "copied something"
  echo new >"$HOSTDIR/new"
  run_husk '?' cp "$HOSTDIR/new" "s:/escape$BATS_TEST_TMPDIR/"
  [[ ! -e $BATS_TEST_TMPDIR/new ]] || fail "wrote on the host"
  assert_equal "$(cat "$canary")" SECRET
  run_husk 125 cp "s:/proc/self/root$canary" "$HOSTDIR/got"
}

@test "cp: a directory and a symlink to / swapped in a loop while cp runs 500 times" {
  command -v cc >/dev/null || skip "no C compiler for the swap helper"
  cat >"$BATS_TEST_TMPDIR/swap.c" <<'EOF'
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
int main (int argc, char **argv)
{
  for (;;)
    renameat2 (AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE);
}
EOF
  cc -static -O2 -o "$BATS_TEST_TMPDIR/swap" "$BATS_TEST_TMPDIR/swap.c" 2>/dev/null ||
    skip "cc -static does not work here"
  local cdir=$BATS_TEST_TMPDIR/canarydir
  mkdir -p "$cdir"
  echo SECRET >"$cdir/canary"
  touch -d 2020-01-01 "$cdir/canary"
  local before
  before=$(stat -c '%Y %s %i' "$cdir/canary")
  # /w/d is a directory holding the same path as the host canary; /w/l
  # points at /.  Whichever name resolves at any instant, it must be the
  # container's tree.
  run_husk run -d --name sw "$IMAGE" sh -c "
    mkdir -p /w/d$cdir && echo inside > /w/d$cdir/canary && ln -s / /w/l &&
    while [ ! -x /swap ]; do sleep 0.05; done; cd /w && exec /swap d l"
  ctr_wait_status sw running
  run_husk cp "$BATS_TEST_TMPDIR/swap" sw:/swap
  local i got
  for ((i = 0; i < 250; i++)); do
    got=$(husk cp "sw:/w/d$cdir/canary" - 2>/dev/null | tar -xOf - 2>/dev/null) || true
    [[ $got != *SECRET* ]] || fail "iteration $i read the host canary"
    husk cp "$BATS_TEST_TMPDIR/swap.c" "sw:/w/d$cdir/" 2>/dev/null || true
  done
  assert_equal "$(stat -c '%Y %s %i' "$cdir/canary")" "$before"
  assert_equal "$(cat "$cdir/canary")" SECRET
  run ls "$cdir"
  assert_output canary
  # The copies went into the container.
  run_husk stop -t 1 sw
  husk cp sw:/w - >"$BATS_TEST_TMPDIR/w.tar"
  run tar -tf "$BATS_TEST_TMPDIR/w.tar"
  assert_line --regexp "^w/[dl]/.*/swap.c$"
}
