//! Keys fetched from an issuer: the `remote_jwks` / `discovery` configuration, and the pure
//! state machines that decide when a worker fetches, how failures back off and how fetched
//! keys travel between workers.
//!
//! Every Envoy worker runs its own VM. They share three records per provider through proxy-wasm
//! shared data: the [`Lease`] (who may fetch next, and when; updated with compare-and-swap, so
//! exactly one worker wins each fetch), the [`KeyRecord`] (the raw JWKS body of the last good
//! fetch, which every worker parses itself; up to [`MAX_BODY_BYTES`]) and its generation (a
//! number bumped after each new record is written, see [`Generation`]), which a worker reads
//! first so that it copies the record only when it changed. A worker's own view is a [`Slot`]: its parsed keys,
//! the version it installed, the fetch it has in flight and the requests waiting for keys.
//! Time goes in as milliseconds since the Unix epoch; nothing here reads a clock or calls the host.

use crate::error::ConfigError;
use crate::json::{Document, FromJson, Node};
use crate::jwt::jwks::KeySet;

/// Default interval between scheduled refreshes.
pub const DEFAULT_REFRESH_SECONDS: u64 = 300;
/// Default timeout of one HTTP call to the issuer.
pub const DEFAULT_TIMEOUT_MS: u64 = 2000;
/// Default window in which at most one refetch is caused by tokens naming an unknown `kid`.
pub const DEFAULT_UNKNOWN_KID_REFETCH_SECONDS: u64 = 30;
/// Longest accepted refresh interval (a day): keys older than that are a liability.
const MAX_REFRESH_SECONDS: u64 = 86_400;
/// Longest accepted timeout: requests wait this long for keys at cold start.
const MAX_TIMEOUT_MS: u64 = 30_000;
/// First retry after a failed fetch; each further failure doubles it.
const FIRST_RETRY_MS: u64 = 1000;
/// Longest wait between retries (also never longer than the refresh interval).
const MAX_RETRY_MS: u64 = 60_000;
/// Largest JWKS or discovery body read from an issuer.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// `providers[i].remote_jwks`, as written.
pub struct RemoteJwksConfig {
    cluster: String,
    uri: String,
    refresh_seconds: Option<u64>,
    timeout_ms: Option<u64>,
    unknown_kid_refetch_seconds: Option<u64>,
}

impl FromJson for RemoteJwksConfig {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(
            node,
            &[
                "cluster",
                "uri",
                "refresh_seconds",
                "timeout_ms",
                "unknown_kid_refetch_seconds",
            ],
        )?;
        Ok(RemoteJwksConfig {
            cluster: fields.required("cluster")?,
            uri: fields.required("uri")?,
            refresh_seconds: fields.optional("refresh_seconds")?,
            timeout_ms: fields.optional("timeout_ms")?,
            unknown_kid_refetch_seconds: fields.optional("unknown_kid_refetch_seconds")?,
        })
    }
}

/// `providers[i].discovery`, as written: the JWKS URI is read from the issuer's
/// `/.well-known/openid-configuration`.
pub struct DiscoveryConfig {
    cluster: String,
    refresh_seconds: Option<u64>,
    timeout_ms: Option<u64>,
    unknown_kid_refetch_seconds: Option<u64>,
}

impl FromJson for DiscoveryConfig {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(
            node,
            &[
                "cluster",
                "refresh_seconds",
                "timeout_ms",
                "unknown_kid_refetch_seconds",
            ],
        )?;
        Ok(DiscoveryConfig {
            cluster: fields.required("cluster")?,
            refresh_seconds: fields.optional("refresh_seconds")?,
            timeout_ms: fields.optional("timeout_ms")?,
            unknown_kid_refetch_seconds: fields.optional("unknown_kid_refetch_seconds")?,
        })
    }
}

/// An `http(s)://authority/path` URL, split the way an Envoy HTTP call needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `:authority` (host and optional port).
    pub authority: String,
    /// `:path`, with the query if there is one.
    pub path: String,
}

