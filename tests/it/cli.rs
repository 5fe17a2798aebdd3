//! The `samverkan` command line, run in-process through `graphql::cli::run`: imports are validated
//! and all-or-nothing, read-only commands refuse directories that are not ledgers, and `verify` fails
//! on a damaged chain. (The binary's `main` only maps `Err` to a one-line message and exit status 1.)

use clap::Parser;
use graphql::cli::{Cli, run};
use ledger::{Ledger, LedgerConfig, Position};

fn samverkan(args: &[&str]) -> anyhow::Result<()> {
    let mut argv = vec!["samverkan"];
    argv.extend_from_slice(args);
    run(Cli::try_parse_from(argv)?)
}

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/history.jsonl");

fn head(data: &std::path::Path) -> Position {
    Ledger::open(data.join("ledger"), LedgerConfig::default()).expect("opens").head().position
}

#[test]
fn import_validates_every_line_against_the_rules_and_stores_nothing_on_a_rejection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8 path");
    samverkan(&["import", FIXTURE, "--data", data_arg]).expect("the fixtures obey the rules");
    assert_eq!(head(&data), Position::new(849));

    // A well-formed line that breaks a rule: adopting an agreement that does not exist.
    let bad = dir.path().join("bad.jsonl");
    let good_line = r#"{"type":"PartyRegistered","effective":"2023-01-01","data":{"party":"new-party","name":"Ny","kind":"MUNICIPALITY"}}"#;
    let bad_line = r#"{"type":"PartyAdopted","effective":"2023-01-01","data":{"agreement":"nope","version":1,"party":"nacka","decision":"x"}}"#;
    std::fs::write(&bad, format!("{good_line}\n{bad_line}\n")).expect("write");
    let err = samverkan(&["import", bad.to_str().expect("utf-8"), "--data", data_arg]).expect_err("refused");
    let message = format!("{err:#}");
    assert!(message.contains("line 2") && message.contains("NOT_FOUND"), "{message}");
    assert_eq!(head(&data), Position::new(849), "nothing of the file was stored");

    // Lines depending on earlier lines of the same file are validated against them.
    let chained = dir.path().join("chained.jsonl");
    let body = r#"{"type":"BodyRegistered","effective":"2023-01-01","data":{"body":"ny-kf","name":"Nya KF","kind":"COUNCIL"}}"#;
    let decision = r#"{"type":"DecisionRecorded","effective":"2023-01-02","data":{"decision":"ny-kf-1","body":"ny-kf","subject":"Test"}}"#;
    std::fs::write(&chained, format!("{body}\n{decision}\n")).expect("write");
    samverkan(&["import", chained.to_str().expect("utf-8"), "--data", data_arg]).expect("valid chain");
    assert_eq!(head(&data), Position::new(851));
    samverkan(&["verify", "--data", data_arg]).expect("verifies");
}

#[test]
fn read_only_commands_refuse_a_directory_that_is_not_a_ledger() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), "x").expect("write");
    let path = dir.path().to_str().expect("utf-8");
    for args in
        [vec!["verify", "--data", path], vec!["export", "--data", path], vec!["at", "2022-10-01", "--data", path]]
    {
        let err = samverkan(&args).expect_err("refused");
        assert!(format!("{err:#}").contains("not a Samverkan data directory"), "{args:?}: {err:#}");
    }
    let err = samverkan(&["import", FIXTURE, "--data", path]).expect_err("refused");
    assert!(format!("{err:#}").contains("not a Samverkan data directory"), "{err:#}");
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1, "nothing was created");
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8");
    samverkan(&["import", FIXTURE, "--data", data_arg]).expect("imports");
    let err = samverkan(&["at", "2022-13-01", "--data", data_arg]).expect_err("bad date");
    assert!(format!("{err:#}").contains("YYYY-MM-DD"), "{err:#}");
    let err = samverkan(&["at", "2022-10-01", "--known-at", "noon", "--data", data_arg]).expect_err("bad instant");
    assert!(format!("{err:#}").contains("RFC 3339"), "{err:#}");
    let err =
        samverkan(&["token", "create", "--role", "PARTY", "--name", "x", "--data", data_arg]).expect_err("no party");
    assert!(format!("{err:#}").contains("--party"), "{err:#}");
    let err =
        samverkan(&["token", "create", "--role", "KING", "--name", "x", "--data", data_arg]).expect_err("no role");
    assert!(format!("{err:#}").contains("unknown role"), "{err:#}");
    let err = samverkan(&["import", "/no/such/file.jsonl", "--data", data_arg]).expect_err("missing file");
    assert!(format!("{err:#}").contains("/no/such/file.jsonl"), "{err:#}");
}

