//! Revocation lists: tokens an issuer withdrew before their `exp`. The `revocation` setting of a
//! provider, the list's JSON format (parsed strictly, bounded in bytes and entries) and the
//! per-worker [`RevocationSlot`] that decisions read.
//!
//! A list is fetched like the keys ([`super::remote_keys`]): one worker takes the shared
//! [`Lease`](super::remote_keys::Lease), fetches, and publishes the raw body in shared data as a
//! [`KeyRecord`] with its [`Generation`]; every worker parses the record when the generation
//! changed. A body that is not a valid list is never published, so the last good one stays. On
//! the request path a list is two hash lookups (the token's `jti`, its `sub`), a cache hit
//! included: the [`Identity`] keeps `jti`, `sub` and `iat`. Time goes in; no clock, no host.

use std::collections::HashMap;

use crate::error::ConfigError;
use crate::identity::Identity;
use crate::issuer::remote_keys::{Generation, KeyRecord, Schedule, Sync, Url};
use crate::json::{Document, Fields, FromJson, Node};

/// Default interval between scheduled fetches of a list.
pub const DEFAULT_REFRESH_SECONDS: u64 = 60;
/// Default bound on a list's entries (`revoked_jtis` and `subjects_not_before` together).
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;
/// Largest `max_entries` accepted.
const MAX_MAX_ENTRIES: usize = 1_000_000;
/// Longest accepted refresh interval: a revocation taking effect later than that is no revocation.
const MAX_REFRESH_SECONDS: u64 = 3600;
/// Longest accepted timeout of the call.
const MAX_TIMEOUT_MS: u64 = 30_000;
/// Largest list body read from an issuer.
pub const MAX_LIST_BYTES: usize = 16 * 1024 * 1024;
/// Longest `jti` or `sub` in a list.
pub const MAX_ID_BYTES: usize = 1024;
/// The only `version` of the format.
pub const FORMAT_VERSION: u64 = 1;

/// `providers[i].revocation`, as written.
#[derive(Default)]
pub struct RevocationConfig {
    cluster: String,
    uri: String,
    refresh_seconds: Option<u64>,
    timeout_ms: Option<u64>,
    max_entries: Option<usize>,
    on_unavailable: Option<String>,
}

impl FromJson for RevocationConfig {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(
            node,
            &[
                "cluster",
                "uri",
                "refresh_seconds",
                "timeout_ms",
                "max_entries",
                "on_unavailable",
            ],
        )?;
        let mut raw = RevocationConfig::default();
        raw.read(&fields)?;
        Ok(raw)
    }
}

impl RevocationConfig {
    /// Reads the fields in place, as `config::RawConfig::read` does: after an error the
    /// caller drops the whole in one place, not each field read so far after every `?`.
    fn read(&mut self, fields: &Fields) -> Result<(), ConfigError> {
        self.cluster = fields.required("cluster")?;
        self.uri = fields.required("uri")?;
        self.refresh_seconds = fields.optional("refresh_seconds")?;
        self.timeout_ms = fields.optional("timeout_ms")?;
        self.max_entries = fields.optional("max_entries")?;
        self.on_unavailable = fields.optional("on_unavailable")?;
        Ok(())
    }
}

/// A provider's revocation list settings, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The Envoy cluster the call goes through.
    pub cluster: String,
    /// Where the list is fetched.
    pub url: Url,
    /// Interval between scheduled fetches.
    pub refresh_ms: u64,
    /// Timeout of the call.
    pub timeout_ms: u64,
    /// Most entries a list may have; a longer one is refused whole.
    pub max_entries: usize,
    /// `on_unavailable: "refuse"` (the default): until a first good list arrives, the
    /// provider's tokens get 503; `"allow"`: they are decided without a list.
    pub refuse_until_fetched: bool,
}

impl Schedule for Revocation {
    fn refresh_ms(&self) -> u64 {
        self.refresh_ms
    }
    fn timeout_ms(&self) -> u64 {
        self.timeout_ms
    }
    fn refetch_window_ms(&self) -> u64 {
        self.refresh_ms
    }
}

