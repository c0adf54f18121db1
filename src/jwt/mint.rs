//! Minting tokens from local keys, for demos, tests and operators (native builds only; the
//! filter itself never signs anything).
//!
//! Keys are generated or loaded per [`Algorithm`] and can print their public JWK, so that a
//! demo JWKS and the tokens it verifies always come from the same key material.

use jwt_simple::prelude::*;
use serde_json::{json, Map, Value};

use crate::jwt::algorithm::Algorithm;

/// A private key (or shared secret) for one algorithm.
pub enum SigningKey {
    /// RSASSA-PKCS1-v1_5 / SHA-256.
    RS256(RS256KeyPair),
    /// RSASSA-PKCS1-v1_5 / SHA-384.
    RS384(RS384KeyPair),
    /// RSASSA-PKCS1-v1_5 / SHA-512.
    RS512(RS512KeyPair),
    /// RSASSA-PSS / SHA-256.
    PS256(PS256KeyPair),
    /// RSASSA-PSS / SHA-384.
    PS384(PS384KeyPair),
    /// RSASSA-PSS / SHA-512.
    PS512(PS512KeyPair),
    /// ECDSA P-256.
    ES256(ES256KeyPair),
    /// ECDSA P-384.
    ES384(ES384KeyPair),
    /// Ed25519.
    EdDSA(Ed25519KeyPair),
    /// HMAC-SHA-256.
    HS256(HS256Key),
    /// HMAC-SHA-384.
    HS384(HS384Key),
    /// HMAC-SHA-512.
    HS512(HS512Key),
}

fn b64(bytes: &[u8]) -> String {
    crate::base64::encode_url(bytes)
}

fn rsa_jwk(parts: RSAPublicKeyComponents) -> Value {
    json!({"kty": "RSA", "n": b64(&parts.n), "e": b64(&parts.e)})
}

fn ec_jwk(crv: &str, point: &[u8]) -> Value {
    let size = (point.len().saturating_sub(1)) / 2;
    let (x, y) = point.get(1..).unwrap_or_default().split_at(size);
    json!({"kty": "EC", "crv": crv, "x": b64(x), "y": b64(y)})
}

impl SigningKey {
    /// A fresh random key (RSA: 2048 bits; HMAC: a secret of the hash size).
    pub fn generate(algorithm: Algorithm) -> Result<SigningKey, String> {
        let err = |e: jwt_simple::Error| e.to_string();
        Ok(match algorithm {
            Algorithm::RS256 => SigningKey::RS256(RS256KeyPair::generate(2048).map_err(err)?),
            Algorithm::RS384 => SigningKey::RS384(RS384KeyPair::generate(2048).map_err(err)?),
            Algorithm::RS512 => SigningKey::RS512(RS512KeyPair::generate(2048).map_err(err)?),
            Algorithm::PS256 => SigningKey::PS256(PS256KeyPair::generate(2048).map_err(err)?),
            Algorithm::PS384 => SigningKey::PS384(PS384KeyPair::generate(2048).map_err(err)?),
            Algorithm::PS512 => SigningKey::PS512(PS512KeyPair::generate(2048).map_err(err)?),
            Algorithm::ES256 => SigningKey::ES256(ES256KeyPair::generate()),
            Algorithm::ES384 => SigningKey::ES384(ES384KeyPair::generate()),
            Algorithm::EdDSA => SigningKey::EdDSA(Ed25519KeyPair::generate()),
            Algorithm::HS256 => SigningKey::HS256(HS256Key::from_bytes(&random_secret(32))),
            Algorithm::HS384 => SigningKey::HS384(HS384Key::from_bytes(&random_secret(48))),
            Algorithm::HS512 => SigningKey::HS512(HS512Key::from_bytes(&random_secret(64))),
        })
    }

