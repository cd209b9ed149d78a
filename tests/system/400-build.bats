#!/usr/bin/env bats
# husk build: Dockerfile instructions checked through the built image
# (husk run, husk image inspect), multi-stage and --target, ARG scoping,
# ONBUILD, .dockerignore, COPY --chown/--chmod, ADD of a local tarball and
# of a URL, heredocs, the context and the Dockerfile from standard input,
# -q, --iidfile, several -t, --format oci|docker checked by skopeo,
# --squash, --timestamp reproducibility.

load helpers
load build

# img_json IMAGE JQ_FILTER: JQ_FILTER on `husk image inspect IMAGE`.
img_json() {
  local out
  out=$(husk image inspect "$1") || {
    fail "husk image inspect $1 failed"
    return 1
  }
  jq -r ".[0] | $2" <<<"$out"
}

@test "build: the basic instructions end up in the image" {
  echo "hello from the context" >"$CTX/hello.txt"
  dockerfile 'FROM FROM_IMAGE
LABEL org.example.a=1 "org.example.b"="two words"
ENV GREETING=hi NAME="the world"
WORKDIR /app
COPY hello.txt ./
RUN echo "$GREETING $NAME" > greeting && mkdir -p /data && echo "appuser:x:1234:1234::/:/bin/sh" >> /etc/passwd
EXPOSE 8080/tcp 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=3s CMD ["true"]
USER appuser
ENTRYPOINT ["/bin/sh", "-c", "cat /app/hello.txt /app/greeting; id -u; pwd; echo \"args: $0 $*\""]
CMD ["one", "two"]'
  build_ok -t basic "$CTX"
  assert_line --partial "STEP 1/13: FROM $IMAGE"
  run_husk images --format '{{.Repository}}:{{.Tag}} {{.ID}}'
  assert_line "localhost/basic:latest ${IID:0:12}"

  run_husk run --rm basic
  assert_line --index 0 "hello from the context"
  assert_line --index 1 "hi the world"
  assert_line --index 2 1234
  assert_line --index 3 /app
  assert_line --index 4 "args: one two"

  assert_equal "$(img_json basic .Id)" "$IID" "Id"
  assert_equal "$(img_json basic '.Config.Env | map(select(startswith("GREETING=") or startswith("NAME="))) | join(",")')" \
    "GREETING=hi,NAME=the world" "Env"
  assert_equal "$(img_json basic '.Config.WorkingDir')" /app
  assert_equal "$(img_json basic '.Config.User')" appuser
  assert_equal "$(img_json basic '.Config.Cmd | join(" ")')" "one two"
  assert_equal "$(img_json basic '.Config.Entrypoint[0:2] | join(" ")')" "/bin/sh -c"
  assert_equal "$(img_json basic '.Config.Labels["org.example.a"]')" 1
  assert_equal "$(img_json basic '.Config.Labels["org.example.b"]')" "two words"
  assert_equal "$(img_json basic '.Config.ExposedPorts | keys | join(" ")')" "53/udp 8080/tcp"
  assert_equal "$(img_json basic '.Config.Volumes | keys | join(" ")')" /data
  assert_equal "$(img_json basic '.Config.StopSignal')" SIGINT
  assert_equal "$(img_json basic '.Config.Healthcheck.Test | join(" ")')" "CMD true"
  assert_equal "$(img_json basic '.Config.Healthcheck.Interval')" 30000000000
  # One layer more than the base per file-changing step (COPY, RUN; WORKDIR
  # may add one for the directory it creates).
  local base layers
  base=$(img_json "$IMAGE" '.RootFS.Layers | length')
  layers=$(img_json basic '.RootFS.Layers | length')
  [[ $layers -ge $((base + 2)) && $layers -le $((base + 3)) ]] ||
    fail "$layers layers over a base of $base"
  # A history entry for every step; those that made no layer say so.
  assert_equal "$(img_json basic '.History | map(select(.empty_layer | not)) | length')" "$layers" \
    "history entries with a layer"
  assert_equal "$(img_json basic '.History[-1].created_by')" '/bin/sh -c #(nop) CMD ["one", "two"]' \
    "created_by of CMD"
}

