//! The real program as a child process, for the crash and load tests: `samverkan serve` started on
//! 127.0.0.1:0 with its address read from its log line, a write token made by `samverkan token
//! create`, and GraphQL POSTs over a plain socket (one connection per request, so a killed server
//! shows up as a failed request, not as a hang).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// The `samverkan` program (the same code as the product binary, built in this crate).
pub(crate) const SAMVERKAN: &str = env!("CARGO_BIN_EXE_samverkan-child");

/// Creates a token with `role` in the data directory and returns it.
pub(crate) fn create_token(data: &Path, role: &str, name: &str) -> String {
    // `token create` refuses a directory that is not a data directory (issue 17: a typo in --data
    // must not become a new ledger); a new one is made the way `serve` makes it.
    if !data.exists() {
        drop(graphql::DataDir::open(data, ledger::LedgerConfig::default()).expect("a new data directory"));
    }
    let output = Command::new(SAMVERKAN)
        .args(["token", "create", "--role", role, "--name", name, "--data", path_arg(data)])
        .output()
        .expect("token create runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8").trim().to_owned()
}

pub(crate) fn path_arg(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A running `samverkan serve`; killed when dropped, so a failing test leaves no server behind.
pub(crate) struct Server {
    child: Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
}

impl Server {
    /// The process id (for `/proc`).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM: the graceful shutdown.
    pub(crate) fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill runs");
        assert!(status.success(), "kill -TERM {}", self.child.id());
    }

    /// Waits (bounded) for the process to exit; its status, or `None` if it is still running at
    /// the bound.
    pub(crate) fn wait_exit(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + bound;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGKILL, and reap the process.
    pub(crate) fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Already killed and reaped in the normal course of a test; then both fail harmlessly.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `samverkan serve` on 127.0.0.1:0 and waits (bounded) for the line giving its address.
pub(crate) fn start_server(data: &Path) -> Server {
    start_server_with(data, &[])
}

/// [`start_server`] with more arguments for `serve`.
pub(crate) fn start_server_with(data: &Path, extra: &[&str]) -> Server {
    start_server_reporting(data, extra).0
}

/// [`start_server_with`], and the lines starting `samverkan:` the server wrote on standard error
/// besides its address (the one after it tells an operator how it built its projections).
pub(crate) fn start_server_reporting(data: &Path, extra: &[&str]) -> (Server, Vec<String>) {
    let mut child = Command::new(SAMVERKAN)
        .args(["serve", "--data", path_arg(data), "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    // The thread keeps draining stderr after the address, so the server never blocks on it.
    let (said, heard) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("serving http://").nth(1) {
                let _ = tx.send(rest.split('/').next().unwrap_or_default().to_owned());
            } else if line.contains("panicked") {
                let _ = tx.send(format!("PANIC {line}"));
            } else if line.starts_with("samverkan:") {
                let _ = said.send(line);
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).expect("the server reports its address within 60 s");
    assert!(!addr.starts_with("PANIC"), "{addr}");
    // The line on how it started follows the address line.
    let lines = heard.recv_timeout(Duration::from_secs(10)).into_iter().chain(heard.try_iter()).collect();
    (Server { child, addr: addr.parse().expect("a socket address") }, lines)
}

/// One HTTP/1.1 POST of a GraphQL request on a fresh connection. `None` when the connection fails or
/// is cut – which is what a killed server does to the requests in flight.
pub(crate) fn post(addr: SocketAddr, token: &str, body: &Value) -> Option<Value> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let body = body.to_string();
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8(response).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body)? } else { body.to_owned() };
    serde_json::from_str(&body).ok()
}

/// One HTTP/1.1 request (`raw`, sent as it is) on a fresh connection, read to the end: the status
/// and the body. `None` when the connection fails, is cut, or nothing comes within `bound`.
pub(crate) fn exchange(addr: SocketAddr, raw: &str, bound: Duration) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream.set_read_timeout(Some(bound)).ok()?;
    stream.write_all(raw.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8(response).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body)? } else { body.to_owned() };
    Some((status, body))
}

/// A GraphQL POST as [`exchange`] sends it, with no token.
pub(crate) fn graphql_request(addr: SocketAddr, query: &str) -> String {
    let body = serde_json::json!({ "query": query }).to_string();
    format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Decodes a chunked HTTP body; `None` if it was cut short.
fn dechunk(mut rest: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(after.get(..size)?);
        rest = after.get(size + 2..)?;
    }
}
