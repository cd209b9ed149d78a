#!/usr/bin/env python3
"""A fake OCI registry on 127.0.0.1 serving the faulty answers a real one
cannot, for tests/system/140-registry-faults.bats.

It serves the test fixture (an OCI layout, first manifest) under several
repositories, each of which misbehaves in one way:

  good/image          correct answers (proves the harness works)
  baddigest/image     the first layer's bytes altered (same size)
  truncated/image     the first layer cut in half, Content-Length to match
  reset/image         the first GET of the first layer sends half of it and
                      resets the connection; a Range request gets the rest
                      (206), so a client that resumes succeeds
  ratelimit/image     the first manifest request of the repository gets 429
                      with Retry-After: 1, later ones succeed
  bigmanifest/image   a manifest over 4 MiB (an annotation pads it)
  bomb/image          a gzip layer that inflates to --bomb-mib MiB of zeros
  otherplatform/image an OCI index with s390x and ppc64le manifests only
Any other repository is NAME_UNKNOWN, any other tag MANIFEST_UNKNOWN.

--auth basic makes every /v2/ request (the /v2/ ping included, as real
registries do) demand HTTP basic auth with --user/--password; --auth token
demands a bearer token, which /token on this server hands out to
--user/--password.

Every request is logged to --log as one JSON object a line: t (seconds
since start), method, path, range, auth (the scheme sent, or null),
status.  The listening port is written to --port-file once it listens.

Usage: fake-registry.py --oci DIR --port-file F --log F [--bomb-mib N]
       [--auth none|basic|token --user U --password P]
"""