impl Url {
    /// Parses an absolute `http` or `https` URL without user info; the fragment is dropped.
    pub fn parse(text: &str) -> Result<Url, &'static str> {
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
            .ok_or("must be an absolute http:// or https:// URL")?;
        let rest = rest.split('#').next().unwrap_or_default();
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) => rest.split_at(at),
            None => (rest, "/"),
        };
        if authority.is_empty()
            || authority.contains('@')
            || authority
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err("must name a host (without user info)");
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain whitespace");
        }
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        Ok(Url {
            authority: authority.to_string(),
            path,
        })
    }
}

/// Where a provider's keys are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locator {
    /// A JWKS URL given in the configuration.
    Jwks(Url),
    /// The issuer's discovery document, which names the JWKS URL.
    Discovery(Url),
}

/// A provider whose keys are fetched, compiled from `remote_jwks` or `discovery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteKeys {
    /// The Envoy cluster the calls go through.
    pub cluster: String,
    /// What is fetched first.
    pub locator: Locator,
    /// Interval between scheduled refreshes.
    pub refresh_ms: u64,
    /// Timeout of each HTTP call.
    pub timeout_ms: u64,
    /// At most one refetch per this window is caused by unknown `kid`s.
    pub refetch_window_ms: u64,
}

/// Compiles a provider's key location: `None` when its keys are inline.
pub fn compile(
    remote: Option<RemoteJwksConfig>,
    discovery: Option<DiscoveryConfig>,
    issuer: &str,
    field: &str,
) -> Result<Option<RemoteKeys>, ConfigError> {
    let (cluster, locator, refresh, timeout, window, at) = match (remote, discovery) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                field,
                "give either remote_jwks or discovery, not both",
            ))
        }
        (Some(r), None) => {
            let at = format!("{field}.remote_jwks");
            let url =
                Url::parse(&r.uri).map_err(|why| ConfigError::new(&format!("{at}.uri"), why))?;
            let window = r.unknown_kid_refetch_seconds;
            (
                r.cluster,
                Locator::Jwks(url),
                r.refresh_seconds,
                r.timeout_ms,
                window,
                at,
            )
        }
        (None, Some(d)) => {
            let at = format!("{field}.discovery");
            let base = Url::parse(issuer).map_err(|why| {
                ConfigError::new(
                    &format!("{field}.issuer"),
                    format!("discovery needs an issuer URL: {why}"),
                )
            })?;
            if base.path.contains('?') {
                return Err(ConfigError::new(
                    &format!("{field}.issuer"),
                    "an issuer URL has no query",
                ));
            }
            let url = Url {
                authority: base.authority,
                path: format!(
                    "{}/.well-known/openid-configuration",
                    base.path.trim_end_matches('/')
                ),
            };
            (
                d.cluster,
                Locator::Discovery(url),
                d.refresh_seconds,
                d.timeout_ms,
                d.unknown_kid_refetch_seconds,
                at,
            )
        }
    };
    if cluster.trim().is_empty() {
        return Err(ConfigError::new(
            &format!("{at}.cluster"),
            "must name an Envoy cluster",
        ));
    }
    let refresh = refresh.unwrap_or(DEFAULT_REFRESH_SECONDS);
    if !(1..=MAX_REFRESH_SECONDS).contains(&refresh) {
        return Err(ConfigError::new(
            &format!("{at}.refresh_seconds"),
            format!("must be 1 to {MAX_REFRESH_SECONDS}"),
        ));
    }
    let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout) {
        return Err(ConfigError::new(
            &format!("{at}.timeout_ms"),
            format!("must be 1 to {MAX_TIMEOUT_MS}"),
        ));
    }
    let window = window.unwrap_or(DEFAULT_UNKNOWN_KID_REFETCH_SECONDS);
    if !(1..=MAX_REFRESH_SECONDS).contains(&window) {
        return Err(ConfigError::new(
            &format!("{at}.unknown_kid_refetch_seconds"),
            format!("must be 1 to {MAX_REFRESH_SECONDS}"),
        ));
    }
    Ok(Some(RemoteKeys {
        cluster,
        locator,
        refresh_ms: refresh.saturating_mul(1000),
        timeout_ms: timeout,
        refetch_window_ms: window.saturating_mul(1000),
    }))
}

