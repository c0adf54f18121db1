#!/usr/bin/env python3
"""`make bench`: edge-auth against no auth, an empty proxy-wasm module and Envoy's jwt_authn.

One Envoy per configuration, each with ONE worker pinned to CPU 0 (taskset); wrk pinned to
CPU 1. Every scenario runs once per round, rounds interleaved (A B C ... A B C ...), so machine
noise spreads over all of them; the table shows medians over rounds. Envoy CPU per request is
the Envoy process's CPU time delta divided by the requests wrk completed: the sum of its threads'
run times in nanoseconds (/proc/PID/task/*/schedstat; utime+stime of /proc/PID/stat come from
the same counter in 10 ms steps, which at a few thousand requests per second was a step of
0.7 µs per request, as large as the differences the issue 21 rows look for).

Everything listens on 127.0.0.1 on free ports; every process started here is stopped by PID.
The fleet rows need a Redis (Debian's redis-server, no persistence) and the test rate limit
service (tests/servers/ratelimit) in front of it, both from `make fleet-tools` (missing: the run
fails, naming it; never skipped). They are pinned to CPU 1 with wrk, not to Envoy's CPU 0, so
Envoy's CPU per request stays Envoy's own (the service's work is not in it; it competes with
wrk instead, which may lower the fleet rows' req/s a little).
Run through `make bench` (it builds the modules and installs Envoy); `--smoke` is the short
run `make test` uses. See docs/performance.md for how to read the table.

Scenario kinds (one row each, per algorithm where it applies):
  baseline         Envoy, no auth filter
  passthrough      Envoy + an empty proxy-wasm module (bench/passthrough): the wasm floor
  host-calls       the same module configured `host-calls`: only the host calls of an edge-auth
                   cache hit (read headers, clock, three header changes, one counter), no logic:
                   the floor for any filter that must make them
  hc-read, hc-read-three, hc-read-map, hc-clock, hc-counter, hc-floor
                   the same module taking those calls apart (issue 22): the headers read
                   alone; read and the three header changes one call each; read and the same
                   changes as one write of the whole map; the clock alone; the counter alone;
                   and the calls of a cache hit since issue 22 (read, clock, three changes:
                   the new floor, the counter being added at the tick)
  hc-read-three-16h, hc-read-map-16h
                   hc-read-three and hc-read-map with 16 more request headers (the map write
                   copies every header: its cost grows with them)
  rsa-floor        the same module's rsa-floor build (bench/passthrough, feature rsa-floor;
                   RS256 only): hc-floor's calls plus the RS256 check of a fresh token with
                   edge-auth's RSA kernel, nothing else (no JSON, claims, cache or rule): the
                   floor of edge-auth's first sight RS256 (issue 22); a token that fails gets 401
  native           Envoy jwt_authn, same token every request, no jwt_cache_config
  native-cache     Envoy jwt_authn, same token, jwt_cache_config on
  edge-reuse       edge-auth, same token every request (verified-token cache hits)
  edge-fresh       edge-auth, a different valid token per request (no cache help)
  edge-forged      edge-auth, forged signatures naming a valid kid (expect 401)
  edge-apikey      edge-auth, API key pair (SHA-256 of the secret, constant-time compare)
  edge-apikey-bad  edge-auth, API key pair with a wrong secret (expect 401)
  edge-basic       edge-auth, HTTP Basic against the same client
  edge-dpop        edge-auth with DPoP: one reused ES256 token bound to the client's key (cache
                   hits), a fresh proof per request signed with ES256 or EdDSA (one row each);
                   compare with `edge-reuse ES256`, the same cached token as a plain bearer token
  before-reuse     with --compare-wasm: another build of edge-auth (e.g. the previous commit),
  before-fresh     same token / fresh tokens, interleaved with the rows above, so a change is
                   measured against its baseline in the same invocation (`make bench-compare`)
  abuse-reuse      edge-auth with the lockout and the signature-check budget configured, same
                   token every request: the cache-hit row, to compare with edge-reuse
  abuse-forged     the same Envoy, a flood of forged tokens from one source whose budget is
                   spent (expect 429 before any signature math): compare with abuse-reuse
  edge-dpop-fleet  edge-dpop ES256 against an Envoy with the fleet's DPoP replay check
                   (fleet.dpop_replay, fail_closed): every proof is new, so one ShouldRateLimit
                   call to the rate limit service per request; compare with `edge-dpop ES256`
  edge-apikey-lockout  the good API key pair against the abuse-* Envoy (abuse.lockout on, no
                   fleet section): the fair "without" for the next row
  edge-apikey-fleet    the good API key pair against an Envoy with abuse.lockout and the fleet's
                   lockout (fleet.lockout): only failed secrets call the service, so this should
                   be within noise of edge-apikey-lockout (and edge-apikey)
  authz-scope      one Envoy (edge-authz) with two rules, one reused token carrying Keycloak-shaped
  authz-claims     claims (cache hits): authz-scope asks GET /devices/acme/accounts, under the
                   scope-only rule /devices; authz-claims asks GET /accounts/acme/devices (the
                   same length and segments), a path template whose {account} is bound to the
                   claim org.accounts, with the same scope and two claim conditions
                   (realm_access.roles any_of, email_verified equals). Back to back in every
                   round: their paired difference is what authorization beyond scopes costs a
                   cache hit (issue 21's target: at most 1 µs of Envoy CPU per request)
  before-authz-scope, before-authz-claims  with --compare-wasm: the same pair on the other build

`--only a,b` runs only the scenarios of those kinds (baseline and passthrough always run: the
table is relative to them), and starts only the Envoys (and the fleet services) they need.
Connection facts (issue 22; only with `--only conn-`, which runs just these, baseline and passthrough;
with --compare-wasm also conn-tls-facts-before: that build with the same configuration):
  conn-read P      the empty module configured `properties:P`: it reads property P (or the
                   `+`-joined properties, in order) once per request; compare with passthrough
                   (plain listener) to get what one read costs
  conn-tls-pass    the empty module over a TLS listener (the floor of the TLS rows)
  conn-tls-read P  `properties:P` over the TLS listener; compare with conn-tls-pass
  conn-tls-edge    edge-auth's cache hit (the bench configuration) over the TLS listener
  conn-tls-facts   the same, with the provider and the API client allowed 127.0.0.0/8 and
                   min_tls_version TLSv1.2: what the two connection facts cost a cache hit
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ISSUER = "https://bench.example.com"
AUDIENCE = "edge-api"
PATH = "/devices"
ALGORITHMS = ["RS256", "ES256", "EdDSA", "HS256"]
# The passthrough module's modes that take a cache hit's host calls apart (issue 22).
HOST_CALL_MODES = ["hc-read", "hc-read-three", "hc-read-map", "hc-clock", "hc-counter", "hc-floor"]
# The modes `--repeat N` runs N times per request.
REPEATED_MODES = ["hc-read", "hc-read-three", "hc-read-map", "hc-clock", "hc-counter"]
# 16 request headers of the size browsers and SDKs send, for the map-write rows' `-16h` variants.
EXTRA_HEADERS = [f"x-extra-{i}: {'v' * 24}-{i}" for i in range(16)]
READY_TIMEOUT = 60
WRK_CPU = 1  # Envoy runs on CPU 0
CLK_TCK = os.sysconf("SC_CLK_TCK")
SCHEDSTAT = os.path.exists("/proc/self/schedstat")
PAGE = os.sysconf("SC_PAGE_SIZE")


def die(message):
    print(f"bench: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------------------------------------
# Prerequisites


def ensure_wrk():
    if shutil.which("wrk"):
        return shutil.which("wrk")
    print("bench: installing wrk (apt-get)", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    for cmd in (sudo + ["apt-get", "update", "-qq"], sudo + ["apt-get", "install", "-y", "-qq", "wrk"]):
        if subprocess.run(cmd, timeout=600).returncode != 0:
            die(f"{' '.join(cmd)} failed; install wrk yourself")
    return shutil.which("wrk") or die("wrk still not on PATH after apt-get install")


def ensure_cryptography():
    try:
        import cryptography  # noqa: F401
    except ImportError:
        print("bench: installing python cryptography (pip) for minting tokens", flush=True)
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "cryptography"]
        if subprocess.run(cmd, timeout=600).returncode != 0:
            die("pip install cryptography failed")


# ---------------------------------------------------------------------------------------------
# Keys and tokens (python cryptography, i.e. OpenSSL: independent of the code under test)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value):
    return b64(json.dumps(value, separators=(",", ":")).encode())


def int_bytes(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


class Keys:
    """One key per algorithm, its public JWK, and a signer."""

    def __init__(self):
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.ed = ed25519.Ed25519PrivateKey.generate()
        self.secret = os.urandom(32)

    def rsa_modulus(self):
        """The RS256 key's modulus, base64url (the rsa-floor module's configuration)."""
        return b64(int_bytes(self.rsa.public_key().public_numbers().n))

    def jwks(self):
        from cryptography.hazmat.primitives import serialization

        rsa_pub = self.rsa.public_key().public_numbers()
        ec_pub = self.ec.public_key().public_numbers()
        ed_raw = self.ed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {
            "keys": [
                {"kty": "RSA", "kid": "bench-RS256", "alg": "RS256", "n": b64(int_bytes(rsa_pub.n)), "e": b64(int_bytes(rsa_pub.e))},
                {"kty": "EC", "kid": "bench-ES256", "alg": "ES256", "crv": "P-256",
                 "x": b64(ec_pub.x.to_bytes(32, "big")), "y": b64(ec_pub.y.to_bytes(32, "big"))},
                {"kty": "OKP", "kid": "bench-EdDSA", "alg": "EdDSA", "crv": "Ed25519", "x": b64(ed_raw)},
                {"kty": "oct", "kid": "bench-HS256", "alg": "HS256", "k": b64(self.secret)},
            ]
        }

    def sign(self, alg, signing_input):
        from cryptography.hazmat.primitives import hashes, hmac
        from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

        if alg == "RS256":
            return self.rsa.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        if alg == "ES256":
            r, s = utils.decode_dss_signature(self.ec.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if alg == "EdDSA":
            return self.ed.sign(signing_input)
        mac = hmac.HMAC(self.secret, hashes.SHA256())
        mac.update(signing_input)
        return mac.finalize()

    def token(self, alg, now, serial, forged=False, cnf=None, extra=None):
        header = b64json({"alg": alg, "typ": "JWT", "kid": f"bench-{alg}"})
        claims = {
            "iss": ISSUER, "aud": AUDIENCE, "sub": f"user-{serial}", "jti": f"{alg}-{serial}",
            "iat": now - 60, "exp": now + 7200, "scope": "devices:read profile:read",
        }
        if cnf:
            claims["cnf"] = cnf
        claims.update(extra or {})
        claims = b64json(claims)
        signing_input = f"{header}.{claims}".encode()
        signature = self.sign(alg, signing_input)
        if forged:
            signature = os.urandom(len(signature))
            if alg.startswith(("RS", "PS")):
                # A number below the modulus, as an attacker who wants the arithmetic done sends:
                # a random one is at least n about 30% of the time (n's top byte is 0x90-0xff),
                # and such a signature is refused before any arithmetic, which made the forged
                # row cheaper than a first sight by that share of the RSA work.
                signature = b"\0" + signature[1:]
        return f"{header}.{claims}.{b64(signature)}"


class DpopClient:
    """A DPoP client (RFC 9449): one key per proof algorithm, its thumbprint, and proofs."""

    def __init__(self):
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519

        # Keys.sign with the client's own keys (never the issuer's).
        self.keys = Keys.__new__(Keys)
        self.keys.ec = ec.generate_private_key(ec.SECP256R1())
        self.keys.ed = ed25519.Ed25519PrivateKey.generate()

    def jwk(self, alg):
        from cryptography.hazmat.primitives import serialization
        if alg == "ES256":
            pub = self.keys.ec.public_key().public_numbers()
            return {"crv": "P-256", "kty": "EC", "x": b64(pub.x.to_bytes(32, "big")), "y": b64(pub.y.to_bytes(32, "big"))}
        raw = self.keys.ed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": b64(raw)}

    def jkt(self, alg):
        """RFC 7638 thumbprint: the required members, sorted, no whitespace."""
        canonical = json.dumps(self.jwk(alg), sort_keys=True, separators=(",", ":"))
        return b64(hashlib.sha256(canonical.encode()).digest())

    def proofs(self, alg, url, token, now, count, prefix):
        header = b64json({"typ": "dpop+jwt", "alg": alg, "jwk": self.jwk(alg)})
        ath = b64(hashlib.sha256(token.encode()).digest())
        for i in range(count):
            claims = b64json({"jti": f"{prefix}-{i}", "htm": "GET", "htu": url, "iat": now, "ath": ath})
            signing_input = f"{header}.{claims}".encode()
            yield f"{signing_input.decode()}.{b64(self.keys.sign(alg, signing_input))}"


# ---------------------------------------------------------------------------------------------
# Envoy configurations


HANDED_OUT = set()


def free_port():
    """A port free now and not handed out before in this run: the kernel picks a random free
    port for each bind to 0, and with two ports per Envoy for 20-36 Envoys, bound only when
    each starts, the same port came back twice often enough to fail a run (seen: "cannot bind
    '127.0.0.1:37651': Address already in use")."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in HANDED_OUT:
            HANDED_OUT.add(port)
            return port


def ratelimit_cluster(port):
    """Cluster `ratelimit`: the fleet's rate limit service (gRPC, so HTTP/2), the shape of
    envoy/envoy-fleet.yaml's."""
    return {
        "name": "ratelimit",
        "type": "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            },
        },
        "load_assignment": {"cluster_name": "ratelimit", "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]},
    }


def envoy_yaml(admin_port, listener_port, http_filters, ratelimit_port=None, tls=None):
    """A bootstrap whose only route answers 200 itself (direct_response): no upstream, so the
    figures are Envoy + filter only. With `ratelimit_port`, cluster `ratelimit` (the fleet's
    rate limit service) for edge-auth's `fleet` section. With `tls` (certificate and key file),
    the listener speaks TLS (Envoy's defaults: TLS 1.2 to 1.3)."""
    filters = http_filters + [{
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    }]
    config = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {"listeners": [{
            "name": "bench",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": listener_port}},
            "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": "bench",
                    "normalize_path": True,
                    "merge_slashes": True,
                    "route_config": {"name": "bench", "virtual_hosts": [{
                        "name": "all", "domains": ["*"],
                        "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}}}],
                    }]},
                    "http_filters": filters,
                },
            }]}],
        }]},
    }
    if ratelimit_port is not None:
        config["static_resources"]["clusters"] = [ratelimit_cluster(ratelimit_port)]
    if tls is not None:
        config["static_resources"]["listeners"][0]["filter_chains"][0]["transport_socket"] = tls_socket(*tls)
    # JSON is valid YAML; Envoy reads either.
    return json.dumps(config, indent=1)


