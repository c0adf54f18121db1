//! Token checks (`edge_auth::jwt::token`) against providers compiled from JSON, natively.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edge_auth::identity::Identity;
use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::jwt::mint::SigningKey;
use edge_auth::jwt::token::*;
use edge_auth::policy::Policy;
use serde_json::{json, Map, Value};

const ISS: &str = "https://auth.example.com/realms/main";
const NOW: u64 = 1_800_000_000;

struct Keys {
    rsa: SigningKey,
    ec: SigningKey,
    ed: SigningKey,
    hmac: SigningKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa: SigningKey::generate(Algorithm::RS256)
            .unwrap()
            .with_kid("rsa-1"),
        ec: SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .with_kid("ec-1"),
        ed: SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .with_kid("ed-1"),
        hmac: SigningKey::generate(Algorithm::HS256)
            .unwrap()
            .with_kid("hs-1"),
    })
}

fn policy_with(provider_extra: serde_json::Value) -> Policy {
    let k = keys();
    let mut provider = json!({
        "name": "idp",
        "issuer": ISS,
        "audiences": ["edge-api"],
        "algorithms": ["RS256", "ES256", "EdDSA", "HS256"],
        "jwks": {"keys": [k.rsa.public_jwk("rsa-1"), k.ec.public_jwk("ec-1"), k.ed.public_jwk("ed-1"), k.hmac.public_jwk("hs-1")]},
        "clock_skew_seconds": 30,
        "max_lifetime_seconds": 36000,
        "claims": {"apps": "apps"}
    });
    for (key, value) in provider_extra.as_object().unwrap() {
        provider[key] = value.clone();
    }
    let config = json!({
        "providers": [provider],
        "forward": {"subject_header": "x-auth-subject", "claims": {"email": "x-auth-email", "tenant": "x-auth-tenant"}}
    });
    Policy::from_json(config.to_string().as_bytes()).unwrap()
}

fn policy() -> Policy {
    policy_with(json!({}))
}

fn claims(extra: serde_json::Value) -> Map<String, Value> {
    let mut claims = json!({
        "iss": ISS, "aud": "edge-api", "sub": "alice",
        "iat": NOW - 60, "exp": NOW + 3600, "scope": "devices:read profile:read"
    });
    for (key, value) in extra.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(key);
        } else {
            claims[key] = value.clone();
        }
    }
    claims.as_object().unwrap().clone()
}

fn check(token: &str) -> Result<Identity, TokenError> {
    let policy = policy();
    verify(token, &policy.providers, &policy.forward, NOW)
}

