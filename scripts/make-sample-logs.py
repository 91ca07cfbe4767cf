#!/usr/bin/env python3
"""Write the sample logs under sample-logs/ (the stories sample-logs/README.md
describes). Deterministic: same script, same files. Raw tokens are signed with
the test keys in sample-logs/keys/ (needs: pip install cryptography).
"""
import base64, json, pathlib
from datetime import datetime, timezone

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

root = pathlib.Path(__file__).resolve().parent.parent / "sample-logs"
ISS = "https://idp.acme.example"

def ts(s):  # "2026-11-02T09:00:00Z" -> epoch ms
    return int(datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp() * 1000)

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.110 Safari/537.36"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"
APP = "AcmeMobile/3.2.1 (Android 14; Pixel 8)"

def claims(jti, sub, iat, client="web-portal"):
    i = ts(iat) // 1000
    return {"iss": ISS, "jti": jti, "sub": sub, "iat": i, "exp": i + 3600, "client_id": client, "kid": "idp-2026-11"}

n = 0
def kong(t, ip, ua, method, uri, status, jwt):
    global n
    n += 1
    line = {"started_at": ts(t), "client_ip": ip,
            "request": {"method": method, "uri": uri, "size": 210, "id": f"req-{n:04d}",
                        "headers": {"user-agent": ua, "host": "api.acme.example", "authorization": "REDACTED"}},
            "response": {"status": status, "size": 1400}, "route": {"name": uri.split("/")[2] if uri.count("/") > 1 else "root"},
            "service": {"name": "acme-api"}, "latencies": {"request": 14, "kong": 1, "proxy": 13}}
    if jwt:
        line["jwt"] = jwt
    return line

A = claims("a1b2c3d4-alice", "alice", "2026-11-02T08:55:00Z")
B = claims("b0b0b0b0-bob", "bob", "2026-11-02T10:00:00Z")
C = claims("c4r0l000-carol", "carol", "2026-11-02T10:30:00Z", "mobile-android")
D1 = claims("d4v3-0001", "dave", "2026-11-02T08:00:00Z", "mobile-android")
D2 = claims("d4v3-0002", "dave", "2026-11-02T14:00:00Z", "mobile-android")
E = claims("e41n-0001", "erin", "2026-11-02T09:00:00Z", "mobile-android")
F = claims("fr4nk-0001", "frank", "2026-11-02T11:00:00Z")
G = claims("gr4c3-0001", "grace", "2026-11-02T11:00:00Z")
H = claims("h31d1-0001", "heidi", "2026-11-02T13:00:00Z")

lines = [
    # alice (London, Chrome): stolen, replayed from Singapore (BulletHost) while she keeps working
    kong("2026-11-02T09:00:00Z", "198.18.1.23", CHROME, "GET", "/api/me", 200, A),
    kong("2026-11-02T09:05:00Z", "198.18.1.23", CHROME, "GET", "/api/orders", 200, A),
    kong("2026-11-02T09:20:00Z", "198.18.126.77", CHROME, "GET", "/api/payments", 200, A),
    kong("2026-11-02T09:21:00Z", "198.18.126.77", CHROME, "GET", "/api/export", 200, A),
    kong("2026-11-02T09:30:00Z", "198.18.1.23", CHROME, "GET", "/api/orders/48213", 200, A),
    # bob (Berlin, Firefox): his token replayed with curl from a Berlin hosting provider
    kong("2026-11-02T10:01:00Z", "198.18.31.40", FIREFOX, "GET", "/api/me", 200, B),
    kong("2026-11-02T10:10:00Z", "198.18.31.40", FIREFOX, "GET", "/api/profile", 200, B),
    kong("2026-11-02T10:15:00Z", "198.18.36.9", "curl/8.4.0", "GET", "/api/export", 200, B),
    kong("2026-11-02T10:16:00Z", "198.18.36.9", "curl/8.4.0", "GET", "/admin/users", 403, B),
    # carol (Paris, app): logs out at 11:00 (revoked), the token is used again at 11:12
    kong("2026-11-02T10:31:00Z", "198.18.21.5", APP, "GET", "/api/me", 200, C),
    kong("2026-11-02T10:50:00Z", "198.18.21.5", APP, "POST", "/api/orders", 201, C),
    kong("2026-11-02T11:12:00Z", "198.18.26.200", APP, "GET", "/api/payments", 200, C),
    # dave (New York, app): wifi then cellular in the city; later a new token in Chicago (benign)
    kong("2026-11-02T08:01:00Z", "198.18.81.12", APP, "GET", "/api/me", 200, D1),
    kong("2026-11-02T08:20:00Z", "198.18.83.99", APP, "GET", "/api/orders", 200, D1),
    kong("2026-11-02T08:25:00Z", "198.18.84.7", APP, "GET", "/api/orders/10001", 200, D1),
    kong("2026-11-02T14:01:00Z", "198.18.93.50", APP, "GET", "/api/me", 200, D2),
    kong("2026-11-02T14:05:00Z", "198.18.93.51", APP, "GET", "/api/catalog", 200, D2),
    # erin (London, app): carrier IP churn and an IPv6 home line (benign)
    kong("2026-11-02T09:01:00Z", "198.18.3.10", APP, "GET", "/api/me", 200, E),
    kong("2026-11-02T09:03:00Z", "198.18.4.201", APP, "GET", "/api/catalog", 200, E),
    kong("2026-11-02T09:04:00Z", "198.18.3.77", APP, "GET", "/api/catalog", 200, E),
    kong("2026-11-02T09:30:00Z", "2001:db8:1::4a", APP, "GET", "/api/orders", 200, E),
    kong("2026-11-02T09:31:00Z", "198.18.1.99", APP, "GET", "/api/orders", 500, E),
    # frank (Madrid, Chrome): switches his VPN on and off (benign)
    kong("2026-11-02T11:01:00Z", "198.18.51.14", CHROME, "GET", "/api/me", 200, F),
    kong("2026-11-02T11:10:00Z", "198.18.55.3", CHROME, "GET", "/api/orders", 200, F),
    kong("2026-11-02T11:20:00Z", "198.18.51.14", CHROME, "GET", "/api/orders", 200, F),
    # grace (Tokyo, Safari): a legacy route accepts her token 20 minutes after it expired
    kong("2026-11-02T11:30:00Z", "198.18.131.8", SAFARI, "GET", "/api/me", 200, G),
    kong("2026-11-02T12:20:00Z", "198.18.131.8", SAFARI, "GET", "/legacy/orders", 200, G),
    # heidi (Amsterdam, Chrome): her token used from three networks within five minutes
    kong("2026-11-02T13:01:00Z", "198.18.61.4", CHROME, "GET", "/api/me", 200, H),
    kong("2026-11-02T13:03:00Z", "198.18.66.12", CHROME, "GET", "/api/payments", 200, H),
    kong("2026-11-02T13:05:00Z", "198.18.67.30", CHROME, "GET", "/api/export", 200, H),
    # health checks: no token
    kong("2026-11-02T09:00:00Z", "10.0.0.5", "kube-probe/1.29", "GET", "/health", 200, None),
]
(root / "logs" / "kong").mkdir(parents=True, exist_ok=True)
with open(root / "logs" / "kong" / "stories.ndjson", "w") as f:
    for l in sorted(lines, key=lambda l: l["started_at"]):
        f.write(json.dumps(l, separators=(",", ":")) + "\n")