import argparse
import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import secrets
import socket
import struct
import sys
import tarfile
import threading
import time

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canon(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


class Repo:
    """One repository: tag or digest -> (media type, bytes), blobs by
    digest, and the fault it plays."""

    def __init__(self, fault=None):
        self.fault = fault
        self.manifests = {}
        self.blobs = {}
        self.lock = threading.Lock()
        self.state = {}

    def add_manifest(self, tag, media_type, data):
        self.manifests[digest(data)] = (media_type, data)
        if tag:
            self.manifests[tag] = (media_type, data)
        return digest(data)


def load_fixture(oci):
    def blob(d):
        with open(os.path.join(oci, "blobs", "sha256", d.split(":", 1)[1]), "rb") as f:
            return f.read()

    with open(os.path.join(oci, "index.json"), "rb") as f:
        index = json.load(f)
    mdesc = index["manifests"][0]
    manifest_bytes = blob(mdesc["digest"])
    manifest = json.loads(manifest_bytes)
    blobs = {manifest["config"]["digest"]: blob(manifest["config"]["digest"])}
    for layer in manifest["layers"]:
        blobs[layer["digest"]] = blob(layer["digest"])
    return manifest_bytes, manifest, blobs


def make_bomb(mib):
    """A gzip tar holding one file of MIB MiB of zeros: (blob, diffID)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("zeros")
        info.size = mib << 20
        info.mtime = 1704067200
        info.mode = 0o644

        tar.addfile(info, io.BytesIO(bytes(info.size)))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, 9, mtime=0), digest(tar_bytes)


def build_repos(oci, bomb_mib):
    manifest_bytes, manifest, blobs = load_fixture(oci)
    config_digest = manifest["config"]["digest"]
    config = json.loads(blobs[config_digest])
    first_layer = manifest["layers"][0]["digest"]
    repos = {}

    def plain(name, fault=None):
        r = Repo(fault)
        r.blobs = dict(blobs)
        r.add_manifest("latest", manifest["mediaType"] if "mediaType" in manifest else OCI_MANIFEST,
                       manifest_bytes)
        repos[name] = r
        return r

    plain("good/image")
    plain("reset/image", "reset").state["layer"] = first_layer
    plain("ratelimit/image", "ratelimit")

    r = plain("baddigest/image")
    bad = bytearray(blobs[first_layer])
    for i in range(len(bad) // 2, min(len(bad), len(bad) // 2 + 64)):
        bad[i] ^= 0xFF
    r.blobs[first_layer] = bytes(bad)

    r = plain("truncated/image")
    r.blobs[first_layer] = blobs[first_layer][: len(blobs[first_layer]) // 2]

    r = Repo()
    r.blobs = dict(blobs)
    big = dict(manifest)
    big["annotations"] = {"pad": "x" * ((4 << 20) + (512 << 10))}
    r.add_manifest("latest", OCI_MANIFEST, canon(big))
    repos["bigmanifest/image"] = r

    r = Repo()
    bomb, bomb_diff_id = make_bomb(bomb_mib)
    bomb_config = dict(config)
    bomb_config["rootfs"] = {"type": "layers", "diff_ids": [bomb_diff_id]}
    bomb_config.pop("history", None)
    cbytes = canon(bomb_config)
    r.blobs = {digest(cbytes): cbytes, digest(bomb): bomb}
    r.add_manifest("latest", OCI_MANIFEST, canon({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest(cbytes), "size": len(cbytes)},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": digest(bomb), "size": len(bomb)}]}))
    repos["bomb/image"] = r

    r = Repo()
    r.blobs = dict(blobs)
    entries = []
    for arch in ("s390x", "ppc64le"):
        c = dict(config)
        c["architecture"] = arch
        cbytes = canon(c)
        r.blobs[digest(cbytes)] = cbytes
        m = dict(manifest)
        m["config"] = {"mediaType": OCI_CONFIG, "digest": digest(cbytes), "size": len(cbytes)}
        mbytes = canon(m)
        r.add_manifest(None, OCI_MANIFEST, mbytes)
        entries.append({"mediaType": OCI_MANIFEST, "digest": digest(mbytes), "size": len(mbytes),
                        "platform": {"architecture": arch, "os": "linux"}})
    r.add_manifest("latest", OCI_INDEX, canon({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                               "manifests": entries}))
    repos["otherplatform/image"] = r
    return repos


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-registry/1"

    def log_message(self, fmt, *args):  # the JSON log replaces it
        pass

    def log_request(self, code="-", size="-"):
        srv = self.server
        # A request that did not parse (a TLS hello from a client trying
        # https first) has no path and no headers.
        entry = {"t": round(time.monotonic() - srv.start, 3), "method": getattr(self, "command", None),
                 "path": getattr(self, "path", None),
                 "range": self.headers.get("Range") if self.headers else None,
                 "auth": ((self.headers.get("Authorization") if self.headers else None)
                          or " ").split(" ")[0] or None,
                 "status": int(code) if str(code).isdigit() else code}
        with srv.log_lock:
            srv.log.write(json.dumps(entry) + "\n")
            srv.log.flush()

    # -- answers ---------------------------------------------------------

    def reply(self, status, body=b"", headers=None, content_type="application/json"):
        self.send_response(status)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        if body is not None:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def error(self, status, code, message, headers=None):
        self.reply(status, canon({"errors": [{"code": code, "message": message, "detail": None}]}),
                   headers)

    def basic_ok(self):
        want = base64.b64encode(f"{self.server.user}:{self.server.password}".encode()).decode()
        return self.headers.get("Authorization", "") == "Basic " + want

    def check_auth(self, name):
        mode = self.server.auth_mode
        if mode == "basic" and not self.basic_ok():
            self.error(401, "UNAUTHORIZED", "authentication required",
                       {"WWW-Authenticate": 'Basic realm="fake-registry"'})
            return False
        if mode == "token":
            tok = self.headers.get("Authorization", "")
            if not (tok.startswith("Bearer ") and tok[7:] in self.server.tokens):
                realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
                self.error(401, "UNAUTHORIZED", "authentication required", {
                    "WWW-Authenticate":
                        f'Bearer realm="{realm}",service="fake-registry"' +
                        (f',scope="repository:{name}:pull"' if name else "")})
                return False
        return True

    def token(self):
        if not self.basic_ok():
            self.reply(401, canon({"details": "invalid username/password"}),
                       {"WWW-Authenticate": 'Basic realm="fake-token"'})
            return
        tok = secrets.token_hex(16)
        self.server.tokens.add(tok)
        self.reply(200, canon({"token": tok, "access_token": tok, "expires_in": 300,
                               "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))

    def manifest(self, repo, name, ref):
        if repo.fault == "ratelimit":
            with repo.lock:
                first = not repo.state.get("limited")
                repo.state["limited"] = True
            if first:
                self.error(429, "TOOMANYREQUESTS", "slow down", {"Retry-After": "1"})
                return
        if ref not in repo.manifests:
            self.error(404, "MANIFEST_UNKNOWN", f"manifest unknown: {name}:{ref}")
            return
        media_type, data = repo.manifests[ref]
        self.reply(200, data, {"Docker-Content-Digest": digest(data)}, media_type)

    def blob(self, repo, name, d):
        if d not in repo.blobs:
            self.error(404, "BLOB_UNKNOWN", f"blob unknown: {d}")
            return
        data = repo.blobs[d]
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start_s, _, end_s = rng[6:].partition("-")
            start = int(start_s)
            end = int(end_s) if end_s else len(data) - 1
            if start >= len(data) or end < start:
                self.reply(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            end = min(end, len(data) - 1)
            self.reply(206, data[start:end + 1],
                       {"Content-Range": f"bytes {start}-{end}/{len(data)}",
                        "Docker-Content-Digest": d, "Accept-Ranges": "bytes"},
                       "application/octet-stream")
            return
        if repo.fault == "reset" and d == repo.state.get("layer") and self.command == "GET":
            with repo.lock:
                first = not repo.state.get("reset_done")
                repo.state["reset_done"] = True
            if first:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Docker-Content-Digest", d)
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                time.sleep(0.1)
                # SO_LINGER 0: close() sends a RST, not a FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
                return
        self.reply(200, data, {"Docker-Content-Digest": d, "Accept-Ranges": "bytes"},
                   "application/octet-stream")

    def route(self):
        path = self.path.split("?", 1)[0]
        if path == "/token":
            self.token()
            return
        if path in ("/v2", "/v2/"):
            if self.check_auth(None):
                self.reply(200, b"{}")
            return
        if not path.startswith("/v2/"):
            self.error(404, "NOT_FOUND", "not found")
            return
        rest = path[4:]
        for kind in ("/manifests/", "/blobs/"):
            if kind in rest:
                name, _, ref = rest.rpartition(kind)
                break
        else:
            self.error(404, "NOT_FOUND", "not found")
            return
        if not self.check_auth(name):
            return
        repo = self.server.repos.get(name)
        if repo is None:
            self.error(404, "NAME_UNKNOWN", f"repository name not known to registry: {name}")
            return
        if kind == "/manifests/":
            self.manifest(repo, name, ref)
        else:
            self.blob(repo, name, ref)

    def do_GET(self):
        try:
            self.route()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_HEAD = do_GET

    def do_other(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.error(405, "UNSUPPORTED", "this fake registry is read-only")

    do_POST = do_PUT = do_PATCH = do_DELETE = do_other


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--oci", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--bomb-mib", type=int, default=64)
    p.add_argument("--user", default="fakeuser")
    p.add_argument("--password", default="fakepass")
    p.add_argument("--auth", choices=("none", "basic", "token"), default="none")
    args = p.parse_args()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.repos = build_repos(args.oci, args.bomb_mib)
    srv.user, srv.password = args.user, args.password
    srv.auth_mode = args.auth
    srv.tokens = set()
    srv.start = time.monotonic()
    srv.log = open(args.log, "a", encoding="utf-8")
    srv.log_lock = threading.Lock()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{srv.server_address[1]}\n")
    os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