def tls_socket(cert_path, key_path):
    """A downstream TLS transport socket with one certificate."""
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "common_tls_context": {"tls_certificates": [{
            "certificate_chain": {"filename": cert_path}, "private_key": {"filename": key_path}}]},
    }}


def make_certificate(workdir):
    """A throwaway self-signed P-256 certificate for 127.0.0.1 (openssl), for the TLS rows."""
    cert, key = os.path.join(workdir, "bench-cert.pem"), os.path.join(workdir, "bench-key.pem")
    cmd = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
           "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert]
    if subprocess.run(cmd, capture_output=True, timeout=60).returncode != 0:
        die("openssl could not make the TLS rows' certificate")
    return cert, key


def wasm_filter(name, wasm_path, plugin_config):
    config = {
        "name": name,
        "root_id": name,
        "vm_config": {"runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": wasm_path}}},
        "fail_open": False,
    }
    if plugin_config is not None:
        config["configuration"] = {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": plugin_config}
    return {"name": "envoy.filters.http.wasm",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm", "config": config}}


def jwt_authn_filter(jwks, cache):
    provider = {
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "local_jwks": {"inline_string": json.dumps(jwks)},
        "forward": False,
        "clock_skew_seconds": 30,
    }
    if cache:
        provider["jwt_cache_config"] = {"jwt_cache_size": 1024}
    return {"name": "envoy.filters.http.jwt_authn", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
        "providers": {"bench": provider},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "bench"}}],
    }}


