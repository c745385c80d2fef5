//! The real `intake` binary, started as an operator would: its logs captured,
//! signalled with `kill`, driven through its CLI.

use super::*;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

pub struct Server {
    pub child: Child,
    pub base: String,
    logs: Arc<Mutex<String>>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn intake_command(database: &TestDatabase) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_intake"));
    command.env("DATABASE_URL", &database.url).env_remove("RUST_LOG").kill_on_drop(true);
    command
}

pub async fn launch(database: &TestDatabase, settings: &[(&str, &str)]) -> Server {
    let base = format!("http://127.0.0.1:{}", free_port());
    let mut command = intake_command(database);
    command
        .env("INTAKE_ADDR", base.trim_start_matches("http://"))
        .env("INTAKE_LOG", "info,sqlx=warn")
        .envs(settings.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start intake");
    let logs = Arc::new(Mutex::new(String::new()));
    let mut stderr = child.stderr.take().unwrap();
    let sink = logs.clone();
    tokio::spawn(async move {
        let mut buffer = [0u8; 8192];
        while let Ok(read) = stderr.read(&mut buffer).await {
            if read == 0 {
                break;
            }
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..read]));
        }
    });
    let client = reqwest::Client::new();
    let ready = wait_until(Duration::from_secs(60), || async {
        let health = client.get(format!("{base}/healthz")).send().await.ok()?;
        health.status().is_success().then_some(())
    })
    .await;
    assert!(ready.is_some(), "intake did not become healthy: {}", logs.lock().unwrap());
    Server { child, base, logs }
}

impl Server {
    pub fn pid(&self) -> String {
        self.child.id().expect("running").to_string()
    }

    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill").args([signal, &self.pid()]).status().unwrap();
        assert!(status.success());
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// The id this instance registered under (its "listening" line names it).
    pub fn instance_id(&self) -> String {
        let logs = without_colours(&self.logs());
        let line = logs.lines().find(|line| line.contains("listening")).expect("a listening line");
        let id = line.split("instance_id=").nth(1).expect("instance_id on the listening line");
        id.split_whitespace().next().unwrap().trim_matches('"').to_owned()
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("process status").is_none()
    }
}

pub async fn cli(database: &TestDatabase, args: &[&str], stdin: &str) -> String {
    let mut child = intake_command(database)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).await.unwrap();
    let output = child.wait_with_output().await.unwrap();
    assert!(output.status.success(), "intake {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// A user made with the CLI, and a script client holding a CLI-made token.
pub async fn cli_user(database: &TestDatabase, server: &Server, email: &str) -> Client {
    cli(database, &["users", "add", email], &format!("{PASSWORD}\n")).await;
    let token = cli(database, &["tokens", "add", email], "").await;
    Client::new(&server.base, Some(token.trim()))
}


/// Log text without the ANSI colour sequences the log formatter adds.
pub fn without_colours(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An escape runs to its final letter, e.g. "\x1b[2m".
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}
