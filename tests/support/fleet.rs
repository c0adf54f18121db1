//! A fleet's shared parts for the tests (docs/fleet.md): a real Redis (Debian's `redis-server`),
//! the test rate limit service (`tests/servers/ratelimit`, built by `make fleet-tools`) in front
//! of it, and a real Prometheus (Debian's `prometheus`). Each listens on 127.0.0.1 on a free
//! port and is killed by PID on drop. A missing binary fails the test loudly; nothing is skipped.
//!
//! [`fleet_options`] renders `envoy/envoy-fleet.yaml` with the rate limit cluster pointed at a
//! running [`RateLimitServer`].

use std::fs::{self, File};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::{
    free_ports, http_request, loopback, repo_root, spawn_on_free_port, stop, wait_until_listening,
    Options, TempDir,
};

/// The Envoy configuration of a fleet member (the file users copy).
pub const FLEET_TEMPLATE: &str = "envoy/envoy-fleet.yaml";
/// The rate limit cluster's address in envoy/envoy-fleet.yaml, replaced by the test service's.
pub const RATELIMIT_ADDRESS: &str = "socket_address: { address: 127.0.0.1, port_value: 8081 }";
/// The shipped limits (envoyproxy/ratelimit's format), which the test service reads.
pub const LIMITS_FILE: &str = "envoy/ratelimit-limits.yaml";
/// The test rate limit service, as `make fleet-tools` builds it.
pub const RATELIMIT_BIN: &str = "tests/servers/ratelimit/target/release/edge-auth-ratelimit";
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Options rendering envoy/envoy-fleet.yaml with its rate limit cluster at 127.0.0.1:`port`.
pub fn fleet_options(ratelimit_port: u16) -> Options {
    Options::default().template(FLEET_TEMPLATE).replace(
        RATELIMIT_ADDRESS,
        &format!("socket_address: {{ address: 127.0.0.1, port_value: {ratelimit_port} }}"),
    )
}

fn which(program: &str, how: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "\n\n*** {program} is not installed. {how}\n*** These tests run the real \
             component and are never skipped.\n"
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Redis

/// `redis-server` on 127.0.0.1, without persistence; [`Redis::stop`] and [`Redis::restart`]
/// take it down and bring it back (empty) on the same port.
pub struct Redis {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl Redis {
    pub fn start() -> Redis {
        let (child, port, dir) = spawn_on_free_port("Address already in use", spawn_redis);
        Redis {
            child: Some(child),
            port,
            dir,
        }
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills Redis (connections are refused until [`Redis::restart`]); its counters are gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop(&mut child);
        }
    }

    /// Starts Redis again, empty, on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match spawn_redis(&self.dir, self.port) {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(_) if Instant::now() < deadline => sleep(Duration::from_millis(100)),
                Err(why) => panic!("{why}"),
            }
        }
    }

    /// `redis-cli`-free: one command in Redis's inline protocol, the first reply line.
    pub fn command(&self, line: &str) -> String {
        use std::io::{BufRead, BufReader, Write};
        let mut stream = TcpStream::connect(loopback(self.port)).expect("connect to redis");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        let mut reply = String::new();
        BufReader::new(stream).read_line(&mut reply).unwrap();
        reply.trim_end().to_string()
    }
}

