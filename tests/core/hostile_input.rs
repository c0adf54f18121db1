//! No input makes the core panic: a panic inside the wasm VM would take the filter down for every
//! request on that worker. Deterministic pseudo-random mutations (same inputs every run) of
//! tokens, credential headers, paths and configurations go through the real entry points.

use crate::fixtures;

use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::policy::cache::TokenCache;
use edge_auth::policy::decision::authorize;
use edge_auth::policy::Policy;
use fixtures::{access_config, issuer, now, request, Rng};
use serde_json::json;

/// `text` with a few bytes replaced, inserted or removed (kept valid UTF-8).
fn mutate(rng: &mut Rng, text: &str) -> String {
    const ALPHABET: &[u8] = b"AZaz09-_.=,:;%/\\ \"'{}[]+\t\x7f";
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        let byte = ALPHABET[rng.below(ALPHABET.len())];
        match rng.below(3) {
            0 if at < bytes.len() => bytes[at] = byte,
            1 => bytes.insert(at, byte),
            _ if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => bytes.push(byte),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn mutated_requests_never_panic_the_decision() {
    let policy = Policy::from_json(access_config().to_string().as_bytes()).unwrap();
    let mut cache = TokenCache::new(64);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let t = now();
    let token = issuer().token(
        Algorithm::HS256,
        t,
        json!({"apps": ["a"], "ip": ["127.0.0.1"]}),
    );
    let seeds = [
        ("authorization", format!("Bearer {token}")),
        ("x-rpz-auth", format!("Bearer {token}")),
        (
            "authorization",
            fixtures::basic(
                fixtures::KEY_CLIENT,
                &fixtures::secret(fixtures::KEY_CLIENT),
            ),
        ),
        ("clientid", fixtures::KEY_CLIENT.to_string()),
        ("clientsecret", fixtures::secret(fixtures::KEY_CLIENT)),
        ("appid", fixtures::APP.to_string()),
        ("origin", "https://app.example.com".to_string()),
        ("x-forwarded-for", "203.0.113.9, 127.0.0.1".to_string()),
    ];
    let paths = [
        "/devices/1",
        "/public/x?token=a.b.c",
        "/legacy?x=1&token=",
        "/apps/%2e%2e/x",
        "/",
    ];
    let mut outcomes = [0usize; 2];
    for _ in 0..4000 {
        let mut headers: Vec<(String, String)> = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let (name, value) = &seeds[rng.below(seeds.len())];
            let value = if rng.below(4) == 0 {
                value.clone()
            } else {
                mutate(&mut rng, value)
            };
            headers.push((name.to_string(), value));
        }
        let seed_path = paths[rng.below(paths.len())];
        let path = mutate(&mut rng, seed_path);
        let header_refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let mut req = request(
            ["GET", "POST", "OPTIONS"][rng.below(3)],
            &path,
            &header_refs,
        );
        req.source_address = Some("127.0.0.1".parse().unwrap());
        req.tls_version = ["TLSv1.3", "garbage", ""]
            .get(rng.below(4))
            .map(|v| v.to_string());
        let decision = authorize(&policy, &mut cache, &req, t);
        outcomes[matches!(decision, edge_auth::policy::decision::Decision::Allow(_)) as usize] += 1;
    }
    assert!(
        outcomes[0] > 0 && outcomes[1] > 0,
        "both outcomes exercised: {outcomes:?}"
    );
}

#[test]
fn mutated_configurations_are_refused_or_accepted_never_panic() {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/envoy/edge-auth.json"))
            .unwrap();
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut refused = 0;
    for _ in 0..1500 {
        if let Err(err) = Policy::from_json(mutate(&mut rng, &shipped).as_bytes()) {
            assert!(!err.to_string().is_empty());
            refused += 1;
        }
    }
    assert!(refused > 0);
}