/// How often a document is fetched from an issuer and how long one fetch may take: what the
/// [`Lease`] needs to know of it (the keys' [`RemoteKeys`], a revocation list's settings).
pub trait Schedule {
    /// Interval between scheduled fetches.
    fn refresh_ms(&self) -> u64;
    /// Timeout of each HTTP call.
    fn timeout_ms(&self) -> u64;
    /// At most one early refetch per this window (documents fetched only on schedule: any).
    fn refetch_window_ms(&self) -> u64;
}

impl Schedule for RemoteKeys {
    fn refresh_ms(&self) -> u64 {
        self.refresh_ms
    }
    fn timeout_ms(&self) -> u64 {
        self.timeout_ms
    }
    fn refetch_window_ms(&self) -> u64 {
        self.refetch_window_ms
    }
}

/// Why a fetch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchReason {
    /// First fetch, the refresh interval has passed, or a retry after a failure.
    Scheduled,
    /// A token named a `kid` the current keys do not have.
    UnknownKid,
}

/// Who may fetch a provider's keys next, and when; shared by all workers of one Envoy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lease {
    /// When the next scheduled fetch (or retry) is due.
    pub next_at_ms: u64,
    /// Failed fetches since the last good one.
    pub failures: u32,
    /// A fetch started by some worker counts as in flight until then.
    pub in_flight_until_ms: u64,
    /// When the last refetch for an unknown `kid` started.
    pub last_unknown_kid_ms: Option<u64>,
}

impl Lease {
    /// Shared-data form: `next failures in_flight_until last_unknown_kid` (0 for none).
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "{} {} {} {}",
            self.next_at_ms,
            self.failures,
            self.in_flight_until_ms,
            self.last_unknown_kid_ms.map_or(0, |t| t.saturating_add(1))
        )
        .into_bytes()
    }

    /// Reads [`Lease::encode`]'s form; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<Lease> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut fields = text.split(' ');
        let mut number = || fields.next()?.parse::<u64>().ok();
        let next_at_ms = number()?;
        let failures = u32::try_from(number()?).ok()?;
        let in_flight_until_ms = number()?;
        let early = number()?;
        Some(Lease {
            next_at_ms,
            failures,
            in_flight_until_ms,
            last_unknown_kid_ms: early.checked_sub(1),
        })
    }

    /// Whether some worker is fetching right now.
    pub fn in_flight(&self, now_ms: u64) -> bool {
        now_ms < self.in_flight_until_ms
    }

    /// Whether a fetch will start without any request asking: in flight, or due now.
    pub fn fetch_coming(&self, now_ms: u64) -> bool {
        self.in_flight(now_ms) || now_ms >= self.next_at_ms
    }

    /// Whether a token naming an unknown `kid` may cause a refetch now.
    pub fn unknown_kid_refetch_allowed(&self, now_ms: u64, remote: &impl Schedule) -> bool {
        self.last_unknown_kid_ms
            .is_none_or(|last| now_ms >= last.saturating_add(remote.refetch_window_ms()))
    }

    /// If a fetch may start now (due, or `unknown_kid` asks and the window allows it, and
    /// nobody is fetching), the reason and the lease to write (with compare-and-swap) to own it.
    pub fn take(
        &self,
        now_ms: u64,
        unknown_kid: bool,
        remote: &impl Schedule,
    ) -> Option<(FetchReason, Lease)> {
        if self.in_flight(now_ms) {
            return None;
        }
        // Discovery then JWKS: two calls, each bounded by the timeout.
        let in_flight_until_ms = now_ms
            .saturating_add(remote.timeout_ms().saturating_mul(2))
            .saturating_add(1000);
        if now_ms >= self.next_at_ms {
            return Some((
                FetchReason::Scheduled,
                Lease {
                    in_flight_until_ms,
                    ..*self
                },
            ));
        }
        if unknown_kid && self.unknown_kid_refetch_allowed(now_ms, remote) {
            return Some((
                FetchReason::UnknownKid,
                Lease {
                    in_flight_until_ms,
                    last_unknown_kid_ms: Some(now_ms),
                    ..*self
                },
            ));
        }
        None
    }

    /// The lease after a good fetch: next one after the refresh interval.
    pub fn succeeded(&self, now_ms: u64, remote: &impl Schedule) -> Lease {
        Lease {
            next_at_ms: now_ms.saturating_add(remote.refresh_ms()),
            failures: 0,
            in_flight_until_ms: 0,
            last_unknown_kid_ms: self.last_unknown_kid_ms,
        }
    }

    /// The lease after a failed fetch: retry after a delay that doubles with each failure.
    pub fn failed(&self, now_ms: u64, remote: &impl Schedule) -> Lease {
        let failures = self.failures.saturating_add(1);
        Lease {
            next_at_ms: now_ms.saturating_add(retry_delay_ms(failures, remote.refresh_ms())),
            failures,
            in_flight_until_ms: 0,
            last_unknown_kid_ms: self.last_unknown_kid_ms,
        }
    }
}

