//! The real server for the HTTP and WebSocket sections: `graphql::app` over the dataset's ledger on
//! 127.0.0.1:0 with the projection follower, in its own Tokio runtime; and a minimal blocking
//! HTTP/1.1 client (keep-alive, `Content-Length` bodies only) so the client adds next to nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use graphql::{App, AppConfig, ServerConfig, TokenStore};
use ledger::{Ledger, LedgerConfig};

use crate::dataset::Dataset;

/// A running server.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) addr: SocketAddr,
    pub(crate) ledger: Ledger,
    pub(crate) app: Arc<App>,
}

impl Server {
    /// Opens the dataset's ledger, folds it and serves it.
    pub(crate) fn start(data: &Dataset) -> anyhow::Result<Self> {
        Self::start_in(&data.data_dir)
    }

    /// Opens (or creates) the ledger of the data directory `data_dir`, folds it and serves it.
    pub(crate) fn start_in(data_dir: &Path) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let ledger = Ledger::open(data_dir.join("ledger"), LedgerConfig::default())?;
        let tokens = Arc::new(TokenStore::open(data_dir)?);
        let app = App::new(ledger.clone(), tokens, AppConfig::default())
            .map_err(|e| anyhow::anyhow!("cannot fold the ledger: {}", e.message))?;
        let (server_app, follower_state) = (app.clone(), app.clone());
        let addr = runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let _follower = follower_state.spawn_follower();
            // The server loop `samverkan serve` runs (its sockets' options, its connection cap).
            tokio::spawn(async move {
                let _ = graphql::serve(listener, server_app, ServerConfig::default(), std::future::pending()).await;
            });
            Ok::<_, anyhow::Error>(addr)
        })?;
        Ok(Self { runtime, addr, ledger, app })
    }
}

/// One keep-alive HTTP/1.1 connection.
#[derive(Debug)]
pub(crate) struct Http {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
    /// Sent as `Authorization: Bearer …` with every request when set.
    token: Option<String>,
    /// Whether it asks for gzip (`Accept-Encoding: gzip`, as browsers do) and decodes it.
    gzip: bool,
}

impl Http {
    pub(crate) fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Self { addr, reader: BufReader::new(stream), token: None, gzip: false })
    }

    /// Sends `token` with every request from now on.
    pub(crate) fn with_token(mut self, token: String) -> Self {
        self.token = Some(token);
        self
    }

    /// Asks for gzip from now on and decodes it (the decoding is part of each request's time, as
    /// it is a browser's).
    pub(crate) fn with_gzip(mut self) -> Self {
        self.gzip = true;
        self
    }

    /// Sends a request and returns status and body.
    pub(crate) fn request(&mut self, method: &str, path: &str, body: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        let authorization = self.token.as_ref().map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
        let encoding = if self.gzip { "accept-encoding: gzip\r\n" } else { "" };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\n{authorization}{encoding}content-type: application/json\r\ncontent-length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.as_bytes())?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("bad status line {line:?}"))?;
        let (mut length, mut chunked, mut gzipped) = (None, false, false);
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse::<usize>().ok();
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                } else if name.eq_ignore_ascii_case("content-encoding") {
                    anyhow::ensure!(
                        value.eq_ignore_ascii_case("gzip") && self.gzip,
                        "unasked content-encoding {value}"
                    );
                    gzipped = true;
                }
            }
        }
        let body = if chunked {
            self.read_chunks()?
        } else {
            let length = length.ok_or_else(|| anyhow::anyhow!("response without content-length"))?;
            let mut body = vec![0; length];
            self.reader.read_exact(&mut body)?;
            body
        };
        if gzipped {
            let mut plain = Vec::with_capacity(body.len() * 8);
            flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain)?;
            return Ok((status, plain));
        }
        Ok((status, body))
    }

    /// A chunked body (RFC 9112, section 7.1), without trailers.
    fn read_chunks(&mut self) -> anyhow::Result<Vec<u8>> {
        let mut body = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let size = line.trim_end().split(';').next().unwrap_or("");
            let size =
                usize::from_str_radix(size.trim(), 16).map_err(|_| anyhow::anyhow!("bad chunk size {line:?}"))?;
            let start = body.len();
            body.resize(start + size, 0);
            self.reader.read_exact(&mut body[start..])?;
            line.clear();
            self.reader.read_line(&mut line)?;
            if size == 0 {
                return Ok(body);
            }
        }
    }

    /// POSTs a GraphQL query and returns the body, failing on a non-200 answer or GraphQL errors.
    pub(crate) fn graphql(&mut self, query: &str) -> anyhow::Result<Vec<u8>> {
        let body = serde_json::json!({ "query": query }).to_string();
        let (status, bytes) = self.request("POST", "/graphql", &body)?;
        anyhow::ensure!(status == 200, "status {status}: {}", String::from_utf8_lossy(&bytes));
        anyhow::ensure!(!bytes.starts_with(b"{\"errors\""), "{}", String::from_utf8_lossy(&bytes));
        Ok(bytes)
    }
}