API_CLIENT = "bench-client"
API_SECRET = "bench-secret-5c1e0a9d7b3f2468"


# Issue 21 (docs/authorization.md): a rule with claim conditions and a path segment bound to a
# claim, beside the scope-only rule, and the claims of the one token both rows reuse.
AUTHZ_PATH = "/accounts/acme/devices"
SCOPE_PATH = "/devices/acme/accounts"  # the scope-only rule's: the same length and segments
AUTHZ_RULE = {
    "path_template": "/accounts/{account}/devices", "methods": ["GET"], "scopes": ["devices:read"],
    "claim_conditions": [
        {"path": "realm_access.roles", "any_of": ["admin", "ops"]},
        {"path": "email_verified", "equals": True},
    ],
    "bind": {"account": {"claim": "org.accounts"}},
}
AUTHZ_CLAIMS = {
    "realm_access": {"roles": ["offline_access", "user", "ops"]},
    "resource_access": {"edge-api": {"roles": ["devices:read"]}},
    "email_verified": True,
    "org": {"accounts": ["globex", "initech", "acme"]},
}


def edge_auth_config(jwks, cache_entries, dpop=False, abuse=None, fleet=None, authz=False):
    """The edge-auth plugin configuration: the JWT provider and one API client (key pair and
    Basic) allowed the same route; with `dpop`, DPoP on (a replay cache big enough for every
    proof of a 65-second window at the rates measured here); `abuse` adds the abuse limits
    section; `fleet` the fleet section's uses (cluster `ratelimit`, docs/fleet.md); `authz`
    adds AUTHZ_RULE after the scope-only rule."""
    config = {
        "providers": [{
            "name": "bench-idp", "issuer": ISSUER, "audiences": [AUDIENCE],
            "algorithms": ALGORITHMS, "jwks": jwks,
            "clock_skew_seconds": 30, "max_lifetime_seconds": 36000,
        }],
        "api_keys": {
            "id_header": "clientid", "secret_header": "clientsecret", "basic": True,
            "clients": [{"id": API_CLIENT, "scopes": ["devices:read"],
                         "secret_sha256": hashlib.sha256(API_SECRET.encode()).hexdigest()}],
        },
        "rules": [{"path_prefix": PATH, "methods": ["GET"], "scopes": ["devices:read"]}],
        "forward": {"subject_header": "x-auth-subject", "scopes_header": "x-auth-scopes"},
        "token_cache": {"max_entries": cache_entries},
    }
    if authz:
        config["rules"].append(AUTHZ_RULE)
    if dpop:
        config["dpop"] = {"algorithms": ["ES256", "EdDSA"], "replay_cache_entries": 1048576}
    if abuse:
        config["abuse"] = abuse
    if fleet:
        config["fleet"] = {"cluster": "ratelimit", "domain": "edge-auth", "timeout_ms": 100, **fleet}
    return json.dumps(config)


# Both abuse limits, with a budget of one signature check per source that hardly refills:
# the abuse-reuse scenario's first check spends it (its token is cached from then on), so
# every forged token of abuse-forged is refused before the signature math.
ABUSE = {
    "lockout": {"max_failures": 5, "window_seconds": 300},
    "signature_budget": {"rate": 0.001, "burst": 1},
}


class Envoy:
    """One Envoy process (one worker unless told, pinned to `cpu`: a CPU list), stopped by PID."""

    def __init__(self, name, envoy_bin, http_filters, workdir, cpu, workers=1, ratelimit_port=None, tls=None):
        self.name = name
        self.scheme = "https" if tls else "http"
        self.admin_port, self.port = free_port(), free_port()
        self.config_path = os.path.join(workdir, f"envoy-{name}.json")
        self.log_path = os.path.join(workdir, f"envoy-{name}.log")
        with open(self.config_path, "w") as f:
            f.write(envoy_yaml(self.admin_port, self.port, http_filters, ratelimit_port, tls))
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(cpu), envoy_bin, "-c", self.config_path, "--concurrency", str(workers),
             "--disable-hot-restart", "--log-level", "warning"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        # taskset execs Envoy in place, so this PID is Envoy's own.
        self.pid = self.proc.pid

    def wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                die(f"envoy {self.name} exited with {self.proc.returncode}; log:\n{self.tail_log()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        die(f"envoy {self.name} not ready after {READY_TIMEOUT}s; log:\n{self.tail_log()}")

    def tail_log(self):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-20:])
        except OSError:
            return "(no log)"

    def cpu_seconds(self):
        """CPU time of all the process's threads: their schedstat run times (ns), or where the
        kernel has no schedstat, utime+stime (10 ms steps). A thread that ends takes its time
        with it, but Envoy's threads live as long as Envoy."""
        if SCHEDSTAT:
            total_ns = 0
            for task in os.listdir(f"/proc/{self.pid}/task"):
                try:
                    with open(f"/proc/{self.pid}/task/{task}/schedstat") as f:
                        total_ns += int(f.read().split()[0])
                except FileNotFoundError:
                    pass  # a thread that ended in between
            return total_ns / 1e9
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[0] is state (field 3); utime and stime are fields 14 and 15.
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def fleet_calls(self):
        """edge-auth's calls to the fleet's rate limit service so far: {(use, result): count}."""
        url = f"http://127.0.0.1:{self.admin_port}/stats?filter=edge_auth_fleet_calls_total"
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        calls = {}
        for line in text.splitlines():
            name, _, value = line.partition(": ")
            parts = name.split(".")
            if "use" in parts and "result" in parts and value.strip().isdigit():
                calls[(parts[parts.index("use") + 1], parts[parts.index("result") + 1])] = int(value)
        return calls

    def rss_mib(self):
        with open(f"/proc/{self.pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE / 2**20

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


# ---------------------------------------------------------------------------------------------
# The fleet's shared parts: Redis and the test rate limit service (as tests/support/fleet.rs)

RATELIMIT_BIN = os.path.join(ROOT, "tests", "servers", "ratelimit", "target", "release", "edge-auth-ratelimit")
LIMITS_FILE = os.path.join(ROOT, "envoy", "ratelimit-limits.yaml")


class FleetService:
    """One helper process (Redis or the rate limit service) on a free 127.0.0.1 port, pinned to
    `cpu` (wrk's: Envoy's CPU figure stays Envoy's own), stopped by PID."""

    def __init__(self, name, argv, workdir, cpu, port, ready_line=None):
        self.name, self.port, self.ready_line = name, port, ready_line
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["taskset", "-c", str(cpu), *argv], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid

    def wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                die(f"{self.name} exited with {self.proc.returncode}; log:\n{self.tail_log()}")
            ready = True
            if self.ready_line:
                with open(self.log_path) as f:
                    ready = self.ready_line in f.read()
            if ready:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        die(f"{self.name} not listening on 127.0.0.1:{self.port} after {READY_TIMEOUT}s; log:\n{self.tail_log()}")

    def tail_log(self):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-20:])
        except OSError:
            return "(no log)"

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