@test "build: multi-stage, COPY --from a stage by name and by index, --target" {
  dockerfile 'FROM FROM_IMAGE AS builder
RUN echo built-by-builder > /artifact
FROM FROM_IMAGE AS second
RUN echo second > /second
FROM FROM_IMAGE
COPY --from=builder /artifact /from-name
COPY --from=1 /second /from-index
CMD ["cat", "/from-name", "/from-index"]'
  build_ok -t multi "$CTX"
  run_husk run --rm multi
  assert_output "built-by-builder
second"
  run_husk run --rm multi sh -c 'test ! -e /artifact && echo clean'
  assert_output clean

  build_ok --target builder -t multi:builder "$CTX"
  run_husk run --rm multi:builder cat /artifact
  assert_output built-by-builder
  run_husk run --rm multi:builder sh -c 'test ! -e /second && echo only-builder'
  assert_output only-builder
  # The stage after the target is never built.
  refute_output --partial "STEP 4/"
}

@test "build: ARG before FROM, re-declared in a stage, --build-arg, not in the image env" {
  dockerfile 'ARG BASE=FROM_IMAGE
ARG VERSION=1.0
FROM $BASE
ARG VERSION
ARG LOCAL=local-default
RUN echo "version=$VERSION local=$LOCAL" > /args
ENV FROMARG=$LOCAL
CMD ["cat", "/args"]'
  build_ok -t args "$CTX"
  run_husk run --rm args
  assert_output "version=1.0 local=local-default"

  build_ok --build-arg LOCAL=overridden --build-arg VERSION=2.0 -t args:2 "$CTX"
  run_husk run --rm args:2
  assert_output "version=2.0 local=overridden"
  # An ARG is not part of the image's environment; an ENV made from it is.
  run_husk run --rm args:2 env
  refute_line --partial "VERSION="
  refute_line --partial "LOCAL="
  assert_line "FROMARG=overridden"

  # KEY alone takes husk's own environment.
  LOCAL=from-env build_ok --build-arg LOCAL -t args:3 "$CTX"
  run_husk run --rm args:3
  assert_output "version=1.0 local=from-env"
  # An ARG not declared before FROM is empty inside the stage.
  dockerfile 'FROM FROM_IMAGE
RUN echo "[$VERSION]" > /v
CMD ["cat", "/v"]'
  build_ok --build-arg VERSION=9 -t args:4 "$CTX"
  run_husk run --rm args:4
  assert_output "[]"
}

@test "build: ONBUILD triggers run when the image is used as FROM" {
  echo trigger-file >"$CTX/onbuild.txt"
  dockerfile 'FROM FROM_IMAGE
ONBUILD COPY onbuild.txt /onbuild.txt
ONBUILD RUN echo triggered > /triggered'
  build_ok -t parent "$CTX"
  assert_equal "$(img_json parent '.Config.OnBuild | length')" 2
  run_husk run --rm parent sh -c 'test ! -e /triggered && echo not-yet'
  assert_output not-yet

  dockerfile 'FROM localhost/parent:latest
CMD ["cat", "/onbuild.txt", "/triggered"]'
  build_ok -t child "$CTX"
  run_husk run --rm child
  assert_output "trigger-file
triggered"
  # Triggers fire once: the child does not carry them on.
  assert_equal "$(img_json child '.Config.OnBuild // [] | length')" 0
}

