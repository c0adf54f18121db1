//! The operator tool, run as users run it.

use crate::fixtures;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use edge_auth::policy::Policy;

fn edge_auth(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edge-auth"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn temp_file(name: &str, content: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("edge-auth-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, content).unwrap();
    path
}

#[test]
fn check_summarises_a_valid_configuration() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/envoy/edge-auth.json");
    let output = edge_auth(&["check", shipped], b"");
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("valid"), "{stdout}");
    assert!(stdout.contains("provider \"demo-idp\""), "{stdout}");
    assert!(stdout.contains("API clients: 1"), "{stdout}");
}

#[test]
fn check_names_the_bad_field_and_exits_1() {
    let path = temp_file(
        "bad.json",
        r#"{"providers": [], "api_keys": {"basic": true, "clients": [{"id": "a", "secret_sha256": "plain"}]}}"#,
    );
    let output = edge_auth(&["check", path.to_str().unwrap()], b"");
    std::fs::remove_file(&path).unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("invalid configuration: api_keys.clients[0].secret_sha256:"),
        "{stderr}"
    );
}

#[test]
fn hash_secret_reads_stdin_and_ignores_one_trailing_newline() {
    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n";
    for input in [&b"abc"[..], b"abc\n", b"abc\r\n"] {
        let output = edge_auth(&["hash-secret"], input);
        assert!(output.status.success());
        assert_eq!(String::from_utf8(output.stdout).unwrap(), expected);
    }
    let refused = edge_auth(&["hash-secret", "abc"], b"");
    assert!(
        !refused.status.success(),
        "a secret on the command line would land in shell history"
    );
}

#[test]
fn minted_tokens_pass_the_configuration_they_were_minted_for() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/envoy");
    let key = format!("{dir}/demo-keys/demo-es256.key");
    let output = edge_auth(
        &[
            "token",
            "--alg",
            "ES256",
            "--key",
            &key,
            "--kid",
            "demo-es256",
            "--iss",
            "https://auth.example.com/realms/main",
            "--aud",
            "edge-api",
            "--sub",
            "bob",
            "--scope",
            "devices:read",
            "--claim",
            "email=bob@example.com",
        ],
        b"",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();
    let policy =
        Policy::from_json(&std::fs::read(format!("{dir}/edge-auth.json")).unwrap()).unwrap();
    let identity = edge_auth::jwt::token::verify(
        token.trim(),
        &policy.providers,
        &policy.forward,
        fixtures::now(),
    )
    .unwrap();
    assert_eq!(identity.subject.as_deref(), Some("bob"));
    assert_eq!(identity.scopes, ["devices:read"]);
}

