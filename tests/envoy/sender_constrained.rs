//! Sender-constrained tokens end to end, in a real Envoy: DPoP-bound tokens from the real
//! OpenID Connect provider (npm `oidc-provider`, DPoP enabled), used with fresh proofs, replayed,
//! downgraded to Bearer and proven by another key; the RFC 9728 metadata document and the
//! `resource_metadata` challenge; certificate-bound tokens from the same provider (it is handed
//! the client certificate as a TLS-terminating proxy would) over a TLS listener that requires
//! client certificates; DPoP server nonces across workers and, with `dpop.nonce_keys`, across
//! Envoys.

use crate::dpop_client::DpopClient;
use crate::{fixtures, support};

use edge_auth::jwt::algorithm::Algorithm;
use serde_json::{json, Value};
use support::oidc::OidcProvider;
use support::{Envoy, Options, Response, TlsFiles};

/// The URL the harness's requests reach (`Host: localhost`, plain HTTP).
const URL: &str = "http://localhost/devices/7";

fn dpop_call(envoy: &Envoy, token: &str, proof: &str) -> Response {
    envoy.get(
        "/devices/7?page=1",
        &[("authorization", &format!("DPoP {token}")), ("dpop", proof)],
    )
}

#[test]
fn dpop_bound_tokens_from_a_real_openid_provider_need_a_fresh_proof_of_their_key() {
    let idp = OidcProvider::start();
    let mut config = fixtures::issuer().config();
    config["providers"][0] = json!({
        "name": "oidc-provider", "issuer": idp.issuer(), "audiences": ["edge-api"],
        "algorithms": ["RS256"], "discovery": {"cluster": "oidc"}, "sender_constraint": "dpop"
    });
    config["dpop"] = json!({"algorithms": ["ES256", "EdDSA"]});
    config["forward"]["confirmation_header"] = json!("x-auth-cnf");
    // Two workers, each with its own Wasm VM: the replay cache must be shared between them.
    let envoy = Envoy::start_with(
        &config.to_string(),
        &Options::default().cluster("oidc", idp.port()).workers(2),
    );

    let client = DpopClient::new(Algorithm::ES256);
    let now = fixtures::now();
    let token_proof = client.proof("POST", &idp.token_endpoint(), None, now);
    let (status, answer) =
        idp.client_credentials_dpop("reader", "reader-secret", "devices:read", &token_proof);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["token_type"], "DPoP", "{answer}");
    let token = answer["access_token"].as_str().unwrap().to_string();
    let claims: Value = {
        use base64::Engine;
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        claims["cnf"]["jkt"],
        json!(client.jkt()),
        "the provider bound it"
    );

    // Fresh proofs: allowed, and neither the token nor the proof reaches the upstream.
    for _ in 0..2 {
        let proof = client.proof("GET", URL, Some(&token), fixtures::now());
        let response = dpop_call(&envoy, &token, &proof);
        assert_eq!(response.status, 200, "{}", response.body);
        let upstream = response.upstream();
        assert_eq!(upstream.header("x-auth-cnf"), Some("dpop"));
        assert_eq!(upstream.header("x-auth-subject"), Some("reader"));
        assert_eq!(upstream.header("dpop"), None);
        assert_eq!(upstream.header("authorization"), None);
    }

    // A replayed proof: refused on every worker, however often it comes back.
    let proof = client.proof("GET", URL, Some(&token), fixtures::now());
    assert_eq!(dpop_call(&envoy, &token, &proof).status, 200);
    for _ in 0..4 {
        let replay = dpop_call(&envoy, &token, &proof);
        assert_eq!(replay.status, 401, "{}", replay.body);
        assert!(
            replay.body.contains("DPoP proof was already used"),
            "{}",
            replay.body
        );
        let challenge = replay.header("www-authenticate").unwrap();
        assert!(
            challenge.starts_with(
                "DPoP realm=\"edge\", algs=\"ES256 EdDSA\", error=\"invalid_dpop_proof\""
            ),
            "{challenge}"
        );
    }

    // The same token as a bearer token: refused (no downgrade).
    let bearer = envoy.get(
        "/devices/7",
        &[("authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(bearer.status, 401, "{}", bearer.body);
    assert!(
        bearer.body.contains("token is DPoP-bound"),
        "{}",
        bearer.body
    );

    // A proof by another key (a thief who copied the token): refused.
    let thief = DpopClient::new(Algorithm::EdDSA);
    let stolen = dpop_call(
        &envoy,
        &token,
        &thief.proof("GET", URL, Some(&token), fixtures::now()),
    );
    assert_eq!(stolen.status, 401, "{}", stolen.body);
    assert!(
        stolen.body.contains("not the key the token is bound to"),
        "{}",
        stolen.body
    );

    // A proof for another URL: refused.
    let elsewhere = client.proof(
        "GET",
        "http://localhost/devices/8",
        Some(&token),
        fixtures::now(),
    );
    assert_eq!(dpop_call(&envoy, &token, &elsewhere).status, 401);

    // A plain bearer token of this provider: refused, the provider demands DPoP.
    let (_, plain) = idp.client_credentials("reader", "reader-secret", "devices:read");
    let plain = plain["access_token"].as_str().unwrap();
    let refused = envoy.get(
        "/devices/7",
        &[("authorization", &format!("Bearer {plain}"))],
    );
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(refused
        .body
        .contains("a sender-constrained token is required"));

    // The documented client script (envoy/dpop-proof.mjs, Node.js alone) works the same way.
    let dir = std::env::temp_dir().join(format!("edge-auth-dpop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("dpop-key.json");
    let script = |args: &[&str]| -> String {
        let output = std::process::Command::new("node")
            .arg(support::repo_root().join("envoy/dpop-proof.mjs"))
            .arg(&key)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run node: {e}"));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    let proof = script(&["POST", &idp.token_endpoint()]);
    let (status, answer) =
        idp.client_credentials_dpop("reader", "reader-secret", "devices:read", &proof);
    assert_eq!(status, 200, "{answer}");
    let token = answer["access_token"].as_str().unwrap().to_string();
    let claims: Value = {
        use base64::Engine;
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(claims["cnf"]["jkt"], json!(script(&["--jkt"])));
    let response = dpop_call(&envoy, &token, &script(&["GET", URL, &token]));
    assert_eq!(response.status, 200, "{}", response.body);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn metadata_document_is_served_and_named_in_every_challenge() {
    let mut config = fixtures::issuer().config();
    config["dpop"] = json!({});
    config["resource_metadata"] = json!({"resource": "http://localhost/api"});
    let envoy = Envoy::start(&config.to_string());

    let metadata = envoy.get("/.well-known/oauth-protected-resource/api", &[]);
    assert_eq!(metadata.status, 200, "{}", metadata.body);
    assert_eq!(metadata.header("content-type"), Some("application/json"));
    assert_eq!(
        metadata.header("cache-control"),
        Some("public, max-age=3600")
    );
    let document: Value = serde_json::from_str(&metadata.body).unwrap();
    assert_eq!(document["resource"], "http://localhost/api");
    assert_eq!(document["authorization_servers"], json!([fixtures::ISSUER]));
    assert_eq!(
        document["scopes_supported"],
        json!(["devices:read", "devices:write"])
    );
    assert_eq!(
        document["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA"])
    );
    assert_eq!(
        envoy
            .get("/.well-known/oauth-protected-resource", &[])
            .status,
        200
    );

    let challenged = envoy.get("/devices/7", &[]);
    assert_eq!(challenged.status, 401);
    let url = "http://localhost/.well-known/oauth-protected-resource/api";
    let challenges: Vec<&str> = challenged
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("www-authenticate"))
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(
        challenges,
        [
            format!("Bearer realm=\"edge\", resource_metadata=\"{url}\""),
            format!("DPoP realm=\"edge\", algs=\"ES256 EdDSA\", resource_metadata=\"{url}\"")
        ]
    );
}

/// base64url SHA-256 of a PEM certificate's DER: its `cnf."x5t#S256"`.
fn x5t_s256(certificate: &std::path::Path) -> String {
    use base64::Engine;
    use sha2::Digest;
    let output = std::process::Command::new("openssl")
        .args(["x509", "-outform", "der", "-in"])
        .arg(certificate)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl (make test installs it): {e}"));
    assert!(output.status.success(), "openssl x509 failed");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&output.stdout))
}

#[test]
fn certificate_bound_tokens_from_a_real_openid_provider_need_their_certificate_over_tls() {
    let idp = OidcProvider::start();
    let dir = std::env::temp_dir().join(format!("edge-auth-mtls-{}", std::process::id()));
    let made = |name: &str| {
        let sub = dir.join(name);
        std::fs::create_dir_all(&sub).unwrap();
        TlsFiles::self_signed(&sub)
    };
    let (server, alice, mallory) = (made("server"), made("alice"), made("mallory"));
    // The listener trusts both client certificates: the handshake passes for either, and only
    // the token's binding tells them apart.
    let trusted = dir.join("clients.pem");
    let pems = [&alice, &mallory].map(|c| std::fs::read_to_string(&c.certificate).unwrap());
    std::fs::write(&trusted, pems.concat()).unwrap();

    let mut config = fixtures::issuer().config();
    config["providers"][0] = json!({
        "name": "oidc-provider", "issuer": idp.issuer(), "audiences": ["edge-api"],
        "algorithms": ["RS256"], "discovery": {"cluster": "oidc"}
    });
    config["mtls"] = json!({});
    config["forward"]["confirmation_header"] = json!("x-auth-cnf");
    let envoy = Envoy::start_with(
        &config.to_string(),
        &Options::default()
            .cluster("oidc", idp.port())
            .tls(server.requiring_client_certificates(&trusted)),
    );

    // The real provider binds the token to alice's certificate.
    let (status, answer) =
        idp.client_credentials_certificate("bound", "bound-secret", "devices:read", &pems[0]);
    assert_eq!(status, 200, "{answer}");
    let bound = answer["access_token"].as_str().unwrap().to_string();
    let claims: Value = {
        use base64::Engine;
        let part = bound.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        claims["cnf"]["x5t#S256"],
        json!(x5t_s256(&alice.certificate)),
        "the provider and the test agree on the certificate thumbprint"
    );

    let with_cert = |client: &TlsFiles, token: &str| {
        let (cert, key) = (
            client.certificate.to_string_lossy().into_owned(),
            client.private_key.to_string_lossy().into_owned(),
        );
        envoy.https_get(
            "/devices/7",
            &["--cert", &cert, "--key", &key],
            &[("authorization", &format!("Bearer {token}"))],
        )
    };
    let right = with_cert(&alice, &bound);
    assert_eq!(right.status, 200, "{}", right.body);
    assert_eq!(right.upstream().header("x-auth-cnf"), Some("mtls"));
    assert_eq!(right.upstream().header("x-auth-subject"), Some("bound"));
    let wrong = with_cert(&mallory, &bound);
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(
        wrong
            .body
            .contains("the client certificate is not the one the token is bound to"),
        "{}",
        wrong.body
    );
    // An unbound token of the same provider stays a bearer token, whatever the certificate.
    let (_, plain) = idp.client_credentials("reader", "reader-secret", "devices:read");
    let plain = with_cert(&mallory, plain["access_token"].as_str().unwrap());
    assert_eq!(plain.status, 200, "{}", plain.body);
    assert_eq!(plain.upstream().header("x-auth-cnf"), None);
    drop(envoy);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn server_nonces_are_handed_out_on_401_and_accepted_by_every_worker() {
    let mut config = fixtures::issuer().config();
    config["dpop"] = json!({"nonce_lifetime_seconds": 60});
    let envoy = Envoy::start_with(&config.to_string(), &Options::default().workers(2));
    let client = DpopClient::new(Algorithm::EdDSA);
    let now = fixtures::now();
    let token =
        fixtures::issuer().token(Algorithm::ES256, now, json!({"cnf": {"jkt": client.jkt()}}));
    let proof = |nonce: Option<&str>| {
        let mut claims = client.claims("GET", URL, Some(&token), fixtures::now());
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        client.sign(&client.header(), &claims)
    };

    let first = dpop_call(&envoy, &token, &proof(None));
    assert_eq!(first.status, 401, "{}", first.body);
    assert!(first.body.contains("use_dpop_nonce"), "{}", first.body);
    let nonce = first
        .header("dpop-nonce")
        .expect("a DPoP-Nonce header")
        .to_string();
    let challenge = first.header("www-authenticate").unwrap();
    assert!(
        challenge.contains("error=\"use_dpop_nonce\""),
        "{challenge}"
    );

    // New connections each time: both workers accept the nonce the other issued.
    for _ in 0..4 {
        let response = dpop_call(&envoy, &token, &proof(Some(&nonce)));
        assert_eq!(response.status, 200, "{}", response.body);
    }
    let wrong = dpop_call(
        &envoy,
        &token,
        &proof(Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
    );
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    // A fresh nonce again (the same one, unless a 60-second window just ended).
    assert!(wrong
        .header("dpop-nonce")
        .is_some_and(|fresh| fresh.len() == nonce.len()));
}

/// A fleet (issue 20): two Envoys started from one configuration with `dpop.nonce_keys` accept
/// each other's nonces, and an Envoy configured with another key refuses them with a fresh
/// nonce of its own, as a client would meet them behind one load balancer.
#[test]
fn configured_nonce_keys_make_a_nonce_of_one_envoy_good_at_another() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let fleet_key = URL_SAFE_NO_PAD.encode((0..32u8).map(|i| i ^ 0x6c).collect::<Vec<u8>>());
    let other_key = URL_SAFE_NO_PAD.encode((0..32u8).map(|i| i ^ 0x93).collect::<Vec<u8>>());
    let with_keys = |keys: &[&str]| {
        let mut config = fixtures::issuer().config();
        config["dpop"] = json!({"nonce_lifetime_seconds": 60, "nonce_keys": keys});
        config.to_string()
    };
    let fleet = with_keys(&[&fleet_key]);
    let a = Envoy::start_with(&fleet, &Options::default());
    let b = Envoy::start_with(&fleet, &Options::default());
    let stranger = Envoy::start_with(&with_keys(&[&other_key]), &Options::default());

    let client = DpopClient::new(Algorithm::EdDSA);
    let token = fixtures::issuer().token(
        Algorithm::ES256,
        fixtures::now(),
        json!({"cnf": {"jkt": client.jkt()}}),
    );
    let proof = |nonce: Option<&str>| {
        let mut claims = client.claims("GET", URL, Some(&token), fixtures::now());
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        client.sign(&client.header(), &claims)
    };
    let nonce_from = |envoy: &Envoy| {
        let refused = dpop_call(envoy, &token, &proof(None));
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert!(refused.body.contains("use_dpop_nonce"), "{}", refused.body);
        refused
            .header("dpop-nonce")
            .expect("a DPoP-Nonce header")
            .to_string()
    };

    // A's nonce is good at B (and at A); B's at A.
    let from_a = nonce_from(&a);
    let at_b = dpop_call(&b, &token, &proof(Some(&from_a)));
    assert_eq!(at_b.status, 200, "{}", at_b.body);
    let at_a = dpop_call(&a, &token, &proof(Some(&from_a)));
    assert_eq!(at_a.status, 200, "{}", at_a.body);
    let from_b = nonce_from(&b);
    let back_at_a = dpop_call(&a, &token, &proof(Some(&from_b)));
    assert_eq!(back_at_a.status, 200, "{}", back_at_a.body);

    // An Envoy with another key refuses it, with a nonce of its own that A refuses in turn.
    let elsewhere = dpop_call(&stranger, &token, &proof(Some(&from_a)));
    assert_eq!(elsewhere.status, 401, "{}", elsewhere.body);
    assert!(
        elsewhere.body.contains("use_dpop_nonce"),
        "{}",
        elsewhere.body
    );
    let theirs = elsewhere
        .header("dpop-nonce")
        .expect("a fresh nonce")
        .to_string();
    assert_ne!(theirs, from_a);
    let foreign_at_a = dpop_call(&a, &token, &proof(Some(&theirs)));
    assert_eq!(foreign_at_a.status, 401, "{}", foreign_at_a.body);
    assert!(foreign_at_a.body.contains("use_dpop_nonce"));

    // The keys are secrets: no Envoy logs them.
    for envoy in [&a, &b, &stranger] {
        let log = envoy.log();
        assert!(!log.contains(&fleet_key[..8]) && !log.contains(&other_key[..8]));
    }
}
