#!/bin/bash
# Check husk's documentation against its command table
# (`husk __complete table`), so that a new command or flag cannot land
# without its man page, its --help line and its completion:
#
#   - every command path, groups included, has a page man/husk-<path>.1.scd
#     (spaces as dashes; man/husk.1.scd for the global options), or a page
#     man/meson.build generates into BUILD/man/ from the page of the same
#     command under another path ("image ls" from "images");
#   - the page has the sections NAME (with the command's summary),
#     SYNOPSIS (starting with *husk <path>*), DESCRIPTION, OPTIONS,
#     EXAMPLES and SEE ALSO;
#   - every option of the command is documented in the page with the
#     heading line  *--name*[, *-s*][=_ARG_]  (short form and argument
#     as in the table), followed by "Default: VALUE" in its paragraph when
#     the table has a default, and no heading documents a flag the command
#     does not have;
#   - the page of each group (husk.1 for the top level) lists the page of
#     each of its commands as *husk-<path>*(1);
#   - every option shows up as "--name" (and "-s, --name") in
#     `husk <path> --help`;
#   - the built page BUILD/man/husk-<path>.1 exists and `man -l` renders it
#     without a warning; so do the section 5 pages (man/*.5.scd, the files
#     husk reads), which husk.1 names in its SEE ALSO;
#   - the bash completion (`husk completion bash`) completes every command
#     name and alias after its parent, and every flag of every command;
#   - the runnable examples of every page, section 5 and 7 pages
#     included, work (see man/README.md): a code block right after the
#     scdoc comment line "; runnable" holds commands, one per line
#     starting with "$ " ("\\" in the source stands for "\"), other
#     lines being sample output.  Each page's block runs in a scratch
#     directory holding rootfs.tar (tests/fixtures' busybox root
#     filesystem), against a fresh store holding that tree imported as
#     localhost/busybox:latest; every command must exit 0.
#
# Usage: tests/docs-check.sh [--no-examples] [BUILD_DIR]   (default: build)
# HUSK_BINARY overrides BUILD_DIR/husk; HUSK_FIXTURES is where
# tests/fixtures/mkimage.sh writes (default tests/fixtures/out).
#
# Prints one line per failure, then a summary on stderr; exits 1 when
# anything failed, 2 when the check itself could not run.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
examples=1
if [[ ${1:-} == --no-examples ]]; then
  examples=0
  shift
