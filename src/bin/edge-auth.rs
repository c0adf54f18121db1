//! `edge-auth`: the operator's command-line companion to the filter, built from the same core.
//!
//! - `edge-auth check CONFIG.json` validates a plugin configuration exactly as the filter does;
//! - `edge-auth hash-secret` reads an API secret on stdin and prints its `secret_sha256`;
//! - `edge-auth keygen --alg ALG --kid KID --out FILE` makes a demo signing key and prints its JWK;
//!   `edge-auth keygen --nonce-key` prints a fresh key for `dpop.nonce_keys`;
//! - `edge-auth token --alg ALG --key FILE ...` mints a token for tests and demos;
//! - `edge-auth --version` prints the crate version, the one the Wasm module logs when configured;
//! - `edge-auth explain CONFIG.json --path PATH ...` decides one request with the filter's own
//!   code and says why, check by check (exit 0 forwarded, 1 refused, 2 usage or configuration
//!   error).

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::jwt::mint::SigningKey;
use edge_auth::policy::explain::{explain, Action, Explanation, GivenKeys, Status};
use edge_auth::policy::outcome::Verdict;
use edge_auth::policy::Policy;
use edge_auth::request::credential::{NonceKey, Request};
use edge_auth::request::transport::parse_peer_address;
use serde_json::{json, Map, Value};

