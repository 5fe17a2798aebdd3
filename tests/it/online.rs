//! Operating online (issue 17): the README's story on a fresh data directory with the real server
//! running – create a token, record an event, list and revoke the token, export, verify, import,
//! `at` – every command going through the running server because it holds the directory, and the
//! same commands' refusals (an unknown party, a bad line, a token of the wrong role, an unreachable
//! server). A revoked token also ends a subscription that is open on it.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use graphql::{AppConfig, Role, ServerConfig};
use serde_json::{Value, json};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header::SEC_WEBSOCKET_PROTOCOL};

use crate::process::{SAMVERKAN, path_arg, post, start_server};
use crate::support::TestServer;

/// Runs the real program with `args` and returns what it did.
fn samverkan(args: &[&str]) -> Output {
    Command::new(SAMVERKAN).args(args).env("RUST_LOG", "error").output().expect("the program runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs the program and expects success; returns standard output.
fn ok(args: &[&str]) -> String {
    let output = samverkan(args);
    assert!(output.status.success(), "{args:?} failed: {}", stderr(&output));
    stdout(&output)
}

/// Runs the program and expects a failure with one line on standard error; returns that line.
fn refused(args: &[&str]) -> String {
    let output = samverkan(args);
    assert!(!output.status.success(), "{args:?} should have failed: {}", stdout(&output));
    let message = stderr(&output);
    assert_eq!(message.trim_end().lines().count(), 1, "one line: {message}");
    message
}

/// The ledger's head position, asked of the server.
fn head(addr: std::net::SocketAddr) -> u64 {
    let answer = post(addr, "", &json!({"query": "{ ledger { position } }"})).expect("the server answers");
    answer["data"]["ledger"]["position"].as_u64().expect("a position")
}

#[test]
fn the_readme_story_works_while_the_server_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let d = path_arg(&data);
    let mut server = start_server(&data);
    let addr = server.addr;
    let seeded = head(addr);
    assert!(seeded > 0, "serve seeded the fixtures");

    // Create a token: through the server, which holds the directory.
    let token = ok(&["token", "create", "--role", "SECRETARIAT", "--name", "registrator", "--data", d]);
    let token = token.trim();
    assert!(token.starts_with("svk_"), "{token}");
    let message = refused(&["token", "create", "--role", "PARTY", "--party", "nosuch", "--name", "p", "--data", d]);
    assert!(message.contains("no party \"nosuch\""), "{message}");
    let message = refused(&["token", "create", "--role", "READER", "--name", "registrator", "--data", d]);
    assert!(message.contains("exists already"), "{message}");
    let message =
        refused(&["token", "create", "--role", "READER", "--name", "old", "--expires", "2020-01-01", "--data", d]);
    assert!(message.contains("in the past"), "{message}");
    let reader =
        ok(&["token", "create", "--role", "READER", "--name", "portal", "--expires", "2999-12-31", "--data", d]);

    // Record an event with it.
    let register = json!({"query": "mutation { registerParty(input: {party: \"testby\", name: \"Testby kommun\", \
        kind: MUNICIPALITY, effective: \"2026-01-01\"}) { position } }"});
    let recorded = post(addr, token, &register).expect("the server answers");
    assert_eq!(recorded["data"]["registerParty"]["position"].as_u64(), Some(seeded + 1), "{recorded}");

    // List the tokens: names and roles, never secrets.
    let listed = ok(&["token", "list", "--data", d]);
    assert!(listed.contains("registrator") && listed.contains("SECRETARIAT"), "{listed}");
    assert!(listed.contains("portal") && listed.contains("2999-12-31"), "{listed}");
    assert!(!listed.contains(token) && !listed.contains(reader.trim()), "no secret is listed: {listed}");

    // Export (the online backup) with its checkpoint, and audit it against the log's key.
    let export = dir.path().join("export.jsonl");
    let checkpoint = dir.path().join("export.checkpoint");
    let exported = ok(&["export", "--data", d, "--checkpoint", path_arg(&checkpoint)]);
    std::fs::write(&export, &exported).expect("write the export");
    assert_eq!(exported.lines().count() as u64, seeded + 1, "every event, once");
    assert!(exported.lines().last().is_some_and(|l| l.contains("\"testby\"")), "the recorded event is in it");
    let vkey = ok(&["key", "show", "--data", d]);
    ok(&["audit", "--log", path_arg(&export), "--checkpoint", path_arg(&checkpoint), "--key", vkey.trim()]);

    // Verify, while it serves.
    let verified = ok(&["verify", "--data", d]);
    assert!(verified.starts_with(&format!("ok: {} events", seeded + 1)), "{verified}");

    // Import a file: all or nothing, and the server answers from it at once.
    let file = dir.path().join("more.jsonl");
    let line = r#"{"type":"PartyRegistered","effective":"2026-01-02","data":{"party":"importby","name":"Importby kommun","kind":"MUNICIPALITY"}}"#;
    std::fs::write(&file, format!("{line}\n")).expect("write");
    ok(&["import", path_arg(&file), "--data", d]);
    assert_eq!(head(addr), seeded + 2);
    let party = post(addr, "", &json!({"query": "{ party(id: \"importby\") { name } }"})).expect("answer");
    assert_eq!(party["data"]["party"]["name"], json!("Importby kommun"), "{party}");
    let bad = dir.path().join("bad.jsonl");
    let bad_line = r#"{"type":"PartyAdopted","effective":"2026-01-03","data":{"agreement":"nope","version":1,"party":"nacka","decision":"x"}}"#;
    std::fs::write(&bad, format!("{line}\n{bad_line}\n").replace("importby", "other")).expect("write");
    let message = refused(&["import", path_arg(&bad), "--data", d]);
    assert!(message.contains("line 2") && message.contains("was not imported"), "{message}");
    assert_eq!(head(addr), seeded + 2, "nothing of the bad file was stored");

    // `at` through the server, kept to compare with `at` on the directory once the server stops.
    let known = "2026-06-01T00:00:00Z";
    let served_table = ok(&["at", "2022-10-01", "--known-at", known, "--data", d]);
    assert!(served_table.contains("hok") && served_table.contains("IN_FORCE"), "{served_table}");

    // Through --url, the token's role decides.
    let url = format!("http://{addr}");
    let message = refused(&["export", "--url", &url, "--token", reader.trim()]);
    assert!(message.contains("this needs an ADMIN, SECRETARIAT or AUDITOR token, not READER"), "{message}");
    let message = refused(&["token", "list", "--url", &url]);
    assert!(message.contains("Bearer"), "{message}");
    let message = refused(&["verify", "--url", "http://127.0.0.1:9", "--token", "x"]);
    assert!(message.contains("cannot reach --url http://127.0.0.1:9"), "{message}");

    // Revoke: the token stops working at once, and stays listed as revoked.
    let revoked = ok(&["token", "revoke", "registrator", "--data", d]);
    assert!(revoked.starts_with("revoked the token \"registrator\""), "{revoked}");
    let after = post(addr, token, &register).expect("the server answers");
    assert_eq!(after["errors"][0]["extensions"]["code"], json!("UNAUTHENTICATED"), "{after}");
    assert!(after["errors"][0]["message"].as_str().is_some_and(|m| m.contains("revoked")), "{after}");
    let again = ok(&["token", "revoke", "registrator", "--data", d]);
    assert!(again.contains("already revoked"), "{again}");
    let message = refused(&["token", "revoke", "nobody", "--data", d]);
    assert!(message.contains("no token is named \"nobody\""), "{message}");

    // With the server gone (killed: its server.json stays behind, stale), the same commands open
    // the directory themselves and say the same.
    server.kill();
    assert_eq!(ok(&["at", "2022-10-01", "--known-at", known, "--data", d]), served_table);
    let listed = ok(&["token", "list", "--data", d]);
    let revoked_row = listed.lines().find(|l| l.starts_with("registrator")).expect("still listed");
    assert!(!revoked_row.trim_end().ends_with('-'), "marked revoked: {revoked_row}");
    assert!(ok(&["verify", "--data", d]).starts_with(&format!("ok: {} events", seeded + 2)));
}

#[test]
fn a_held_directory_whose_server_left_no_token_is_named_not_called_a_non_ledger() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut server = start_server(&data);
    // An older server's file: pid and URL, no token.
    let record = data.join("server.json");
    let running: Value = serde_json::from_slice(&std::fs::read(&record).expect("server.json")).expect("JSON");
    assert!(running["token"].is_string(), "the server leaves its local token: {running}");
    assert_eq!(mode(&record), 0o600, "server.json holds a token: only its owner reads it");
    std::fs::write(&record, json!({"pid": running["pid"], "url": running["url"]}).to_string()).expect("write");
    let message = refused(&["export", "--data", path_arg(&data)]);
    assert!(message.contains("a server is running on the data directory"), "{message}");
    assert!(message.contains(&format!("pid {}", server.pid())) && message.contains("--url"), "{message}");
    assert!(!message.contains("not a Samverkan ledger"), "{message}");
    server.kill();
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn mode(_: &Path) -> u32 {
    0o600
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_ends_the_subscription_open_on_it() {
    let config = ServerConfig::default();
    let app = AppConfig { reads_require_token: true, ..AppConfig::default() };
    let server = tokio::task::spawn_blocking(move || TestServer::with(app, config, false)).await.expect("server");
    let token = server.token(Role::Reader, "dashboard");
    let addr = server.listen().await;

    let mut request = format!("ws://{addr}/graphql/ws").into_client_request().expect("request");
    request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("graphql-transport-ws"));
    let (mut ws, _) =
        timeout(BOUND, tokio_tungstenite::connect_async(request)).await.expect("in time").expect("handshake");
    let send = |message: Value| Message::text(message.to_string());
    ws.send(send(json!({"type": "connection_init", "payload": {"token": token}}))).await.expect("init");
    assert_eq!(next_json(&mut ws).await["type"], json!("connection_ack"));
    let subscription = "subscription { events { position } }";
    ws.send(send(json!({"id": "live", "type": "subscribe", "payload": {"query": subscription}})))
        .await
        .expect("subscribe");
    // The subscription is running (counted) before the token is revoked.
    let metrics = server.app.clone();
    timeout(BOUND, async {
        while metrics.metrics().subscribers() != 1 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the subscription starts");

    server.app.tokens().revoke("dashboard").expect("revoked");
    let ended = next_json(&mut ws).await;
    assert_eq!(ended["id"], json!("live"), "{ended}");
    let errors = match ended["type"].as_str() {
        Some("next") => ended["payload"]["errors"].clone(),
        Some("error") => ended["payload"].clone(),
        _ => panic!("expected the subscription to end with an error, got {ended}"),
    };
    assert_eq!(errors[0]["extensions"]["code"], json!("UNAUTHENTICATED"), "{ended}");
    assert!(errors[0]["message"].as_str().is_some_and(|m| m.contains("no longer works")), "{ended}");
}

/// The longest any wait on the server may take.
const BOUND: Duration = Duration::from_secs(10);

/// The next JSON message from the server, within [`BOUND`].
async fn next_json(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Value {
    timeout(BOUND, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).expect("JSON"),
                Some(Ok(Message::Close(frame))) => panic!("the server closed the connection: {frame:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("the connection failed: {e}"),
                None => panic!("the connection ended"),
            }
        }
    })
    .await
    .expect("the server answers within the bound")
}

/// Issue 17: `serve --log-format json` writes one JSON object a line, an access-log line per
/// request (with the request id the response carries, the operation and the status) at the default
/// level, a refused command too, and no ANSI colour codes when standard error is not a terminal.
#[test]
fn serve_logs_every_request_as_a_json_line_with_its_request_id() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut child = Command::new(SAMVERKAN)
        .args(["serve", "--log-format", "json", "--listen", "127.0.0.1:0", "--data", path_arg(&data)])
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve starts");
    let stderr = child.stderr.take().expect("piped");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let next_line = || lines.recv_timeout(BOUND).expect("the server logs within the bound");
    let addr: std::net::SocketAddr = loop {
        let line = next_line();
        if let Some(rest) = line.split("serving http://").nth(1) {
            break rest.split('/').next().unwrap_or_default().parse().expect("an address");
        }
    };
    let request = "{\"query\":\"query Probe { ledger { position } }\",\"operationName\":\"Probe\"}";
    let mut stream = std::net::TcpStream::connect(addr).expect("connects");
    std::io::Write::write_all(
        &mut stream,
        format!(
            "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nX-Request-Id: probe-7\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{request}",
            request.len()
        )
        .as_bytes(),
    )
    .expect("sends");
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).expect("answer");
    assert!(answer.to_ascii_lowercase().contains("x-request-id: probe-7"), "{answer}");
    // A refused write is logged too.
    let refused = post(
        addr,
        "svk_unknown",
        &json!({"query": "mutation { registerParty(input: {party: \"x\", name: \"X\", kind: MUNICIPALITY, effective: \"2026-01-01\"}) { position } }"}),
    );
    assert!(refused.is_some());

    let mut seen = Vec::new();
    let (mut access, mut refusal) = (None, None);
    while access.is_none() || refusal.is_none() {
        let line = next_line();
        assert!(!line.contains('\u{1b}'), "no ANSI codes off a terminal: {line:?}");
        if !line.starts_with('{') {
            seen.push(line);
            continue;
        }
        let object: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let fields = &object["fields"];
        if fields["request_id"] == json!("probe-7") {
            access = Some(object.clone());
        }
        if fields["message"] == json!("command refused") {
            refusal = Some(object.clone());
        }
        seen.push(line);
        assert!(seen.len() < 500, "no access line for probe-7 among {seen:#?}");
    }
    let access = access.expect("found");
    assert_eq!(access["level"], json!("INFO"), "{access}");
    let fields = &access["fields"];
    assert_eq!((fields["method"].clone(), fields["path"].clone()), (json!("POST"), json!("/graphql")), "{access}");
    assert_eq!((fields["operation"].clone(), fields["status"].clone()), (json!("Probe"), json!(200)), "{access}");
    assert!(fields["duration_ms"].as_f64().is_some(), "{access}");
    let refusal = refusal.expect("found");
    assert_eq!(refusal["fields"]["code"], json!("UNAUTHENTICATED"), "{refusal}");
    let _ = child.kill();
    let _ = child.wait();
}