fn b64json(value: serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[test]
fn valid_tokens_of_every_key_type_pass() {
    let k = keys();
    for key in [&k.rsa, &k.ec, &k.ed, &k.hmac] {
        let identity = check(&key.sign(&claims(json!({}))).unwrap()).unwrap();
        assert_eq!(
            identity.subject.as_deref(),
            Some("alice"),
            "{}",
            key.algorithm()
        );
        assert_eq!(identity.scopes, ["devices:read", "profile:read"]);
        assert_eq!(identity.expires_at, NOW + 3600);
    }
}

#[test]
fn time_checks_apply_clock_skew() {
    let rsa = &keys().rsa;
    let sign = |extra| rsa.sign(&claims(extra)).unwrap();
    assert_eq!(
        check(&sign(json!({"exp": NOW - 31}))),
        Err(TokenError::Expired)
    );
    assert!(
        check(&sign(json!({"exp": NOW - 29}))).is_ok(),
        "within skew"
    );
    assert_eq!(
        check(&sign(json!({"nbf": NOW + 31}))),
        Err(TokenError::NotYetValid)
    );
    assert!(check(&sign(json!({"nbf": NOW + 29}))).is_ok());
    assert_eq!(
        check(&sign(json!({"iat": NOW + 31}))),
        Err(TokenError::IssuedInFuture)
    );
    assert_eq!(
        check(&sign(json!({"exp": null}))),
        Err(TokenError::MissingExpiry)
    );
    assert_eq!(
        check(&sign(json!({"exp": "tomorrow"}))),
        Err(TokenError::MissingExpiry)
    );
    assert_eq!(
        check(&sign(json!({"nbf": -1}))),
        Err(TokenError::BadTimeClaim)
    );
    assert_eq!(
        check(&sign(json!({"iat": "yesterday"}))),
        Err(TokenError::BadTimeClaim)
    );
}

/// RFC 7519 §2 allows fractional NumericDates: accepted, rounded so that a token never lives
/// longer (`exp` down) nor starts sooner (`nbf` up).
#[test]
fn fractional_time_claims_are_accepted_and_rounded_toward_validity_ending_sooner() {
    let rsa = &keys().rsa;
    let sign = |extra| rsa.sign(&claims(extra)).unwrap();
    let identity = check(&sign(json!({"exp": NOW as f64 + 3600.5}))).unwrap();
    assert_eq!(identity.expires_at, NOW + 3600, "exp rounded down");
    assert_eq!(
        check(&sign(json!({"exp": NOW as f64 - 30.5}))),
        Err(TokenError::Expired),
        "NOW - 30.5 is NOW - 31 once rounded down: past the 30 s skew"
    );
    assert_eq!(
        check(&sign(json!({"nbf": NOW as f64 + 30.5}))),
        Err(TokenError::NotYetValid),
        "NOW + 30.5 is NOW + 31 once rounded up: beyond the 30 s skew"
    );
    assert!(check(&sign(
        json!({"nbf": NOW as f64 - 0.25, "iat": NOW as f64 - 0.25})
    ))
    .is_ok());
    assert_eq!(
        check(&sign(json!({"exp": -5.5}))),
        Err(TokenError::MissingExpiry)
    );
}

#[test]
fn lifetime_is_measured_from_iat_or_now() {
    let rsa = &keys().rsa;
    let sign = |extra| rsa.sign(&claims(extra)).unwrap();
    assert_eq!(
        check(&sign(json!({"iat": NOW - 60, "exp": NOW + 36000}))),
        Err(TokenError::LifetimeTooLong)
    );
    assert!(check(&sign(json!({"iat": NOW - 60, "exp": NOW + 35000}))).is_ok());
    assert_eq!(
        check(&sign(json!({"iat": null, "exp": NOW + 36001}))),
        Err(TokenError::LifetimeTooLong)
    );
    assert!(check(&sign(json!({"iat": null, "exp": NOW + 36000}))).is_ok());
}

#[test]
fn issuer_and_audience_must_match_a_provider() {
    let rsa = &keys().rsa;
    let sign = |extra| rsa.sign(&claims(extra)).unwrap();
    assert_eq!(
        check(&sign(json!({"iss": "https://evil.example.com"}))),
        Err(TokenError::UnknownIssuer)
    );
    assert_eq!(
        check(&sign(json!({"iss": null}))),
        Err(TokenError::MissingIssuer)
    );
    assert_eq!(
        check(&sign(json!({"aud": "other-api"}))),
        Err(TokenError::AudienceNotAllowed)
    );
    assert_eq!(
        check(&sign(json!({"aud": null}))),
        Err(TokenError::AudienceNotAllowed)
    );
    assert!(check(&sign(json!({"aud": ["other-api", "edge-api"]}))).is_ok());
}

#[test]
fn tampered_claims_fail_the_signature() {
    let token = keys().rsa.sign(&claims(json!({}))).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64json(json!(claims(json!({"scope": "admin"})))),
        parts[2]
    );
    assert_eq!(check(&forged), Err(TokenError::BadSignature));
}

#[test]
fn unsigned_tokens_are_refused() {
    let header = b64json(json!({"alg": "none"}));
    let body = b64json(json!(claims(json!({}))));
    assert_eq!(
        check(&format!("{header}.{body}.")),
        Err(TokenError::Unsigned)
    );
    let header = b64json(json!({"alg": "nOnE"}));
    assert_eq!(
        check(&format!("{header}.{body}.c2ln")),
        Err(TokenError::Unsigned)
    );
}

#[test]
fn rsa_public_key_used_as_hmac_secret_is_refused() {
    // The classic algorithm-confusion forgery: HS256 keyed with the RSA public key bytes,
    // naming the RSA key's kid.
    let k = keys();
    let rsa_jwk = k.rsa.public_jwk("rsa-1");
    let confused = SigningKey::from_text(Algorithm::HS256, &rsa_jwk["n"].as_str().unwrap()[..64])
        .unwrap()
        .with_kid("rsa-1");
    let token = confused.sign(&claims(json!({}))).unwrap();
    assert_eq!(check(&token), Err(TokenError::NoKeyForAlgorithm));
}

