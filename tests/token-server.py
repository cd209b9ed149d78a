#!/usr/bin/env python3
"""A tiny bearer token server for docker-registry's `auth: token:` mode,
on 127.0.0.1, for the token-flow system tests.

GET /token?service=S&scope=repository:NAME:pull,push[&scope=...] (and the
OAuth2 POST form docker uses) checks HTTP basic credentials against
--user/--password and answers {"token": JWT, "access_token": JWT,
"expires_in": N}.  The JWT is RS256, signed with --key, and carries --cert
in its x5c header, which docker-registry verifies against its
rootcertbundle (the same certificate).  Every scope asked for is granted
to the right user; anonymous requests get a token with no access (so the
registry answers 401 again, as Docker Hub does for private images);
wrong credentials get 401.

Signing uses the `cryptography` package when it is installed, else
`openssl dgst -sha256 -sign`.

Every request is logged to --log as one JSON object a line: t, method,
path, user (or null), status.  The port is written to --port-file.

Usage: token-server.py --key K --cert C --issuer I --service S
       --user U --password P --port-file F --log F [--expires N]
"""

import argparse
import base64
import http.server
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.parse


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pem_to_der(pem):
    body = "".join(line for line in pem.splitlines() if line and not line.startswith("-----"))
    return base64.b64decode(body)


class Signer:
    def __init__(self, key_path):
        self.key_path = key_path
        self.key = None
        try:
            from cryptography.hazmat.primitives import serialization
            with open(key_path, "rb") as f:
                self.key = serialization.load_pem_private_key(f.read(), password=None)
        except ImportError:
            pass

    def sign(self, data):
        if self.key is not None:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import padding
            return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key_path],
                              input=data, stdout=subprocess.PIPE, check=True).stdout


def parse_scope(scope):
    """"repository:husk/test:pull,push" -> access entry (the name may hold
    colons: a port in a name is not expected, but be lenient)."""
    parts = scope.split(":")
    if len(parts) < 3:
        return None
    return {"type": parts[0], "name": ":".join(parts[1:-1]), "actions": parts[-1].split(",")}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def log_line(self, status, user):
        srv = self.server
        with srv.log_lock:
            srv.log.write(json.dumps({"t": round(time.monotonic() - srv.start, 3),
                                      "method": self.command, "path": self.path,
                                      "user": user, "status": status}) + "\n")
            srv.log.flush()

    def reply(self, status, obj, user):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="husk-token-server"')
        self.end_headers()
        self.wfile.write(body)
        self.log_line(status, user)

    def credentials(self, form):
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return "", ""
            return user, password
        if form.get("grant_type") == ["password"]:
            return form.get("username", [""])[0], form.get("password", [""])[0]
        return None, None

    def token(self, query):
        srv = self.server
        user, password = self.credentials(query)
        if user is not None and (user != srv.user or password != srv.password):
            self.reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                         "message": "invalid username/password"}]}, user)
            return
        access = []
        if user is not None:
            for scope in query.get("scope", []):
                for one in scope.split(" "):
                    entry = parse_scope(one)
                    if entry:
                        access.append(entry)
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(srv.cert_der).decode()]}
        claims = {"iss": srv.issuer, "sub": user or "", "aud": srv.service,
                  "exp": now + srv.expires, "nbf": now - 10, "iat": now,
                  "jti": secrets.token_hex(8), "access": access}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode())).encode()
        jwt = signing_input.decode() + "." + b64url(srv.signer.sign(signing_input))
        self.reply(200, {"token": jwt, "access_token": jwt, "expires_in": srv.expires,
                         "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}, user)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            self.reply(404, {"error": "not found"}, None)
            return
        self.token(urllib.parse.parse_qs(url.query))

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode()) if length else {}
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            self.reply(404, {"error": "not found"}, None)
            return
        query = urllib.parse.parse_qs(url.query)
        for k, v in form.items():
            query.setdefault(k, []).extend(v)
        self.token(query)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for opt in ("--key", "--cert", "--issuer", "--service", "--user", "--password",
                "--port-file", "--log"):
        p.add_argument(opt, required=True)
    p.add_argument("--expires", type=int, default=300)
    args = p.parse_args()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(args.cert, encoding="ascii") as f:
        srv.cert_der = pem_to_der(f.read())
    srv.signer = Signer(args.key)
    srv.issuer, srv.service = args.issuer, args.service
    srv.user, srv.password = args.user, args.password
    srv.expires = args.expires
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
