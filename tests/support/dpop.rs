//! A DPoP client for the tests (RFC 9449 section 4): a fresh key, its `cnf.jkt` thumbprint, and
//! proofs for a method, URL and access token, signed with edge-auth's own native `jwt::mint`.
//! Shared by the native decision tests and the real-Envoy tests.
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicU64, Ordering};

use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::jwt::dpop::{access_token_hash, jwk_thumbprint};
use edge_auth::jwt::mint::SigningKey;
use serde_json::{json, Map, Value};

pub struct DpopClient {
    pub key: SigningKey,
}

/// A different `jti` for every proof of the test binary.
pub fn fresh_jti() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "jti-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl DpopClient {
    /// A client with a fresh ES256 or EdDSA key.
    pub fn new(alg: Algorithm) -> DpopClient {
        DpopClient {
            key: SigningKey::generate(alg).unwrap(),
        }
    }

    /// The public JWK a proof carries (no `kid`: proofs name their key by value).
    pub fn jwk(&self) -> Map<String, Value> {
        let mut jwk = self.key.public_jwk("unused");
        jwk.as_object_mut().unwrap().remove("kid");
        jwk.as_object().unwrap().clone()
    }

    /// `cnf.jkt` for tokens bound to this key.
    pub fn jkt(&self) -> String {
        let jwk = edge_auth::json::Value::from(Value::Object(self.jwk()));
        jwk_thumbprint(jwk.as_object().unwrap()).unwrap()
    }

    /// The header of a good proof.
    pub fn header(&self) -> Map<String, Value> {
        json!({"typ": "dpop+jwt", "alg": self.key.algorithm().name(), "jwk": self.jwk()})
            .as_object()
            .unwrap()
            .clone()
    }

    /// The claims of a good proof for `method` on `url` with `token` at `iat`.
    pub fn claims(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        iat: u64,
    ) -> Map<String, Value> {
        let mut claims = json!({"jti": fresh_jti(), "htm": method, "htu": url, "iat": iat});
        if let Some(token) = token {
            claims["ath"] = json!(access_token_hash(token));
        }
        claims.as_object().unwrap().clone()
    }

    /// A good proof.
    pub fn proof(&self, method: &str, url: &str, token: Option<&str>, iat: u64) -> String {
        self.sign(&self.header(), &self.claims(method, url, token, iat))
    }

    /// A proof with this header and these claims, signed by this client's key.
    pub fn sign(&self, header: &Map<String, Value>, claims: &Map<String, Value>) -> String {
        self.key.sign_with_header(header, claims).unwrap()
    }
}
