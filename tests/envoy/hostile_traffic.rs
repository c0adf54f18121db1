//! Hostile traffic through a real Envoy: a bounded flood of hostile requests (oversized and
//! non-UTF-8 headers, thousands of headers, 16 KiB tokens, every malformed credential shape,
//! forged tokens and wrong secrets from rotating sources), over HTTP/1.1 (keep-alive, several
//! connections at once) and HTTP/2 (curl, multiplexed). Every answer must be a 4xx as
//! documented (the filter's 400/401/403/429, Envoy's own 400/413/431), Envoy's log must show no
//! Wasm panic or VM failure, a valid request must still pass afterwards, and Envoy's memory
//! after the flood must stay within a few MiB of its memory after a warm-up of the same mix.
//!
//! `HOSTILE_REQUESTS` sets the count (default 100,000: about a minute on an idle machine);
//! `make test` runs the default, `make hostile HOSTILE_REQUESTS=...` any other.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{fixtures, support};

use edge_auth::jwt::algorithm::Algorithm;
use fixtures::*;
use serde_json::json;
use support::{Envoy, Options};

/// HTTP/1.1 connections sending at once.
const CONNECTIONS: usize = 4;
/// Most growth of Envoy's resident memory from after the warm-up to after the flood.
const MAX_GROWTH_KIB: u64 = 8 * 1024;