with open(root / "revocations.ndjson", "w") as f:
    f.write(json.dumps({"iss": ISS, "jti": C["jti"], "revoked_at": "2026-11-02T11:00:00Z"}) + "\n")

# --- Traefik, raw bearer tokens verified against sample-logs/keys/idp-jwks.json
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
key = lambda name: serialization.load_pem_private_key((root / "keys" / name).read_bytes(), None)
def jwt(claims, signer="idp-rs256.key", alg="RS256"):
    h = {"alg": alg, "typ": "JWT", "kid": "idp-2026-11"}
    si = b64(json.dumps(h, separators=(",", ":")).encode()) + "." + b64(json.dumps(claims, separators=(",", ":")).encode())
    if alg == "none":
        return si + "."
    return si + "." + b64(key(signer).sign(si.encode(), padding.PKCS1v15(), hashes.SHA256()))

def traefik(t, ip, ua, method, path, status, tok):
    line = {"StartUTC": t, "ClientHost": ip, "RequestMethod": method, "RequestPath": path, "DownstreamStatus": status,
            "DownstreamContentSize": 900, "request_User-Agent": ua, "RouterName": "api@file"}
    if tok:
        line["request_Authorization"] = "Bearer " + tok
    return line

K = jwt(claims("k3n-0001", "ken", "2026-11-02T15:00:00Z"))
M = jwt(claims("m4ll-0001", "mallory-victim", "2026-11-02T15:00:00Z", "mobile-android"))
forged = jwt(claims("1v4n-0001", "ivan", "2026-11-02T16:00:00Z"), signer="attacker-rs256.key")
none = jwt(claims("jud7-0001", "judy", "2026-11-02T16:30:00Z"), alg="none")
tl = [
    # ken (Frankfurt, Chrome): plain legitimate use, verified signatures
    traefik("2026-11-02T15:01:00Z", "198.18.41.20", CHROME, "GET", "/api/me", 200, K),
    traefik("2026-11-02T15:02:00Z", "198.18.41.20", CHROME, "GET", "/api/orders", 200, K),
    # a mobile token replayed with python-requests from the same city
    traefik("2026-11-02T15:05:00Z", "198.18.43.3", APP, "GET", "/api/me", 200, M),
    traefik("2026-11-02T15:25:00Z", "198.18.46.90", "python-requests/2.31.0", "GET", "/api/export", 200, M),
    # ivan: a token signed with a key the IdP never published (Lagos hosting)
    traefik("2026-11-02T16:01:00Z", "198.18.146.6", "curl/8.4.0", "GET", "/admin/users", 401, forged),
    # judy: an unsigned alg=none token
    traefik("2026-11-02T16:31:00Z", "198.18.146.7", "curl/8.4.0", "GET", "/api/me", 401, none),
]
(root / "logs" / "traefik").mkdir(parents=True, exist_ok=True)
with open(root / "logs" / "traefik" / "stories.ndjson", "w") as f:
    for l in tl:
        f.write(json.dumps(l, separators=(",", ":")) + "\n")
print("wrote", len(lines), "kong lines and", len(tl), "traefik lines")