const USAGE: &str = "usage:
  edge-auth check CONFIG.json
      Validate a plugin configuration as the filter would; print a summary or the error.
  edge-auth hash-secret < SECRET_FILE
      Read an API key secret on standard input (one trailing newline is ignored) and print the
      value for api_keys.clients[].secret_sha256.
  edge-auth keygen --alg ALG --kid KID --out FILE
      Generate a signing key (PEM, or base64url secret for HS*), write it to FILE (mode 600),
      and print its public JWK (for HS* the JWK holds the secret itself).
  edge-auth keygen --nonce-key
      Print a fresh DPoP server-nonce key for dpop.nonce_keys: 32 bytes from the operating
      system's randomness, base64url without padding. It is a secret: give every Envoy of the
      fleet the same list.
  edge-auth token --alg ALG --key FILE --iss ISSUER --aud AUDIENCE [--kid KID] [--sub SUBJECT]
                  [--scope \"a b\"] [--ttl SECONDS] [--claim NAME=JSON_OR_TEXT]...
      Mint a signed token: iat = now, exp = now + ttl (default 3600).
  edge-auth --version
      Print the version (the Wasm module of the same release logs the same one).

  edge-auth explain CONFIG.json --path PATH [--method METHOD] [-H 'NAME: VALUE']...
                  [--peer ADDRESS] [--tls VERSION] [--time UNIX_SECONDS]
                  [--keys PROVIDER=JWKS_FILE]... [--json]
      Decide one request exactly as the filter would (same code, empty token cache) and print
      the rule that matched, the credential and where it was found, each check in order, and
      the response the client gets or the header changes the upstream sees. --keys gives the
      JWK Set of a provider whose keys the filter fetches; introspection endpoints are never
      called. Exit status: 0 forwarded (allowed, public, preflight), 1 refused (or, in report
      mode, would be refused), 2 usage or configuration error.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = args
        .split_first()
        .map_or(("", &[][..]), |(c, r)| (c.as_str(), r));
    let result = match command {
        "check" => check(rest),
        "keygen" => keygen(rest),
        "hash-secret" => hash_secret(rest),
        "token" => token(rest),
        "-V" | "--version" | "version" => {
            println!("edge-auth {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        "explain" => {
            return match explain_command(rest) {
                Ok(code) => code,
                Err(message) => {
                    eprintln!("{message}");
                    ExitCode::from(2)
                }
            }
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn check(args: &[String]) -> Result<(), String> {
    let [path] = args else {
        return Err(USAGE.to_string());
    };
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let policy =
        Policy::from_json(&bytes).map_err(|e| format!("{path}: invalid configuration: {e}"))?;
    println!("{path}: valid");
    for (provider, endpoints) in policy.providers.iter().zip(&policy.endpoints) {
        let algorithms: Vec<&str> = provider.algorithms.iter().map(|a| a.name()).collect();
        let keys = match &endpoints.remote {
            None if provider.keys.is_empty() => "no keys".to_string(),
            None => format!("{} key(s)", provider.keys.len()),
            Some(remote) => format!("keys fetched through cluster {}", remote.cluster),
        };
        let introspection = match &endpoints.introspection {
            Some(i) => format!(", introspection through cluster {}", i.cluster),
            None => String::new(),
        };
        println!(
            "  provider {:?}: issuer {}, audiences {:?}, algorithms {}, {keys}{introspection}",
            provider.name,
            provider.issuer,
            provider.audiences,
            algorithms.join(" "),
        );
    }
    let credentials = &policy.credentials;
    let sources: Vec<&str> = credentials
        .token_headers
        .iter()
        .map(|s| s.header())
        .collect();
    if !sources.is_empty() {
        println!("  token headers: {}", sources.join(", "));
    }
    if let Some(param) = &credentials.query_param {
        println!("  query token parameter: {param} (removed before the upstream)");
    }
    if let Some(name) = &credentials.cookie_name {
        println!("  token cookie: {name} (removed before the upstream)");
    }
    if let Some((id, secret)) = &credentials.api_key_headers {
        println!("  API key headers: {id} / {secret}");
    }
    if credentials.basic {
        println!("  HTTP Basic: on");
    }
    if !policy.clients.is_empty() {
        println!("  API clients: {}", policy.clients.len());
    }
    if let Some(app) = &policy.app_header {
        println!("  application header: {app}");
    }
    if policy.trusted_hops > 0 {
        println!(
            "  trusted proxy hops (X-Forwarded-For): {}",
            policy.trusted_hops
        );
    }
    if let Some(tls) = policy.min_tls_version {
        println!("  minimum TLS: {}", tls.name());
    }
    println!("  rules: {}", policy.rules.len());
    if policy.report {
        println!("  mode: report (would-be refusals are forwarded, counted and logged)");
    }
    check_nonces(&policy);
    check_fleet(&policy);
    Ok(())
}

/// `check`'s line about what the fleet's rate limit service keeps, or what each Envoy keeps
/// alone when there is no `fleet` section (docs/fleet.md).
fn check_fleet(policy: &Policy) {
    let dpop = policy.sender.dpop.is_some();
    let lockout = policy.abuse.lockout.is_some();
    let Some(fleet) = &policy.fleet else {
        let alone: Vec<&str> = [
            (dpop, "DPoP proof replay"),
            (lockout, "failed-secret lockout"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, what)| *what)
        .collect();
        if !alone.is_empty() {
            println!(
                "  per Envoy (no fleet section): {}; a fleet behind one load balancer shares \
                 them through `fleet` (docs/fleet.md)",
                alone.join(", ")
            );
        }
        return;
    };
    let mut uses = Vec::new();
    if let Some(on_unavailable) = fleet.dpop_replay {
        uses.push(format!(
            "DPoP proofs single use (without an answer: {})",
            on_unavailable.name()
        ));
    }
    if fleet.lockout {
        uses.push("failed secrets counted (without an answer: local)".to_string());
    }
    println!(
        "  fleet: rate limit service through cluster {}, domain {}, timeout {} ms: {}",
        fleet.cluster,
        fleet.domain,
        fleet.timeout_ms,
        uses.join(", ")
    );
}

/// `check`'s line about DPoP server nonces (never a key), and a warning on standard error when
/// they use the per-Envoy random key: the configuration is valid, but not for a fleet.
fn check_nonces(policy: &Policy) {
    let Some(dpop) = &policy.sender.dpop else {
        return;
    };
    let Some(lifetime) = dpop.nonce_lifetime_seconds else {
        return;
    };
    if dpop.nonce_keys.is_empty() {
        println!("  DPoP server nonces: {lifetime} s windows, a random key per Envoy");
        eprintln!(
            "warning: DPoP server nonces use a random key per Envoy: a fleet behind one load \
             balancer needs dpop.nonce_keys (edge-auth keygen --nonce-key)"
        );
    } else {
        println!(
            "  DPoP server nonces: {lifetime} s windows, {} configured key(s), the first issuing",
            dpop.nonce_keys.len()
        );
    }
}

fn hash_secret(args: &[String]) -> Result<(), String> {
    use std::io::Read;
    if !args.is_empty() {
        return Err("hash-secret reads the secret on standard input, so it never shows in `ps` or shell history".into());
    }
    let mut secret = Vec::new();
    std::io::stdin()
        .read_to_end(&mut secret)
        .map_err(|e| e.to_string())?;
    if secret.ends_with(b"\n") {
        secret.pop();
        if secret.ends_with(b"\r") {
            secret.pop();
        }
    }
    if secret.is_empty() {
        return Err("the secret on standard input is empty".into());
    }
    if secret.len() < 16 {
        eprintln!(
            "warning: a {}-byte secret is guessable; API secrets should be long random strings",
            secret.len()
        );
    }
    println!("{}", edge_auth::clients::secret_digest_hex(&secret));
    Ok(())
}

/// Parses `--name value` pairs; `--claim` may repeat.
fn options(args: &[String]) -> Result<(HashMap<String, String>, Vec<String>), String> {
    let mut named = HashMap::new();
    let mut claims = Vec::new();
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {flag:?}\n{USAGE}"))?;
        let value = iter
            .next()
            .ok_or_else(|| format!("--{name} needs a value"))?;
        if name == "claim" {
            claims.push(value.clone());
        } else if named.insert(name.to_string(), value.clone()).is_some() {
            return Err(format!("--{name} given twice"));
        }
    }
    Ok((named, claims))
}

fn required<'a>(named: &'a HashMap<String, String>, name: &str) -> Result<&'a str, String> {
    named
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| format!("--{name} is required\n{USAGE}"))
}