    /// Loads a key saved by [`SigningKey::to_text`]: PEM for key pairs, base64url for secrets.
    pub fn from_text(algorithm: Algorithm, text: &str) -> Result<SigningKey, String> {
        let err = |e: jwt_simple::Error| format!("not a {algorithm} private key: {e}");
        let secret = || {
            crate::base64::decode_url(text.trim())
                .ok_or_else(|| format!("not a base64url {algorithm} secret"))
        };
        Ok(match algorithm {
            Algorithm::RS256 => SigningKey::RS256(RS256KeyPair::from_pem(text).map_err(err)?),
            Algorithm::RS384 => SigningKey::RS384(RS384KeyPair::from_pem(text).map_err(err)?),
            Algorithm::RS512 => SigningKey::RS512(RS512KeyPair::from_pem(text).map_err(err)?),
            Algorithm::PS256 => SigningKey::PS256(PS256KeyPair::from_pem(text).map_err(err)?),
            Algorithm::PS384 => SigningKey::PS384(PS384KeyPair::from_pem(text).map_err(err)?),
            Algorithm::PS512 => SigningKey::PS512(PS512KeyPair::from_pem(text).map_err(err)?),
            Algorithm::ES256 => SigningKey::ES256(ES256KeyPair::from_pem(text).map_err(err)?),
            Algorithm::ES384 => SigningKey::ES384(ES384KeyPair::from_pem(text).map_err(err)?),
            Algorithm::EdDSA => SigningKey::EdDSA(Ed25519KeyPair::from_pem(text).map_err(err)?),
            Algorithm::HS256 => SigningKey::HS256(HS256Key::from_bytes(&secret()?)),
            Algorithm::HS384 => SigningKey::HS384(HS384Key::from_bytes(&secret()?)),
            Algorithm::HS512 => SigningKey::HS512(HS512Key::from_bytes(&secret()?)),
        })
    }

    /// The key as text to store: PEM for key pairs, base64url for secrets.
    pub fn to_text(&self) -> Result<String, String> {
        let err = |e: jwt_simple::Error| e.to_string();
        match self {
            SigningKey::RS256(k) => k.to_pem().map_err(err),
            SigningKey::RS384(k) => k.to_pem().map_err(err),
            SigningKey::RS512(k) => k.to_pem().map_err(err),
            SigningKey::PS256(k) => k.to_pem().map_err(err),
            SigningKey::PS384(k) => k.to_pem().map_err(err),
            SigningKey::PS512(k) => k.to_pem().map_err(err),
            SigningKey::ES256(k) => k.to_pem().map_err(err),
            SigningKey::ES384(k) => k.to_pem().map_err(err),
            SigningKey::EdDSA(k) => Ok(k.to_pem()),
            SigningKey::HS256(k) => Ok(b64(&k.to_bytes())),
            SigningKey::HS384(k) => Ok(b64(&k.to_bytes())),
            SigningKey::HS512(k) => Ok(b64(&k.to_bytes())),
        }
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            SigningKey::RS256(_) => Algorithm::RS256,
            SigningKey::RS384(_) => Algorithm::RS384,
            SigningKey::RS512(_) => Algorithm::RS512,
            SigningKey::PS256(_) => Algorithm::PS256,
            SigningKey::PS384(_) => Algorithm::PS384,
            SigningKey::PS512(_) => Algorithm::PS512,
            SigningKey::ES256(_) => Algorithm::ES256,
            SigningKey::ES384(_) => Algorithm::ES384,
            SigningKey::EdDSA(_) => Algorithm::EdDSA,
            SigningKey::HS256(_) => Algorithm::HS256,
            SigningKey::HS384(_) => Algorithm::HS384,
            SigningKey::HS512(_) => Algorithm::HS512,
        }
    }

    /// The JWK that verifies this key's signatures, with `kid` and `alg` set.
    /// For HMAC this is the secret itself (`kty: oct`).
    pub fn public_jwk(&self, kid: &str) -> Value {
        let mut jwk = match self {
            SigningKey::RS256(k) => rsa_jwk(k.public_key().to_components()),
            SigningKey::RS384(k) => rsa_jwk(k.public_key().to_components()),
            SigningKey::RS512(k) => rsa_jwk(k.public_key().to_components()),
            SigningKey::PS256(k) => rsa_jwk(k.public_key().to_components()),
            SigningKey::PS384(k) => rsa_jwk(k.public_key().to_components()),
            SigningKey::PS512(k) => rsa_jwk(k.public_key().to_components()),
            SigningKey::ES256(k) => {
                ec_jwk("P-256", &k.key_pair().public_key().to_bytes_uncompressed())
            }
            SigningKey::ES384(k) => {
                ec_jwk("P-384", &k.key_pair().public_key().to_bytes_uncompressed())
            }
            SigningKey::EdDSA(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&k.public_key().to_bytes())})
            }
            SigningKey::HS256(k) => json!({"kty": "oct", "k": b64(&k.to_bytes())}),
            SigningKey::HS384(k) => json!({"kty": "oct", "k": b64(&k.to_bytes())}),
            SigningKey::HS512(k) => json!({"kty": "oct", "k": b64(&k.to_bytes())}),
        };
        if let Some(members) = jwk.as_object_mut() {
            members.insert("kid".into(), json!(kid));
            members.insert("alg".into(), json!(self.algorithm().name()));
        }
        jwk
    }

    /// The same key, naming `kid` in the header of the tokens it signs.
    pub fn with_kid(self, kid: &str) -> SigningKey {
        match self {
            SigningKey::RS256(k) => SigningKey::RS256(k.with_key_id(kid)),
            SigningKey::RS384(k) => SigningKey::RS384(k.with_key_id(kid)),
            SigningKey::RS512(k) => SigningKey::RS512(k.with_key_id(kid)),
            SigningKey::PS256(k) => SigningKey::PS256(k.with_key_id(kid)),
            SigningKey::PS384(k) => SigningKey::PS384(k.with_key_id(kid)),
            SigningKey::PS512(k) => SigningKey::PS512(k.with_key_id(kid)),
            SigningKey::ES256(k) => SigningKey::ES256(k.with_key_id(kid)),
            SigningKey::ES384(k) => SigningKey::ES384(k.with_key_id(kid)),
            SigningKey::EdDSA(k) => SigningKey::EdDSA(k.with_key_id(kid)),
            SigningKey::HS256(k) => SigningKey::HS256(k.with_key_id(kid)),
            SigningKey::HS384(k) => SigningKey::HS384(k.with_key_id(kid)),
            SigningKey::HS512(k) => SigningKey::HS512(k.with_key_id(kid)),
        }
    }

    /// Signs exactly these claims: nothing is added (no default `iat` or `exp`).
    pub fn sign(&self, claims: &Map<String, Value>) -> Result<String, String> {
        let claims = JWTClaims {
            issued_at: None,
            expires_at: None,
            invalid_before: None,
            issuer: None,
            subject: None,
            audiences: None,
            jwt_id: None,
            nonce: None,
            custom: claims.clone(),
        };
        let signed = match self {
            SigningKey::RS256(k) => k.sign(claims),
            SigningKey::RS384(k) => k.sign(claims),
            SigningKey::RS512(k) => k.sign(claims),
            SigningKey::PS256(k) => k.sign(claims),
            SigningKey::PS384(k) => k.sign(claims),
            SigningKey::PS512(k) => k.sign(claims),
            SigningKey::ES256(k) => k.sign(claims),
            SigningKey::ES384(k) => k.sign(claims),
            SigningKey::EdDSA(k) => k.sign(claims),
            SigningKey::HS256(k) => k.authenticate(claims),
            SigningKey::HS384(k) => k.authenticate(claims),
            SigningKey::HS512(k) => k.authenticate(claims),
        };
        signed.map_err(|e| e.to_string())
    }
}

