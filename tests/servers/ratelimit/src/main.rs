//! edge-auth-ratelimit: a rate limit service for the fleet tests (docs/fleet.md).
//!
//! Serves Envoy's `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit` over gRPC with
//! counters in Redis, the way envoyproxy/ratelimit counts: per descriptor, a key made of the
//! domain, the descriptor's entries and (for fixed windows) the window's start; `INCRBY` by the
//! hits and `EXPIRE` for the window's length; `OVER_LIMIT` once the count exceeds the limit.
//! Limits come from a file in envoyproxy/ratelimit's format (YAML or JSON).
//!
//! ```text
//! edge-auth-ratelimit --limits FILE [--listen 127.0.0.1:8081] [--redis redis://127.0.0.1:6379]
//!                     [--window fixed|first-hit] [--redis-timeout-ms 100]
//! ```
//!
//! Prints `listening on ADDRESS` once it accepts connections. When Redis cannot be reached (or
//! answers an error, or not within the timeout), the RPC fails with `UNAVAILABLE` and the
//! connection is dropped; the next RPC connects again, so the service recovers by itself when
//! Redis is back. For tests only: production runs envoyproxy/ratelimit or Limitador.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::{
    rate_limit::Unit as PbUnit, Code, DescriptorStatus, RateLimit,
};
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::{
    RateLimitService, RateLimitServiceServer,
};
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use serde::Deserialize;
use tokio::sync::Mutex;
use tonic::{Request, Response, Status};

// ---------------------------------------------------------------------------------------------
// Limits file (envoyproxy/ratelimit's format)

/// One domain's limits: `domain` and a tree of `descriptors`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    domain: String,
    #[serde(default)]
    descriptors: Vec<DescriptorConfig>,
}

/// A node of the tree: matches an entry with this key (and this value, when given).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DescriptorConfig {
    key: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    rate_limit: Option<RateLimitConfig>,
    #[serde(default)]
    descriptors: Vec<DescriptorConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitConfig {
    unit: Unit,
    requests_per_unit: u32,
    /// A name for the limit (envoyproxy/ratelimit reports it in `current_limit`).
    #[serde(default)]
    name: Option<String>,
    /// Never over limit (envoyproxy/ratelimit's `unlimited`).
    #[serde(default)]
    unlimited: bool,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Unit {
    Second,
    Minute,
    Hour,
    Day,
}

impl Unit {
    fn seconds(self) -> u64 {
        match self {
            Unit::Second => 1,
            Unit::Minute => 60,
            Unit::Hour => 3600,
            Unit::Day => 86400,
        }
    }

    fn proto(self) -> PbUnit {
        match self {
            Unit::Second => PbUnit::Second,
            Unit::Minute => PbUnit::Minute,
            Unit::Hour => PbUnit::Hour,
            Unit::Day => PbUnit::Day,
        }
    }
}

impl LimitsFile {
    fn parse(path: &str) -> Result<LimitsFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let parsed: LimitsFile = if path.ends_with(".json") {
            serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?
        } else {
            serde_yaml::from_str(&text).map_err(|e| format!("{path}: {e}"))?
        };
        if parsed.domain.is_empty() {
            return Err(format!("{path}: domain must not be empty"));
        }
        Ok(parsed)
    }

    /// The limit for these entries, as envoyproxy/ratelimit finds it: walk the tree entry by
    /// entry, preferring a node with the entry's key and value over one with the key alone; the
    /// limit is the one on the node reached by the last entry.
    fn find(&self, descriptor: &RateLimitDescriptor) -> Option<&RateLimitConfig> {
        let mut level = &self.descriptors;
        let mut found = None;
        for entry in &descriptor.entries {
            let node = level
                .iter()
                .find(|d| d.key == entry.key && d.value.as_deref() == Some(entry.value.as_str()))
                .or_else(|| {
                    level
                        .iter()
                        .find(|d| d.key == entry.key && d.value.is_none())
                })?;
            found = node.rate_limit.as_ref();
            level = &node.descriptors;
        }
        found
    }
}

// ---------------------------------------------------------------------------------------------
// Counting

/// Where a window starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Window {
    /// Aligned to the clock (envoyproxy/ratelimit): the key carries the window's start, so a
    /// client can spend its limit just before a boundary and again just after it.
    Fixed,
    /// From the counter's first hit: the key has no time in it and gets its expiry when the
    /// count is first set, so a limit of 1 holds for a whole window after the first hit (what a
    /// DPoP replay check needs).
    FirstHit,
}