/// Delay before retry number `failures` (1 for the first): 1 s, 2 s, 4 s... capped at one
/// minute and at the refresh interval.
pub fn retry_delay_ms(failures: u32, refresh_ms: u64) -> u64 {
    let doubling = failures.saturating_sub(1).min(16);
    FIRST_RETRY_MS
        .saturating_mul(1u64 << doubling)
        .min(MAX_RETRY_MS)
        .min(refresh_ms.max(1))
}

/// The last good key set of a provider, as shared between workers: when it was fetched and
/// the JWKS body exactly as the issuer sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// When it was fetched.
    pub fetched_at_ms: u64,
    /// The raw JWKS body.
    pub body: Vec<u8>,
}

impl KeyRecord {
    /// Shared-data form: the time in decimal, a newline, the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = format!("{}\n", self.fetched_at_ms).into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// Reads [`KeyRecord::encode`]'s form.
    pub fn decode(bytes: &[u8]) -> Option<KeyRecord> {
        let newline = bytes.iter().position(|b| *b == b'\n')?;
        let (time, body) = bytes.split_at(newline);
        let fetched_at_ms = std::str::from_utf8(time).ok()?.parse().ok()?;
        Some(KeyRecord {
            fetched_at_ms,
            body: body.get(1..).unwrap_or_default().to_vec(),
        })
    }
}

/// The generation of a provider's shared [`KeyRecord`]: a small shared-data value the fetching
/// worker bumps after it wrote a new record, so that the others (on every tick, and for every
/// token naming an unknown `kid`) copy the record, up to 512 KiB, only when it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(pub u64);

impl Generation {
    /// Shared-data form: decimal.
    pub fn encode(self) -> Vec<u8> {
        self.0.to_string().into_bytes()
    }

    /// Reads [`Generation::encode`]'s form.
    pub fn decode(bytes: &[u8]) -> Option<Generation> {
        std::str::from_utf8(bytes)
            .ok()?
            .parse()
            .ok()
            .map(Generation)
    }

    /// The generation after this one.
    pub fn next(self) -> Generation {
        Generation(self.0.wrapping_add(1))
    }
}

/// The outcome of one HTTP call to the issuer, as the filter saw it.
pub fn response_body(status: Option<u32>, body: Option<Vec<u8>>) -> Result<Vec<u8>, String> {
    response_body_within(status, body, MAX_BODY_BYTES)
}

/// [`response_body`] for a document of at most `max_bytes` (a revocation list's bound).
pub fn response_body_within(
    status: Option<u32>,
    body: Option<Vec<u8>>,
    max_bytes: usize,
) -> Result<Vec<u8>, String> {
    match status {
        None => Err("no response (connection refused, reset or timed out)".to_string()),
        Some(200) => {
            let body = body.unwrap_or_default();
            if body.len() > max_bytes {
                Err(format!("body is larger than {max_bytes} bytes"))
            } else {
                Ok(body)
            }
        }
        Some(status) => Err(format!("HTTP status {status}")),
    }
}

/// What a worker is fetching for one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Nothing.
    Idle,
    /// Waiting for the discovery document (HTTP call token).
    Discovery(u32),
    /// Waiting for the JWKS (HTTP call token).
    Jwks(u32),
}

/// A request paused until keys arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiter {
    /// Its HTTP context.
    pub context_id: u32,
    /// When it is decided with whatever keys there are.
    pub deadline_ms: u64,
}