impl SigningKey {
    /// Signs a compact JWS with exactly this header and these claims (a DPoP proof's header
    /// carries `typ` and the public `jwk`, which jwt-simple's headers cannot). ES256 and EdDSA
    /// only: the algorithms clients sign proofs with.
    pub fn sign_with_header(
        &self,
        header: &Map<String, Value>,
        claims: &Map<String, Value>,
    ) -> Result<String, String> {
        let to_json =
            |value: &Map<String, Value>| serde_json::to_vec(value).map_err(|e| e.to_string());
        self.sign_raw(&to_json(header)?, &to_json(claims)?)
    }

    /// Signs a compact JWS of exactly these header and claims bytes (the tests' hostile JSON:
    /// repeated members, deep nesting, odd numbers). ES256 and EdDSA only, as above.
    pub fn sign_raw(&self, header: &[u8], claims: &[u8]) -> Result<String, String> {
        let signing_input = format!("{}.{}", b64(header), b64(claims));
        let signature = match self {
            SigningKey::ES256(k) => {
                use p256::ecdsa::signature::Signer;
                let key = p256::ecdsa::SigningKey::from_slice(&k.to_bytes())
                    .map_err(|e| e.to_string())?;
                let signature: p256::ecdsa::Signature = key.sign(signing_input.as_bytes());
                signature.to_bytes().to_vec()
            }
            SigningKey::EdDSA(k) => {
                let key = ed25519_compact::KeyPair::from_slice(&k.to_bytes())
                    .map_err(|e| e.to_string())?;
                key.sk.sign(signing_input.as_bytes(), None).to_vec()
            }
            other => {
                return Err(format!(
                    "{} cannot sign with a custom header here",
                    other.algorithm()
                ))
            }
        };
        Ok(format!("{signing_input}.{}", b64(&signature)))
    }
}

fn random_secret(len: usize) -> Vec<u8> {
    use jwt_simple::reexports::rand::RngCore;
    let mut secret = vec![0u8; len];
    jwt_simple::reexports::rand::thread_rng().fill_bytes(&mut secret);
    secret
}