fn requested_count() -> usize {
    std::env::var("HOSTILE_REQUESTS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(100_000)
}

/// Material the hostile requests are cut from (signing is slow: done once).
struct Material {
    forged: Vec<String>,
    valid: String,
}

fn material() -> Material {
    let t = now();
    let valid = issuer().token(Algorithm::ES256, t, json!({}));
    let other = issuer().token(Algorithm::RS256, t, json!({}));
    let forged = (0..16)
        .map(|n| {
            let good = issuer().token(Algorithm::ES256, t, json!({"sub": format!("f{n}")}));
            let (input, _) = good.rsplit_once('.').unwrap();
            let (_, signature) = valid.rsplit_once('.').unwrap();
            match n % 3 {
                0 => format!("{input}.{signature}"),
                1 => format!("{input}.{}", other.rsplit_once('.').unwrap().1),
                _ => format!("{input}.AAAA"),
            }
        })
        .collect();
    Material { forged, valid }
}

/// Shapes Envoy's HTTP/2 codec refuses itself, before any filter runs, by resetting the
/// stream: a header list over its size limit (the 70 KiB value) or count limit (over 100
/// headers), and a value with a NUL byte. (Over HTTP/1.1 Envoy answers them 431 or 400.)
const RESET_BY_HTTP2_CODEC: [usize; 3] = [0, 2, 15];

/// One hostile request of a shape picked by `rng`: the shape, the path, and the header lines
/// (raw bytes: some are not UTF-8).
fn hostile(rng: &mut Rng, m: &Material, n: usize) -> (usize, String, Vec<Vec<u8>>) {
    let source = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
    let mut headers: Vec<Vec<u8>> = vec![format!("x-forwarded-for: {source}").into_bytes()];
    let mut path = "/devices".to_string();
    let mut header = |name: &str, value: &[u8]| {
        let mut line = format!("{name}: ").into_bytes();
        line.extend_from_slice(value);
        headers.push(line);
    };
    let shape = rng.below(16);
    match shape {
        0 => header("x-oversized", &vec![b'a'; 70 * 1024]),
        1 => header(
            "authorization",
            b"Bearer \xff\xfe\x80\x81.\xc3\x28.\xa0\xa1",
        ),
        2 => {
            for i in 0..(100 + rng.below(3000)) {
                header(&format!("x-h{i}"), b"v");
            }
        }
        3 => header(
            "authorization",
            format!("Bearer {}", "a".repeat(16 * 1024 + rng.below(3))).as_bytes(),
        ),
        4 => {
            let shapes: [&[u8]; 10] = [
                b"Bearer",
                b"Bearer ",
                b"bearer a.b.c",
                b"Bearer a.b",
                b"Bearer ....",
                b"Bearer eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.",
                b"Bearer a.b.c, Bearer d.e.f",
                b"Token abc",
                b"Bearer %00%ff",
                b"Bearer \t",
            ];
            header("authorization", shapes[rng.below(shapes.len())]);
        }
        5 => {
            let shapes: [&[u8]; 6] = [
                b"Basic",
                b"Basic ###",
                b"Basic bm9jb2xvbg==",
                b"Basic //79/A==",
                b"Basic Og==",
                b"basic YTpi",
            ];
            header("authorization", shapes[rng.below(shapes.len())]);
        }
        6 => header("clientId", KEY_CLIENT.as_bytes()),
        7 => {
            header("clientId", KEY_CLIENT.as_bytes());
            header("clientSecret", b"guess");
        }
        8 => {
            header("clientSecret", b"only-a-secret");
            header("clientSecret", b"twice");
        }
        9 => path = format!("/devices?token={}&token=x", "%zz".repeat(rng.below(50))),
        10 => path = format!("/devices?token={}", m.forged[rng.below(m.forged.len())]),
        11 => header(
            "authorization",
            format!("Bearer {}", m.forged[rng.below(m.forged.len())]).as_bytes(),
        ),
        12 => {
            header("x-forwarded-for", b", ,,[::1], 999.1.1.1, \xff");
            header(
                "authorization",
                format!("Bearer {}", m.forged[0]).as_bytes(),
            );
        }
        13 => {
            header("origin", b"null");
            header("referer", b"http://\xff/");
            header("clientId", WEB_CLIENT.as_bytes());
            header("clientSecret", b"guess");
        }
        14 => {
            header("authorization", format!("Bearer {}", m.valid).as_bytes());
            header("authorization", b"Basic YTpi");
        }
        _ => header("appId", b"\x00\x01"),
    }
    (shape, path, headers)
}

fn request_bytes(path: &str, headers: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n").into_bytes();
    for line in headers {
        bytes.extend_from_slice(line);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"\r\n");
    bytes
}

/// A keep-alive HTTP/1.1 connection that reconnects when the server closes it.
struct Connection {
    addr: SocketAddr,
    reader: Option<BufReader<TcpStream>>,
}

impl Connection {
    fn send(&mut self, bytes: &[u8]) -> u16 {
        for _ in 0..3 {
            if self.reader.is_none() {
                let stream = TcpStream::connect(self.addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                self.reader = Some(BufReader::new(stream));
            }
            let reader = self.reader.as_mut().unwrap();
            if reader.get_mut().write_all(bytes).is_err() {
                self.reader = None;
                continue;
            }
            match read_response(reader) {
                Some((status, close)) => {
                    if close {
                        self.reader = None;
                    }
                    return status;
                }
                None => self.reader = None,
            }
        }
        panic!("no answer to a hostile request in three attempts")
    }
}

/// Status and whether the server closes the connection; `None` if it closed without one.
fn read_response(reader: &mut BufReader<TcpStream>) -> Option<(u16, bool)> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let status: u16 = line.split(' ').nth(1)?.parse().ok()?;
    let (mut length, mut close) = (0usize, false);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "connection" => close = value.trim().eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some((status, close))
}

/// Sends `count` hostile requests over HTTP/1.1 from `CONNECTIONS` threads; the statuses.
fn flood_http1(envoy: &Envoy, m: &Material, count: usize, seed: u64) -> Vec<u16> {
    let addr = envoy.listener_addr();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CONNECTIONS)
            .map(|thread| {
                scope.spawn(move || {
                    let mut rng = Rng(seed + thread as u64 * 7919);
                    let mut connection = Connection { addr, reader: None };
                    (0..count / CONNECTIONS)
                        .map(|i| {
                            let (_, path, headers) = hostile(&mut rng, m, i * CONNECTIONS + thread);
                            connection.send(&request_bytes(&path, &headers))
                        })
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

/// Sends `count` hostile requests over HTTP/2 (prior knowledge); each request's shape and
/// status (0 for a stream that got no answer). Shapes Envoy's HTTP/2 codec refuses end the
/// whole connection (its default for an invalid message), which would take the streams in
/// flight with it: those go on their own, one stream at a time; the rest are multiplexed.
fn flood_http2(envoy: &Envoy, m: &Material, count: usize, seed: u64) -> Vec<(usize, u16)> {
    let mut rng = Rng(seed);
    let requests: Vec<_> = (0..count)
        .map(|i| hostile(&mut rng, m, 1_000_000 + i))
        .collect();
    let (refused, multiplexed): (Vec<_>, Vec<_>) = requests
        .into_iter()
        .partition(|(shape, _, _)| RESET_BY_HTTP2_CODEC.contains(shape));
    let mut answers = curl_http2(envoy, &multiplexed, true, seed);
    answers.extend(curl_http2(envoy, &refused, false, seed + 1));
    answers
}

/// One curl run over `requests`: shape and status per request, in any order.
fn curl_http2(
    envoy: &Envoy,
    requests: &[(usize, String, Vec<Vec<u8>>)],
    parallel: bool,
    seed: u64,
) -> Vec<(usize, u16)> {
    if requests.is_empty() {
        return Vec::new();
    }
    let dir = std::env::temp_dir().join(format!("edge-auth-h2-{}-{seed}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let addr = envoy.listener_addr();
    let mut config = Vec::new();
    for (i, (_, path, headers)) in requests.iter().enumerate() {
        if i > 0 {
            config.extend_from_slice(b"next\n");
        }
        config.extend_from_slice(format!("url = \"http://{addr}{path}\"\n").as_bytes());
        config.extend_from_slice(
            format!("output = \"/dev/null\"\nwrite-out = \"{i} %{{http_code}}\\n\"\n").as_bytes(),
        );
        // Thousands of headers do not fit one curl config; over HTTP/2 the mix keeps 150.
        for line in headers.iter().take(150) {
            let quoted: Vec<u8> = line
                .iter()
                .flat_map(|b| match b {
                    b'"' | b'\\' => vec![b'\\', *b],
                    _ => vec![*b],
                })
                .collect();
            config.extend_from_slice(b"header = \"");
            config.extend_from_slice(&quoted);
            config.extend_from_slice(b"\"\n");
        }
    }
    let config_path = dir.join("curl.conf");
    std::fs::write(&config_path, config).unwrap();
    let mut curl = Command::new("curl");
    curl.args(["--silent", "--http2-prior-knowledge", "--max-time", "300"]);
    if parallel {
        curl.args(["--parallel", "--parallel-max", "50"]);
    }
    let output = curl
        .arg("--config")
        .arg(&config_path)
        .output()
        .unwrap_or_else(|e| {
            panic!("curl (with HTTP/2) is needed, make test-tools installs it: {e}")
        });
    let _ = std::fs::remove_dir_all(&dir);
    // With --parallel, answers come in completion order: each line names its request.
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let (index, status) = line.trim().split_once(' ')?;
            let (shape, _, _) = requests.get(index.parse::<usize>().ok()?)?;
            Some((*shape, status.parse().unwrap_or(0)))
        })
        .collect()
}

fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn assert_documented(statuses: &[u16], what: &str) {
    let mut counts = std::collections::BTreeMap::new();
    for status in statuses {
        *counts.entry(*status).or_insert(0usize) += 1;
    }
    let undocumented: Vec<_> = counts
        .iter()
        .filter(|(status, _)| ![400, 401, 403, 413, 429, 431].contains(*status))
        .collect();
    assert!(
        undocumented.is_empty(),
        "{what}: answers outside 400/401/403/413/429/431: {counts:?}"
    );
    eprintln!("{what}: {} answers {counts:?}", statuses.len());
}

#[test]
fn a_hundred_thousand_hostile_requests_get_documented_answers_and_leak_nothing() {
    let mut config = access_config();
    config["trusted_hops"] = json!(1);
    config["abuse"] = json!({
        "lockout": {"max_failures": 5, "window_seconds": 60},
        "signature_budget": {"rate": 20, "burst": 40}
    });
    let envoy = Envoy::start_with(&config.to_string(), &Options::default().workers(2));
    let m = material();
    let count = requested_count();
    let http2 = (count / 10).min(10_000);
    let http1 = count - http2;
    let started = Instant::now();

    // Warm-up with the same mix: pools, buffers and the VMs' heaps reach their working size.
    let warm = (count / 20).clamp(1000, 5000);
    assert_documented(&flood_http1(&envoy, &m, warm, 1), "warm-up");
    let pid = envoy.pids()[0];
    let before = resident_kib(pid);

    let statuses = flood_http1(&envoy, &m, http1, 2);
    assert_eq!(statuses.len(), http1 / CONNECTIONS * CONNECTIONS);
    assert_documented(&statuses, "HTTP/1.1");
    let answers = flood_http2(&envoy, &m, http2, 3);
    assert_eq!(answers.len(), http2, "one line per HTTP/2 request");
    let (reset, answered): (Vec<_>, Vec<_>) = answers
        .into_iter()
        .partition(|(shape, status)| *status == 0 && RESET_BY_HTTP2_CODEC.contains(shape));
    eprintln!("HTTP/2: {} streams reset by Envoy's codec", reset.len());
    let statuses: Vec<u16> = answered.iter().map(|(_, status)| *status).collect();
    assert_documented(&statuses, "HTTP/2");

    std::thread::sleep(Duration::from_secs(1));
    let after = resident_kib(pid);
    eprintln!(
        "{count} hostile requests in {:.1?}; Envoy RSS {before} KiB -> {after} KiB",
        started.elapsed()
    );
    assert!(
        after <= before + MAX_GROWTH_KIB,
        "Envoy grew from {before} KiB to {after} KiB"
    );

    let bearer = format!("Bearer {}", m.valid);
    let fine = envoy.get(
        "/devices",
        &[
            ("authorization", &bearer),
            ("x-forwarded-for", "192.0.2.77"),
        ],
    );
    assert_eq!(fine.status, 200, "the filter still serves: {}", fine.body);
    let log = envoy.log();
    for sign in [
        "panicked",
        "Function: proxy_on",
        "RuntimeError",
        "wasm trap",
        "failed to load",
        "VM restart",
    ] {
        assert!(!log.contains(sign), "Envoy's log shows {sign:?}");
    }
}