#[test]
fn algorithm_outside_the_allow_list_is_refused_before_any_key_lookup() {
    let es384 = SigningKey::generate(Algorithm::ES384)
        .unwrap()
        .with_kid("ec-1");
    assert_eq!(
        check(&es384.sign(&claims(json!({}))).unwrap()),
        Err(TokenError::AlgorithmNotAllowed)
    );
}

#[test]
fn unknown_kid_is_refused_and_missing_kid_tries_keys_of_the_algorithm() {
    let k = keys();
    let stranger = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("nobody");
    assert_eq!(
        check(&stranger.sign(&claims(json!({}))).unwrap()),
        Err(TokenError::UnknownKey)
    );
    let ec_text = k.ec.to_text().unwrap();
    let no_kid = SigningKey::from_text(Algorithm::ES256, &ec_text).unwrap();
    assert!(check(&no_kid.sign(&claims(json!({}))).unwrap()).is_ok());
    let stranger_no_kid = SigningKey::generate(Algorithm::ES256).unwrap();
    assert_eq!(
        check(&stranger_no_kid.sign(&claims(json!({}))).unwrap()),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn malformed_tokens_are_refused_without_panicking() {
    for token in [
        "",
        ".",
        "..",
        "a.b.c",
        "a.b.c.d",
        "%%%.%%%.%%%",
        "eyJhbGciOiJSUzI1NiJ9..sig",
        "\u{0}.\u{0}.\u{0}",
    ] {
        let result = check(token);
        assert!(
            matches!(
                result,
                Err(TokenError::Malformed) | Err(TokenError::UnsupportedAlgorithm)
            ),
            "{token:?}: {result:?}"
        );
    }
    assert_eq!(
        check(&"a".repeat(MAX_TOKEN_BYTES + 1)),
        Err(TokenError::TooLarge)
    );
}

#[test]
fn critical_header_extensions_are_refused() {
    let header = b64json(json!({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"]}));
    let body = b64json(json!(claims(json!({}))));
    assert_eq!(
        check(&format!("{header}.{body}.c2ln")),
        Err(TokenError::CriticalExtension)
    );
}

#[test]
fn scopes_come_from_a_string_or_an_array_and_claims_are_forwarded_safely() {
    let rsa = &keys().rsa;
    let token = rsa
        .sign(&claims(json!({"scope": null, "scp": ["a:read", "b:write"], "email": "a@example.com", "tenant": {"id": 7}, "apps": ["app-1"]})))
        .unwrap();
    let identity = check(&token).unwrap();
    assert_eq!(identity.scopes, ["a:read", "b:write"]);
    assert_eq!(identity.apps, ["app-1"]);
    assert_eq!(
        identity.forwarded_claims,
        [
            (0, "a@example.com".to_string()),
            (1, "{\"id\":7}".to_string())
        ]
    );
    let token = rsa
        .sign(&claims(json!({"email": "a@example.com\r\nx-admin: 1"})))
        .unwrap();
    let identity = check(&token).unwrap();
    assert_eq!(
        identity.forwarded_claims[0].1,
        "\"a@example.com\\r\\nx-admin: 1\""
    );
}

#[test]
fn configured_scope_claim_replaces_the_defaults() {
    let policy = policy_with(json!({"claims": {"scopes": "permissions"}}));
    let token = keys()
        .rsa
        .sign(&claims(json!({"permissions": "x:read"})))
        .unwrap();
    let identity = verify(&token, &policy.providers, &policy.forward, NOW).unwrap();
    assert_eq!(identity.scopes, ["x:read"]);
}

#[test]
fn error_messages_name_the_check_only() {
    assert_eq!(TokenError::Expired.to_string(), "token has expired");
    assert_eq!(
        TokenError::BadSignature.to_string(),
        "token signature is invalid"
    );
    assert_eq!(
        TokenError::Unsigned.to_string(),
        "unsigned tokens are not accepted"
    );
}

/// RFC 9068 section 2.1 / RFC 8725 section 3.11: with `require_access_token_type`, only a JWT
/// whose header says `typ: at+jwt` (or `application/at+jwt`, any case) is an access token; an
/// ID token of the same issuer with a matching `aud` is refused. Off by default.
#[test]
fn access_token_type_is_required_only_where_configured() {
    let ec = &keys().ec;
    let with_typ = |typ: Option<&str>| {
        let mut header = Map::new();
        header.insert("alg".into(), json!("ES256"));
        header.insert("kid".into(), json!("ec-1"));
        if let Some(typ) = typ {
            header.insert("typ".into(), json!(typ));
        }
        ec.sign_with_header(&header, &claims(json!({}))).unwrap()
    };
    let strict = policy_with(json!({"require_access_token_type": true}));
    let check_strict = |token: &str| verify(token, &strict.providers, &strict.forward, NOW);
    for typ in [
        "at+jwt",
        "application/at+jwt",
        "AT+JWT",
        "Application/At+Jwt",
    ] {
        assert!(check_strict(&with_typ(Some(typ))).is_ok(), "{typ}");
    }
    for typ in [
        Some("JWT"),
        Some("jwt"),
        Some("id_token+jwt"),
        Some("at+jwt "),
        None,
    ] {
        assert_eq!(
            check_strict(&with_typ(typ)).err(),
            Some(TokenError::NotAnAccessToken),
            "{typ:?}"
        );
    }
    // An ID token as jwt-simple signs it (typ JWT) is refused too.
    assert_eq!(
        check_strict(&ec.sign(&claims(json!({}))).unwrap()).err(),
        Some(TokenError::NotAnAccessToken)
    );
    assert_eq!(
        edge_auth::policy::outcome::Reason::for_token(TokenError::NotAnAccessToken).code(),
        "wrong_token_type"
    );
    // Without the option every typ is accepted, as before.
    assert!(check(&with_typ(Some("JWT"))).is_ok());
    assert!(check(&with_typ(None)).is_ok());
}

/// A token of exactly these header and claims texts, signed with the ES256 key.
fn raw_token(header: &str, claims: &str) -> String {
    keys()
        .ec
        .sign_raw(header.as_bytes(), claims.as_bytes())
        .unwrap()
}

const HEADER: &str = r#"{"alg":"ES256","kid":"ec-1"}"#;

fn claims_text(members: &str) -> String {
    format!(
        r#"{{"iss":"{ISS}","aud":"edge-api","sub":"alice","iat":{},{members}}}"#,
        NOW - 60
    )
}

/// Issue 22 pins what serde_json did before the filter read tokens with its own JSON reader
/// (these tests pass on the serde_json code too, but for the array header):
/// a header field named twice is malformed (serde's derived struct refused it), a claim named
/// twice keeps its last value (serde_json's map), `null` header fields are absent.
#[test]
fn repeated_members_keep_their_meaning() {
    let exp = NOW + 3600;
    let claims = claims_text(&format!(r#""exp":{exp}"#));
    assert!(check(&raw_token(HEADER, &claims)).is_ok());
    for header in [
        r#"{"alg":"ES256","alg":"ES256","kid":"ec-1"}"#,
        r#"{"alg":"ES256","kid":"ec-1","kid":"ec-1"}"#,
        r#"{"alg":"ES256","kid":"ec-1","typ":"JWT","typ":"JWT"}"#,
        // serde's derive read a struct from an array too (`["ES256"]` was a header with that
        // `alg`); no JOSE header is an array (RFC 7515 section 4): refused since issue 22.
        r#"["ES256"]"#,
        r#"{"alg":null,"kid":"ec-1"}"#,
        r#"{"alg":"ES256","kid":7}"#,
    ] {
        assert_eq!(
            check(&raw_token(header, &claims)).err(),
            Some(TokenError::Malformed),
            "{header}"
        );
    }
    // Unknown header members may repeat; `null` is an absent `kid` / `crit`.
    let header = r#"{"alg":"ES256","x":1,"x":2,"kid":null,"crit":null}"#;
    assert!(check(&raw_token(header, &claims)).is_ok());
    // The last `exp` counts, whichever comes first.
    let twice = claims_text(&format!(r#""exp":{},"exp":{exp}"#, NOW - 7200));
    assert!(check(&raw_token(HEADER, &twice)).is_ok());
    let twice = claims_text(&format!(r#""exp":{exp},"exp":{}"#, NOW - 7200));
    assert_eq!(
        check(&raw_token(HEADER, &twice)).err(),
        Some(TokenError::Expired)
    );
    let sub = claims_text(&format!(r#""exp":{exp},"sub":"mallory""#));
    assert_eq!(
        check(&raw_token(HEADER, &sub)).unwrap().subject.as_deref(),
        Some("mallory")
    );
}

/// `exp` as JSON writes numbers: integers, floats, exponents, beyond `u64`; as before.
#[test]
fn time_claims_read_every_json_number_as_before() {
    // No lifetime limit here: only how `exp` is read.
    let policy = policy_with(json!({"max_lifetime_seconds": null}));
    let verdict = |exp: &str| {
        let token = raw_token(HEADER, &claims_text(&format!(r#""exp":{exp}"#)));
        verify(&token, &policy.providers, &policy.forward, NOW)
    };
    assert_eq!(verdict("1.9e9").unwrap().expires_at, 1_900_000_000);
    assert_eq!(verdict("1800003600.9").unwrap().expires_at, NOW + 3600);
    assert_eq!(verdict("1.8000036E9").unwrap().expires_at, NOW + 3600);
    assert_eq!(verdict("18000036E-1").err(), Some(TokenError::Expired));
    assert_eq!(
        verdict("18446744073709551615").unwrap().expires_at,
        u64::MAX
    );
    assert_eq!(
        verdict("18446744073709551616").unwrap().expires_at,
        u64::MAX,
        "> u64: a float, saturated"
    );
    assert_eq!(verdict("1e300").unwrap().expires_at, u64::MAX);
    assert_eq!(verdict("-1").err(), Some(TokenError::MissingExpiry));
    assert_eq!(verdict("-0").err(), Some(TokenError::Expired), "-0 is 0");
    assert_eq!(
        verdict("\"1900000000\"").err(),
        Some(TokenError::MissingExpiry)
    );
    for malformed in ["1e400", "01", "1.", ".5", "+1", "NaN", "0x10", "1e"] {
        assert_eq!(
            verdict(malformed).err(),
            Some(TokenError::Malformed),
            "{malformed}"
        );
    }
}

/// Issue 22: a NumericDate is rounded from the exact decimal the issuer signed, not from the
/// nearest double (the `.wasm` parses no float). They differ only past a double's 17 digits,
/// and then toward a token that lives less: `exp` down, `nbf` up, and a negative date is
/// refused however small (`-1e-400` was the double `-0`, read as 0).
#[test]
fn time_claims_round_the_exact_decimal_not_a_double() {
    let policy = policy_with(json!({"max_lifetime_seconds": null}));
    let verdict = |members: &str| {
        let token = raw_token(HEADER, &claims_text(members));
        verify(&token, &policy.providers, &policy.forward, NOW)
    };
    let exp = "1800003600.99999999999999999";
    assert_eq!(
        exp.parse::<f64>().unwrap(),
        (NOW + 3601) as f64,
        "the double"
    );
    assert_eq!(
        verdict(&format!(r#""exp":{exp}"#)).unwrap().expires_at,
        NOW + 3600
    );
    let nbf = "1800000030.00000000000000001";
    assert_eq!(nbf.parse::<f64>().unwrap(), (NOW + 30) as f64, "the double");
    assert_eq!(
        verdict(&format!(r#""exp":{},"nbf":{nbf}"#, NOW + 3600)).err(),
        Some(TokenError::NotYetValid),
        "NOW + 30 and a bit is NOW + 31 once rounded up: beyond the 30 s skew"
    );
    assert!(verdict(&format!(r#""exp":{},"nbf":1800000030.0"#, NOW + 3600)).is_ok());
    assert_eq!(
        verdict(&format!(r#""exp":{},"nbf":-1e-400"#, NOW + 3600)).err(),
        Some(TokenError::BadTimeClaim)
    );
    assert!(verdict(&format!(r#""exp":{},"nbf":-0.0e5"#, NOW + 3600)).is_ok());
    assert_eq!(
        verdict("\"exp\":1e999999999999999999999").err(),
        Some(TokenError::Malformed),
        "beyond a double: refused as before"
    );
    assert_eq!(
        verdict("\"exp\":1.7e308").unwrap().expires_at,
        u64::MAX,
        "a double's range: saturated as before"
    );
}

/// Issue 22: a float claim is forwarded as the issuer wrote it, not as the shortest double
/// serde_json wrote (`1.50` was `1.5`, `1E3` was `1000.0`); compared by value where claim
/// conditions compare it.
#[test]
fn float_claims_are_forwarded_as_the_issuer_wrote_them() {
    let policy = policy();
    for (text, serde_json_wrote) in [
        ("1.50", "1.5"),
        ("1E3", "1000.0"),
        ("-0", "-0.0"),
        ("0.10000000000000000001", "0.1"),
        ("123456789012345678901234567890", "1.2345678901234568e+29"),
        ("[2.50,1]", "[2.5,1]"),
    ] {
        let members = format!(r#""exp":{},"tenant":{text}"#, NOW + 3600);
        let token = raw_token(HEADER, &claims_text(&members));
        let identity = verify(&token, &policy.providers, &policy.forward, NOW).unwrap();
        let sent: Vec<&str> = identity
            .forwarded_claims
            .iter()
            .map(|(_, value)| value.as_str())
            .collect();
        assert_eq!(sent, [text], "{text}");
        let theirs: Value = serde_json::from_str(text).unwrap();
        assert_eq!(theirs.to_string(), serde_json_wrote, "{text}");
    }
}

/// Hostile JSON in a signed token: refused as malformed (never a panic), as serde_json did.
#[test]
fn hostile_json_is_malformed_as_before() {
    let exp = NOW + 3600;
    let nested = |depth: usize| {
        claims_text(&format!(
            r#""exp":{exp},"deep":{}1{}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        ))
    };
    // serde_json's recursion limit: 127 arrays and objects open at once, the claims object
    // itself included.
    assert!(check(&raw_token(HEADER, &nested(126))).is_ok());
    assert_eq!(
        check(&raw_token(HEADER, &nested(127))).err(),
        Some(TokenError::Malformed)
    );
    assert_eq!(
        check(&raw_token(HEADER, &nested(5_000))).err(),
        Some(TokenError::Malformed)
    );
    for members in [
        r#""exp":1900000000,"x":"\ud800""#,
        r#""exp":1900000000,"x":"\udc00\ud800""#,
        r#""exp":1900000000,"x":"\ud800\u0041""#,
        r#""exp":1900000000,"x":"\u12""#,
        "\"exp\":1900000000,\"x\":\"\u{1}\"",
        r#""exp":1900000000,"x":"\q""#,
        r#""exp":1900000000,"x":1}"#,
        r#""exp":1900000000,"x":[1,]"#,
    ] {
        let claims = claims_text(members);
        assert_eq!(
            check(&raw_token(HEADER, &claims)).err(),
            Some(TokenError::Malformed),
            "{members}"
        );
    }
    let good = claims_text(&format!(r#""exp":{exp}"#));
    for trailing in [" x", "{}", ",", "\u{0}"] {
        let claims = format!("{good}{trailing}");
        assert_eq!(
            check(&raw_token(HEADER, &claims)).err(),
            Some(TokenError::Malformed),
            "{trailing:?}"
        );
    }
    assert!(check(&raw_token(HEADER, &format!(" \n{good}\t\r "))).is_ok());
    // Invalid UTF-8 inside a string.
    let mut bytes = claims_text(&format!(r#""exp":{exp},"x":"AB""#)).into_bytes();
    let at = bytes.len() - 3;
    bytes[at] = 0xff;
    let token = keys().ec.sign_raw(HEADER.as_bytes(), &bytes).unwrap();
    assert_eq!(check(&token).err(), Some(TokenError::Malformed));
    // A surrogate pair and escapes decode.
    let claims = claims_text(&format!(r#""exp":{exp},"sub":"\ud83d\ude00\u00e9\/""#));
    assert_eq!(
        check(&raw_token(HEADER, &claims))
            .unwrap()
            .subject
            .as_deref(),
        Some("\u{1f600}\u{e9}/")
    );
}
