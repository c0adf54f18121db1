//! Verification keys: parses an RFC 7517 JWK Set once, at configure time, into ready-to-use
//! verifiers, and picks the candidate keys for a token's `alg` and `kid`.
//!
//! A key is only ever a *candidate*: the token header's `alg` and `kid` narrow the search, the
//! provider's algorithm allow-list and the key's own family decide what may verify what (so an
//! RSA public key can never serve as an HMAC secret).

use hmac::{EagerHash, Hmac, KeyInit, Mac};
use sha2::{Sha256, Sha384, Sha512};

use crate::error::ConfigError;
use crate::json::value::{self, describe};
use crate::json::{Document, FromJson, Node, Value};
use crate::jwt::algorithm::{Algorithm, KeyFamily};
use crate::jwt::ec::ecdsa::{P256VerifyingKey, P384VerifyingKey};
use crate::jwt::ed25519::verify::Ed25519VerifyingKey;
use crate::jwt::rsa::{RsaHash, RsaPadding, RsaPublicKey};

/// Smallest RSA modulus accepted (NIST SP 800-131A); smaller keys are forgeable in practice.
const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted: verification cost grows with it, and nobody issues bigger.
const MAX_RSA_BITS: usize = 8192;

/// A JWK's fields in their order (serde's derive read a JWK written as an array by position).
const JWK_FIELDS: [&str; 11] = [
    "kty", "kid", "alg", "use", "crv", "n", "e", "x", "y", "k", "d",
];

/// One JWK as found in a set; unknown members (`x5c`, `key_ops`, ...) are ignored, as RFC 7517 asks.
struct Jwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    usage: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    k: Option<String>,
    d: Option<String>,
}

impl Jwk {
    /// The JWK `raw`: an object whose members read are strings (`null` is absent), `kty`
    /// required; errors worded as serde's derived reading worded them (never quoting a value).
    fn from_value(raw: &Value) -> Result<Jwk, String> {
        let member = |name: &str| -> Option<&Value> {
            match raw {
                Value::Object(members) => members.get(name),
                Value::Array(elements) => JWK_FIELDS
                    .iter()
                    .position(|field| *field == name)
                    .and_then(|at| elements.get(at)),
                _ => None,
            }
        };
        match raw {
            Value::Object(_) => {}
            // serde's derive read a struct from an array too, field by field in order: kept, so
            // that a key written as one is refused naming the same field (`keys[0].kty`).
            Value::Array(elements) if elements.is_empty() => {
                return Err("invalid length 0, expected struct Jwk with 11 elements".to_string())
            }
            Value::Array(elements) if elements.len() > JWK_FIELDS.len() => {
                return Err(format!(
                    "invalid length {}, expected fewer elements in array",
                    elements.len()
                ))
            }
            Value::Array(_) => {}
            other => {
                return Err(format!(
                    "invalid type: {}, expected struct Jwk",
                    describe(other)
                ))
            }
        }
        let text = |name: &str| -> Result<Option<String>, String> {
            match member(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => Ok(Some(text.clone())),
                Some(other) => Err(format!(
                    "invalid type: {}, expected a string",
                    describe(other)
                )),
            }
        };
        Ok(Jwk {
            kty: text("kty")?.ok_or_else(|| match member("kty") {
                Some(Value::Null) => "invalid type: null, expected a string".to_string(),
                _ => "missing field `kty`".to_string(),
            })?,
            kid: text("kid")?,
            alg: text("alg")?,
            usage: text("use")?,
            crv: text("crv")?,
            n: text("n")?,
            e: text("e")?,
            x: text("x")?,
            y: text("y")?,
            k: text("k")?,
            d: text("d")?,
        })
    }
}

/// A JWK Set document: `{"keys": [...]}`.
pub struct JwkSetDocument {
    /// The keys, each kept as raw JSON until it is checked one by one.
    pub keys: Vec<Value>,
}

impl FromJson for JwkSetDocument {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(node, &["keys"])?;
        Ok(JwkSetDocument {
            keys: fields.required("keys")?,
        })
    }
}

/// A verifier for exactly one algorithm, built once at configure time.
///
/// Signatures are checked directly with the primitive crates, not through jwt-simple's
/// `verify_token` (which re-parses the token that `token` has already parsed and checked): RSA
/// with edge-auth's own [`crate::jwt::rsa`], P-256 and P-384 with its own [`crate::jwt::ec`] (one
/// ECDSA code for both curves, with a table of multiples per issuer key:
/// [`KeySet::with_tables`]), Ed25519 with its own [`crate::jwt::ed25519`] (tables likewise),
/// HMAC with RustCrypto `hmac` over `sha2` 0.11, the one SHA-2 in the module. (P-384 was
/// RustCrypto `p384` 0.14 until issue 22: about 22 KB of the `.wasm`.)
#[derive(Clone)]
enum Verifier {
    Rsa(RsaPublicKey, RsaHash, RsaPadding),
    ES256(P256VerifyingKey),
    ES384(P384VerifyingKey),
    EdDSA(Ed25519VerifyingKey),
    Hmac(HmacSecret),
}