/// One worker's view of one remote provider's keys.
#[derive(Default)]
pub struct Slot {
    /// The keys in use; `None` until the first good set arrives.
    pub keys: Option<KeySet>,
    /// Bumped on every install; the token cache stamps entries with it and checks it on every
    /// hit, so a token verified with the previous set is verified again.
    pub version: u64,
    /// Compare-and-swap value of the shared [`KeyRecord`] last installed.
    pub record_cas: Option<u32>,
    /// The record's [`Generation`] when this worker last read the record.
    pub record_generation: Option<Generation>,
    /// This worker's fetch in flight.
    pub stage: Option<Stage>,
    /// A token named an unknown `kid` since the last fetch.
    pub unknown_kid_wanted: bool,
    /// Paused requests.
    pub waiters: Vec<Waiter>,
    /// The JWKS URL learnt from discovery.
    pub jwks_url: Option<Url>,
    /// When the keys in use were fetched (by whichever worker fetched them).
    pub fetched_at_ms: Option<u64>,
}

/// What happened when a worker looked at the shared key record.
#[derive(Debug, PartialEq, Eq)]
pub enum Sync {
    /// Nothing new.
    Unchanged,
    /// A new set was installed; the strings are the keys skipped as unusable.
    Installed(Vec<String>),
    /// The record cannot be used (kept the current keys).
    Unusable(String),
}

impl Slot {
    /// Whether this worker is fetching.
    pub fn fetching(&self) -> bool {
        !matches!(self.stage, None | Some(Stage::Idle))
    }

    /// Whether the shared record must be read, its generation being `shared` (`None`: no
    /// generation is shared, as before any fetch; the record is read then, as it is small or
    /// absent). A change of generation since the last read means a new record.
    pub fn record_changed(&self, shared: Option<Generation>) -> bool {
        shared.is_none() || shared != self.record_generation
    }

    /// Installs the shared record if it changed since the last look (`cas` tells).
    pub fn sync(
        &mut self,
        record: Option<&[u8]>,
        cas: Option<u32>,
        allowed: &[crate::jwt::algorithm::Algorithm],
    ) -> Sync {
        let Some(bytes) = record else {
            return Sync::Unchanged;
        };
        if cas.is_some() && cas == self.record_cas {
            return Sync::Unchanged;
        }
        self.record_cas = cas;
        let Some(record) = KeyRecord::decode(bytes) else {
            return Sync::Unusable("shared key record is malformed".to_string());
        };
        match KeySet::from_fetched_jwks(&record.body, allowed) {
            Ok((keys, skipped)) => {
                self.keys = Some(keys);
                self.fetched_at_ms = Some(record.fetched_at_ms);
                self.version = self.version.saturating_add(1);
                Sync::Installed(skipped)
            }
            Err(why) => Sync::Unusable(why),
        }
    }