/// Compiles `revocation` of the provider at `field` (`providers[0]`).
pub fn compile(config: RevocationConfig, field: &str) -> Result<Revocation, ConfigError> {
    let at = |name: &str| format!("{field}.revocation.{name}");
    let url = Url::parse(&config.uri).map_err(|why| ConfigError::new(&at("uri"), why))?;
    if config.cluster.trim().is_empty() {
        return Err(ConfigError::new(
            &at("cluster"),
            "must name an Envoy cluster",
        ));
    }
    let refresh = config.refresh_seconds.unwrap_or(DEFAULT_REFRESH_SECONDS);
    if !(1..=MAX_REFRESH_SECONDS).contains(&refresh) {
        return Err(ConfigError::new(
            &at("refresh_seconds"),
            format!("must be 1 to {MAX_REFRESH_SECONDS}"),
        ));
    }
    let timeout = config
        .timeout_ms
        .unwrap_or(super::remote_keys::DEFAULT_TIMEOUT_MS);
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout) {
        return Err(ConfigError::new(
            &at("timeout_ms"),
            format!("must be 1 to {MAX_TIMEOUT_MS}"),
        ));
    }
    let max_entries = config.max_entries.unwrap_or(DEFAULT_MAX_ENTRIES);
    if !(1..=MAX_MAX_ENTRIES).contains(&max_entries) {
        return Err(ConfigError::new(
            &at("max_entries"),
            format!("must be 1 to {MAX_MAX_ENTRIES}"),
        ));
    }
    let refuse_until_fetched = match config.on_unavailable.as_deref() {
        None | Some("refuse") => true,
        Some("allow") => false,
        Some(_) => {
            return Err(ConfigError::new(
                &at("on_unavailable"),
                "must be \"refuse\" or \"allow\"",
            ))
        }
    };
    Ok(Revocation {
        cluster: config.cluster,
        url,
        refresh_ms: refresh.saturating_mul(1000),
        timeout_ms: timeout,
        max_entries,
        refuse_until_fetched,
    })
}

/// The list as the issuer publishes it (unknown members are refused).
struct RawList {
    version: u64,
    revoked_jtis: Vec<RawJti>,
    subjects_not_before: Vec<RawSubject>,
}

impl FromJson for RawList {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(node, &["version", "revoked_jtis", "subjects_not_before"])?;
        Ok(RawList {
            version: fields.required("version")?,
            revoked_jtis: fields.or_default("revoked_jtis")?,
            subjects_not_before: fields.or_default("subjects_not_before")?,
        })
    }
}

struct RawJti {
    jti: String,
    exp: u64,
}

impl FromJson for RawJti {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(node, &["jti", "exp"])?;
        Ok(RawJti {
            jti: fields.required("jti")?,
            exp: fields.required("exp")?,
        })
    }
}

struct RawSubject {
    sub: String,
    nbf: u64,
}

impl FromJson for RawSubject {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(node, &["sub", "nbf"])?;
        Ok(RawSubject {
            sub: fields.required("sub")?,
            nbf: fields.required("nbf")?,
        })
    }
}

/// A parsed revocation list: revoked `jti`s (with the `exp` after which they no longer matter)
/// and per-subject "not before" times.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationList {
    jtis: HashMap<Box<str>, u64>,
    subjects: HashMap<Box<str>, u64>,
}

impl RevocationList {
    /// Parses a list body at `now` (Unix seconds): revoked `jti`s whose `exp` (plus `skew`, the
    /// provider's clock skew) is past are dropped, as their tokens are refused anyway. The whole
    /// document is refused when it is not the format, has an empty or over-long `jti` or `sub`,
    /// or holds more than `max_entries` live entries: a list cut short would un-revoke tokens.
    pub fn parse(
        body: &[u8],
        max_entries: usize,
        now: u64,
        skew: u64,
    ) -> Result<RevocationList, String> {
        if body.len() > MAX_LIST_BYTES {
            return Err(format!("list is larger than {MAX_LIST_BYTES} bytes"));
        }
        let raw: RawList =
            crate::json::read(body).map_err(|err| format!("list is malformed: {err}"))?;
        if raw.version != FORMAT_VERSION {
            return Err(format!(
                "list version {} is not {FORMAT_VERSION}",
                raw.version
            ));
        }
        let id = |text: &str, what: &str, at: usize| {
            if text.is_empty() || text.len() > MAX_ID_BYTES {
                Err(format!("{what}[{at}] must be 1 to {MAX_ID_BYTES} bytes"))
            } else {
                Ok(())
            }
        };
        let mut list = RevocationList::default();
        for (at, entry) in raw.revoked_jtis.iter().enumerate() {
            id(&entry.jti, "revoked_jtis", at)?;
            if entry.exp.saturating_add(skew) < now {
                continue;
            }
            let exp = list.jtis.entry(entry.jti.as_str().into()).or_insert(0);
            *exp = (*exp).max(entry.exp);
        }
        for (at, entry) in raw.subjects_not_before.iter().enumerate() {
            id(&entry.sub, "subjects_not_before", at)?;
            let nbf = list.subjects.entry(entry.sub.as_str().into()).or_insert(0);
            *nbf = (*nbf).max(entry.nbf);
        }
        if list.len() > max_entries {
            return Err(format!(
                "list has {} entries, more than max_entries {max_entries}",
                list.len()
            ));
        }
        Ok(list)
    }