@test "build: .dockerignore excludes files, ! makes exceptions" {
  mkdir -p "$CTX/logs" "$CTX/src"
  echo a >"$CTX/src/a.go"
  echo secret >"$CTX/secret.key"
  echo log >"$CTX/logs/one.log"
  echo keep >"$CTX/logs/keep.log"
  echo tmp >"$CTX/src/x.tmp"
  printf '%s\n' '# comment' 'secret.key' 'logs' '!logs/keep.log' '**/*.tmp' >"$CTX/.dockerignore"
  dockerfile 'FROM FROM_IMAGE
COPY . /ctx/
CMD ["find", "/ctx", "-type", "f"]'
  build_ok -t ignore "$CTX"
  run_husk run --rm ignore
  assert_line /ctx/src/a.go
  assert_line /ctx/logs/keep.log
  assert_line /ctx/Dockerfile
  refute_line /ctx/secret.key
  refute_line /ctx/logs/one.log
  refute_line /ctx/src/x.tmp

  # An excluded file named by COPY is an error.
  dockerfile 'FROM FROM_IMAGE
COPY secret.key /'
  run_husk 125 build "$CTX"
  assert_husk_error "secret.key"
}

@test "build: COPY --chown and --chmod" {
  echo data >"$CTX/file"
  mkdir -p "$CTX/dir/sub"
  echo inner >"$CTX/dir/sub/inner"
  dockerfile 'FROM FROM_IMAGE
RUN echo "owner:x:1500:1500::/:/bin/sh" >> /etc/passwd && echo "owner:x:1500:" >> /etc/group
COPY --chown=1000:1000 file /numeric
COPY --chown=owner dir /named/
COPY --chmod=0640 file /mode
COPY file /plain
CMD ["sh", "-c", "stat -c \"%n %u:%g %a\" /numeric /named/sub/inner /mode /plain"]'
  build_ok -t chown "$CTX"
  run_husk run --rm chown
  assert_line "/numeric 1000:1000 644"
  assert_line "/named/sub/inner 1500:1500 644"
  assert_line "/mode 0:0 640"
  # Files from the context belong to root, whoever owns them on the host.
  assert_line "/plain 0:0 644"
}