/// An HMAC shared secret and its algorithm.
#[derive(Clone)]
struct HmacSecret {
    algorithm: Algorithm,
    secret: Vec<u8>,
}

impl HmacSecret {
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self.algorithm {
            Algorithm::HS384 => hmac_matches::<Sha384>(&self.secret, message, signature),
            Algorithm::HS512 => hmac_matches::<Sha512>(&self.secret, message, signature),
            _ => hmac_matches::<Sha256>(&self.secret, message, signature),
        }
    }
}

/// Whether `signature` is the HMAC of `message` under `secret`, compared in constant time
/// (`hmac`'s `verify_slice` compares through `digest`'s `ctutils`).
fn hmac_matches<D: EagerHash>(secret: &[u8], message: &[u8], signature: &[u8]) -> bool
where
    Hmac<D>: KeyInit + Mac,
{
    let Ok(mut mac) = <Hmac<D> as KeyInit>::new_from_slice(secret) else {
        return false;
    };
    mac.update(message);
    mac.verify_slice(signature).is_ok()
}

/// A key bound to one algorithm, ready to check signatures.
#[derive(Clone)]
pub struct VerificationKey {
    kid: Option<String>,
    algorithm: Algorithm,
    verifier: Verifier,
}

/// All verification keys of one issuer.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
}

impl VerificationKey {
    /// The key's `kid`, if the JWK had one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether `signature` (the decoded third part of a compact JWS) signs `signing_input`
    /// (its first two parts with the dot). The token's `alg` must be this key's algorithm.
    pub fn verify(&self, signing_input: &[u8], signature: &[u8]) -> bool {
        match &self.verifier {
            Verifier::Rsa(key, hash, padding) => {
                key.verify(*hash, *padding, signing_input, signature)
            }
            Verifier::ES256(key) => key.verify(signing_input, signature),
            Verifier::ES384(key) => key.verify(signing_input, signature),
            Verifier::EdDSA(key) => key.verify(signing_input, signature),
            Verifier::Hmac(secret) => secret.verify(signing_input, signature),
        }
    }
}

impl KeySet {
    /// Parses a JWK Set (`{"keys": [...]}`), keeping only what can verify one of `allowed`.
    ///
    /// `field` is the configuration path of the set, used in error messages. Keys marked
    /// `"use": "enc"` are skipped (issuers publish encryption keys in the same set); any other
    /// key that is malformed, too weak or carries private material is an error.
    pub fn from_jwks(
        document: &JwkSetDocument,
        allowed: &[Algorithm],
        field: &str,
    ) -> Result<KeySet, ConfigError> {
        let mut keys = Vec::new();
        for (index, raw) in document.keys.iter().enumerate() {
            let key_field = format!("{field}.keys[{index}]");
            let jwk = Jwk::from_value(raw)
                .map_err(|err| ConfigError::new(&key_field, format!("not a JWK: {err}")))?;
            keys.extend(parse_jwk(&jwk, allowed, &key_field)?);
        }
        if keys.is_empty() {
            return Err(ConfigError::new(
                field,
                "no key in the set can verify any of the provider's algorithms",
            ));
        }
        Ok(KeySet { keys })
    }

    /// The same keys, ES256, ES384 and EdDSA ones with their tables of multiples built (52 KiB,
    /// 115.5 KiB and 95.6 KiB each, ten to fifteen checks' worth of work once, each check then
    /// about a third of the cost), RS256/384/512 ones with the constants of a check in Montgomery form (under
    /// 1 KiB, about one check's worth of work once, each check then one product of 18
    /// cheaper): for an issuer's keys, which verify many tokens. A key used once (a DPoP
    /// proof's) is cheaper without.
    pub fn with_tables(self) -> KeySet {
        let keys = self
            .keys
            .into_iter()
            .map(|key| match key.verifier {
                Verifier::ES256(p256) => VerificationKey {
                    verifier: Verifier::ES256(p256.with_table()),
                    ..key
                },
                Verifier::ES384(p384) => VerificationKey {
                    verifier: Verifier::ES384(p384.with_table()),
                    ..key
                },
                Verifier::EdDSA(ed25519) => VerificationKey {
                    verifier: Verifier::EdDSA(ed25519.with_table()),
                    ..key
                },
                Verifier::Rsa(rsa, hash, RsaPadding::Pkcs1v15) => VerificationKey {
                    verifier: Verifier::Rsa(
                        rsa.with_pkcs1_constants(hash),
                        hash,
                        RsaPadding::Pkcs1v15,
                    ),
                    ..key
                },
                _ => key,
            })
            .collect();
        KeySet { keys }
    }