fn algorithm(named: &HashMap<String, String>) -> Result<Algorithm, String> {
    let name = required(named, "alg")?;
    Algorithm::from_name(name).ok_or_else(|| format!("unknown algorithm {name:?}"))
}

fn keygen(args: &[String]) -> Result<(), String> {
    if args.iter().any(|arg| arg == "--nonce-key") {
        return match args {
            [_] => nonce_key(),
            _ => Err(format!("--nonce-key takes no other option\n{USAGE}")),
        };
    }
    let (named, _) = options(args)?;
    let alg = algorithm(&named)?;
    let kid = required(&named, "kid")?;
    let out = required(&named, "out")?;
    let key = SigningKey::generate(alg)?;
    write_private(out, &key.to_text()?)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&key.public_jwk(kid)).map_err(|e| e.to_string())?
    );
    Ok(())
}

/// `keygen --nonce-key`: one key for `dpop.nonce_keys`, from the operating system's randomness.
fn nonce_key() -> Result<(), String> {
    let mut key = [0u8; NonceKey::BYTES];
    getrandom::getrandom(&mut key).map_err(|e| format!("no randomness from the system: {e}"))?;
    println!("{}", edge_auth::base64::encode_url(&key));
    Ok(())
}

fn write_private(path: &str, text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| format!("{path}: {e}"))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("{path}: {e}"))
}

fn token(args: &[String]) -> Result<(), String> {
    let (named, extra) = options(args)?;
    let alg = algorithm(&named)?;
    let key_path = required(&named, "key")?;
    let text = std::fs::read_to_string(key_path).map_err(|e| format!("{key_path}: {e}"))?;
    let mut key = SigningKey::from_text(alg, &text)?;
    if let Some(kid) = named.get("kid") {
        key = key.with_kid(kid);
    }
    let ttl: u64 = named
        .get("ttl")
        .map_or(Ok(3600), |t| t.parse())
        .map_err(|_| "--ttl must be whole seconds")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(required(&named, "iss")?));
    claims.insert("aud".into(), json!(required(&named, "aud")?));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + ttl));
    for (flag, claim) in [("sub", "sub"), ("scope", "scope")] {
        if let Some(value) = named.get(flag) {
            claims.insert(claim.into(), json!(value));
        }
    }
    for pair in extra {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--claim {pair:?} is not NAME=VALUE"))?;
        let value = serde_json::from_str::<Value>(value).unwrap_or_else(|_| json!(value));
        claims.insert(name.to_string(), value);
    }
    println!("{}", key.sign(&claims)?);
    Ok(())
}

/// The options of `edge-auth explain`.
#[derive(Default)]
struct ExplainArgs {
    config: Option<String>,
    method: String,
    path: Option<String>,
    headers: Vec<(String, String)>,
    peer: Option<std::net::IpAddr>,
    tls: Option<String>,
    time: Option<u64>,
    keys: Vec<(String, String)>,
    json_output: bool,
}

/// Reads `edge-auth explain`'s arguments.
fn parse_explain_args(args: &[String]) -> Result<ExplainArgs, String> {
    let mut parsed = ExplainArgs {
        method: "GET".to_string(),
        ..ExplainArgs::default()
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| {
            iter.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--json" => parsed.json_output = true,
            "--method" | "-X" => parsed.method = value(arg)?.to_ascii_uppercase(),
            "--path" => parsed.path = Some(value(arg)?),
            "--header" | "-H" => {
                let header = value(arg)?;
                let (name, text) = header
                    .split_once(':')
                    .ok_or_else(|| format!("header {header:?} is not NAME: VALUE"))?;
                parsed
                    .headers
                    .push((name.trim().to_ascii_lowercase(), text.trim().to_string()));
            }
            "--peer" => {
                let text = value(arg)?;
                parsed.peer = Some(
                    parse_peer_address(&text)
                        .ok_or_else(|| format!("--peer {text:?} is not an IP address"))?,
                );
            }
            "--tls" => parsed.tls = Some(value(arg)?),
            "--time" => {
                let text = value(arg)?;
                parsed.time = Some(
                    text.parse::<u64>()
                        .map_err(|_| format!("--time {text:?} is not Unix seconds"))?,
                );
            }
            "--keys" => {
                let pair = value(arg)?;
                let (name, file) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("--keys {pair:?} is not PROVIDER=JWKS_FILE"))?;
                parsed.keys.push((name.to_string(), file.to_string()));
            }
            other if other.starts_with('-') => {
                return Err(format!("unknown option {other:?}\n{USAGE}"))
            }
            other if parsed.config.is_none() => parsed.config = Some(other.to_string()),
            other => return Err(format!("unexpected argument {other:?}\n{USAGE}")),
        }
    }
    Ok(parsed)
}