/// INCRBY, and EXPIRE when this hit created the counter, in one atomic step.
const FIRST_HIT_SCRIPT: &str = "local c = redis.call('incrby', KEYS[1], ARGV[1])\n\
     if c == tonumber(ARGV[1]) then redis.call('expire', KEYS[1], ARGV[2]) end\n\
     return {c, redis.call('ttl', KEYS[1])}";

struct Service {
    limits: LimitsFile,
    window: Window,
    client: redis::Client,
    timeout: Duration,
    /// The shared connection; `None` until connected and after a failure.
    connection: Mutex<Option<redis::aio::MultiplexedConnection>>,
    first_hit: redis::Script,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("{what}: {e}"))
}

impl Service {
    async fn connection(&self) -> Result<redis::aio::MultiplexedConnection, Status> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout);
        let connection = tokio::time::timeout(
            self.timeout,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|e| unavailable("redis connect", e))?
        .map_err(|e| unavailable("redis connect", e))?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    async fn forget_connection(&self) {
        *self.connection.lock().await = None;
    }

    /// Adds `hits` to the counter `key` for a window of `seconds`; the count and the seconds
    /// until it resets.
    async fn count(
        &self,
        key: &str,
        hits: u64,
        seconds: u64,
        now: u64,
    ) -> Result<(u64, u64), Status> {
        let mut connection = self.connection().await?;
        let answer = match self.window {
            Window::Fixed => {
                let work = async {
                    let (count, _): (u64, i64) = redis::pipe()
                        .atomic()
                        .incr(key, hits)
                        .expire(key, seconds as i64)
                        .query_async(&mut connection)
                        .await?;
                    Ok::<_, redis::RedisError>((count, seconds - now % seconds))
                };
                tokio::time::timeout(self.timeout, work).await
            }
            Window::FirstHit => {
                let work = async {
                    let (count, ttl): (u64, i64) = self
                        .first_hit
                        .key(key)
                        .arg(hits)
                        .arg(seconds)
                        .invoke_async(&mut connection)
                        .await?;
                    Ok::<_, redis::RedisError>((count, u64::try_from(ttl).unwrap_or(seconds)))
                };
                tokio::time::timeout(self.timeout, work).await
            }
        };
        match answer {
            Ok(Ok(counted)) => Ok(counted),
            Ok(Err(e)) => {
                self.forget_connection().await;
                Err(unavailable("redis", e))
            }
            Err(e) => {
                self.forget_connection().await;
                Err(unavailable("redis", e))
            }
        }
    }

    /// envoyproxy/ratelimit's key: domain, then each entry's key and value, then (fixed
    /// windows) the window's start in seconds since the epoch, joined by `_`.
    fn key(&self, descriptor: &RateLimitDescriptor, unit: Unit, now: u64) -> String {
        let mut key = format!("{}_", self.limits.domain);
        for entry in &descriptor.entries {
            key.push_str(&entry.key);
            key.push('_');
            key.push_str(&entry.value);
            key.push('_');
        }
        match self.window {
            Window::Fixed => {
                let seconds = unit.seconds();
                key.push_str(&(now / seconds * seconds).to_string());
            }
            Window::FirstHit => key.push_str(&format!("window{}", unit.seconds())),
        }
        key
    }
}

/// The service as tonic serves it (one per connection, all sharing one `Service`).
struct Shared(Arc<Service>);

impl std::ops::Deref for Shared {
    type Target = Service;
    fn deref(&self) -> &Service {
        &self.0
    }
}