    /// Parses a JWK Set fetched from an issuer, skipping each key that cannot be used; ES256,
    /// ES384 and EdDSA keys get their tables ([`KeySet::with_tables`]).
    ///
    /// Unlike [`KeySet::from_jwks`] (inline configuration, where a bad key is the operator's
    /// mistake and refuses the whole configuration), an issuer may publish keys edge-auth does
    /// not support next to the ones it signs with: each bad key is reported in the returned
    /// list (as `keys[i]...: problem`) and skipped. Unknown top-level members are ignored. It is
    /// an error only when the body is not a JWK Set or no key at all is usable.
    ///
    /// A fetched set never yields an HMAC secret: a JWK Set is public, so a `kty: "oct"` key in
    /// it is skipped whatever `allowed` says (RFC 8725 sections 3.1-3.2), and HS* in `allowed`
    /// is ignored (configuration refuses HS* for providers whose keys are fetched).
    pub fn from_fetched_jwks(
        body: &[u8],
        allowed: &[Algorithm],
    ) -> Result<(KeySet, Vec<String>), String> {
        let document = value::parse(body).map_err(|err| format!("body is not JSON: {err}"))?;
        let raw_keys = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| "body is not a JWK Set (no \"keys\" array)".to_string())?;
        // A JWK Set is public: a symmetric key in it is a secret everyone knows, so fetched keys
        // never verify HMAC (configuration refuses HS* with fetched keys; this is the backstop).
        let asymmetric: Vec<Algorithm> = allowed
            .iter()
            .copied()
            .filter(|alg| alg.key_family() != KeyFamily::Secret)
            .collect();
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for (index, raw) in raw_keys.iter().enumerate() {
            let key_field = format!("keys[{index}]");
            let parsed = Jwk::from_value(raw)
                .map_err(|err| ConfigError::new(&key_field, format!("not a JWK: {err}")))
                .and_then(|jwk| {
                    if jwk.kty == "oct" {
                        return Err(ConfigError::new(
                            &format!("{key_field}.kty"),
                            "a symmetric (\"oct\") key in a fetched JWK Set is never used: \
                             the set is public, so anyone could sign with it (RFC 8725 section 3.2)",
                        ));
                    }
                    parse_jwk(&jwk, &asymmetric, &key_field)
                });
            match parsed {
                Ok(usable) => keys.extend(usable),
                Err(err) => skipped.push(err.to_string()),
            }
        }
        if keys.is_empty() {
            return Err(format!(
                "no key in the set can verify any of the provider's algorithms ({} key(s) in the body)",
                raw_keys.len()
            ));
        }
        Ok((KeySet { keys }.with_tables(), skipped))
    }

    /// The keys that may verify a token signed with `algorithm` and naming `kid` (if any).
    ///
    /// With a `kid`, only keys carrying that exact `kid` match; without one, every key of
    /// the algorithm does.
    pub fn candidates<'a, 'k>(
        &'a self,
        algorithm: Algorithm,
        kid: Option<&'k str>,
    ) -> impl Iterator<Item = &'a VerificationKey> + use<'a, 'k> {
        self.keys.iter().filter(move |key| {
            key.algorithm == algorithm && (kid.is_none() || key.kid.as_deref() == kid)
        })
    }

    /// Whether any key carries this `kid` (for telling "unknown kid" from "wrong algorithm").
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid.as_deref() == Some(kid))
    }

    /// Number of (key, algorithm) pairs.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn parse_jwk(
    jwk: &Jwk,
    allowed: &[Algorithm],
    field: &str,
) -> Result<Vec<VerificationKey>, ConfigError> {
    if jwk.usage.as_deref() == Some("enc") {
        return Ok(Vec::new());
    }
    if let Some(usage) = jwk.usage.as_deref() {
        if usage != "sig" {
            return Err(ConfigError::new(
                &format!("{field}.use"),
                format!("must be \"sig\" or \"enc\", not {usage:?}"),
            ));
        }
    }
    let family = key_family(jwk, field)?;
    if family != KeyFamily::Secret && jwk.d.is_some() {
        return Err(ConfigError::new(
            &format!("{field}.d"),
            "private key material must never be in the filter configuration; publish only the public key",
        ));
    }
    let algorithms: Vec<Algorithm> = match jwk.alg.as_deref() {
        Some(name) => {
            let alg = Algorithm::from_name(name).ok_or_else(|| {
                ConfigError::new(
                    &format!("{field}.alg"),
                    format!("unsupported algorithm {name:?}"),
                )
            })?;
            if alg.key_family() != family {
                return Err(ConfigError::new(
                    &format!("{field}.alg"),
                    format!("{alg} cannot be used with a {} key", jwk.kty),
                ));
            }
            allowed.iter().copied().filter(|a| *a == alg).collect()
        }
        None => allowed
            .iter()
            .copied()
            .filter(|a| a.key_family() == family)
            .collect(),
    };
    let kid = jwk.kid.clone();
    algorithms
        .into_iter()
        .map(|algorithm| {
            Ok(VerificationKey {
                kid: kid.clone(),
                algorithm,
                verifier: build_verifier(jwk, algorithm, field)?,
            })
        })
        .collect()
}