fn stdout_of(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// `edge-auth explain` with the test issuer's configuration (written to a temp file).
fn explain(name: &str, extra: &[&str]) -> Output {
    let config = temp_file(
        &format!("explain-{name}.json"),
        &fixtures::access_config().to_string(),
    );
    let mut args = vec!["explain", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    let output = edge_auth(&args, b"");
    std::fs::remove_file(&config).unwrap();
    output
}

#[test]
fn explain_an_allowed_request_in_words_and_exit_0() {
    let t = fixtures::now();
    let token = fixtures::issuer().token(
        edge_auth::jwt::algorithm::Algorithm::ES256,
        t,
        serde_json::json!({}),
    );
    let header = format!("Authorization: Bearer {token}");
    let output = explain(
        "allowed",
        &[
            "--path",
            "/devices/7?x=1",
            "-H",
            &header,
            "-H",
            "X-Auth-Subject: spoofed",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout_of(&output);
    for expected in [
        "request: GET /devices/7?x=1",
        "[ok  ] path: canonical: /devices/7",
        "rule: rules[3]: path_prefix \"/devices\", GET; accepts jwt, api_key, basic; scopes [devices:read]; mode enforce",
        "[ok  ] credential: jwt in header authorization",
        "[ok  ] token: passed: format",
        "[ok  ] scopes: has devices:read",
        "decision: allowed, credential: jwt, provider: test-idp, subject: alice",
        "forwarded; the upstream sees:",
        "  - x-auth-subject (removed)",
        "  - authorization (removed)",
        "  + x-auth-subject: alice",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    assert!(!text.contains(&token), "the token is never printed");
}

#[test]
fn explain_refused_requests_with_the_exact_response_and_exit_1() {
    let t = fixtures::now();
    let issuer = fixtures::issuer();
    let alg = edge_auth::jwt::algorithm::Algorithm::RS256;
    let expired = issuer.token(
        alg,
        t,
        serde_json::json!({"iat": t - 7200, "exp": t - 3600}),
    );
    let good = issuer.token(alg, t, serde_json::json!({}));
    let cases = [
        (
            vec!["--path".to_string(), "/devices".to_string()],
            "reason: missing_credential",
            "  HTTP 401\n  www-authenticate: Bearer realm=\"edge\"\n  www-authenticate: ApiKey realm=\"edge\"\n  www-authenticate: Basic realm=\"edge\", charset=\"UTF-8\"\n  content-type: application/json\n  cache-control: no-store\n\n  {\"error\":\"unauthorized\",\"error_description\":\"a credential is required\"}",
        ),
        (
            vec!["--path".into(), "/devices".into(), "-H".into(), format!("authorization: Bearer {expired}")],
            "[FAIL] token: time (exp, nbf, iat, maximum lifetime): token has expired",
            "  HTTP 401\n  www-authenticate: Bearer realm=\"edge\", error=\"invalid_token\", error_description=\"token has expired\"",
        ),
        (
            vec!["--method".into(), "POST".into(), "--path".into(), "/devices".into(), "-H".into(), format!("authorization: Bearer {good}")],
            "[FAIL] scopes: lacks devices:write",
            "  HTTP 403\n  www-authenticate: Bearer realm=\"edge\", error=\"insufficient_scope\", error_description=\"the credential lacks a scope this route requires\", scope=\"devices:write\"",
        ),
        (
            vec![
                "--path".into(), "/devices".into(),
                "-H".into(), format!("clientId: {}", fixtures::REMOTE_CLIENT),
                "-H".into(), format!("clientSecret: {}", fixtures::secret(fixtures::REMOTE_CLIENT)),
                "--peer".into(), "192.0.2.7:5555".into(),
            ],
            "[FAIL] network: caller address 192.0.2.7 is not allowed",
            "  HTTP 403\n  content-type: application/json\n  cache-control: no-store\n\n  {\"error\":\"access_denied\",\"error_description\":\"requests from this network are not allowed\"}",
        ),
    ];
    for (index, (args, step, response)) in cases.iter().enumerate() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = explain(&format!("refused-{index}"), &args);
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let text = stdout_of(&output);
        assert!(text.contains(step), "{step:?} not in:\n{text}");
        assert!(
            text.contains(&format!("the client gets:\n{response}")),
            "{response:?} not in:\n{text}"
        );
    }
}

#[test]
fn explain_a_public_request_as_json() {
    let output = explain(
        "public",
        &["--path", "/public/docs", "--json", "--time", "1700000000"],
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        document["request"],
        serde_json::json!({"method": "GET", "path": "/public/docs", "time": 1_700_000_000})
    );
    let explanation = &document["explanation"];
    assert_eq!(explanation["outcome"]["decision"], "public");
    assert_eq!(explanation["action"]["action"], "forward");
    assert_eq!(explanation["steps"][1]["check"], "rule");
    assert_eq!(explanation["steps"][1]["status"], "passed");
    assert_eq!(
        explanation["steps"][1]["detail"],
        "rules[0]: path_prefix \"/public\", any method, public"
    );
}

#[test]
fn explain_a_refusal_as_json_names_the_reason_and_the_response() {
    let t = fixtures::now();
    let token = fixtures::issuer().token(
        edge_auth::jwt::algorithm::Algorithm::EdDSA,
        t,
        serde_json::json!({"aud": "another-api"}),
    );
    let header = format!("authorization: Bearer {token}");
    let output = explain(
        "refused-json",
        &["--path", "/devices", "-H", &header, "--json"],
    );
    assert_eq!(output.status.code(), Some(1));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let explanation = &document["explanation"];
    assert_eq!(explanation["outcome"]["decision"], "denied");
    assert_eq!(explanation["outcome"]["reason"], "wrong_audience");
    assert_eq!(explanation["outcome"]["credential"], "jwt");
    assert_eq!(explanation["outcome"]["provider"], "test-idp");
    assert_eq!(explanation["action"]["action"], "respond");
    assert_eq!(explanation["action"]["status"], 401);
    let last = explanation["steps"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["status"], "failed");
    assert_eq!(last["detail"], "audience: token audience is not accepted");
    assert!(!String::from_utf8_lossy(&output.stdout).contains(&token));
}

#[test]
fn explain_takes_fetched_keys_from_a_jwk_set_file_and_exits_2_on_usage_errors() {
    let mut config = fixtures::issuer().config();
    let provider = &mut config["providers"][0];
    provider.as_object_mut().unwrap().remove("jwks");
    provider["discovery"] = serde_json::json!({"cluster": "idp"});
    // HMAC secrets are never fetched (configuration refuses HS* with fetched keys).
    provider["algorithms"] = serde_json::json!(["RS256", "ES256", "EdDSA"]);
    let config_path = temp_file("explain-remote.json", &config.to_string());
    let jwks_path = temp_file(
        "explain-remote-jwks.json",
        &fixtures::issuer().jwks().to_string(),
    );
    let t = fixtures::now();
    let token = fixtures::issuer().token(
        edge_auth::jwt::algorithm::Algorithm::ES256,
        t,
        serde_json::json!({}),
    );
    let header = format!("authorization: Bearer {token}");
    let config_arg = config_path.to_str().unwrap();
    let keys = format!("test-idp={}", jwks_path.to_str().unwrap());
    let with = edge_auth(
        &[
            "explain", config_arg, "--path", "/devices", "-H", &header, "--keys", &keys,
        ],
        b"",
    );
    let without = edge_auth(
        &["explain", config_arg, "--path", "/devices", "-H", &header],
        b"",
    );
    let bad_keys = edge_auth(
        &[
            "explain",
            config_arg,
            "--path",
            "/devices",
            "--keys",
            "nobody=/dev/null",
        ],
        b"",
    );
    let no_path = edge_auth(&["explain", config_arg], b"");
    let bad_config = edge_auth(&["explain", "/nonexistent.json", "--path", "/"], b"");
    std::fs::remove_file(&config_path).unwrap();
    std::fs::remove_file(&jwks_path).unwrap();
    assert_eq!(with.status.code(), Some(0), "{with:?}");
    assert_eq!(without.status.code(), Some(1));
    let text = stdout_of(&without);
    assert!(text.contains("reason: issuer_keys_unavailable"), "{text}");
    assert!(text.contains("  HTTP 503"), "{text}");
    for output in [bad_keys, no_path, bad_config] {
        assert_eq!(output.status.code(), Some(2), "{output:?}");
    }
}

/// `keygen --nonce-key` prints one fresh key, base64url without padding, that a configuration
/// accepts; two runs never print the same key.
#[test]
fn keygen_nonce_key_prints_a_fresh_key_for_dpop_nonce_keys() {
    use base64::Engine;
    let mut keys = Vec::new();
    for _ in 0..2 {
        let output = edge_auth(&["keygen", "--nonce-key"], b"");
        assert!(output.status.success(), "{output:?}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        let key = stdout.strip_suffix('\n').unwrap().to_string();
        assert_eq!(key.len(), 43, "{key}");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&key)
            .unwrap();
        assert_eq!(bytes.len(), 32);
        keys.push(key);
    }
    assert_ne!(keys[0], keys[1]);
    let mut config = fixtures::issuer().config();
    config["dpop"] = serde_json::json!({"nonce_lifetime_seconds": 60, "nonce_keys": keys});
    let policy = Policy::from_json(config.to_string().as_bytes()).unwrap();
    assert_eq!(policy.sender.dpop.unwrap().nonce_keys.len(), 2);
    let mixed = edge_auth(&["keygen", "--nonce-key", "--alg", "ES256"], b"");
    assert_eq!(mixed.status.code(), Some(1));
}

/// Server nonces with the per-Envoy random key are valid (exit 0) but refuse another Envoy's
/// nonces: `check` says so on standard error, and stays quiet once keys are configured (whose
/// text it never prints).
#[test]
fn check_warns_when_server_nonces_use_a_random_key_per_envoy() {
    let warning = "warning: DPoP server nonces use a random key per Envoy: a fleet behind one \
                   load balancer needs dpop.nonce_keys (edge-auth keygen --nonce-key)";
    let mut config = fixtures::issuer().config();
    config["dpop"] = serde_json::json!({"nonce_lifetime_seconds": 60});
    let path = temp_file("nonces-random.json", &config.to_string());
    let output = edge_auth(&["check", path.to_str().unwrap()], b"");
    std::fs::remove_file(&path).unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert!(stderr.contains(warning), "{stderr}");
    assert!(stdout_of(&output).contains("a random key per Envoy"));

    let key = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode((1..=32).collect::<Vec<u8>>())
    };
    config["dpop"]["nonce_keys"] = serde_json::json!([key]);
    let path = temp_file("nonces-keys.json", &config.to_string());
    let output = edge_auth(&["check", path.to_str().unwrap()], b"");
    std::fs::remove_file(&path).unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert!(!stderr.contains("warning"), "{stderr}");
    let stdout = stdout_of(&output);
    assert!(stdout.contains("1 configured key(s)"), "{stdout}");
    assert!(!stdout.contains(&key[..8]) && !stderr.contains(&key[..8]));

    // Without nonces there is nothing to warn about.
    config["dpop"] = serde_json::json!({});
    let path = temp_file("nonces-off.json", &config.to_string());
    let output = edge_auth(&["check", path.to_str().unwrap()], b"");
    std::fs::remove_file(&path).unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8(output.stderr).unwrap().is_empty());
}

/// `explain` decides with the configured nonce keys as the filter does (a proof without a nonce
/// gets `use_dpop_nonce`, not 503 for a missing key), and nothing of the key is printed.
#[test]
fn explain_uses_the_configured_nonce_keys_and_never_prints_them() {
    use base64::Engine;
    use edge_auth::jwt::algorithm::Algorithm;
    let key: Vec<u8> = (0..32).map(|i| 0xa0 ^ i).collect();
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&key);
    let mut config = fixtures::issuer().config();
    config["dpop"] = serde_json::json!({
        "external_origin": "https://api.example.com",
        "nonce_lifetime_seconds": 60, "nonce_keys": [text]
    });
    let path = temp_file("explain-nonce-keys.json", &config.to_string());
    let t = fixtures::now();
    let client = crate::dpop_client::DpopClient::new(Algorithm::ES256);
    let token = fixtures::issuer().token(
        Algorithm::ES256,
        t,
        serde_json::json!({"cnf": {"jkt": client.jkt()}}),
    );
    let proof = client.proof("GET", "https://api.example.com/devices/7", Some(&token), t);
    let time = t.to_string();
    let output = edge_auth(
        &[
            "explain",
            path.to_str().unwrap(),
            "--path",
            "/devices/7",
            "--time",
            &time,
            "-H",
            &format!("Authorization: DPoP {token}"),
            "-H",
            &format!("DPoP: {proof}"),
        ],
        b"",
    );
    std::fs::remove_file(&path).unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = stdout_of(&output);
    assert!(stdout.contains("use_dpop_nonce"), "{stdout}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!stdout.contains(&text[..8]) && !stderr.contains(&text[..8]));
}

/// `check` says what the fleet keeps, or what each Envoy keeps alone without a `fleet` section.
#[test]
fn check_names_what_the_fleet_keeps_and_what_stays_per_envoy() {
    let mut config = fixtures::access_config();
    config["abuse"] = serde_json::json!({"lockout": {"max_failures": 5, "window_seconds": 60}});
    let path = temp_file("fleet-off.json", &config.to_string());
    let output = edge_auth(&["check", path.to_str().unwrap()], b"");
    std::fs::remove_file(&path).unwrap();
    assert!(output.status.success());
    let stdout = stdout_of(&output);
    assert!(
        stdout.contains("per Envoy (no fleet section): failed-secret lockout"),
        "{stdout}"
    );

    config["fleet"] = serde_json::json!({"cluster": "ratelimit", "lockout": {}});
    let path = temp_file("fleet-on.json", &config.to_string());
    let output = edge_auth(&["check", path.to_str().unwrap()], b"");
    std::fs::remove_file(&path).unwrap();
    assert!(output.status.success());
    let stdout = stdout_of(&output);
    assert!(
        stdout.contains(
            "fleet: rate limit service through cluster ratelimit, domain edge-auth, timeout 100 \
             ms: failed secrets counted (without an answer: local)"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("per Envoy"), "{stdout}");
}