def check_fleet_tools():
    """Redis and the test rate limit service must be there: the fleet rows are never skipped."""
    missing = []
    if not shutil.which("redis-server"):
        missing.append("redis-server (apt-get install redis-server)")
    if not os.path.isfile(RATELIMIT_BIN):
        missing.append(f"{os.path.relpath(RATELIMIT_BIN, ROOT)} (cargo build --release "
                       "--manifest-path tests/servers/ratelimit/Cargo.toml)")
    if missing:
        die(f"the fleet rows need {' and '.join(missing)}: run `make fleet-tools` "
            "(`make bench` and `make bench-smoke` depend on it)")


def start_fleet(workdir, cpu, started):
    """Redis without persistence, then the rate limit service in front of it with the shipped
    limits file; both appended to `started` at once (stopped by the caller's cleanup).
    Returns the service's port."""
    redis_port = free_port()
    redis = FleetService("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no", "--dir", workdir],
                         workdir, cpu, redis_port)
    started.append(redis)
    redis.wait_ready()
    port = free_port()
    service = FleetService("ratelimit", [RATELIMIT_BIN, "--limits", LIMITS_FILE, "--listen", f"127.0.0.1:{port}",
                                         "--redis", f"redis://127.0.0.1:{redis_port}"],
                           workdir, cpu, port, ready_line=f"listening on 127.0.0.1:{port}")
    started.append(service)
    service.wait_ready()
    return port


# ---------------------------------------------------------------------------------------------
# Load generation