fn key_family(jwk: &Jwk, field: &str) -> Result<KeyFamily, ConfigError> {
    let crv = jwk.crv.as_deref();
    match (jwk.kty.as_str(), crv) {
        ("RSA", _) => Ok(KeyFamily::Rsa),
        ("EC", Some("P-256")) => Ok(KeyFamily::P256),
        ("EC", Some("P-384")) => Ok(KeyFamily::P384),
        ("OKP", Some("Ed25519")) => Ok(KeyFamily::Ed25519),
        ("oct", _) => Ok(KeyFamily::Secret),
        ("EC", _) | ("OKP", _) => Err(ConfigError::new(
            &format!("{field}.crv"),
            format!(
                "unsupported curve {:?} (supported: P-256, P-384, Ed25519)",
                crv.unwrap_or("")
            ),
        )),
        (kty, _) => Err(ConfigError::new(
            &format!("{field}.kty"),
            format!("unsupported key type {kty:?} (supported: RSA, EC, OKP, oct)"),
        )),
    }
}

fn member(jwk_field: &Option<String>, field: &str, name: &str) -> Result<Vec<u8>, ConfigError> {
    let path = format!("{field}.{name}");
    let text = jwk_field
        .as_deref()
        .ok_or_else(|| ConfigError::new(&path, "missing"))?;
    // Base64url as JWK members use it; padding tolerated, since some issuers emit it.
    let bytes = crate::base64::decode_url_padding_optional(text)
        .ok_or_else(|| ConfigError::new(&path, "not valid base64url"))?;
    if bytes.is_empty() {
        return Err(ConfigError::new(&path, "empty"));
    }
    Ok(bytes)
}

fn build_verifier(jwk: &Jwk, algorithm: Algorithm, field: &str) -> Result<Verifier, ConfigError> {
    let invalid = |what: &str| ConfigError::new(field, format!("not a valid {what} public key"));
    match algorithm.key_family() {
        KeyFamily::Rsa => {
            let n = member(&jwk.n, field, "n")?;
            let e = member(&jwk.e, field, "e")?;
            let bits = modulus_bits(&n);
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                return Err(ConfigError::new(
                    &format!("{field}.n"),
                    format!("RSA modulus has {bits} bits; {MIN_RSA_BITS} to {MAX_RSA_BITS} are accepted"),
                ));
            }
            if !rsa_exponent_accepted(&e) {
                return Err(ConfigError::new(
                    &format!("{field}.e"),
                    "RSA public exponent must be odd, at least 3 and below 2^32 (issuers use 65537)",
                ));
            }
            let key = RsaPublicKey::new(&n, &e).map_err(|_| invalid("RSA"))?;
            let (hash, padding) = match algorithm {
                Algorithm::RS256 => (RsaHash::Sha256, RsaPadding::Pkcs1v15),
                Algorithm::RS384 => (RsaHash::Sha384, RsaPadding::Pkcs1v15),
                Algorithm::RS512 => (RsaHash::Sha512, RsaPadding::Pkcs1v15),
                Algorithm::PS256 => (RsaHash::Sha256, RsaPadding::Pss),
                Algorithm::PS384 => (RsaHash::Sha384, RsaPadding::Pss),
                _ => (RsaHash::Sha512, RsaPadding::Pss),
            };
            Ok(Verifier::Rsa(key, hash, padding))
        }
        KeyFamily::P256 | KeyFamily::P384 => {
            let size = if algorithm == Algorithm::ES256 {
                32
            } else {
                48
            };
            let x = member(&jwk.x, field, "x")?;
            let y = member(&jwk.y, field, "y")?;
            if x.len() != size || y.len() != size {
                return Err(ConfigError::new(
                    field,
                    format!(
                        "x and y must be {size} bytes each for {}",
                        jwk.crv.as_deref().unwrap_or("")
                    ),
                ));
            }
            if algorithm == Algorithm::ES256 {
                return P256VerifyingKey::from_coordinates(&x, &y)
                    .map(Verifier::ES256)
                    .ok_or_else(|| invalid("P-256"));
            }
            P384VerifyingKey::from_coordinates(&x, &y)
                .map(Verifier::ES384)
                .ok_or_else(|| invalid("P-384"))
        }
        KeyFamily::Ed25519 => {
            let x = member(&jwk.x, field, "x")?;
            // A 32-byte `x` that is no canonical point of large order (off the curve, or of
            // small order such as the identity) would verify nothing: refused, not loaded.
            Ed25519VerifyingKey::from_bytes(&x)
                .filter(Ed25519VerifyingKey::is_usable)
                .map(Verifier::EdDSA)
                .ok_or_else(|| invalid("Ed25519"))
        }
        KeyFamily::Secret => {
            let k = member(&jwk.k, field, "k")?;
            if k.len() < algorithm.min_secret_bytes() {
                return Err(ConfigError::new(
                    &format!("{field}.k"),
                    format!(
                        "{algorithm} needs a secret of at least {} bytes, this one has {}",
                        algorithm.min_secret_bytes(),
                        k.len()
                    ),
                ));
            }
            Ok(Verifier::Hmac(HmacSecret {
                algorithm,
                secret: k,
            }))
        }
    }
}