fi
build=${1:-build}
[[ $build == /* ]] || build=$repo/$build
husk_bin=${HUSK_BINARY:-$build/husk}
fixtures=${HUSK_FIXTURES:-$repo/tests/fixtures/out}
export MANWIDTH=80 LC_ALL=C.UTF-8

failures=0
fail() {
  printf '%s\n' "$*"
  failures=$((failures + 1))
}

for tool in jq man; do
  command -v "$tool" >/dev/null || {
    echo "docs-check: $tool is needed" >&2
    exit 2
  }
done
if [[ ! -x $husk_bin ]]; then
  echo "docs-check: $husk_bin is not built" >&2
  exit 2
fi
table=$("$husk_bin" __complete table) || {
  echo "docs-check: husk __complete table failed" >&2
  exit 2
}

work=$(mktemp -d "${TMPDIR:-/tmp}/husk-docs-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

page_of() {
  if [[ -z $1 ]]; then
    page=husk
  else
    page="husk-${1// /-}"
  fi
}

# The page source: written by hand in man/, or generated in BUILD/man/.
source_of() {
  src=
  if [[ -f $repo/man/$1.1.scd ]]; then
    src=$repo/man/$1.1.scd
  elif [[ -f $build/man/$1.1.scd ]]; then
    src=$build/man/$1.1.scd
  fi
}

# The machine is often busy with parallel builds and every process costs
# ~0.1 s there, so the checks below use bash's own string tests; grep -w
# would take "--no" in "--no-trunc": a flag ends at anything but a letter,
# digit or dash.
flag_re() {
  re="(^|[^-[:alnum:]])$1([^-[:alnum:]]|\$)"
}

# in_lines LINE: LINE is one of the page's lines.
in_lines() {
  local l
  for l in "${lines[@]}"; do
    [[ $l == "$1" ]] && return 0
  done
  return 1
}

# option_block HEADING: the heading line's paragraph (the tab-indented and
# blank lines after it), in $block.
option_block() {
  local l found=0
  block=
  for l in "${lines[@]}"; do
    if [[ $found -eq 1 ]]; then
      [[ -n $l && $l != $'\t'* ]] && break
      block+=$l$'\n'
    elif [[ $l == "$1" ]]; then
      found=1
    fi
  done
}

# ---- pages, options, --help, rendering ---------------------------------
# check_command PATH SUMMARY OPTS: OPTS has one option per line, its fields
# separated by \x1f: name, short, type, arg, default.
check_command() {
  local path=$1 summary=$2 opts=$3
  local text help name short _type arg def heading rel re block
  local -a lines
  page_of "$path"
  source_of "$page"
  if [[ -z $src ]]; then
    fail "${path:-husk}: no man page man/$page.1.scd"
    return
  fi
  text=$(<"$src")
  mapfile -t lines <"$src"
  rel=${src#"$repo"/}

  local section
  for section in NAME SYNOPSIS DESCRIPTION OPTIONS EXAMPLES "SEE ALSO"; do
    [[ $section == OPTIONS && -z $path ]] && section="GLOBAL OPTIONS"
    in_lines "# $section" || fail "$rel: no '# $section' section"
  done
  local i name_line=
  for ((i = 0; i < ${#lines[@]}; i++)); do
    if [[ ${lines[i]} == "# NAME" ]]; then
      name_line=${lines[i + 2]:-}
      break
    fi
  done
  if [[ ${name_line,,} != "${page,,} - ${summary,,}" ]]; then
    fail "$rel: NAME line is '$name_line', expected '$page - $summary'"
  fi
  if [[ -n $path && $'\n'$text != *$'\n'"*husk $path*"* ]]; then
    fail "$rel: SYNOPSIS does not start with '*husk $path*'"
  fi

  # shellcheck disable=SC2086 # the path is words
  if ! help=$("$husk_bin" $path --help 2>&1); then
    fail "husk ${path:+$path }--help: exit status is not 0"
  fi

  local -A known=()
  while IFS=$'\x1f' read -r name short _type arg def; do
    [[ -n $name ]] || continue
    known[$name]=1
    heading="*--$name*"
    [[ -n $short ]] && heading+=", *-$short*"
    [[ -n $arg ]] && heading+="=_${arg}_"
    flag_re "--$name"
    if ! [[ $text =~ $re ]]; then
      fail "$rel: --$name is not documented"
    elif ! in_lines "$heading"; then
      fail "$rel: no option heading line '$heading'"
    elif [[ -n $def ]]; then
      option_block "$heading"
      [[ $block == *"Default: $def"* ]] || fail "$rel: --$name: no 'Default: $def' in its paragraph"
    fi
    [[ $help =~ $re ]] || fail "husk ${path:+$path }--help: --$name is missing"
    if [[ -n $short && $help != *"-$short, --$name"* ]]; then
      fail "husk ${path:+$path }--help: '-$short, --$name' is missing"
    fi
  done <<<"$opts"

  # Headings for flags the command does not have: a removed or renamed flag.
  local l heading_re='^\*--([-a-z0-9]+)\*(, \*-.\*)?(=_[^_]+_)?$'
  for l in "${lines[@]}"; do
    if [[ $l =~ $heading_re && -z ${known[${BASH_REMATCH[1]}]:-} ]]; then
      fail "$rel: documents --${BASH_REMATCH[1]}, which husk ${path:+$path }does not have"
    fi
  done

  if [[ ! -f $build/man/$page.1 ]]; then
    fail "$page.1: not built in $build/man (is scdoc installed? meson -Dman=enabled)"
  else
    built_pages+=("$build/man/$page.1")
  fi
}

# One record per command: "C\x1fPATH\x1fSUMMARY\x1fGROUP", then its options
# "O\x1fNAME\x1fSHORT\x1fTYPE\x1fARG\x1fDEFAULT".
declare -A pages_expected=()
built_pages=()
groups=()
ncommands=0
flush_command() {
  if [[ -n ${cur_path+x} ]]; then
    check_command "$cur_path" "$cur_summary" "$cur_opts"
    ncommands=$((ncommands + 1))
  fi
}
while IFS=$'\x1f' read -r kind a b rest; do
  if [[ $kind == C ]]; then
    flush_command
    cur_path=$a cur_summary=$b cur_opts=
    [[ -n $a && ${rest%%$'\x1f'*} == true ]] && groups+=("$a")
    page_of "$a"
    pages_expected[$page]=1
  else
    cur_opts+=$a$'\x1f'$b$'\x1f'$rest$'\n'
  fi
done < <(jq -r '.[] | (["C", .path, .summary, (.group | tostring)] | join("\u001f")),
  (.options[] | ["O", .name, .short // "", .type, .arg // "", .default // ""] | join("\u001f"))' <<<"$table")
flush_command

# The page of a group lists each of its commands: "*husk-image-ls*(1)" in
# husk-image.1, "*husk-images*(1)" in husk.1.
for path in "${!pages_expected[@]}"; do
  [[ $path == husk ]] && continue
  words=${path#husk-}
  parent=husk
  for group in "${groups[@]}"; do
    [[ $words == "${group// /-}-"* ]] && parent=husk-${group// /-}
  done
  source_of "$parent"
  if [[ -n $src && $(<"$src") != *"*$path*(1)"* ]]; then
    fail "${src#"$repo"/}: does not list *$path*(1)"
  fi
done

# Section 5 pages describe files, section 7 pages give overviews (the
# rootless set-up), not commands: built, rendered, and reachable from
# husk(1).
for src in "$repo"/man/*.5.scd "$repo"/man/*.7.scd; do
  [[ -f $src ]] || continue
  page=${src##*/}
  page=${page%.scd}
  sect=${page##*.}
  if [[ ! -f $build/man/$page ]]; then
    fail "$page: not built in $build/man (is it in man${sect}_pages in man/meson.build?)"
  else
    built_pages+=("$build/man/$page")
  fi
  [[ $(<"$repo/man/husk.1.scd") == *"*${page%."$sect"}*($sect)"* ]] ||
    fail "man/husk.1.scd: does not name *${page%."$sect"}*($sect)"
done

# man -l on every page, a few at a time: man-db costs ~0.5 s a page here,
# most of it in setting up its own seccomp sandbox, which a check of our
# own files does not need.
if [[ ${#built_pages[@]} -gt 0 ]]; then
  mkdir -p "$work/man"
  for ((i = 0; i < ${#built_pages[@]}; i++)); do
    (
      MAN_DISABLE_SECCOMP=1 man --warnings -l "${built_pages[i]}" >/dev/null 2>"$work/man/$i.err"
      echo $? >"$work/man/$i.rc"
    ) &
    if ((i % 8 == 7)); then
      wait
    fi
  done
  wait
  for ((i = 0; i < ${#built_pages[@]}; i++)); do
    out=$(<"$work/man/$i.err")
    if [[ $(<"$work/man/$i.rc") != 0 || -n $out ]]; then
      fail "${built_pages[i]##*/}: man -l: ${out:-exit status not 0}"
    fi
  done
fi

# A page for a command that is gone.
for src in "$repo"/man/husk*.1.scd; do
  page=${src##*/}
  page=${page%.1.scd}
  [[ -n ${pages_expected[$page]:-} ]] || fail "man/$page.1.scd: no command path ${page#husk-} in the command table"
done

# ---- bash completion ---------------------------------------------------
# Lines "WORDS<TAB>EXPECTED...": complete the word after WORDS ("" or "-")
# and report the expected candidates _husk does not offer.
"$husk_bin" completion bash >"$work/completion.bash" ||
  fail "husk completion bash: exit status not 0"
jq -r '
  .[] |
  (.path | split(" ")) as $w |
  ([.options[] | "--" + .name, (if .short then "-" + .short else empty end)] | join(" ")) as $flags |
  (if $flags != "" then "\($w | join(" "))\t-\t\($flags)" else empty end),
  (if .path != "" then
     "\($w[:-1] | join(" "))\t\t\(([$w[-1]] + ((.aliases // "") | split(" "))) | join(" "))"
   else empty end)
' <<<"$table" >"$work/expect"
HUSK_DOCS_BIN=$husk_bin HUSK_DOCS_STORE=$work/completion-store bash --norc --noprofile -c '
  husk() { "$HUSK_DOCS_BIN" --root "$HUSK_DOCS_STORE" --runroot "$HUSK_DOCS_STORE/run" "$@"; }
  source "$1" || { echo "husk completion bash: the script does not load"; exit 0; }
  while IFS=$'"'"'\t'"'"' read -r words cur expected; do
    read -ra w <<<"$words"
    COMP_WORDS=(husk "${w[@]}" "$cur")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _husk
    for e in $expected; do
      found=0
      for c in "${COMPREPLY[@]}"; do
        [[ $c == "$e" ]] && found=1
      done
      [[ $found -eq 1 ]] || echo "bash completion: \"husk ${words:+$words }$cur\" does not offer $e"
    done
  done <"$2"
' _ "$work/completion.bash" "$work/expect" >"$work/completion.out" 2>&1
while IFS= read -r line || [[ -n $line ]]; do
  case $line in
  "bash completion:"* | "husk completion bash:"*) fail "$line" ;;
  *) fail "bash completion: the script fails: ${line#"$work"/}" ;;
  esac
done <"$work/completion.out"

# ---- runnable examples -------------------------------------------------
run_examples() {
  local src=$1 rel=${1#"$repo"/} dir out
  local -a cmds
  mapfile -t cmds < <(awk '
    /^; runnable$/ { want = 1; next }
    want && /^```/ { want = 0; inblock = 1; next }
    inblock && /^```/ { inblock = 0; next }
    inblock && /^\$ / { sub(/^\$ /, ""); gsub(/\\\\/, "\\"); print; next }
    want && NF { want = 0 }
  ' "$src")
  [[ ${#cmds[@]} -gt 0 ]] || return 0
  dir=$(mktemp -d "$work/example.XXXXXX")
  mkdir -p "$dir/cwd" "$dir/store"
  cp "$fixtures/rootfs.tar" "$dir/cwd/rootfs.tar"
  # One shell per page runs its commands in order (a page's examples may
  # build on each other) and names each one that fails.
  out=$(cd "$dir/cwd" && HUSK_DOCS_BIN=$husk_bin HUSK_DOCS_STORE=$dir/store \
    bash --norc --noprofile -o pipefail -c '
      husk() {
        timeout 120 "$HUSK_DOCS_BIN" --root "$HUSK_DOCS_STORE/root" \
          --runroot "$HUSK_DOCS_STORE/run" "$@"
      }
      if ! seed=$(husk import -q rootfs.tar busybox 2>&1); then
        echo "examples: could not import the fixture as busybox: $seed"
        exit 0
      fi
      for cmd in "$@"; do
        out=$(eval "$cmd" 2>&1 </dev/null)
        status=$?
        if [[ $status -ne 0 ]]; then
          echo "example failed (exit $status): \$ $cmd: $(tail -n 3 <<<"$out" | tr "\n" " ")"
        fi
      done' _ "${cmds[@]}" 2>&1 </dev/null)
  examples_run=$((examples_run + ${#cmds[@]}))
  [[ -z $out ]] && return 0
  while IFS= read -r line; do
    fail "$rel: $line"
  done <<<"$out"
}

examples_run=0
if [[ $examples -eq 1 ]]; then
  if [[ ! -f $fixtures/rootfs.tar ]]; then
    "$repo/tests/fixtures/mkimage.sh" "$fixtures" >"$work/mkimage.log" 2>&1 || true
  fi
  if [[ ! -f $fixtures/rootfs.tar ]]; then
    echo "docs-check: no $fixtures/rootfs.tar (tests/fixtures/mkimage.sh failed): examples not run" >&2
  else
    for page in "${!pages_expected[@]}"; do
      source_of "$page"
      [[ -n $src ]] && run_examples "$src"
    done
    # The pages of files and overviews (section 5 and 7) have examples
    # too; only their blocks marked runnable run.
    for src in "$repo"/man/*.5.scd "$repo"/man/*.7.scd; do
      [[ -f $src ]] && run_examples "$src"
    done
  fi
fi

echo "docs-check: $ncommands command paths, $examples_run examples, $failures failures" >&2
[[ $failures -eq 0 ]]
