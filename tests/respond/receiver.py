#!/usr/bin/env python3
"""The receiving end of tokenhound's hooks, for the respond tests, verified
with independent libraries:

- POST /ssf: an RFC 8935 push of a Security Event Token. Verified with PyJWT
  against tokenhound's published JWKS (--jwks-url) and checked against the
  SSF/RFC 8417 rules (typ secevent+jwt, iss, aud, iat, jti, txn, sub_id,
  exactly one event, no exp). 202 when good, 400 with the RFC 8935 error
  JSON when not.
- POST /webhook: a Standard Webhooks delivery, verified with the official
  `standardwebhooks` library.

--script "503,503,202" answers each delivery id with those statuses in turn
(then the last one forever); --delay S sleeps before answering. Every
request is appended to --record as a JSON line: {kind, id, status, ok, ...}.
"""
import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from standardwebhooks.webhooks import Webhook

SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
CREDENTIAL_COMPROMISE = "https://schemas.openid.net/secevent/risc/event-type/credential-compromise"
RISK_LEVEL_CHANGE = "https://schemas.openid.net/secevent/caep/event-type/risk-level-change"
LEVELS = ("LOW", "MEDIUM", "HIGH")
PRINCIPALS = ("USER", "DEVICE", "SESSION", "TENANT", "ORG_UNIT", "GROUP")

args = None
lock = threading.Lock()
seen = {}
jwks_client = None


def record(entry):
    with lock:
        with open(args.record, "a") as f:
            f.write(json.dumps(entry) + "\n")


def scripted(ident):
    with lock:
        n = seen.get(ident, 0)
        seen[ident] = n + 1
    codes = [int(c) for c in args.script.split(",")]
    return codes[min(n, len(codes) - 1)]


def check_set(token):
    global jwks_client
    header = jwt.get_unverified_header(token)
    if header.get("typ") != "secevent+jwt":
        raise ValueError(f"typ is {header.get('typ')!r}")
    if jwks_client is None:
        jwks_client = jwt.PyJWKClient(args.jwks_url)
    key = jwks_client.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["ES256", "RS256"], audience=args.audience,
                        issuer=args.issuer, options={"require": ["iss", "aud", "iat", "jti"], "verify_exp": False})
    if "exp" in claims:
        raise ValueError("a SET has no exp")
    events = claims.get("events", {})
    if len(events) != 1:
        raise ValueError(f"{len(events)} events in one SET")
    (event, body), = events.items()
    sub_id = claims.get("sub_id", {})
    if not claims.get("txn"):
        raise ValueError("no txn")
    if event == SESSION_REVOKED:
        if sub_id.get("format") == "jwt_id":
            if not (sub_id.get("iss") and sub_id.get("jti")):
                raise ValueError("jwt_id sub_id without iss and jti")
        elif sub_id.get("format") != "iss_sub":
            raise ValueError(f"sub_id format {sub_id.get('format')!r}")
    elif event == CREDENTIAL_COMPROMISE:
        if sub_id.get("format") != "iss_sub" or body.get("credential_type") != "password":
            raise ValueError("credential-compromise must name the subject and the password")
    elif event == RISK_LEVEL_CHANGE:
        # CAEP 1.0 section 3.8: principal, current_level and risk_reason
        # are required; previous_level is optional
        if sub_id.get("format") != "iss_sub" or not sub_id.get("sub"):
            raise ValueError("risk-level-change must name the subject (iss_sub)")
        if body.get("principal") not in PRINCIPALS:
            raise ValueError(f"principal {body.get('principal')!r}")
        if body.get("current_level") not in LEVELS:
            raise ValueError(f"current_level {body.get('current_level')!r}")
        if "previous_level" in body and body["previous_level"] not in LEVELS:
            raise ValueError(f"previous_level {body.get('previous_level')!r}")
        if not isinstance(body.get("risk_reason"), str) or not body["risk_reason"]:
            raise ValueError("risk_reason is a required string")
    else:
        raise ValueError(f"unexpected event {event}")
    return claims, event


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, body=b""):
        self.send_response(code)
        if code == 503:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if args.delay:
            time.sleep(args.delay)
        if self.path == "/ssf":
            try:
                if self.headers.get("Content-Type") != "application/secevent+jwt":
                    raise ValueError("content type")
                if args.auth and self.headers.get("Authorization") != args.auth:
                    raise ValueError("authorization")
                claims, event = check_set(body.decode())
            except Exception as e:  # an invalid SET is a 400 with the RFC 8935 error JSON
                record({"kind": "set", "ok": False, "error": str(e), "status": 400})
                return self.reply(400, json.dumps({"err": "invalid_request", "description": str(e)}).encode())
            code = scripted(claims["jti"])
            record({"kind": "set", "ok": True, "id": claims["jti"], "event": event, "status": code, "claims": claims})
            return self.reply(code)
        if self.path == "/webhook":
            try:
                payload = Webhook(args.webhook_secret).verify(body, dict(self.headers))
            except Exception as e:
                record({"kind": "webhook", "ok": False, "error": str(e), "status": 400})
                return self.reply(400)
            ident = self.headers.get("webhook-id")
            code = scripted(ident)
            record({"kind": "webhook", "ok": True, "id": ident, "type": payload["type"], "status": code, "data": payload["data"]})
            return self.reply(204 if code == 202 else code)
        self.reply(404)


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--record", required=True)
    p.add_argument("--jwks-url", default="")
    p.add_argument("--issuer", default="")
    p.add_argument("--audience", default="")
    p.add_argument("--auth", default="")
    p.add_argument("--webhook-secret", default="")
    p.add_argument("--script", default="202")
    p.add_argument("--delay", type=float, default=0.0)
    args = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