/// Whether `e` (big-endian, a JWK's `e`) is an RSA public exponent edge-auth accepts: odd and
/// `3 <= e < 2^32`. RFC 8017 section 3.1 allows any odd `3 <= e < n`; issuers use 65537 (the
/// lower bound of NIST FIPS 186-5 is 2^16 + 1, but `e = 3` keys are still sound to verify with).
/// The upper bound keeps a verification's cost in check: its square-and-multiply does one
/// product per bit of `e`, and a 64-bit exponent makes each check about 7 times slower.
pub(crate) fn rsa_exponent_accepted(e: &[u8]) -> bool {
    let significant: Vec<u8> = e.iter().copied().skip_while(|b| *b == 0).collect();
    if significant.len() > 4 {
        return false;
    }
    let value = significant
        .iter()
        .fold(0u32, |acc, byte| (acc << 8) | u32::from(*byte));
    value >= 3 && value & 1 == 1
}

/// Whether a JWK's RSA members `n` and `e` (base64url) are a modulus of at most `max_bits` and
/// an exponent [`rsa_exponent_accepted`]: a bound checked before any key is built (DPoP
/// proofs, whose keys the clients choose).
pub(crate) fn rsa_key_within(n: &str, e: &str, max_bits: usize) -> bool {
    match (
        crate::base64::decode_url_padding_optional(n),
        crate::base64::decode_url_padding_optional(e),
    ) {
        (Some(n), Some(e)) => modulus_bits(&n) <= max_bits && rsa_exponent_accepted(&e),
        _ => false,
    }
}