WRK_LUA = r"""
-- Written by bench/bench.py. args: token file ("-" for none), header name, then fixed
-- "name: value" headers sent on every request.
local tokens = {}
local header = "authorization"
local n = 0
init = function(args)
  header = args[2] or header
  for i = 3, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    if name then wrk.headers[name] = value end
  end
  if args[1] and args[1] ~= "-" then
    for line in io.lines(args[1]) do
      n = n + 1
      tokens[n] = line
    end
  end
  if n == 1 then
    wrk.headers[header] = "Bearer " .. tokens[1]
  end
end
local i = 0
request = function()
  if n > 1 then
    i = i % n + 1
    -- "TOKEN PROOF": a DPoP-bound token and a single-use proof.
    local token, proof = tokens[i]:match("^(%S+) (%S+)$")
    if token then
      return wrk.format(nil, nil, {[header] = "DPoP " .. token, ["dpop"] = proof})
    end
    return wrk.format(nil, nil, {[header] = "Bearer " .. tokens[i]})
  end
  return wrk.format(nil, nil)
end
done = function(summary, latency, requests)
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


class Scenario:
    """One row: GET `path` on `envoy` with the tokens of `tokens_file` (and `fixed_headers`)."""

    def __init__(self, name, alg, envoy, tokens_file, expect_status, fixed_headers=(), path=PATH):
        self.name, self.alg, self.envoy = name, alg, envoy
        self.tokens_file, self.expect_status = tokens_file, expect_status
        self.fixed_headers = list(fixed_headers)  # "name: value", on every request
        self.path = path
        self.runs = []

    @property
    def label(self):
        return f"{self.name} {self.alg}" if self.alg else self.name

    def first_token(self):
        if self.tokens_file == "-":
            return None
        with open(self.tokens_file) as f:
            return f.readline().strip()

    def check(self):
        """One request before measuring: the scenario must answer what it claims to measure."""
        self.expect(self.path, self.first_token(), self.expect_status)

    def expect(self, path, token, expect_status):
        """`path` with `token` (and the fixed headers) must answer `expect_status`."""
        request = urllib.request.Request(f"{self.envoy.scheme}://127.0.0.1:{self.envoy.port}{path}")
        if token and " " in token:
            token, proof = token.split(" ", 1)
            request.add_header("authorization", f"DPoP {token}")
            request.add_header("dpop", proof)
        elif token:
            request.add_header("authorization", f"Bearer {token}")
        for fixed in self.fixed_headers:
            name, value = fixed.split(":", 1)
            request.add_header(name, value.strip())
        try:
            # The TLS rows' certificate is self-signed: nothing here depends on trusting it.
            insecure = ssl._create_unverified_context() if self.envoy.scheme == "https" else None
            with urllib.request.urlopen(request, timeout=10, context=insecure) as response:
                status = response.status
        except urllib.error.HTTPError as err:
            status = err.code
        if status != expect_status:
            die(f"{self.label}: GET {path}: expected HTTP {expect_status}, got {status}; "
                f"envoy log:\n{self.envoy.tail_log()}")

    def run(self, wrk, lua_path, duration, connections):
        cpu_before = self.envoy.cpu_seconds()
        out = subprocess.run(
            ["taskset", "-c", str(WRK_CPU), wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "5s",
             "-s", lua_path, f"{self.envoy.scheme}://127.0.0.1:{self.envoy.port}{self.path}", "--", self.tokens_file, "authorization",
             *self.fixed_headers],
            capture_output=True, text=True, timeout=duration + 60)
        cpu = self.envoy.cpu_seconds() - cpu_before
        line = next((l for l in out.stdout.splitlines() if l.startswith("BENCH_RESULT ")), None)
        if out.returncode != 0 or line is None:
            die(f"{self.label}: wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        result = json.loads(line.split(" ", 1)[1])
        requests = result["requests"]
        if requests == 0:
            die(f"{self.label}: no request completed")
        if result["socket_errors"]:
            die(f"{self.label}: {result['socket_errors']} socket errors:\n{out.stdout}")
        wrong = result["status_errors"] if self.expect_status == 200 else requests - result["status_errors"]
        if wrong:
            die(f"{self.label}: {wrong} of {requests} responses were not HTTP {self.expect_status}")
        self.runs.append({
            "rps": requests / (result["duration_us"] / 1e6),
            "p50_us": result["p50_us"], "p99_us": result["p99_us"],
            "cpu_us": cpu * 1e6 / requests,
            "rss_mib": self.envoy.rss_mib(),
            "requests": requests,
        })

    def median(self, key):
        return statistics.median(run[key] for run in self.runs)


class DpopScenario(Scenario):
    """A reused DPoP-bound token with a fresh proof per request. Proofs are single-use and
    their `iat` must be recent, so a new pool is signed right before every run (more proofs
    than the run can send: a proof sent twice would be refused as a replay)."""

    PROOFS_PER_SECOND = 20000

    def __init__(self, alg, envoy, client, token, workdir, name="edge-dpop"):
        super().__init__(name, alg, envoy, None, 200)
        self.client, self.token, self.workdir, self.serial = client, token, workdir, 0

    def prepare(self, count):
        self.serial += 1
        url = f"http://127.0.0.1:{self.envoy.port}{self.path}"
        proofs = self.client.proofs(self.alg, url, self.token, int(time.time()), count,
                                    f"{self.name}-{self.alg}-{self.serial}")
        self.tokens_file = os.path.join(self.workdir, f"{self.name}-{self.alg}.txt")
        with open(self.tokens_file, "w") as f:
            f.writelines(f"{self.token} {proof}\n" for proof in proofs)

    def check(self):
        self.prepare(1)
        super().check()

    def run(self, wrk, lua_path, duration, connections):
        self.prepare(duration * self.PROOFS_PER_SECOND)
        super().run(wrk, lua_path, duration, connections)


class AuthzScenario(Scenario):
    """authz-claims: before measuring, the rule must be the one that decides: the same token is
    refused (403) on an account its claim does not list, and a token without the claims on
    the account it asks for; so the 200s measured passed the conditions and the binding."""

    def __init__(self, name, alg, envoy, tokens_file, plain_token_file):
        super().__init__(name, alg, envoy, tokens_file, 200, path=AUTHZ_PATH)
        self.plain_token_file = plain_token_file

    def check(self):
        super().check()
        self.expect(AUTHZ_PATH.replace("/acme/", "/umbrella/"), self.first_token(), 403)
        with open(self.plain_token_file) as f:
            self.expect(AUTHZ_PATH, f.readline().strip(), 403)


# ---------------------------------------------------------------------------------------------
# Credentials other than JWTs: the API key pair and HTTP Basic of the one bench client.


def api_key_scenarios(by_name):
    basic = base64.b64encode(f"{API_CLIENT}:{API_SECRET}".encode()).decode()
    edge = by_name["edge"]
    good = [f"clientid: {API_CLIENT}", f"clientsecret: {API_SECRET}"]
    return [
        Scenario("edge-apikey", None, edge, "-", 200, good),
        # The good pair with abuse.lockout on, without (edge-apikey-lockout) and with the fleet's
        # lockout (edge-apikey-fleet): apart from the fleet section, which makes no call on
        # success, they differ only in edge-abuse's signature budget, which an API key never
        # consults; so they should be within noise of each other.
        Scenario("edge-apikey-lockout", None, by_name["edge-abuse"], "-", 200, good),
        Scenario("edge-apikey-fleet", None, by_name["edge-fleet-lockout"], "-", 200, good),
        Scenario("edge-apikey-bad", None, edge, "-", 401, [f"clientid: {API_CLIENT}", "clientsecret: wrong-secret"]),
        Scenario("edge-basic", None, edge, "-", 200, [f"authorization: Basic {basic}"]),
    ]


# ---------------------------------------------------------------------------------------------
# Connection facts (issue 22): what reading source.address, connection.tls_version, ... costs.

# Properties the `conn-read` rows read (plain listener) and the `conn-tls-read` rows (TLS), one
# row each; `+` joins properties read one after the other in the same request.
CONN_READS = ["source.address", "source.port", "connection.id", "source.address+source.address",
              "source.address+source.port"]
CONN_TLS_READS = ["connection.tls_version", "connection.mtls", "connection.id",
                  "source.address+connection.tls_version", "connection.id+source.address+connection.tls_version"]


# The two facts as one CEL expression (address, then the TLS version or nothing).
CONN_EXPRESSION = 'source.address + "|" + (has(connection.tls_version) ? connection.tls_version : "")'


def with_connection_facts(plugin_config):
    """The bench configuration with both connection facts in use: the provider and the API
    client allowed 127.0.0.0/8 only (wrk's address), and TLS 1.2 or newer required."""
    config = json.loads(plugin_config)
    config["providers"][0]["allowed_cidrs"] = ["127.0.0.0/8"]
    config["api_keys"]["clients"][0]["allowed_cidrs"] = ["127.0.0.0/8"]
    config["min_tls_version"] = "TLSv1.2"
    return json.dumps(config)


def connection_configs(passthrough, wasm, jwks, before=None):
    """The Envoys of the connection rows: name -> (filters, over TLS)."""
    def reads(paths):
        return [wasm_filter("passthrough", passthrough, "properties:" + paths.replace("+", ","))]
    configs = {f"conn-read {p}": (reads(p), False) for p in CONN_READS}
    configs.update({f"conn-tls-read {p}": (reads(p), True) for p in CONN_TLS_READS})
    # Both facts for one crossing: a CEL expression compiled once, evaluated per request.
    expr = [wasm_filter("passthrough", passthrough, "expr:" + CONN_EXPRESSION)]
    configs["conn-expr"] = (expr, False)
    configs["conn-tls-expr"] = (expr, True)
    edge = edge_auth_config(jwks, 1024)
    configs["conn-tls-pass"] = ([wasm_filter("passthrough", passthrough, None)], True)
    configs["conn-tls-edge"] = ([wasm_filter("edge-auth", wasm, edge)], True)
    configs["conn-tls-facts"] = ([wasm_filter("edge-auth", wasm, with_connection_facts(edge))], True)
    if before:
        configs["conn-tls-facts-before"] = ([wasm_filter("edge-auth", before, with_connection_facts(edge))], True)
    return configs


def connection_only(args):
    """Whether `--only` names connection rows only (`conn-...`): then they run on their own,
    with a TLS listener and without the fleet's Redis and rate limit service."""
    only = [p for p in (args.only or "").split(",") if p]
    return bool(only) and all(p.startswith("conn-") for p in only)


def connection_scenarios(by_name, reuse_file):
    """One row per connection Envoy, in a fixed order (cache hits of one token for edge-auth)."""
    names = [n for n in by_name if n.startswith("conn-")]
    return [Scenario(n, None, by_name[n], reuse_file, 200) for n in names]


def connection_report(by_label):
    """Per-property costs: each read row minus its listener's empty-module row, as medians of
    per-round differences of Envoy CPU per request (both ran in the same round)."""
    def diff(a, b):
        return statistics.median(x["cpu_us"] - y["cpu_us"] for x, y in zip(a.runs, b.runs))

    rows = []
    for label, s in by_label.items():
        floor = by_label.get("conn-tls-pass") if label.startswith("conn-tls-") else by_label.get("passthrough")
        if label.startswith(("conn-read", "conn-tls-read", "conn-expr", "conn-tls-expr")):
            rows.append((label, f"{diff(s, floor):+.2f}", floor.label))
    for after, before in (("conn-tls-facts", "conn-tls-edge"), ("conn-tls-facts-before", "conn-tls-edge"),
                          ("conn-tls-edge", "conn-tls-pass")):
        if after in by_label and before in by_label:
            rows.append((after, f"{diff(by_label[after], by_label[before]):+.2f}", before))
    if not rows:
        return []
    lines = ["Connection facts (issue 22): Envoy CPU µs per request above the row named, medians of "
             "per-round differences:", "", "| row | CPU µs/req above | above |", "|---|---|---|"]
    lines += [f"| {what} | {value} | {base} |" for what, value, base in rows]
    return lines + [""]


def check_fleet_calls(by_name, scenarios):
    """The fleet rows must measure what they claim: every DPoP proof of edge-dpop-fleet went to
    the rate limit service and was answered (each was new), and the good API key pair of
    edge-apikey-fleet made no call at all (each checked where its row ran)."""
    if "edge-dpop-fleet" in by_name:
        sent = sum(run["requests"] for s in scenarios if s.name == "edge-dpop-fleet" for run in s.runs)
        dpop = by_name["edge-dpop-fleet"].fleet_calls()
        if dpop.get(("dpop_replay", "ok"), 0) < sent or any(
                n for (use, result), n in dpop.items() if use == "dpop_replay" and result != "ok"):
            die(f"edge-dpop-fleet: expected answered dpop_replay calls only, got {dpop}")
    if "edge-fleet-lockout" in by_name:
        lockout = by_name["edge-fleet-lockout"].fleet_calls()
        if any(lockout.values()):
            die(f"edge-apikey-fleet: the success path called the rate limit service: {lockout}")


# ---------------------------------------------------------------------------------------------
# Report


def fmt_ratio(value):
    return f"{value:.2f}x" if value is not None else "-"


def report(scenarios, args, meta):
    by_label = {s.label: s for s in scenarios}
    base = by_label["baseline"]
    passthrough = by_label["passthrough"]
    lines = [
        f"# edge-auth `make bench` — {meta['date']}",
        "",
        f"Machine: {meta['machine']}. Envoy {meta['envoy']}, one worker pinned to CPU 0; wrk "
        f"(1 thread, {args.connections} connections) pinned to CPU 1. {args.rounds} interleaved "
        f"round(s) of {args.duration}s per scenario; medians. edge_auth.wasm {meta['wasm_kib']} KiB.",
        "",
        "CPU µs/req = Envoy process CPU time / requests. `vs base` = requests/s relative to no-auth "
        "Envoy; `vs pass` = relative to the empty wasm module; `CPU vs native` = Envoy CPU per request "
        "relative to native jwt_authn (no cache) on the same algorithm.",
        "",
        "| scenario | req/s | vs base | vs pass | p50 µs | p99 µs | CPU µs/req | CPU vs native | RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in scenarios:
        rps = s.median("rps")
        native = by_label.get(f"native {s.alg}") if s.alg else None
        cpu_vs_native = s.median("cpu_us") / native.median("cpu_us") if native else None
        lines.append(
            f"| {s.label} | {rps:,.0f} | {fmt_ratio(rps / base.median('rps'))} | "
            f"{fmt_ratio(rps / passthrough.median('rps'))} | {s.median('p50_us'):,.0f} | "
            f"{s.median('p99_us'):,.0f} | {s.median('cpu_us'):,.1f} | {fmt_ratio(cpu_vs_native)} | "
            f"{s.median('rss_mib'):,.1f} |")
    lines.append("")
    lines += host_call_costs(scenarios, by_label)
    lines += connection_report(by_label)
    if connection_only(args):
        return "\n".join(lines)
    lines += targets(by_label, meta)
    if meta.get("compare"):
        path, size = meta["compare"]
        lines += [
            f"Before/after: `before-*` rows ran {path} ({size:,} bytes) beside edge_auth.wasm "
            f"({meta['wasm_bytes']:,} bytes). Ratios below are after / before, paired by round, medians "
            "(CPU: lower is better; req/s: higher is better).",
            "",
            "| path | req/s after/before | CPU µs/req after/before |",
            "|---|---|---|",
        ]
        for s in scenarios:
            if s.name not in ("edge-reuse", "edge-fresh", "authz-scope", "authz-claims"):
                continue
            b = by_label.get(f"before-{s.name.removeprefix('edge-')} {s.alg}")
            if b is None:
                continue
            # Paired by round (both ran back to back), then the median: noise between rounds cancels.
            paired = lambda key: statistics.median(a[key] / z[key] for a, z in zip(s.runs, b.runs))
            lines.append(f"| {s.label} | {fmt_ratio(paired('rps'))} | {fmt_ratio(paired('cpu_us'))} |")
        lines.append("")
    abuse = [s for s in scenarios if s.name.startswith("abuse-")]
    if len(abuse) == 2:
        reuse, forged = abuse
        edge = by_label.get(f"edge-reuse {reuse.alg}")
        lines.append(
            f"Abuse limits ({reuse.alg}): Envoy CPU per request of the forged-token flood over "
            f"budget vs a cache hit with both limits on: "
            f"{fmt_ratio(forged.median('cpu_us') / reuse.median('cpu_us'))}; cache hit with both "
            f"limits vs without: {fmt_ratio(reuse.median('cpu_us') / edge.median('cpu_us')) if edge else '-'}.")
        lines.append("")
    return "\n".join(lines)


def host_call_costs(scenarios, by_label):
    """Issue 22: what the passthrough module's host-call rows cost over the empty module, in
    Envoy CPU µs per request (each round's difference, paired, then the median); a row `xN`
    makes its calls N times per request, and its cost is given per round of calls too."""
    passthrough = by_label["passthrough"]
    rows = [s for s in scenarios if s.name == "host-calls" or s.name.startswith("hc-")]
    if not rows:
        return []
    lines = ["Host calls (issue 22): Envoy CPU µs per request over the empty module, medians of "
             "per-round differences; `xN` rows make their calls N times per request.", "",
             "| row | CPU µs/req over passthrough | per round of calls |", "|---|---|---|"]
    for s in rows:
        diff = statistics.median(a["cpu_us"] - p["cpu_us"] for a, p in zip(s.runs, passthrough.runs))
        tail = s.name.removesuffix("-16h").rsplit("-", 1)[-1]  # "clockx50", "map", ...
        count = tail.rpartition("x")[2]
        repeat = int(count) if "x" in tail and count.isdigit() else 1
        lines.append(f"| {s.label} | {diff:+.2f} | {diff / repeat:+.3f} |")
    return lines + [""]


# Issue 11's targets: (what, goal, lower is better).
# RS256 tightened to 1.3x by issue 22.
FIRST_SIGHT_GOAL = {"ES256": 3.0, "RS256": 1.3, "EdDSA": 2.0}


def targets(by_label, meta):
    """The figures the performance targets are stated in, each a median of per-round ratios
    (both sides ran back to back in the same round, so machine noise between rounds cancels)."""

    def paired(a, b, key):
        return statistics.median(x[key] / y[key] for x, y in zip(a.runs, b.runs))

    passthrough = by_label["passthrough"]
    rows = []
    for label, s in by_label.items():
        if s.name == "edge-fresh" and f"native {s.alg}" in by_label:
            goal = FIRST_SIGHT_GOAL.get(s.alg)
            rows.append((f"first sight {s.alg}: Envoy CPU vs native jwt_authn (no cache)",
                         fmt_ratio(paired(s, by_label[f"native {s.alg}"], "cpu_us")),
                         f"≤ {goal:g}×" if goal else "-"))
            floor = by_label.get(f"rsa-floor {s.alg}")
            if floor:
                rows.append((f"floor: hc-floor's calls and the RSA check alone (rsa-floor), Envoy CPU vs "
                             f"native jwt_authn (no cache) ({s.alg})",
                             fmt_ratio(paired(floor, by_label[f"native {s.alg}"], "cpu_us")), "-"))
                rows.append((f"first sight {s.alg}: Envoy CPU vs that floor",
                             fmt_ratio(paired(s, floor, "cpu_us")), "-"))
    for label, s in by_label.items():
        if s.name == "edge-forged" and f"edge-fresh {s.alg}" in by_label:
            rows.append((f"forged {s.alg}: Envoy CPU vs first sight",
                         fmt_ratio(paired(s, by_label[f"edge-fresh {s.alg}"], "cpu_us")), "≤ 1×"))
    for label, s in by_label.items():
        if s.name == "edge-reuse":
            rows.append((f"cache hit {s.alg}: req/s vs the empty module",
                         fmt_ratio(paired(s, passthrough, "rps")), "≥ 0.9×"))
    # Issue 22: a cache hit against jwt_authn with its jwt_cache_config, in Envoy CPU, and the
    # floor of the calls a cache hit makes since then (hc-floor) against the same.
    for label, s in by_label.items():
        if s.name == "edge-reuse" and f"native-cache {s.alg}" in by_label:
            cached = by_label[f"native-cache {s.alg}"]
            rows.append((f"cache hit {s.alg}: Envoy CPU vs native jwt_authn with its cache",
                         fmt_ratio(paired(s, cached, "cpu_us")), "≤ 1.2×"))
            for what, row in (("its host calls alone (hc-floor)", "hc-floor"),
                              ("the empty module", "passthrough")):
                if row in by_label:
                    rows.append((f"floor: {what}, Envoy CPU vs native jwt_authn with its cache ({s.alg})",
                                 fmt_ratio(paired(by_label[row], cached, "cpu_us")), "-"))
    floor = by_label.get("host-calls")
    if floor:
        rows.append(("floor: the cache hit's host calls alone, req/s vs the empty module",
                     fmt_ratio(paired(floor, passthrough, "rps")), "-"))
        for label, s in by_label.items():
            if s.name == "edge-reuse":
                rows.append((f"cache hit {s.alg}: req/s vs that floor",
                             fmt_ratio(paired(s, floor, "rps")), "-"))
    # Issue 20: edge-auth's memories across the fleet (docs/fleet.md).
    dpop, dpop_fleet = by_label.get("edge-dpop ES256"), by_label.get("edge-dpop-fleet ES256")
    if dpop and dpop_fleet:
        rows.append(("DPoP with the fleet replay check (ES256 proofs): Envoy CPU per request vs without",
                     fmt_ratio(paired(dpop_fleet, dpop, "cpu_us")), "-"))
        rows.append(("DPoP with the fleet replay check: p50 / p99 latency (without)",
                     f"{dpop_fleet.median('p50_us'):,.0f} / {dpop_fleet.median('p99_us'):,.0f} µs "
                     f"({dpop.median('p50_us'):,.0f} / {dpop.median('p99_us'):,.0f} µs)", "-"))
    # Issue 21: authorization beyond scopes on a cache hit, same token and Envoy, back to back.
    for build in ("", "before-"):
        scope_only = next((s for s in by_label.values() if s.name == f"{build}authz-scope"), None)
        claims = next((s for s in by_label.values() if s.name == f"{build}authz-claims"), None)
        if scope_only and claims:
            differences = [x["cpu_us"] - y["cpu_us"] for x, y in zip(claims.runs, scope_only.runs)]
            rows.append((f"{'before: ' if build else ''}cache hit, rule with 2 claim conditions and a "
                         "segment bound to a claim vs a scope-only rule: Envoy CPU µs/request more "
                         "(ratio; each round's difference)",
                         f"{statistics.median(differences):+.2f} µs "
                         f"({fmt_ratio(paired(claims, scope_only, 'cpu_us'))}; "
                         f"{' '.join(f'{d:+.1f}' for d in differences)})",
                         "≤ +1 µs" if not build else "-"))
    fleet_key = by_label.get("edge-apikey-fleet")
    for label, what in (("edge-apikey-lockout", "lockout on, no fleet"), ("edge-apikey", "no abuse limits")):
        if fleet_key and label in by_label:
            rows.append((f"API key success with fleet lockout vs without ({what}): req/s",
                         fmt_ratio(paired(fleet_key, by_label[label], "rps")), "≈ 1× (within noise)"))
    edge = [s for s in by_label.values() if s.name.startswith("edge-")]
    if edge:
        above = statistics.median(s.median("rss_mib") for s in edge) - passthrough.median("rss_mib")
        rows.append(("Envoy RSS, one worker, above the empty module", f"{above:+.1f} MiB", "≤ +16 MiB (issue 22)"))
    rows.append((".wasm size", f"{meta['wasm_bytes'] / 1000:,.0f} KB ({meta['wasm_bytes']:,} bytes)", "≤ 600 KB (issue 22)"))
    lines = ["Targets (issues 11, 20, 21 and 22), medians of per-round ratios (and differences):", "",
             "| figure | measured | goal |", "|---|---|---|"]
    lines += [f"| {what} | {value} | {goal} |" for what, value, goal in rows]
    return lines + [""]


def envoy_version(envoy_bin):
    out = subprocess.run([envoy_bin, "--version"], capture_output=True, text=True, timeout=60).stdout
    for word in out.split():
        if word.count("/") >= 2 and word[0].isalnum():
            return word.split("/")[1]
    return out.strip().splitlines()[-1] if out.strip() else "?"


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} CPU ({model}), {mem:.0f} GiB, {platform.system()} {platform.release()}"


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envoy", default=os.environ.get("ENVOY_BIN"), help="Envoy binary (ENVOY_BIN)")
    parser.add_argument("--wasm", default=os.environ.get("EDGE_AUTH_WASM"), help="edge_auth.wasm (EDGE_AUTH_WASM)")
    parser.add_argument("--passthrough", default=os.environ.get("PASSTHROUGH_WASM"), help="passthrough.wasm")
    parser.add_argument("--rsa-floor", default=os.environ.get("RSA_FLOOR_WASM"),
                        help="passthrough.wasm built with --features rsa-floor (RSA_FLOOR_WASM)")
    parser.add_argument("--compare-wasm", default=os.environ.get("COMPARE_WASM") or None,
                        help="another edge_auth.wasm to measure beside --wasm (before-* rows)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=4, help="seconds per scenario per round")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--pool", type=int, default=6000, help="fresh tokens per algorithm")
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--out", default=os.path.join(HERE, "results"), help="directory for the table")
    parser.add_argument("--repeat", type=int, default=0,
                        help="also rows `hc-*xN`: the single-call modes' calls N times per request "
                             "(one call's cost out of the noise; reported per call)")
    parser.add_argument("--only", default="",
                        help="run only the rows whose names start with one of these comma-separated prefixes "
                             "(baseline and passthrough always run); prefixes that all start with `conn-` "
                             "select the connection rows (a TLS listener, no fleet), which run only so")
    parser.add_argument("--smoke", action="store_true", help="one 1-second round; pool just above the cache size (make test)")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.duration, args.pool = 1, 1, 1500
    if not (1 <= args.rounds <= 50 and 1 <= args.duration <= 120 and 1 <= args.pool <= 100000):
        die("rounds 1-50, duration 1-120 s, pool 1-100000")
    algorithms = [a for a in args.algorithms.split(",") if a]
    if any(a not in ALGORITHMS for a in algorithms):
        die(f"algorithms must be among {ALGORITHMS}")
    only = tuple(p for p in (args.only or "").split(",") if p)
    paths = [("--envoy", args.envoy), ("--wasm", args.wasm), ("--passthrough", args.passthrough),
             ("--rsa-floor", args.rsa_floor)]
    if args.compare_wasm is not None:
        paths.append(("--compare-wasm", args.compare_wasm))
    for what, path in paths:
        if not path or not os.path.isfile(path):
            die(f"{what}: {path!r} is not a file (run through `make bench`)")
    global WRK_CPU
    if (os.cpu_count() or 1) < 2:
        if not args.smoke:
            die("needs 2 CPUs: Envoy on CPU 0, wrk on CPU 1")
        print("bench: one CPU only: smoke run with Envoy and wrk on the same CPU", flush=True)
        WRK_CPU = 0
    wrk = ensure_wrk()
    ensure_cryptography()
    if not connection_only(args):
        check_fleet_tools()

    workdir = tempfile.mkdtemp(prefix="edge-auth-bench-")
    envoys = []
    fleet = []  # Redis and the rate limit service
    started = time.monotonic()
    try:
        now = int(time.time())
        keys = Keys()
        jwks = keys.jwks()
        print(f"bench: minting tokens ({args.pool} fresh per algorithm)", flush=True)
        files = {}

        def write_tokens(name, tokens):
            path = os.path.join(workdir, f"tokens-{name}.txt")
            with open(path, "w") as f:
                f.write("\n".join(tokens) + "\n")
            return path

        for alg in algorithms:
            files[("reuse", alg)] = write_tokens(f"reuse-{alg}", [keys.token(alg, now, 0)])
            files[("fresh", alg)] = write_tokens(f"fresh-{alg}", [keys.token(alg, now, i + 1) for i in range(args.pool)])
            files[("forged", alg)] = write_tokens(f"forged-{alg}", [keys.token(alg, now, i, forged=True) for i in range(256)])
            files[("authz", alg)] = write_tokens(f"authz-{alg}", [keys.token(alg, now, 0, extra=AUTHZ_CLAIMS)])
        lua_path = os.path.join(workdir, "bench.lua")
        with open(lua_path, "w") as f:
            f.write(WRK_LUA)

        wasm = os.path.abspath(args.wasm)
        configs = {
            "baseline": [],
            "passthrough": [wasm_filter("passthrough", os.path.abspath(args.passthrough), None)],
            "host-calls": [wasm_filter("passthrough", os.path.abspath(args.passthrough), "host-calls")],
            **{mode: [wasm_filter("passthrough", os.path.abspath(args.passthrough), mode)]
               for mode in HOST_CALL_MODES},
            **{f"{mode}x{args.repeat}": [wasm_filter("passthrough", os.path.abspath(args.passthrough),
                                                     f"{mode}*{args.repeat}")]
               for mode in REPEATED_MODES if args.repeat > 1},
            "rsa-floor": [wasm_filter("passthrough", os.path.abspath(args.rsa_floor),
                                      "rsa-floor:" + keys.rsa_modulus())],
            "native": [jwt_authn_filter(jwks, cache=False)],
            "native-cache": [jwt_authn_filter(jwks, cache=True)],
            "edge": [wasm_filter("edge-auth", wasm, edge_auth_config(jwks, 1024))],
            "edge-dpop": [wasm_filter("edge-auth", wasm, edge_auth_config(jwks, 1024, dpop=True))],
            "edge-abuse": [wasm_filter("edge-auth", wasm, edge_auth_config(jwks, 1024, abuse=ABUSE))],
            "edge-dpop-fleet": [wasm_filter("edge-auth", wasm, edge_auth_config(
                jwks, 1024, dpop=True, fleet={"dpop_replay": {"on_unavailable": "fail_closed"}}))],
            "edge-fleet-lockout": [wasm_filter("edge-auth", wasm, edge_auth_config(
                jwks, 1024, abuse={"lockout": ABUSE["lockout"]}, fleet={"lockout": {}}))],
            "edge-authz": [wasm_filter("edge-auth", wasm, edge_auth_config(jwks, 1024, authz=True))],
        }
        # The shipped limits count failed secrets per minute (window_seconds 60); the lockout
        # here says 300, which does not matter: the success path measured makes no call.
        uses_fleet = {"edge-dpop-fleet", "edge-fleet-lockout"}
        before = os.path.abspath(args.compare_wasm) if args.compare_wasm else None
        if before:
            configs["before"] = [wasm_filter("edge-auth", before, edge_auth_config(jwks, 1024))]
            configs["before-authz"] = [wasm_filter("edge-auth", before, edge_auth_config(jwks, 1024, authz=True))]
        connection, tls = {}, None
        if connection_only(args):
            # Only the connection rows: no fleet (its Envoys start against a closed port, unused).
            ratelimit_port = free_port()
            connection = connection_configs(os.path.abspath(args.passthrough), wasm, jwks, before)
            tls = make_certificate(workdir)
        else:
            print(f"bench: starting Redis and the rate limit service on CPU {WRK_CPU}", flush=True)
            ratelimit_port = start_fleet(workdir, WRK_CPU, fleet)
        print("bench: starting Envoy x{} on CPU 0".format(len(configs) + len(connection)), flush=True)
        for name, filters in configs.items():
            envoys.append(Envoy(name, args.envoy, filters, workdir, cpu=0,
                                ratelimit_port=ratelimit_port if name in uses_fleet else None))
        for name, (filters, over_tls) in connection.items():
            envoys.append(Envoy(name, args.envoy, filters, workdir, cpu=0, tls=tls if over_tls else None))
        by_name = {e.name: e for e in envoys}
        for envoy in envoys:
            envoy.wait_ready()

        first_alg_reuse = files[("reuse", algorithms[0])]
        scenarios = [
            Scenario("baseline", None, by_name["baseline"], first_alg_reuse, 200),
            Scenario("passthrough", None, by_name["passthrough"], first_alg_reuse, 200),
            Scenario("host-calls", None, by_name["host-calls"], first_alg_reuse, 200),
        ]
        scenarios += [Scenario(mode, None, by_name[mode], first_alg_reuse, 200) for mode in HOST_CALL_MODES]
        scenarios += [Scenario(f"{mode}-16h", None, by_name[mode], first_alg_reuse, 200, EXTRA_HEADERS)
                      for mode in ("hc-read-three", "hc-read-map")]
        if args.repeat > 1:
            for mode in REPEATED_MODES:
                name = f"{mode}x{args.repeat}"
                scenarios.append(Scenario(name, None, by_name[name], first_alg_reuse, 200))
                if mode in ("hc-read-three", "hc-read-map"):
                    scenarios.append(Scenario(f"{name}-16h", None, by_name[name], first_alg_reuse, 200,
                                              EXTRA_HEADERS))
        for alg in algorithms:
            scenarios += [
                Scenario("native", alg, by_name["native"], files[("reuse", alg)], 200),
                Scenario("native-cache", alg, by_name["native-cache"], files[("reuse", alg)], 200),
                Scenario("edge-reuse", alg, by_name["edge"], files[("reuse", alg)], 200),
            ]
            if alg == "RS256":
                scenarios.append(Scenario("rsa-floor", alg, by_name["rsa-floor"], files[("fresh", alg)], 200))
            scenarios += [
                Scenario("edge-fresh", alg, by_name["edge"], files[("fresh", alg)], 200),
                Scenario("edge-forged", alg, by_name["edge"], files[("forged", alg)], 401),
            ]
            if "before" in by_name:
                scenarios += [
                    Scenario("before-reuse", alg, by_name["before"], files[("reuse", alg)], 200),
                    Scenario("before-fresh", alg, by_name["before"], files[("fresh", alg)], 200),
                ]
        scenarios += api_key_scenarios(by_name)
        dpop_client = DpopClient()
        for proof_alg in ("ES256", "EdDSA"):
            bound = keys.token("ES256", now, 0, cnf={"jkt": dpop_client.jkt(proof_alg)})
            scenarios.append(DpopScenario(proof_alg, by_name["edge-dpop"], dpop_client, bound, workdir))
            if proof_alg == "ES256":
                # The same with the fleet's replay check: one rate limit service call per request.
                scenarios.append(DpopScenario(proof_alg, by_name["edge-dpop-fleet"], dpop_client, bound, workdir,
                                              name="edge-dpop-fleet"))
        # In this order: abuse-reuse's check spends the one signature check of the source.
        abuse_alg = "ES256" if "ES256" in algorithms else algorithms[0]
        scenarios += [
            Scenario("abuse-reuse", abuse_alg, by_name["edge-abuse"], files[("reuse", abuse_alg)], 200),
            Scenario("abuse-forged", abuse_alg, by_name["edge-abuse"], files[("forged", abuse_alg)], 429),
        ]
        # Back to back, same Envoy, same cached token: only the rule differs.
        authz_token = files[("authz", abuse_alg)]
        for build in ("", "before-") if before else ("",):
            envoy = by_name[f"{build or 'edge-'}authz"]
            scenarios += [
                Scenario(f"{build}authz-scope", abuse_alg, envoy, authz_token, 200, path=SCOPE_PATH),
                AuthzScenario(f"{build}authz-claims", abuse_alg, envoy, authz_token,
                              files[("reuse", abuse_alg)]),
            ]
        scenarios += connection_scenarios(by_name, first_alg_reuse)
        if only:
            scenarios = [s for s in scenarios if s.name in ("baseline", "passthrough") or s.name.startswith(only)]
        for scenario in scenarios:
            scenario.check()

        total = len(scenarios) * args.rounds * args.duration
        print(f"bench: {len(scenarios)} scenarios x {args.rounds} round(s) x {args.duration}s (~{total}s)", flush=True)
        for round_index in range(args.rounds):
            for scenario in scenarios:
                scenario.run(wrk, lua_path, args.duration, args.connections)
            print(f"bench: round {round_index + 1}/{args.rounds} done", flush=True)
        if not only:
            check_fleet_calls(by_name, scenarios)

        wasm = os.path.abspath(args.wasm)
        meta = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "envoy": envoy_version(args.envoy),
            "wasm_kib": round(os.path.getsize(wasm) / 1024),
            "wasm_bytes": os.path.getsize(wasm),
            "compare": (args.compare_wasm, os.path.getsize(args.compare_wasm)) if args.compare_wasm else None,
        }
        table = report(scenarios, args, meta)
        print()
        print(table)
        os.makedirs(args.out, exist_ok=True)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out_path = os.path.join(args.out, f"bench-{stamp}{'-smoke' if args.smoke else ''}.md")
        with open(out_path, "w") as f:
            f.write(table)
        print(f"bench: table written to {out_path} ({time.monotonic() - started:.0f}s)")
    finally:
        for envoy in envoys:
            envoy.stop()
        for service in reversed(fleet):
            service.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
