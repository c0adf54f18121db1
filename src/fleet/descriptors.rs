//! The descriptors each use sends, under the domain of the `fleet` configuration. The first
//! entry, `edge_auth`, names the use, so one limits file holds edge-auth's limits beside the
//! quotas Envoy's own rate limit filter sends. Nothing a client chose reaches the service as
//! it is: a proof is the hash the replay cache keeps, a client id is hashed too; a source is
//! the address (or IPv6 prefix) the lockout counts.
//!
//! | use | entries | limit |
//! |---|---|---|
//! | DPoP proof | `edge_auth=dpop_proof`, `proof=<32 hex digits>` | 1 per window longer than a proof's life |
//! | failed secret, per source and client | `edge_auth=failed_secret`, `source=<address>`, `client=<32 hex digits>` | `lockout.max_failures` − 1 |
//! | failed secret, per source | `edge_auth=failed_secret_source`, `source=<address>` | `lockout.max_failures_per_source` − 1 |
//!
//! A limit is exceeded (`OVER_LIMIT`) by the hit after the last one allowed: a limit of
//! `max_failures − 1` makes the failure that reaches `max_failures` the one that locks, as in a
//! single Envoy.

use std::fmt::Write;

use sha2::{Digest, Sha256};

use super::protocol::Descriptor;

/// The entry that names the use.
pub const USE_KEY: &str = "edge_auth";

/// The descriptor of a DPoP proof, from the replay cache's key for it (a hash of the proof
/// key's thumbprint and the `jti`).
pub fn dpop_proof(replay_key: &[u8]) -> Descriptor {
    Descriptor {
        entries: vec![
            (USE_KEY, "dpop_proof".to_string()),
            ("proof", hex(replay_key)),
        ],
    }
}

/// The descriptors of a failed secret for `client_id` from `source`: per source and client
/// first, per source second (the order of the answer's statuses).
pub fn failed_secret(source: &str, client_id: &str) -> [Descriptor; 2] {
    let digest = Sha256::digest(client_id.as_bytes());
    let client = hex(digest.get(..16).unwrap_or_default());
    [
        Descriptor {
            entries: vec![
                (USE_KEY, "failed_secret".to_string()),
                ("source", source.to_string()),
                ("client", client),
            ],
        },
        Descriptor {
            entries: vec![
                (USE_KEY, "failed_secret_source".to_string()),
                ("source", source.to_string()),
            ],
        },
    ]
}

fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_is_sent_as_the_hex_of_its_replay_key() {
        let descriptor = dpop_proof(&[0xab; 16]);
        assert_eq!(
            descriptor.entries,
            [
                ("edge_auth", "dpop_proof".to_string()),
                ("proof", "ab".repeat(16))
            ]
        );
    }

    #[test]
    fn a_client_id_is_hashed_and_the_source_kept() {
        let [pair, source] = failed_secret("203.0.113.7", "app\n\u{0}x");
        assert_eq!(pair.entries[1], ("source", "203.0.113.7".to_string()));
        let client = &pair.entries[2].1;
        assert_eq!(client.len(), 32);
        assert!(client.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(
            failed_secret("203.0.113.7", "other")[0].entries[2].1,
            *client
        );
        assert_eq!(source.entries.len(), 2);
        assert_eq!(source.entries[0].1, "failed_secret_source");
    }
}