fn spawn_redis(dir: &TempDir, port: u16) -> Result<Child, String> {
    let bin = which(
        "redis-server",
        "`make fleet-tools` (part of `make test`) installs it: apt-get install redis-server",
    );
    let log = dir.path().join("redis.log");
    let mut child = Command::new(bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(File::create(&log).expect("create redis.log"))
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run redis-server: {e}"));
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if TcpStream::connect(loopback(port)).is_ok() {
            return Ok(child);
        }
        if child.try_wait().expect("try_wait").is_some() || Instant::now() > deadline {
            stop(&mut child);
            return Err(format!(
                "redis-server did not start on port {port}:\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            ));
        }
        sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// The rate limit service

/// The test rate limit service (tests/servers/ratelimit) in front of a Redis.
pub struct RateLimitServer {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
    args: Vec<String>,
}

impl RateLimitServer {
    /// Starts the service with the shipped limits file and fixed windows.
    pub fn start(redis: &Redis) -> RateLimitServer {
        RateLimitServer::start_with(redis, &repo_root().join(LIMITS_FILE), &[])
    }

    /// Starts the service with this limits file and extra arguments (e.g. `--window first-hit`).
    pub fn start_with(redis: &Redis, limits: &Path, extra: &[&str]) -> RateLimitServer {
        let mut args = vec![
            "--redis".to_string(),
            redis.url(),
            "--limits".to_string(),
            limits.to_string_lossy().into_owned(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let spawn = |dir: &TempDir, port: u16| spawn_ratelimit(dir, port, &args);
        let (child, port, dir) = spawn_on_free_port("cannot listen", spawn);
        RateLimitServer {
            child: Some(child),
            port,
            dir,
            args,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the service (connections are refused until [`RateLimitServer::restart`]).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop(&mut child);
        }
    }

    /// Starts the service again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match spawn_ratelimit(&self.dir, self.port, &self.args) {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(_) if Instant::now() < deadline => sleep(Duration::from_millis(100)),
                Err(why) => panic!("{why}"),
            }
        }
    }

    /// What the service printed so far.
    pub fn output(&self) -> String {
        format!(
            "{}{}",
            fs::read_to_string(self.dir.path().join("ratelimit.stdout")).unwrap_or_default(),
            fs::read_to_string(self.dir.path().join("ratelimit.stderr")).unwrap_or_default()
        )
    }
}

impl Drop for RateLimitServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The built service, or a loud panic naming the make target that builds it.
pub fn ratelimit_bin() -> PathBuf {
    let path = repo_root().join(RATELIMIT_BIN);
    assert!(
        path.is_file(),
        "\n\n*** {} is missing. `make fleet-tools` (part of `make test`) builds it: cargo build \
         --release --manifest-path tests/servers/ratelimit/Cargo.toml\n",
        path.display()
    );
    path
}

fn spawn_ratelimit(dir: &TempDir, port: u16, args: &[String]) -> Result<Child, String> {
    let stdout = dir.path().join("ratelimit.stdout");
    let stderr = dir.path().join("ratelimit.stderr");
    let child = Command::new(ratelimit_bin())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).expect("create ratelimit.stdout"))
        .stderr(File::create(&stderr).expect("create ratelimit.stderr"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", RATELIMIT_BIN));
    wait_until_listening(
        child,
        port,
        &format!("listening on 127.0.0.1:{port}"),
        [&stdout, &stderr],
        START_TIMEOUT,
        &format!("the rate limit service ({RATELIMIT_BIN} --listen 127.0.0.1:{port})"),
    )
}

// ---------------------------------------------------------------------------------------------
// Prometheus

/// A real Prometheus scraping Envoy admin ports every second, storing in a temp dir.
pub struct Prometheus {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Prometheus {
    /// Scrapes `/stats/prometheus` of each admin port (job `edge-auth`).
    pub fn start(admin_ports: &[u16]) -> Prometheus {
        let bin = which(
            "prometheus",
            "`make fleet-tools` (part of `make test`) installs it: apt-get install prometheus",
        );
        for attempt in 1..=3 {
            let dir = TempDir::create();
            let [port, _, _] = free_ports();
            let targets: Vec<String> = admin_ports
                .iter()
                .map(|p| format!("\"127.0.0.1:{p}\""))
                .collect();
            let config = format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n- job_name: edge-auth\n  metrics_path: /stats/prometheus\n  \
                 static_configs:\n  - targets: [{}]\n",
                targets.join(", ")
            );
            let config_path = dir.path().join("prometheus.yml");
            fs::write(&config_path, config).unwrap();
            let log = dir.path().join("prometheus.log");
            let mut child = Command::new(&bin)
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(File::create(&log).unwrap())
                .stderr(File::create(dir.path().join("prometheus.stderr")).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run prometheus: {e}"));
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                if TcpStream::connect(loopback(port)).is_ok()
                    && http_request(loopback(port), "GET", "/-/ready", &[]).status == 200
                {
                    return Prometheus {
                        child,
                        port,
                        _dir: dir,
                    };
                }
                let exited = child.try_wait().expect("try_wait").is_some();
                if exited || Instant::now() > deadline {
                    stop(&mut child);
                    let output = fs::read_to_string(dir.path().join("prometheus.stderr"))
                        .unwrap_or_default();
                    if attempt < 3 && output.contains("address already in use") {
                        break;
                    }
                    panic!("prometheus did not start on port {port}:\n{output}");
                }
                sleep(Duration::from_millis(50));
            }
        }
        panic!("prometheus did not start in 3 attempts")
    }

    /// The value of an instant query whose result is one sample, if it has one.
    pub fn query_scalar(&self, promql: &str) -> Option<f64> {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let response = http_request(
            loopback(self.port),
            "GET",
            &format!("/api/v1/query?query={encoded}"),
            &[],
        );
        assert_eq!(response.status, 200, "query {promql}: {}", response.body);
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(body["status"], "success", "query {promql}: {body}");
        let result = body["data"]["result"].as_array()?;
        let sample = result.first()?;
        sample["value"][1].as_str()?.parse().ok()
    }

    /// Polls `promql` until it equals `expected`, up to `limit`; the last value seen.
    pub fn wait_for(&self, promql: &str, expected: f64, limit: Duration) -> Option<f64> {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.query_scalar(promql);
            if value == Some(expected) || Instant::now() > deadline {
                return value;
            }
            sleep(Duration::from_millis(200));
        }
    }

    /// The scrape targets' health, as the API reports it (`up`/`down` per target).
    pub fn targets(&self) -> String {
        http_request(loopback(self.port), "GET", "/api/v1/targets", &[]).body
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}
