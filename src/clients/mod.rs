//! API key clients: the records behind `clientId`/`clientSecret` header pairs and HTTP Basic
//! `APP_ID:API_TOKEN`, each with what it may do (scopes, applications) and where from (networks,
//! web origins).
//!
//! Secrets are stored only as SHA-256 digests and compared in constant time (`subtle`, the
//! constant-time crate RustCrypto's MACs use too). An unknown id and a
//! wrong secret take the same path (a digest is computed and compared either way) and give the
//! same answer, so responses reveal nothing about which ids exist. Secrets must be high-entropy
//! random strings (API tokens, not passwords): a fast hash is right for those, and a slow one
//! would hand every caller a CPU lever.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::request::allowlist::{Cidr, OriginPattern};

/// One API client.
#[derive(Debug, Clone)]
pub struct Client {
    /// The client id, as sent in the id header or as the Basic user name (exact match).
    pub id: String,
    secret_sha256: [u8; 32],
    /// Applications the client may act for.
    pub apps: Vec<String>,
    /// Scopes granted to the client.
    pub scopes: Vec<String>,
    /// Networks the client may call from (empty: anywhere).
    pub allowed_cidrs: Vec<Cidr>,
    /// Web origins the client may be used from (empty: any, including non-browser callers).
    pub allowed_origins: Vec<OriginPattern>,
}

impl Client {
    /// A client whose secret has this SHA-256 digest.
    pub fn new(id: String, secret_sha256: [u8; 32]) -> Client {
        Client {
            id,
            secret_sha256,
            apps: Vec::new(),
            scopes: Vec::new(),
            allowed_cidrs: Vec::new(),
            allowed_origins: Vec::new(),
        }
    }
}

/// All configured clients, by id.
#[derive(Debug, Clone, Default)]
pub struct ClientRegistry {
    clients: HashMap<String, Client>,
}

/// Compared against when the id is unknown, so both failures cost the same.
const NO_CLIENT_DIGEST: [u8; 32] = [0xA5; 32];

impl ClientRegistry {
    /// Adds a client; `false` if the id is taken.
    pub fn insert(&mut self, client: Client) -> bool {
        if self.clients.contains_key(&client.id) {
            return false;
        }
        self.clients.insert(client.id.clone(), client);
        true
    }

    /// The client with this id and secret, or `None` (unknown id and wrong secret alike).
    pub fn authenticate(&self, id: &str, secret: &[u8]) -> Option<&Client> {
        let client = self.clients.get(id);
        let expected = client.map_or(&NO_CLIENT_DIGEST, |c| &c.secret_sha256);
        let digest: [u8; 32] = Sha256::digest(secret).into();
        // `subtle`: no early exit on the first differing byte, and no branch the optimiser may
        // put back in, so the time does not tell how much matched.
        let matches: bool = digest.ct_eq(expected).into();
        client.filter(|_| matches)
    }

    /// Whether any client is limited to some networks.
    pub fn any_network_list(&self) -> bool {
        self.clients
            .values()
            .any(|client| !client.allowed_cidrs.is_empty())
    }

    /// Number of clients.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether there are no clients.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

/// The `secret_sha256` value for a secret: lower-case hex SHA-256.
pub fn secret_digest_hex(secret: &[u8]) -> String {
    Sha256::digest(secret)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Parses a SHA-256 written as exactly 64 hex digits (`[0-9a-fA-F]`, either case), as
/// `secret_sha256` and certificate digests are: nothing else, not even the `+` sign that
/// `u8::from_str_radix` accepts.
pub fn parse_digest_hex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(bytes.chunks_exact(2)) {
        let [high, low] = pair else {
            return None;
        };
        *byte = (hex_digit(*high)? << 4) | hex_digit(*low)?;
    }
    Some(digest)
}

/// The value of one hex digit, `None` for any other byte.
fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> ClientRegistry {
        let mut registry = ClientRegistry::default();
        let digest = parse_digest_hex(&secret_digest_hex(b"s3cret-token")).unwrap();
        assert!(registry.insert(Client::new("4A95B4D0".into(), digest)));
        registry
    }

    #[test]
    fn right_secret_authenticates_the_client() {
        assert_eq!(
            registry()
                .authenticate("4A95B4D0", b"s3cret-token")
                .unwrap()
                .id,
            "4A95B4D0"
        );
    }

    #[test]
    fn wrong_secret_and_unknown_id_are_the_same_failure() {
        let registry = registry();
        assert!(registry.authenticate("4A95B4D0", b"s3cret-tokeN").is_none());
        assert!(registry.authenticate("4A95B4D0", b"").is_none());
        assert!(registry.authenticate("unknown", b"s3cret-token").is_none());
        assert!(
            registry.authenticate("4a95b4d0", b"s3cret-token").is_none(),
            "ids match exactly"
        );
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let mut registry = registry();
        assert!(!registry.insert(Client::new("4A95B4D0".into(), [0; 32])));
    }

    #[test]
    fn digest_hex_round_trips_and_matches_a_known_answer() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(secret_digest_hex(b"abc"), abc);
        assert_eq!(parse_digest_hex(&abc.to_uppercase()), parse_digest_hex(abc));
        assert!(parse_digest_hex("abc").is_none());
        assert!(parse_digest_hex(&"zz".repeat(32)).is_none());
    }
}