#[test]
fn verify_fails_on_a_damaged_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8");
    samverkan(&["import", FIXTURE, "--data", data_arg]).expect("imports");
    crate::ledger_integrity::alter_record(&data.join("ledger"), 100, |record| {
        let last = record.len() - 1;
        record[last] ^= 0x20;
    });
    let err = samverkan(&["verify", "--data", data_arg]).expect_err("broken chain");
    let message = format!("{err:#}");
    assert!(message.contains("position 100"), "{message}");
}

/// Issue 17: `token create` on a directory that is not a ledger (a typo in `--data`) is refused and
/// creates nothing; a PARTY token must name a registered party.
#[test]
fn token_create_refuses_a_missing_directory_and_an_unknown_party() {
    let dir = tempfile::tempdir().expect("tempdir");
    let typo = dir.path().join("dtaa");
    let err =
        samverkan(&["token", "create", "--role", "READER", "--name", "r", "--data", typo.to_str().expect("utf-8")])
            .expect_err("refused");
    assert!(format!("{err:#}").contains("not a Samverkan data directory"), "{err:#}");
    assert!(!typo.exists(), "nothing was created");

    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8 path");
    samverkan(&["import", FIXTURE, "--data", data_arg]).expect("imports");
    let err =
        samverkan(&["token", "create", "--role", "PARTY", "--party", "nosuch", "--name", "p", "--data", data_arg])
            .expect_err("refused");
    assert!(format!("{err:#}").contains("no party \"nosuch\" is registered"), "{err:#}");
    samverkan(&["token", "create", "--role", "PARTY", "--party", "nacka", "--name", "nacka", "--data", data_arg])
        .expect("a registered party gets its token");
}

/// Issue 17: a reader that stops early (`samverkan at … | head`) ends the command quietly, with 0.
#[test]
fn a_closed_pipe_ends_at_and_export_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8 path");
    samverkan(&["import", FIXTURE, "--data", data_arg]).expect("imports");
    for args in [vec!["at", "2022-10-01"], vec!["export"]] {
        let mut command = args.clone();
        command.extend(["--data", data_arg]);
        let mut child = std::process::Command::new(crate::process::SAMVERKAN)
            .args(&command)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("runs");
        // Close the reading end at once: the program's writes meet a closed pipe.
        drop(child.stdout.take());
        let output = child.wait_with_output().expect("ends");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
}

/// Issue 17: a command on a directory a server holds goes through that server (`online.rs` has the
/// whole story, and the message naming a server that left no way in); `serve` accepts a host name
/// in `--listen`; a `serve` that cannot listen leaves the directory as it was.
#[test]
fn a_running_server_is_gone_through_and_a_failed_serve_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = crate::process::start_server(&data);
    let output = std::process::Command::new(crate::process::SAMVERKAN)
        .args(["verify", "--data", data.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("verified by the server while it serves"), "{stdout}");

    // The server's port is taken: another serve on a new directory fails and creates nothing.
    let addr = server.addr;
    let other = dir.path().join("other");
    let output = std::process::Command::new(crate::process::SAMVERKAN)
        .args(["serve", "--listen", &addr.to_string(), "--data", other.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot listen"), "{output:?}");
    assert!(!other.exists(), "not created, not seeded");
    drop(server);

    // A host name is an address to listen on.
    let named = dir.path().join("named");
    let mut child = std::process::Command::new(crate::process::SAMVERKAN)
        .args(["serve", "--listen", "localhost:0", "--no-seed", "--data", named.to_str().expect("utf-8")])
        // Only the start line on stderr (`serve` logs at `info` by default).
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    let mut line = String::new();
    let stderr = child.stderr.take().expect("stderr");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stderr), &mut line).expect("a line");
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("serving http://"), "{line}");
    // Both doors for a person: the IDE and the dashboard (issue 17).
    assert!(line.contains("/graphql (GraphiQL)") && line.contains("the dashboard at http://"), "{line}");
}

/// Issue 20: a new data directory is the secretariat's own (0700), and so is the token file (0600).
#[cfg(unix)]
#[test]
fn a_new_data_directory_and_its_token_file_are_closed_to_others() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8 path");
    samverkan(&["import", FIXTURE, "--data", data_arg]).expect("imports");
    samverkan(&["token", "create", "--role", "READER", "--name", "r", "--data", data_arg]).expect("token");
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("tokens.json")), 0o600);
}