#[tonic::async_trait]
impl RateLimitService for Shared {
    async fn should_rate_limit(
        &self,
        request: Request<RateLimitRequest>,
    ) -> Result<Response<RateLimitResponse>, Status> {
        let request = request.into_inner();
        if request.domain != self.limits.domain {
            return Err(Status::invalid_argument(format!(
                "unknown domain {:?} (this service has {:?})",
                request.domain, self.limits.domain
            )));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let request_hits = u64::from(request.hits_addend.max(1));
        let mut overall = Code::Ok;
        let mut statuses = Vec::with_capacity(request.descriptors.len());
        for descriptor in &request.descriptors {
            let Some(limit) = self.limits.find(descriptor) else {
                statuses.push(DescriptorStatus {
                    code: Code::Ok as i32,
                    ..Default::default()
                });
                continue;
            };
            let current_limit = Some(RateLimit {
                name: limit.name.clone().unwrap_or_default(),
                requests_per_unit: limit.requests_per_unit,
                unit: limit.unit.proto() as i32,
            });
            if limit.unlimited {
                statuses.push(DescriptorStatus {
                    code: Code::Ok as i32,
                    current_limit,
                    ..Default::default()
                });
                continue;
            }
            let hits = descriptor
                .hits_addend
                .as_ref()
                .map_or(request_hits, |h| h.value);
            let key = self.key(descriptor, limit.unit, now);
            let (count, reset) = self.count(&key, hits, limit.unit.seconds(), now).await?;
            let allowed = u64::from(limit.requests_per_unit);
            let code = if count > allowed {
                overall = Code::OverLimit;
                Code::OverLimit
            } else {
                Code::Ok
            };
            statuses.push(DescriptorStatus {
                code: code as i32,
                current_limit,
                limit_remaining: u32::try_from(allowed.saturating_sub(count)).unwrap_or(u32::MAX),
                duration_until_reset: Some(envoy_types::pb::google::protobuf::Duration {
                    seconds: i64::try_from(reset).unwrap_or(i64::MAX),
                    nanos: 0,
                }),
                ..Default::default()
            });
        }
        Ok(Response::new(RateLimitResponse {
            overall_code: overall as i32,
            statuses,
            ..Default::default()
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// Command line

struct Arguments {
    listen: SocketAddr,
    redis: String,
    limits: String,
    window: Window,
    timeout: Duration,
}

const USAGE: &str = "usage: edge-auth-ratelimit --limits FILE [--listen 127.0.0.1:8081] \
                     [--redis redis://127.0.0.1:6379] [--window fixed|first-hit] \
                     [--redis-timeout-ms 100]";

fn arguments() -> Result<Arguments, String> {
    let mut values: HashMap<String, String> = HashMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(name) = args.next() {
        let known = [
            "--listen",
            "--redis",
            "--limits",
            "--window",
            "--redis-timeout-ms",
        ];
        if !known.contains(&name.as_str()) {
            return Err(format!("unknown argument {name:?}\n{USAGE}"));
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))?;
        values.insert(name, value);
    }
    let get = |name: &str, default: &str| {
        values
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    let listen = get("--listen", "127.0.0.1:8081");
    let timeout_ms: u64 = get("--redis-timeout-ms", "100")
        .parse()
        .map_err(|e| format!("--redis-timeout-ms: {e}"))?;
    Ok(Arguments {
        listen: listen
            .parse()
            .map_err(|e| format!("--listen {listen:?}: {e}"))?,
        redis: get("--redis", "redis://127.0.0.1:6379"),
        limits: values
            .get("--limits")
            .cloned()
            .ok_or_else(|| format!("--limits is required\n{USAGE}"))?,
        window: match get("--window", "fixed").as_str() {
            "fixed" => Window::Fixed,
            "first-hit" => Window::FirstHit,
            other => return Err(format!("--window {other:?}: fixed or first-hit")),
        },
        timeout: Duration::from_millis(timeout_ms.max(1)),
    })
}

async fn run() -> Result<(), String> {
    let arguments = arguments()?;
    let limits = LimitsFile::parse(&arguments.limits)?;
    let client = redis::Client::open(arguments.redis.as_str())
        .map_err(|e| format!("--redis {:?}: {e}", arguments.redis))?;
    let service = Arc::new(Service {
        limits,
        window: arguments.window,
        client,
        timeout: arguments.timeout,
        connection: Mutex::new(None),
        first_hit: redis::Script::new(FIRST_HIT_SCRIPT),
    });
    let listener = tokio::net::TcpListener::bind(arguments.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", arguments.listen))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("local address: {e}"))?;
    println!(
        "listening on {address} (domain {:?}, {:?} windows, redis {})",
        service.limits.domain, service.window, arguments.redis
    );
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tonic::transport::Server::builder()
        .add_service(RateLimitServiceServer::new(Shared(service)))
        .serve_with_incoming_shutdown(incoming, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| format!("serve: {e}"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("edge-auth-ratelimit: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