/// `edge-auth explain`: the exit code (0 forwarded, 1 refused), or a usage/configuration error.
fn explain_command(args: &[String]) -> Result<ExitCode, String> {
    let args = parse_explain_args(args)?;
    let config = args
        .config
        .ok_or_else(|| format!("explain needs CONFIG.json\n{USAGE}"))?;
    let path = args
        .path
        .ok_or_else(|| format!("explain needs --path\n{USAGE}"))?;
    if !path.starts_with('/') {
        return Err(format!("--path {path:?} must start with '/'"));
    }
    let bytes = std::fs::read(&config).map_err(|e| format!("{config}: {e}"))?;
    let policy =
        Policy::from_json(&bytes).map_err(|e| format!("{config}: invalid configuration: {e}"))?;
    let mut given = GivenKeys::new(&policy);
    for (name, file) in &args.keys {
        let jwks = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
        given = given.with_jwks(name, &jwks)?;
    }
    let now = match args.time {
        Some(time) => time,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs(),
    };
    let method = args.method;
    let request = Request {
        method: method.clone(),
        path: path.clone(),
        headers: args.headers,
        source_address: args.peer,
        tls_version: args.tls,
        ..Request::default()
    };
    let explanation = explain(&policy, &given, &request, now);
    let refused = matches!(
        explanation.outcome.verdict,
        Some(Verdict::Denied | Verdict::WouldDeny) | None
    );
    if args.json_output {
        let document = json!({
            "request": {"method": method, "path": path, "time": now},
            "explanation": explanation,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&document).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", render(&method, &path, now, &explanation));
    }
    Ok(if refused {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The explanation in plain words.
fn render(method: &str, path: &str, now: u64, explanation: &Explanation) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "request: {method} {path} (at {now})");
    for step in &explanation.steps {
        let mark = match step.status {
            Status::Passed => "ok  ",
            Status::Failed => "FAIL",
            Status::Info => "    ",
        };
        let _ = writeln!(out, "  [{mark}] {}: {}", step.check, step.detail);
    }
    let outcome = &explanation.outcome;
    let verdict = outcome.verdict.map_or("undecided", |v| v.code());
    let mut facts = vec![format!("decision: {verdict}")];
    if let Some(reason) = outcome.reason {
        facts.push(format!("reason: {}", reason.code()));
    }
    if let Some(kind) = outcome.credential {
        facts.push(format!("credential: {}", kind.name()));
    }
    if let Some(provider) = outcome.provider {
        facts.push(format!("provider: {provider}"));
    }
    if let Some(client) = &outcome.client {
        facts.push(format!("client: {client}"));
    }
    if let Some(subject) = &outcome.subject {
        facts.push(format!("subject: {subject}"));
    }
    let _ = writeln!(out, "{}", facts.join(", "));
    match &explanation.action {
        Action::Respond {
            status,
            headers,
            body,
        } => {
            let _ = writeln!(out, "the client gets:");
            let _ = writeln!(out, "  HTTP {status}");
            for (name, value) in headers {
                let _ = writeln!(out, "  {name}: {value}");
            }
            let _ = writeln!(out, "\n  {body}");
        }
        Action::Forward { remove, set, path } => {
            if outcome.verdict == Some(Verdict::WouldDeny) {
                let _ = writeln!(
                    out,
                    "report mode: refused by the policy, but forwarded; the upstream sees:"
                );
            } else {
                let _ = writeln!(out, "forwarded; the upstream sees:");
            }
            if remove.is_empty() && set.is_empty() && path.is_none() {
                let _ = writeln!(out, "  the request unchanged");
            }
            for name in remove {
                let _ = writeln!(out, "  - {name} (removed)");
            }
            if let Some(path) = path {
                let _ = writeln!(out, "  :path {path} (query token removed)");
            }
            for (name, value) in set {
                let _ = writeln!(out, "  + {name}: {value}");
            }
        }
    }
    out
}