    /// Removes and returns the waiters to decide now: all of them when no fetch is coming
    /// (by this worker or, per `lease`, another), else those past their deadline.
    pub fn due_waiters(&mut self, now_ms: u64, lease: &Lease) -> Vec<Waiter> {
        let fetch_pending = self.fetching() || lease.in_flight(now_ms);
        let (due, keep): (Vec<Waiter>, Vec<Waiter>) = self
            .waiters
            .drain(..)
            .partition(|w| !fetch_pending || now_ms >= w.deadline_ms);
        self.waiters = keep;
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::algorithm::Algorithm;

    fn remote() -> RemoteKeys {
        RemoteKeys {
            cluster: "idp".into(),
            locator: Locator::Jwks(Url::parse("https://idp/certs").unwrap()),
            refresh_ms: 300_000,
            timeout_ms: 2000,
            refetch_window_ms: 30_000,
        }
    }

    #[test]
    fn urls_split_into_authority_and_path() {
        let url = Url::parse("https://idp.example.com:8443/realms/main/certs?x=1#f").unwrap();
        assert_eq!(url.authority, "idp.example.com:8443");
        assert_eq!(url.path, "/realms/main/certs?x=1");
        assert_eq!(Url::parse("http://idp").unwrap().path, "/");
        assert!(Url::parse("ftp://idp/x").is_err());
        assert!(Url::parse("https://user@idp/x").is_err());
        assert!(Url::parse("https:///x").is_err());
    }

    #[test]
    fn discovery_reads_the_well_known_document_under_the_issuer() {
        let config: DiscoveryConfig =
            crate::json::read(r#"{"cluster": "idp"}"#.as_bytes()).unwrap();
        let compiled = compile(
            None,
            Some(config),
            "https://idp/realms/main/",
            "providers[0]",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            compiled.locator,
            Locator::Discovery(Url {
                authority: "idp".into(),
                path: "/realms/main/.well-known/openid-configuration".into()
            })
        );
        assert_eq!(compiled.refresh_ms, DEFAULT_REFRESH_SECONDS * 1000);
    }

    #[test]
    fn bad_remote_settings_are_named() {
        let remote = |json: &str| -> ConfigError {
            let config: RemoteJwksConfig = crate::json::read(json.as_bytes()).unwrap();
            compile(Some(config), None, "https://idp", "providers[0]")
                .err()
                .unwrap()
        };
        assert_eq!(
            remote(r#"{"cluster": "idp", "uri": "idp/certs"}"#).field(),
            "providers[0].remote_jwks.uri"
        );
        assert_eq!(
            remote(r#"{"cluster": "", "uri": "https://idp/certs"}"#).field(),
            "providers[0].remote_jwks.cluster"
        );
        assert_eq!(
            remote(r#"{"cluster": "idp", "uri": "https://idp/c", "refresh_seconds": 0}"#).field(),
            "providers[0].remote_jwks.refresh_seconds"
        );
        assert_eq!(
            remote(r#"{"cluster": "idp", "uri": "https://idp/c", "timeout_ms": 60000}"#).field(),
            "providers[0].remote_jwks.timeout_ms"
        );
        let discovery: DiscoveryConfig =
            crate::json::read(r#"{"cluster": "idp"}"#.as_bytes()).unwrap();
        assert_eq!(
            compile(None, Some(discovery), "urn:idp", "providers[0]")
                .err()
                .unwrap()
                .field(),
            "providers[0].issuer"
        );
    }

    #[test]
    fn first_fetch_is_due_at_once_and_only_one_worker_owns_it() {
        let lease = Lease::default();
        let (reason, taken) = lease.take(1000, false, &remote()).unwrap();
        assert_eq!(reason, FetchReason::Scheduled);
        assert!(taken.in_flight(1001));
        // Another worker reading the taken lease does not fetch too.
        assert!(taken.take(1001, true, &remote()).is_none());
        assert!(taken.fetch_coming(1001));
    }

    #[test]
    fn refresh_is_due_after_the_interval() {
        let lease = Lease::default().succeeded(0, &remote());
        assert!(lease.take(299_999, false, &remote()).is_none());
        assert!(!lease.fetch_coming(299_999));
        assert_eq!(
            lease.take(300_000, false, &remote()).unwrap().0,
            FetchReason::Scheduled
        );
    }

    #[test]
    fn unknown_kid_refetch_is_rate_limited_per_window() {
        let lease = Lease::default().succeeded(0, &remote());
        let (reason, taken) = lease.take(10_000, true, &remote()).unwrap();
        assert_eq!(reason, FetchReason::UnknownKid);
        let done = taken.succeeded(10_500, &remote());
        assert!(
            done.take(20_000, true, &remote()).is_none(),
            "inside the window"
        );
        assert!(!done.unknown_kid_refetch_allowed(39_999, &remote()));
        assert_eq!(
            done.take(40_000, true, &remote()).unwrap().0,
            FetchReason::UnknownKid
        );
    }

    #[test]
    fn failures_back_off_doubling_up_to_the_caps() {
        let mut lease = Lease::default();
        let mut delays = Vec::new();
        for _ in 0..9 {
            lease = lease.failed(0, &remote());
            delays.push(lease.next_at_ms);
        }
        assert_eq!(
            delays,
            [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]
        );
        assert_eq!(retry_delay_ms(5, 3000), 3000, "never beyond the refresh");
        assert_eq!(lease.succeeded(5, &remote()).failures, 0);
        assert!(!lease.in_flight(0));
    }

    #[test]
    fn lease_and_record_survive_their_shared_data_form() {
        let lease = Lease {
            next_at_ms: 5,
            failures: 2,
            in_flight_until_ms: 7,
            last_unknown_kid_ms: Some(0),
        };
        assert_eq!(Lease::decode(&lease.encode()), Some(lease));
        assert_eq!(
            Lease::decode(&Lease::default().encode()),
            Some(Lease::default())
        );
        assert_eq!(Lease::decode(b"garbage"), None);
        let record = KeyRecord {
            fetched_at_ms: 42,
            body: b"{\"keys\":[]}\n".to_vec(),
        };
        assert_eq!(KeyRecord::decode(&record.encode()), Some(record));
        assert_eq!(KeyRecord::decode(b"no newline"), None);
    }

    #[test]
    fn the_record_is_read_again_only_when_its_generation_changed() {
        let mut slot = Slot::default();
        assert!(slot.record_changed(None), "no generation shared: read");
        assert!(slot.record_changed(Some(Generation(1))));
        slot.record_generation = Some(Generation(1));
        assert!(!slot.record_changed(Some(Generation(1))));
        assert!(slot.record_changed(Some(Generation(1).next())));
        assert_eq!(
            Generation::decode(&Generation(42).encode()),
            Some(Generation(42))
        );
        assert_eq!(Generation::decode(b"x"), None);
    }

    #[test]
    fn responses_other_than_200_are_failures_with_a_cause() {
        assert_eq!(response_body(Some(200), Some(b"x".to_vec())).unwrap(), b"x");
        assert_eq!(
            response_body(Some(503), None).unwrap_err(),
            "HTTP status 503"
        );
        assert!(response_body(None, None)
            .unwrap_err()
            .starts_with("no response"));
    }

    #[test]
    fn a_bad_record_keeps_the_last_good_keys() {
        let mut slot = Slot::default();
        let garbage = KeyRecord {
            fetched_at_ms: 1,
            body: b"<html>".to_vec(),
        }
        .encode();
        assert!(matches!(
            slot.sync(Some(&garbage), Some(1), &[Algorithm::ES256]),
            Sync::Unusable(_)
        ));
        assert!(slot.keys.is_none());
        let good = KeyRecord {
            fetched_at_ms: 2,
            // Fetched keys are public keys (a fetched oct key is never used).
            body: br#"{"keys":[{"kty":"EC","kid":"a","crv":"P-256","x":"pO3dwvfxSzbpXsMyZrUN-rATWEyovM5Kgdxn48V95nI","y":"rLDlgYJPQdku3jIyoOYseX1QZU5vH_EU7ANidL_Qk6o"}]}"#
                .to_vec(),
        }
        .encode();
        assert_eq!(
            slot.sync(Some(&good), Some(2), &[Algorithm::ES256]),
            Sync::Installed(vec![])
        );
        assert_eq!(slot.version, 1);
        assert_eq!(
            slot.sync(Some(&good), Some(2), &[Algorithm::ES256]),
            Sync::Unchanged
        );
        assert!(matches!(
            slot.sync(Some(&garbage), Some(3), &[Algorithm::ES256]),
            Sync::Unusable(_)
        ));
        assert!(slot.keys.is_some(), "last good keys stay");
        assert_eq!(slot.version, 1);
    }

    #[test]
    fn waiters_are_released_when_no_fetch_is_coming_or_at_their_deadline() {
        let mut slot = Slot {
            waiters: vec![
                Waiter {
                    context_id: 1,
                    deadline_ms: 100,
                },
                Waiter {
                    context_id: 2,
                    deadline_ms: 200,
                },
            ],
            ..Slot::default()
        };
        let busy = Lease {
            in_flight_until_ms: 1000,
            ..Lease::default()
        };
        assert!(slot.due_waiters(50, &busy).is_empty());
        assert_eq!(slot.due_waiters(150, &busy).len(), 1);
        assert_eq!(slot.due_waiters(160, &Lease::default()).len(), 1);
        assert!(slot.waiters.is_empty());
    }
}
