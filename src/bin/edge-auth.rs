//! `edge-auth`: the operator's command-line companion to the filter, built from the same core.
//!
//! - `edge-auth check CONFIG.json` validates a plugin configuration exactly as the filter does;
//! - `edge-auth hash-secret` reads an API secret on stdin and prints its `secret_sha256`;
//! - `edge-auth keygen --alg ALG --kid KID --out FILE` makes a demo signing key and prints its JWK;
//! - `edge-auth token --alg ALG --key FILE ...` mints a token for tests and demos;
//! - `edge-auth --version` prints the crate version, the one the Wasm module logs when configured.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::jwt::mint::SigningKey;
use edge_auth::policy::Policy;
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
  edge-auth token --alg ALG --key FILE --iss ISSUER --aud AUDIENCE [--kid KID] [--sub SUBJECT]
                  [--scope \"a b\"] [--ttl SECONDS] [--claim NAME=JSON_OR_TEXT]...
      Mint a signed token: iat = now, exp = now + ttl (default 3600).
  edge-auth --version
      Print the version (the Wasm module of the same release logs the same one).";

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
    Ok(())
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
