//! A test-served issuer: `tests/servers/fake_issuer.py` on a free loopback port, scripted and
//! queried over its `/_control/` endpoints (see the script's docstring). Dropping it kills the
//! process by PID; [`FakeIssuer::stop`] and [`FakeIssuer::restart`] take it down and bring it back
//! on the same port (for outage tests), with the state it was last given.

use std::fs::File;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{
    loopback, repo_root, send_raw, spawn_on_free_port, stop, wait_until_listening, TempDir,
};

pub struct FakeIssuer {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
    /// Control calls replayed after a restart (the script keeps its state in memory).
    script: Vec<(String, String)>,
}

impl FakeIssuer {
    /// Starts the issuer on a free loopback port and waits until it answers.
    pub fn start() -> FakeIssuer {
        let (child, port, dir) = spawn_on_free_port("Address already in use", spawn);
        FakeIssuer {
            child: Some(child),
            port,
            dir,
            script: Vec::new(),
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

    /// Serves this JWK Set from now on.
    pub fn set_jwks(&mut self, jwks: &Value) {
        self.control("/_control/jwks", &jwks.to_string());
    }

    /// Serves this discovery document from now on.
    pub fn set_discovery(&mut self, document: &Value) {
        self.control("/_control/discovery", &document.to_string());
    }

    /// Serves this revocation list at `/revoked.json` from now on.
    pub fn set_revocation(&mut self, list: &Value) {
        self.control("/_control/revocation", &list.to_string());
    }

    /// Answers introspection of each token (object key) with its value; others are inactive.
    pub fn set_introspection(&mut self, answers: &Value) {
        self.control("/_control/introspection", &answers.to_string());
    }

    /// How requests for `path` are answered: "ok", "status 503", "garbage", "delay 1500", "drop".
    pub fn set_mode(&mut self, path: &str, mode: &str) {
        self.control(&format!("/_control/mode?path={path}"), mode);
    }

    /// How many requests for `path` arrived so far.
    pub fn count(&self, path: &str) -> u64 {
        let response = send_raw(
            self.addr(),
            format!(
                "GET /_control/count?path={path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        response
            .body
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("fake issuer count: {} {}", response.status, response.body))
    }

    /// The last request for `path`: `{"headers": {...}, "body": "..."}` (null if none).
    pub fn last(&self, path: &str) -> Value {
        let response = send_raw(
            self.addr(),
            format!(
                "GET /_control/last?path={path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        serde_json::from_str(&response.body).unwrap()
    }

    /// Kills the issuer (connections are refused until [`FakeIssuer::restart`]).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop(&mut child);
        }
    }

    /// Starts the issuer again on the same port, with the same scripted state (counts restart at 0).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match spawn(&self.dir, self.port) {
                Ok(child) => {
                    self.child = Some(child);
                    break;
                }
                Err(why) if Instant::now() < deadline => {
                    let _ = why;
                    sleep(Duration::from_millis(100));
                }
                Err(why) => panic!("{why}"),
            }
        }
        for (path, body) in self.script.clone() {
            self.send_control(&path, &body);
        }
    }

    /// Sends a control call now, or (while stopped) at the next restart.
    fn control(&mut self, path: &str, body: &str) {
        self.script.push((path.to_string(), body.to_string()));
        if self.child.is_some() {
            self.send_control(path, body);
        }
    }

    fn send_control(&self, path: &str, body: &str) {
        let request = format!(
            "PUT {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let response = send_raw(self.addr(), request.as_bytes());
        assert_eq!(
            response.status, 200,
            "fake issuer {path}: {}",
            response.body
        );
    }
}

impl Drop for FakeIssuer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn(dir: &TempDir, port: u16) -> Result<Child, String> {
    let stdout_path = dir.path().join(format!("issuer-{port}.stdout"));
    let stderr_path = dir.path().join(format!("issuer-{port}.stderr"));
    let child = Command::new("python3")
        .arg(repo_root().join("tests/servers/fake_issuer.py"))
        .args(["--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).expect("create issuer stdout"))
        .stderr(File::create(&stderr_path).expect("create issuer stderr"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 tests/servers/fake_issuer.py: {e}"));
    wait_until_listening(
        child,
        port,
        &format!("fake issuer listening on 127.0.0.1:{port}"),
        [&stdout_path, &stderr_path],
        Duration::from_secs(10),
        &format!("the fake issuer (port {port})"),
    )
}