/// Bit length of a big-endian unsigned integer.
fn modulus_bits(n: &[u8]) -> usize {
    let significant: Vec<&u8> = n.iter().skip_while(|b| **b == 0).collect();
    match significant.first() {
        Some(first) => (significant.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::json_value as json;
    use base64::Engine;
    use jwt_simple::prelude::*;

    fn document(keys: Value) -> JwkSetDocument {
        crate::json::read(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn rsa_jwk(kid: &str) -> Value {
        let pair = RS256KeyPair::generate(2048).unwrap();
        let parts = pair.public_key().to_components();
        json!({"kty": "RSA", "kid": kid, "n": b64(&parts.n), "e": b64(&parts.e)})
    }

    #[test]
    fn rsa_key_without_alg_serves_every_allowed_rsa_algorithm() {
        let set = KeySet::from_jwks(
            &document(json!([rsa_jwk("r1")])),
            &[Algorithm::RS256, Algorithm::PS256, Algorithm::ES256],
            "jwks",
        )
        .unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.candidates(Algorithm::RS256, Some("r1")).count(), 1);
        assert_eq!(set.candidates(Algorithm::PS256, None).count(), 1);
        assert_eq!(set.candidates(Algorithm::ES256, None).count(), 0);
        assert_eq!(set.candidates(Algorithm::RS256, Some("other")).count(), 0);
        assert!(set.has_kid("r1"));
    }

    #[test]
    fn key_alg_narrows_what_the_key_verifies() {
        let mut jwk = rsa_jwk("r1");
        jwk["alg"] = json!("RS256");
        let set = KeySet::from_jwks(
            &document(json!([jwk])),
            &[Algorithm::RS256, Algorithm::PS256],
            "jwks",
        )
        .unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.candidates(Algorithm::PS256, None).count(), 0);
    }

    #[test]
    fn fetched_sets_skip_bad_keys_one_by_one() {
        let body = json!({"keys": [
            {"kty": "RSA", "kid": "short", "n": "AQAB", "e": "AQAB"},
            {"kty": "XYZ", "kid": "odd"},
            rsa_jwk("good"),
        ], "extra": true})
        .to_string();
        let (set, skipped) =
            KeySet::from_fetched_jwks(body.as_bytes(), &[Algorithm::RS256]).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.has_kid("good"));
        assert_eq!(skipped.len(), 2);
        assert!(
            skipped[0].starts_with("keys[0].n: RSA modulus"),
            "{skipped:?}"
        );
        assert!(skipped[1].starts_with("keys[1].kty"), "{skipped:?}");
    }

    #[test]
    fn fetched_garbage_or_sets_without_usable_keys_are_errors() {
        let err = |body: &str| {
            KeySet::from_fetched_jwks(body.as_bytes(), &[Algorithm::RS256])
                .err()
                .unwrap()
        };
        assert!(err("<html>").starts_with("body is not JSON"));
        assert!(err("{\"issuer\": \"x\"}").contains("no \"keys\" array"));
        assert!(err("{\"keys\": [{\"kty\": \"EC\"}]}").starts_with("no key in the set"));
    }

    #[test]
    fn encryption_keys_are_skipped() {
        let mut enc = rsa_jwk("e1");
        enc["use"] = json!("enc");
        enc["alg"] = json!("RSA-OAEP");
        let set = KeySet::from_jwks(
            &document(json!([enc, rsa_jwk("s1")])),
            &[Algorithm::RS256],
            "jwks",
        )
        .unwrap();
        assert!(!set.has_kid("e1"));
        assert!(set.has_kid("s1"));
    }

    #[test]
    fn private_rsa_material_is_refused_naming_the_member() {
        let mut jwk = rsa_jwk("r1");
        jwk["d"] = json!("AQAB");
        let err = KeySet::from_jwks(
            &document(json!([jwk])),
            &[Algorithm::RS256],
            "providers[0].jwks",
        )
        .err()
        .unwrap();
        assert_eq!(err.field(), "providers[0].jwks.keys[0].d");
    }

    #[test]
    fn short_rsa_modulus_is_refused() {
        let jwk = json!({"kty": "RSA", "n": b64(&[0xC5; 128]), "e": "AQAB"});
        let err = KeySet::from_jwks(&document(json!([jwk])), &[Algorithm::RS256], "jwks")
            .err()
            .unwrap();
        assert_eq!(err.field(), "jwks.keys[0].n");
        assert!(err.to_string().contains("1024 bits"), "{err}");
    }

    #[test]
    fn short_hmac_secret_is_refused() {
        let jwk = json!({"kty": "oct", "k": b64(b"too short")});
        let err = KeySet::from_jwks(&document(json!([jwk])), &[Algorithm::HS256], "jwks")
            .err()
            .unwrap();
        assert_eq!(err.field(), "jwks.keys[0].k");
    }

    #[test]
    fn ec_key_with_wrong_coordinate_size_is_refused() {
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&[1; 31]), "y": b64(&[1; 32])});
        let err = KeySet::from_jwks(&document(json!([jwk])), &[Algorithm::ES256], "jwks")
            .err()
            .unwrap();
        assert!(err.to_string().contains("32 bytes"), "{err}");
    }

    #[test]
    fn point_not_on_curve_is_refused() {
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[1; 32])});
        assert!(KeySet::from_jwks(&document(json!([jwk])), &[Algorithm::ES256], "jwks").is_err());
    }

    /// P-384 keys are read from their coordinates, never from an SEC1 string (no compressed
    /// point, no point decompression linked): each check the SEC1 parser of `p384` made still
    /// refuses the key.
    #[test]
    fn p384_points_off_the_curve_out_of_range_or_at_infinity_are_refused() {
        const P: [u8; 48] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
            0xff, 0xff,
        ];
        let point = ES384KeyPair::generate()
            .key_pair()
            .public_key()
            .to_bytes_uncompressed();
        let (x, y) = (&point[1..49], &point[49..]);
        let mut y_plus_1 = y.to_vec();
        y_plus_1[47] = y_plus_1[47].wrapping_add(1);
        let loads = |x: &[u8], y: &[u8]| {
            let jwk = json!({"kty": "EC", "crv": "P-384", "x": b64(x), "y": b64(y)});
            KeySet::from_jwks(&document(json!([jwk])), &[Algorithm::ES384], "jwks").is_ok()
        };
        assert!(loads(x, y));
        let refused: [(&[u8], &[u8], &str); 5] = [
            (x, &y_plus_1, "off the curve"),
            (
                &[0; 48],
                &[0; 48],
                "(0, 0): the usual encoding of infinity, not a point",
            ),
            (&P, y, "x = p"),
            (x, &P, "y = p"),
            (&[0xff; 48], y, "x = 2^384 - 1"),
        ];
        for (x, y, what) in refused {
            assert!(!loads(x, y), "{what}");
        }
    }

    #[test]
    fn unsupported_key_type_and_curve_name_the_member() {
        let err = KeySet::from_jwks(&document(json!([{"kty": "DSA"}])), &[Algorithm::RS256], "j")
            .err()
            .unwrap();
        assert_eq!(err.field(), "j.keys[0].kty");
        let err = KeySet::from_jwks(
            &document(json!([{"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}])),
            &[Algorithm::ES256],
            "j",
        )
        .err()
        .unwrap();
        assert_eq!(err.field(), "j.keys[0].crv");
    }

    #[test]
    fn set_with_no_key_for_the_allowed_algorithms_is_an_error() {
        let err = KeySet::from_jwks(
            &document(json!([rsa_jwk("r")])),
            &[Algorithm::ES256],
            "jwks",
        )
        .err()
        .unwrap();
        assert_eq!(err.field(), "jwks");
    }

    /// Cross-check: tokens signed by jwt-simple (other implementations: rsa 0.9, p256/p384
    /// 0.13) verify with the filter's verifiers for every algorithm, and any flipped bit of the
    /// signature or the signing input fails.
    #[test]
    fn jwt_simple_signed_tokens_verify_and_bit_flips_fail() {
        use crate::jwt::mint::SigningKey;
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), serde_json::json!("alice"));
        for alg in Algorithm::ALL {
            let signer = SigningKey::generate(alg).unwrap().with_kid("k");
            let set =
                KeySet::from_jwks(&document(json!([signer.public_jwk("k")])), &[alg], "j").unwrap();
            let key = set.candidates(alg, Some("k")).next().unwrap();
            let token = signer.sign(&claims).unwrap();
            let (input, sig_b64) = token.rsplit_once('.').unwrap();
            let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(sig_b64)
                .unwrap();
            assert!(key.verify(input.as_bytes(), &sig), "{alg}");
            for bit in [0, 9, sig.len() * 4, sig.len() * 8 - 1] {
                let mut bad = sig.clone();
                bad[bit / 8] ^= 1 << (bit % 8);
                assert!(!key.verify(input.as_bytes(), &bad), "{alg} bit {bit}");
            }
            let mut other_input = input.as_bytes().to_vec();
            other_input[3] ^= 1;
            assert!(!key.verify(&other_input, &sig), "{alg} input");
        }
    }

    /// Vectors from `tests/data/gen_jws_vectors.py` (OpenSSL through Python `cryptography`):
    /// JWK, token and whether it must verify.
    #[test]
    fn known_answer_jws_vectors_for_ec_eddsa_and_hmac() {
        let data: Value =
            serde_json::from_str(include_str!("../../tests/data/jws_vectors.json")).unwrap();
        let vectors = data["vectors"].as_array().unwrap();
        assert!(vectors.len() >= 30);
        for v in vectors {
            let alg = Algorithm::from_name(v["alg"].as_str().unwrap()).unwrap();
            let set = KeySet::from_jwks(&document(json!([v["jwk"]])), &[alg], "j").unwrap();
            let key = set.candidates(alg, None).next().unwrap();
            let token = v["token"].as_str().unwrap();
            let (input, sig_b64) = token.rsplit_once('.').unwrap();
            let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(sig_b64)
                .unwrap();
            assert_eq!(
                key.verify(input.as_bytes(), &sig),
                v["valid"].as_bool().unwrap(),
                "{alg}: {}",
                v["comment"]
            );
        }
    }

    #[test]
    fn issuer_es256_and_es384_keys_get_tables_and_one_off_keys_do_not() {
        use crate::jwt::mint::SigningKey;
        for alg in [Algorithm::ES256, Algorithm::ES384] {
            let jwk = SigningKey::generate(alg).unwrap().public_jwk("k");
            let has_table = |set: &KeySet| match &set.keys[0].verifier {
                Verifier::ES256(key) if alg == Algorithm::ES256 => key.has_table(),
                Verifier::ES384(key) if alg == Algorithm::ES384 => key.has_table(),
                _ => panic!("not an {alg} key"),
            };
            let parsed = KeySet::from_jwks(&document(json!([jwk.clone()])), &[alg], "j").unwrap();
            assert!(!has_table(&parsed), "{alg}");
            assert!(has_table(&parsed.with_tables()), "{alg}");
            let body = json!({ "keys": [jwk] }).to_string();
            let (fetched, _) = KeySet::from_fetched_jwks(body.as_bytes(), &[alg]).unwrap();
            assert!(has_table(&fetched), "{alg}");
        }
    }

    #[test]
    fn issuer_eddsa_keys_get_tables_and_one_off_keys_do_not() {
        use crate::jwt::mint::SigningKey;
        let jwk = SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .public_jwk("k");
        let has_table = |set: &KeySet| match &set.keys[0].verifier {
            Verifier::EdDSA(key) => key.has_table(),
            _ => panic!("not an EdDSA key"),
        };
        let parsed =
            KeySet::from_jwks(&document(json!([jwk.clone()])), &[Algorithm::EdDSA], "j").unwrap();
        assert!(!has_table(&parsed));
        assert!(has_table(&parsed.with_tables()));
        let body = json!({ "keys": [jwk] }).to_string();
        let (fetched, _) = KeySet::from_fetched_jwks(body.as_bytes(), &[Algorithm::EdDSA]).unwrap();
        assert!(has_table(&fetched));
    }

    /// An `x` of 32 bytes that is no usable point (the identity, of small order; a `y` with no
    /// point on the curve) is refused naming the key, as is another length.
    #[test]
    fn eddsa_keys_that_verify_nothing_are_refused_naming_the_key() {
        let good = crate::jwt::mint::SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .public_jwk("good");
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2; // y = 2: (y² − 1) / (d·y² + 1) is no square mod p
        for x in [&identity[..], &off_curve[..], &identity[..31]] {
            let bad = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(x)});
            let err = KeySet::from_jwks(
                &document(json!([good.clone(), bad])),
                &[Algorithm::EdDSA],
                "providers[0].jwks",
            )
            .err()
            .unwrap();
            assert_eq!(err.field(), "providers[0].jwks.keys[1]");
            assert!(
                err.to_string().contains("not a valid Ed25519 public key"),
                "{err}"
            );
        }
        let body = json!({"keys": [good, {"kty": "OKP", "crv": "Ed25519", "x": b64(&identity)}]});
        let (set, skipped) =
            KeySet::from_fetched_jwks(body.to_string().as_bytes(), &[Algorithm::EdDSA]).unwrap();
        assert_eq!(set.len(), 1);
        assert!(skipped[0].starts_with("keys[1]"), "{skipped:?}");
    }

    #[test]
    fn rsa_exponents_must_be_odd_and_below_2_pow_32() {
        let n = match rsa_jwk("r")["n"].clone() {
            Value::String(n) => n,
            other => panic!("{other}"),
        };
        let with_e = |e: &[u8]| json!({"kty": "RSA", "kid": "r", "n": n, "e": b64(e)});
        for e in [
            &[1, 0, 1][..],
            &[3],
            &[0, 0, 1, 0, 1],
            &[0xFF, 0xFF, 0xFF, 0xFF],
        ] {
            let set = KeySet::from_jwks(&document(json!([with_e(e)])), &[Algorithm::RS256], "j");
            assert!(set.is_ok(), "e = {e:?}");
        }
        let wide = [0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        for e in [&wide[..], &[1, 0, 0, 0, 1], &[1], &[2], &[1, 0, 0]] {
            let err = KeySet::from_jwks(
                &document(json!([rsa_jwk("ok"), with_e(e)])),
                &[Algorithm::RS256],
                "providers[0].jwks",
            )
            .err()
            .unwrap();
            assert_eq!(err.field(), "providers[0].jwks.keys[1].e", "e = {e:?}");
        }
        let body = json!({"keys": [with_e(&wide), rsa_jwk("ok")]}).to_string();
        let (set, skipped) =
            KeySet::from_fetched_jwks(body.as_bytes(), &[Algorithm::RS256]).unwrap();
        assert!(set.has_kid("ok") && !set.has_kid("r"));
        assert!(
            skipped[0].starts_with("keys[0].e: RSA public exponent"),
            "{skipped:?}"
        );
    }

    #[test]
    fn fetched_sets_never_yield_hmac_secrets() {
        let secret = json!({"kty": "oct", "kid": "mac", "k": b64(&[7u8; 64])});
        let body = json!({"keys": [secret, rsa_jwk("r")]}).to_string();
        let (set, skipped) =
            KeySet::from_fetched_jwks(body.as_bytes(), &[Algorithm::HS256, Algorithm::RS256])
                .unwrap();
        assert!(!set.has_kid("mac"));
        assert_eq!(set.candidates(Algorithm::HS256, None).count(), 0);
        assert!(skipped[0].starts_with("keys[0].kty"), "{skipped:?}");
        let only_secret = json!({"keys": [{"kty": "oct", "k": b64(&[7u8; 64])}]}).to_string();
        assert!(KeySet::from_fetched_jwks(only_secret.as_bytes(), &[Algorithm::HS256]).is_err());
    }

    #[test]
    fn modulus_bits_ignores_leading_zero_bytes() {
        assert_eq!(modulus_bits(&[0, 0, 0x80, 0]), 16);
        assert_eq!(modulus_bits(&[0x01]), 1);
        assert_eq!(modulus_bits(&[0, 0]), 0);
    }

    /// serde's derive read a JWK from an array too; the errors keep naming the same field.
    #[test]
    fn a_key_written_as_an_array_is_read_by_position_as_before() {
        let err = |keys: Value| {
            KeySet::from_jwks(&document(keys), &[Algorithm::RS256], "j")
                .err()
                .unwrap()
                .to_string()
        };
        assert!(err(json!([["x"]])).starts_with("j.keys[0].kty: unsupported key type"));
        assert!(err(json!([[]])).starts_with("j.keys[0]: not a JWK: invalid length 0"));
        assert!(err(json!([[null]])).starts_with("j.keys[0]: not a JWK: invalid type: null"));
        assert!(err(json!([["RSA", 5]])).starts_with("j.keys[0]: not a JWK: invalid type: integer"));
        let twelve =
            json!([["RSA", null, null, null, null, null, null, null, null, null, null, null]]);
        assert!(err(twelve).starts_with("j.keys[0]: not a JWK: invalid length 12"));
    }
}