    /// Whether `identity`'s token is revoked: its `jti` is listed, or its subject has a "not
    /// before" time and the token was issued earlier (or does not say when it was issued).
    pub fn revokes(&self, identity: &Identity) -> bool {
        if let Some(jti) = &identity.token_id {
            if self.jtis.contains_key(jti.as_str()) {
                return true;
            }
        }
        match (&identity.subject, self.subjects.is_empty()) {
            (Some(subject), false) => self
                .subjects
                .get(subject.as_str())
                .is_some_and(|nbf| identity.issued_at.is_none_or(|iat| iat < *nbf)),
            _ => false,
        }
    }

    /// Entries: revoked `jti`s and subjects.
    pub fn len(&self) -> usize {
        self.jtis.len().saturating_add(self.subjects.len())
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One worker's view of one provider's revocation list.
#[derive(Default)]
pub struct RevocationSlot {
    /// The list in use; `None` until the first good list arrives.
    pub list: Option<RevocationList>,
    /// Compare-and-swap value of the shared record last installed.
    pub record_cas: Option<u32>,
    /// The record's [`Generation`] when this worker last read it.
    pub record_generation: Option<Generation>,
    /// This worker's fetch in flight (its HTTP call token).
    pub fetching: Option<u32>,
    /// When the list in use was fetched (by whichever worker fetched it).
    pub fetched_at_ms: Option<u64>,
}

impl RevocationSlot {
    /// Whether the shared record must be read, its generation being `shared` (as for keys).
    pub fn record_changed(&self, shared: Option<Generation>) -> bool {
        shared.is_none() || shared != self.record_generation
    }

    /// Installs the shared record if it changed since the last look (`cas` tells), parsed at
    /// `now` (Unix seconds); a record that does not parse keeps the list in use.
    pub fn sync(
        &mut self,
        record: Option<&[u8]>,
        cas: Option<u32>,
        revocation: &Revocation,
        now: u64,
        skew: u64,
    ) -> Sync {
        let Some(bytes) = record else {
            return Sync::Unchanged;
        };
        if cas.is_some() && cas == self.record_cas {
            return Sync::Unchanged;
        }
        self.record_cas = cas;
        let Some(record) = KeyRecord::decode(bytes) else {
            return Sync::Unusable("shared revocation record is malformed".to_string());
        };
        match RevocationList::parse(&record.body, revocation.max_entries, now, skew) {
            Ok(list) => {
                self.list = Some(list);
                self.fetched_at_ms = Some(record.fetched_at_ms);
                Sync::Installed(Vec::new())
            }
            Err(why) => Sync::Unusable(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: &str) -> Result<Revocation, ConfigError> {
        let config: RevocationConfig = crate::json::read(json.as_bytes()).unwrap();
        compile(config, "providers[0]")
    }

    fn identity(jti: Option<&str>, sub: Option<&str>, iat: Option<u64>) -> Identity {
        Identity {
            provider: 0,
            subject: sub.map(str::to_string),
            scopes: vec![],
            apps: vec![],
            client_id: None,
            allowed_cidrs: vec![],
            audiences: vec![],
            claim_values: vec![],
            forwarded_claims: vec![],
            expires_at: 2000,
            token_id: jti.map(str::to_string),
            issued_at: iat,
            confirmation: None,
        }
    }

    #[test]
    fn settings_have_defaults_and_bad_ones_are_named() {
        let ok = settings(r#"{"cluster": "idp", "uri": "https://idp/revoked.json"}"#).unwrap();
        assert_eq!(ok.refresh_ms, DEFAULT_REFRESH_SECONDS * 1000);
        assert_eq!(ok.max_entries, DEFAULT_MAX_ENTRIES);
        assert!(ok.refuse_until_fetched, "fails closed by default");
        assert_eq!(ok.url.path, "/revoked.json");
        let allow = r#"{"cluster": "idp", "uri": "https://idp/r", "on_unavailable": "allow"}"#;
        assert!(!settings(allow).unwrap().refuse_until_fetched);
        for (json, field) in [
            (r#"{"cluster": "idp", "uri": "idp/r"}"#, "uri"),
            (r#"{"cluster": " ", "uri": "https://idp/r"}"#, "cluster"),
            (
                r#"{"cluster": "idp", "uri": "https://idp/r", "refresh_seconds": 0}"#,
                "refresh_seconds",
            ),
            (
                r#"{"cluster": "idp", "uri": "https://idp/r", "timeout_ms": 0}"#,
                "timeout_ms",
            ),
            (
                r#"{"cluster": "idp", "uri": "https://idp/r", "max_entries": 0}"#,
                "max_entries",
            ),
            (
                r#"{"cluster": "idp", "uri": "https://idp/r", "on_unavailable": "open"}"#,
                "on_unavailable",
            ),
        ] {
            assert_eq!(
                settings(json).err().unwrap().field(),
                format!("providers[0].revocation.{field}")
            );
        }
    }

    #[test]
    fn listed_jti_and_subjects_issued_before_their_time_are_revoked() {
        let body = br#"{"version": 1,
            "revoked_jtis": [{"jti": "t-1", "exp": 2000}],
            "subjects_not_before": [{"sub": "alice", "nbf": 1500}]}"#;
        let list = RevocationList::parse(body, 10, 1000, 0).unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.revokes(&identity(Some("t-1"), Some("bob"), Some(900))));
        assert!(!list.revokes(&identity(Some("t-2"), Some("bob"), Some(900))));
        assert!(list.revokes(&identity(None, Some("alice"), Some(1499))));
        assert!(!list.revokes(&identity(None, Some("alice"), Some(1500))));
        assert!(
            list.revokes(&identity(None, Some("alice"), None)),
            "no iat: issued when is unknown"
        );
        assert!(!list.revokes(&identity(None, None, Some(1))));
    }

    #[test]
    fn expired_entries_are_dropped_and_do_not_count() {
        let body = br#"{"version": 1, "revoked_jtis": [
            {"jti": "old", "exp": 900}, {"jti": "skewed", "exp": 950}, {"jti": "new", "exp": 2000}]}"#;
        let list = RevocationList::parse(body, 2, 1000, 60).unwrap();
        assert_eq!(list.len(), 2);
        assert!(!list.revokes(&identity(Some("old"), None, None)));
        assert!(list.revokes(&identity(Some("skewed"), None, None)));
    }

    #[test]
    fn malformed_or_oversized_lists_are_refused_whole() {
        let refused = |body: &[u8]| RevocationList::parse(body, 2, 0, 0).unwrap_err();
        assert!(refused(b"<html>").starts_with("list is malformed"));
        assert!(refused(br#"{"revoked_jtis": []}"#).starts_with("list is malformed"));
        assert_eq!(refused(br#"{"version": 2}"#), "list version 2 is not 1");
        assert!(refused(br#"{"version": 1, "extra": 1}"#).starts_with("list is malformed"));
        assert!(
            refused(br#"{"version": 1, "revoked_jtis": [{"jti": "a", "exp": "soon"}]}"#)
                .starts_with("list is malformed")
        );
        assert_eq!(
            refused(br#"{"version": 1, "revoked_jtis": [{"jti": "", "exp": 1}]}"#),
            "revoked_jtis[0] must be 1 to 1024 bytes"
        );
        let long = format!(
            r#"{{"version": 1, "subjects_not_before": [{{"sub": "{}", "nbf": 1}}]}}"#,
            "s".repeat(MAX_ID_BYTES + 1)
        );
        assert_eq!(
            refused(long.as_bytes()),
            "subjects_not_before[0] must be 1 to 1024 bytes"
        );
        assert_eq!(
            refused(
                br#"{"version": 1, "revoked_jtis": [{"jti": "a", "exp": 9}, {"jti": "b", "exp": 9}],
                "subjects_not_before": [{"sub": "c", "nbf": 1}]}"#
            ),
            "list has 3 entries, more than max_entries 2"
        );
        let huge = vec![b' '; MAX_LIST_BYTES + 1];
        assert!(refused(&huge).contains("larger than"));
    }

    #[test]
    fn a_bad_record_keeps_the_last_good_list() {
        let revocation =
            settings(r#"{"cluster": "idp", "uri": "https://idp/r", "max_entries": 5}"#).unwrap();
        let record = |body: &[u8]| {
            KeyRecord {
                fetched_at_ms: 7,
                body: body.to_vec(),
            }
            .encode()
        };
        let mut slot = RevocationSlot::default();
        let good = record(br#"{"version": 1, "revoked_jtis": [{"jti": "a", "exp": 9}]}"#);
        assert_eq!(
            slot.sync(Some(&good), Some(1), &revocation, 0, 0),
            Sync::Installed(vec![])
        );
        assert_eq!(slot.fetched_at_ms, Some(7));
        assert_eq!(
            slot.sync(Some(&good), Some(1), &revocation, 0, 0),
            Sync::Unchanged
        );
        let bad = record(b"{}");
        assert!(matches!(
            slot.sync(Some(&bad), Some(2), &revocation, 0, 0),
            Sync::Unusable(_)
        ));
        assert_eq!(slot.list.as_ref().map(RevocationList::len), Some(1));
    }
}