@test "build: ADD extracts a local tarball and downloads a URL" {
  mkdir -p "$BATS_TEST_TMPDIR/tree/t"
  echo in-the-tarball >"$BATS_TEST_TMPDIR/tree/t/file"
  tar -C "$BATS_TEST_TMPDIR/tree" -czf "$CTX/tree.tar.gz" t
  mkdir -p "$BATS_TEST_TMPDIR/www"
  echo served-over-http >"$BATS_TEST_TMPDIR/www/remote.txt"
  local port py=python3
  [[ -x /usr/bin/python3 ]] && py=/usr/bin/python3
  port=$(random_port)
  "$py" -m http.server --bind 127.0.0.1 --directory "$BATS_TEST_TMPDIR/www" "$port" \
    >"$BATS_TEST_TMPDIR/http.log" 2>&1 3>&- &
  HTTP_PID=$!
  local i
  for ((i = 0; i < 50; i++)); do
    curl -fs "http://127.0.0.1:$port/remote.txt" >/dev/null 2>&1 && break
    sleep 0.1
  done

  dockerfile "FROM FROM_IMAGE
ADD tree.tar.gz /extracted/
ADD http://127.0.0.1:$port/remote.txt /downloaded/remote.txt
CMD [\"cat\", \"/extracted/t/file\", \"/downloaded/remote.txt\"]"
  build_ok -t add "$CTX"
  run_husk run --rm add
  assert_output "in-the-tarball
served-over-http"
  # The tarball itself is not copied: it was extracted.
  run_husk run --rm add sh -c 'ls /extracted'
  assert_output t
}

@test "build: heredoc RUN and COPY" {
  dockerfile 'FROM FROM_IMAGE
RUN <<EOF
echo line one > /heredoc
echo "line two" >> /heredoc
EOF
COPY <<EOT /copied
copied text
EOT
CMD ["cat", "/heredoc", "/copied"]'
  build_ok -t heredoc "$CTX"
  run_husk run --rm heredoc
  assert_output "line one
line two
copied text"
}

@test "build: -f FILE, -f - and a Dockerfile on stdin with an empty context" {
  echo ctx-file >"$CTX/f"
  mkdir -p "$CTX/sub"
  dockerfile 'FROM FROM_IMAGE
COPY f /f
CMD ["cat", "/f"]' sub/Other.dockerfile
  build_ok -f "$CTX/sub/Other.dockerfile" -t other "$CTX"
  run_husk run --rm other
  assert_output ctx-file

  # -f - : the Dockerfile from stdin, the context from the directory.
  printf 'FROM %s\nCOPY f /g\nCMD ["cat", "/g"]\n' "$IMAGE" >"$BATS_TEST_TMPDIR/df"
  run_husk --stdin "$BATS_TEST_TMPDIR/df" build -f - -t stdin-df "$CTX"
  [[ ${lines[-1]} =~ $ID64_RE ]] || fail "no id"
  run_husk run --rm stdin-df
  assert_output ctx-file

  # "-" and no tar: stdin is the Dockerfile, the context is empty.
  printf 'FROM %s\nRUN echo from-stdin > /s\nCMD ["cat", "/s"]\n' "$IMAGE" >"$BATS_TEST_TMPDIR/df2"
  run_husk --stdin "$BATS_TEST_TMPDIR/df2" build -t stdin-only -
  [[ ${lines[-1]} =~ $ID64_RE ]] || fail "no id"
  run_husk run --rm stdin-only
  assert_output from-stdin
  # ... so COPY finds nothing there.
  printf 'FROM %s\nCOPY f /f\n' "$IMAGE" >"$BATS_TEST_TMPDIR/df3"
  run_husk 125 --stdin "$BATS_TEST_TMPDIR/df3" build -
  assert_husk_error
  # No temp context left behind.
  run ls -A "$HUSK_ROOT/tmp"
  refute_output --partial build-context
}

@test "build: a tar (plain and gzip) on stdin is the context" {
  echo from-tar >"$CTX/t"
  dockerfile 'FROM FROM_IMAGE
COPY t /t
CMD ["cat", "/t"]'
  tar -C "$CTX" -cf "$BATS_TEST_TMPDIR/ctx.tar" Dockerfile t
  run_husk --stdin "$BATS_TEST_TMPDIR/ctx.tar" build -t tarctx -
  [[ ${lines[-1]} =~ $ID64_RE ]] || fail "no id"
  run_husk run --rm tarctx
  assert_output from-tar
  gzip -c "$BATS_TEST_TMPDIR/ctx.tar" >"$BATS_TEST_TMPDIR/ctx.tar.gz"
  run_husk --stdin "$BATS_TEST_TMPDIR/ctx.tar.gz" build -q -t tarctx:gz -
  assert_output --regexp "$ID64_RE"
  run_husk run --rm tarctx:gz
  assert_output from-tar
  run ls -A "$HUSK_ROOT/tmp"
  refute_output --partial build-context
}

@test "build: an http URL of a tarball is the context, -f names a file in it" {
  mkdir -p "$BATS_TEST_TMPDIR/www"
  echo from-url >"$CTX/u"
  dockerfile 'FROM FROM_IMAGE
COPY u /u
CMD ["cat", "/u"]' build.Containerfile
  tar -C "$CTX" -czf "$BATS_TEST_TMPDIR/www/ctx.tar.gz" build.Containerfile u
  local port py=python3 i
  [[ -x /usr/bin/python3 ]] && py=/usr/bin/python3
  port=$(random_port)
  "$py" -m http.server --bind 127.0.0.1 --directory "$BATS_TEST_TMPDIR/www" "$port" \
    >"$BATS_TEST_TMPDIR/http.log" 2>&1 3>&- &
  HTTP_PID=$!
  for ((i = 0; i < 50; i++)); do
    curl -fs "http://127.0.0.1:$port/ctx.tar.gz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  build_ok -f build.Containerfile -t urlctx "http://127.0.0.1:$port/ctx.tar.gz"
  run_husk run --rm urlctx
  assert_output from-url
  run_husk 125 build "http://127.0.0.1:$port/missing.tar.gz"
  assert_husk_error "404"
  run ls -A "$HUSK_ROOT/tmp"
  refute_output --partial build-context
}

@test "build: a git context is refused with a clear error" {
  run_husk 125 build https://example.com/repo.git
  assert_husk_error "git contexts are not supported"
  run_husk 125 build git@github.com:x/y
  assert_husk_error "git contexts are not supported"
}

@test "build: -q prints only the id, --iidfile gets sha256:ID, -t several names" {
  dockerfile 'FROM FROM_IMAGE
RUN echo quiet-run-output
CMD ["true"]'
  run_husk build -q --iidfile "$BATS_TEST_TMPDIR/iid" -t one -t two:v2 -t localhost/three "$CTX"
  assert_output --regexp "$ID64_RE"
  assert_line_count 1
  local id=$output
  assert_equal "$(cat "$BATS_TEST_TMPDIR/iid")" "sha256:$id" "iidfile"
  run_husk images --format '{{.Repository}}:{{.Tag}}' --filter "reference=*:*"
  run_husk image inspect --format '{{.Id}}' one two:v2 three
  assert_output "$id
$id
$id"
  run_husk images --no-trunc --format '{{.Repository}}:{{.Tag}}'
  assert_line localhost/one:latest
  assert_line localhost/two:v2
  assert_line localhost/three:latest
}

@test "build: bad flags fail before any work" {
  store_init
  local before
  before=$(store_snapshot)
  dockerfile 'FROM FROM_IMAGE
RUN echo x'
  run_husk 125 build -t 'Bad:Name:x' "$CTX"
  assert_husk_error
  run_husk 125 build --pull=sometimes "$CTX"
  assert_husk_error "--pull"
  run_husk 125 build --network bridge "$CTX"
  assert_husk_error "--network"
  run_husk 125 build --format appc "$CTX"
  assert_husk_error "--format"
  BUILDAH_FORMAT=weird run_husk 125 build "$CTX"
  assert_husk_error "BUILDAH_FORMAT"
  run_husk 125 build --timestamp yesterday "$CTX"
  assert_husk_error "--timestamp"
  SOURCE_DATE_EPOCH=abc run_husk 125 build "$CTX"
  assert_husk_error "SOURCE_DATE_EPOCH"
  run_husk 125 build "$BATS_TEST_TMPDIR/does-not-exist"
  assert_husk_error "does-not-exist"
  assert_store_unchanged "$before"
}

# push_and_inspect NAME FORMAT: push the image to the registry, set
# MANIFEST and CONFIG from skopeo.
push_and_inspect() {
  run_husk push --tls-verify=false "${@:3}" "$1" "$REGISTRY/build/$2:latest"
  MANIFEST=$(skopeo_ inspect --raw --tls-verify=false "docker://$REGISTRY/build/$2:latest") ||
    fail "skopeo inspect --raw failed"
  CONFIG=$(skopeo_ inspect --config --raw --tls-verify=false "docker://$REGISTRY/build/$2:latest") ||
    fail "skopeo inspect --config failed"
}

@test "build: --format oci and docker, checked by skopeo through a registry and husk save" {
  start_registry
  dockerfile 'FROM FROM_IMAGE
RUN echo x > /x
HEALTHCHECK CMD ["true"]
CMD ["cat", "/x"]'
  build_ok --format oci -t fmt:oci "$CTX"
  local oci_id=$IID
  build_ok --format docker -t fmt:docker "$CTX"
  assert_equal "$(img_json fmt:docker .ManifestType)" application/vnd.docker.distribution.manifest.v2+json
  assert_equal "$(img_json fmt:oci .ManifestType)" application/vnd.oci.image.manifest.v1+json

  push_and_inspect fmt:oci oci
  assert_equal "$(jq -r .mediaType <<<"$MANIFEST")" application/vnd.oci.image.manifest.v1+json
  assert_equal "$(jq -r .config.mediaType <<<"$MANIFEST")" application/vnd.oci.image.config.v1+json
  assert_equal "$(jq -r .config.digest <<<"$MANIFEST")" "sha256:$oci_id"
  assert_equal "$(jq -r '.config.Cmd | join(" ")' <<<"$CONFIG")" "cat /x"

  # Without --format, push keeps the image's own manifest type (Podman).
  push_and_inspect fmt:docker docker
  assert_equal "$(jq -r .mediaType <<<"$MANIFEST")" application/vnd.docker.distribution.manifest.v2+json
  push_and_inspect fmt:docker docker --format v2s2
  assert_equal "$(jq -r .mediaType <<<"$MANIFEST")" application/vnd.docker.distribution.manifest.v2+json
  assert_equal "$(jq -r .config.mediaType <<<"$MANIFEST")" application/vnd.docker.container.image.v1+json
  assert_equal "$(jq -r '.config.Healthcheck.Test | join(" ")' <<<"$CONFIG")" "CMD true"

  run_husk save -o "$BATS_TEST_TMPDIR/docker.tar" fmt:docker
  run skopeo_ inspect --config --raw "docker-archive:$BATS_TEST_TMPDIR/docker.tar"
  [[ $status -eq 0 ]] || fail "skopeo inspect docker-archive failed: $output"
  assert_equal "$(jq -r '.config.Cmd | join(" ")' <<<"$output")" "cat /x"
  assert_equal "$(jq -r '.config.Healthcheck.Test | join(" ")' <<<"$output")" "CMD true"
  stop_registry
}

@test "build: --squash makes one layer with everything" {
  dockerfile 'FROM FROM_IMAGE
RUN echo one > /one
RUN echo two > /two && rm /one
CMD ["cat", "/two"]'
  build_ok --squash -t squashed "$CTX"
  assert_equal "$(img_json squashed '.RootFS.Layers | length')" 1
  run_husk run --rm squashed sh -c 'cat /two; test -e /one || echo no-one; test -x /bin/busybox && echo base-kept'
  assert_output "two
no-one
base-kept"
}

@test "build: --timestamp twice (and SOURCE_DATE_EPOCH) gives the same image id" {
  echo content >"$CTX/c"
  dockerfile 'FROM FROM_IMAGE
COPY c /c
RUN echo made > /made
CMD ["cat", "/c"]'
  build_ok --no-cache --timestamp 1700000000 "$CTX"
  local first=$IID
  touch "$CTX/c"
  build_ok --no-cache --timestamp 1700000000 "$CTX"
  assert_equal "$IID" "$first" "image id of the second --timestamp build"
  SOURCE_DATE_EPOCH=1700000000 build_ok --no-cache "$CTX"
  assert_equal "$IID" "$first" "image id with SOURCE_DATE_EPOCH"
  assert_equal "$(img_json "$first" .Created)" "2023-11-14T22:13:20Z"
  run_husk run --rm "$first" stat -c %Y /made
  assert_output 1700000000
  build_ok --no-cache --timestamp 1700000001 "$CTX"
  [[ $IID != "$first" ]] || fail "another timestamp gave the same id"
}

@test "build: a big COPY reports its progress (files and bytes)" {
  mkdir -p "$CTX/many"
  local i
  for ((i = 0; i < 1200; i++)); do echo "$i" >"$CTX/many/f$i"; done
  dockerfile 'FROM FROM_IMAGE
COPY many /many/
RUN ls /many | wc -l'
  build_ok "$CTX"
  assert_line --regexp '^Copying: 1200 files, [0-9.]+[kM]?B, done$'
  assert_line 1200
  # -q: only the id.
  run_husk build -q --no-cache "$CTX"
  refute_line --partial Copying
}
