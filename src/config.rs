//! Flags and environment. Every setting has a flag and an environment variable.

use crate::domain::identity::CallingCode;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(name = "intake", version, about = "Import contacts from the exports of other tools")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the web app and run import workers (the default).
    Serve,
    /// Manage accounts.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Manage personal API tokens.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Create an account; the password is read from standard input.
    Add { email: String },
    /// Delete an account with its contacts, history, imports, uploads, sessions and tokens.
    Delete { email: String },
}

#[derive(Subcommand, Debug)]
pub enum TokensCommand {
    /// Create a personal API token for an account and print it.
    Add {
        email: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

#[derive(Args, Debug, Clone)]
pub struct Config {
    /// Address to listen on; defaults to the Leptos site address (LEPTOS_SITE_ADDR, 127.0.0.1:3000).
    #[arg(long, env = "INTAKE_ADDR")]
    pub addr: Option<SocketAddr>,

    /// Address to serve Prometheus metrics on (`GET /metrics`); unset, none are served.
    /// Keep it off the public network: metrics are not behind a sign-in.
    #[arg(long, env = "INTAKE_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// sqlite://PATH or postgres://… ; the default is a SQLite file under ./data/.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/intake.db")]
    pub database_url: String,

    /// Log filter, in tracing's EnvFilter syntax.
    #[arg(long, env = "INTAKE_LOG", default_value = "info,sqlx=warn")]
    pub log: String,

    /// The origin browsers use to reach this server (for the same-origin check); defaults to http://ADDR.
    #[arg(long, env = "INTAKE_PUBLIC_ORIGIN")]
    pub public_origin: Option<String>,

    /// Mark the session cookie Secure (serve over HTTPS).
    #[arg(long, env = "INTAKE_COOKIE_SECURE", default_value_t = false)]
    pub cookie_secure: bool,

    /// A session expires after this long without use.
    #[arg(long, env = "INTAKE_SESSION_IDLE", default_value = "7d", value_parser = parse_duration)]
    pub session_idle: Duration,

    /// A session ends this long after sign-in, however often it is used.
    #[arg(long, env = "INTAKE_SESSION_MAX_AGE", default_value = "30d", value_parser = parse_duration)]
    pub session_max_age: Duration,

    /// Failed sign-ins per email allowed within the throttle window.
    #[arg(long, env = "INTAKE_SIGN_IN_MAX_FAILURES", default_value_t = 5)]
    pub sign_in_max_failures: u32,

    /// The sign-in throttle window.
    #[arg(long, env = "INTAKE_SIGN_IN_WINDOW", default_value = "15m", value_parser = parse_duration)]
    pub sign_in_window: Duration,

    /// Failed sign-ins per client address allowed within the throttle window, whatever the emails.
    #[arg(long, env = "INTAKE_SIGN_IN_MAX_FAILURES_PER_CLIENT", default_value_t = 50)]
    pub sign_in_max_failures_per_client: u32,

    /// Sign-ups per client address allowed within the sign-up window, whether the email is new or taken.
    #[arg(long, env = "INTAKE_SIGN_UPS_PER_CLIENT", default_value_t = 10)]
    pub sign_ups_per_client: u32,

    /// The sign-up throttle window.
    #[arg(long, env = "INTAKE_SIGN_UP_WINDOW", default_value = "1h", value_parser = parse_duration)]
    pub sign_up_window: Duration,

    /// A request header naming the client address (e.g. X-Forwarded-For, rightmost entry), trusted only
    /// when set: use it behind a reverse proxy that sets it. Otherwise the socket address is the client.
    #[arg(long, env = "INTAKE_CLIENT_ADDRESS_HEADER")]
    pub client_address_header: Option<String>,

    /// Password hashes (argon2id, about 19 MiB each) computed at once; defaults to the number of cores.
    #[arg(long, env = "INTAKE_PASSWORD_HASH_CONCURRENCY", default_value_t = available_cores())]
    pub password_hash_concurrency: usize,

    /// Sign-ins and sign-ups that may wait for a hashing slot; past them the answer is 503 with Retry-After.
    #[arg(long, env = "INTAKE_PASSWORD_HASH_QUEUE", default_value_t = 16)]
    pub password_hash_queue: usize,

    /// How often expired sessions, old throttle rows and abandoned uploads are deleted.
    #[arg(long, env = "INTAKE_PRUNE_EVERY", default_value = "10m", value_parser = parse_duration)]
    pub prune_every: Duration,

    /// An active import with no progress for this long may be replaced by a new one.
    #[arg(long, env = "IMPORT_STALE_AFTER", default_value = "15m", value_parser = parse_duration)]
    pub import_stale_after: Duration,

    /// Largest accepted upload, in bytes.
    #[arg(long, env = "IMPORT_MAX_UPLOAD_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub import_max_upload_bytes: u64,

    /// Bytes of a workbook's parts that are read whole (shared strings, styles, the sheet list),
    /// together, unpacked; the sheets themselves are streamed.
    #[arg(long, env = "IMPORT_MAX_WORKBOOK_WHOLE_PARTS_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub import_max_workbook_whole_parts_bytes: u64,

    /// An upload whose preview was not started within this long is deleted.
    #[arg(long, env = "IMPORT_PREVIEW_TTL", default_value = "24h", value_parser = parse_duration)]
    pub import_preview_ttl: Duration,

    /// Upload bytes one user may have stored at once (previews not yet imported, imports running).
    #[arg(long, env = "IMPORT_MAX_STORED_BYTES_PER_USER", default_value_t = 300 * 1024 * 1024)]
    pub import_max_stored_bytes_per_user: u64,

    /// Uploads (previews, imports, sheet choices) one user may have in progress at once on an instance.
    #[arg(long, env = "IMPORT_MAX_CONCURRENT_UPLOADS_PER_USER", default_value_t = 2)]
    pub import_max_concurrent_uploads_per_user: usize,

    /// Workbooks an instance reads at once (uploads and imports together); each may hold
    /// twice IMPORT_MAX_UPLOAD_BYTES of temporary disk. Uploads past them get 503; imports wait.
    #[arg(long, env = "IMPORT_MAX_WORKBOOK_READS", default_value_t = 4)]
    pub import_max_workbook_reads: usize,

    /// Bytes a multipart upload body may carry beyond IMPORT_MAX_UPLOAD_BYTES: the boundaries and the
    /// part's headers. The first part's boundary and headers must also arrive within this many bytes.
    #[arg(long, env = "IMPORT_MULTIPART_ALLOWANCE_BYTES", default_value_t = 64 * 1024)]
    pub import_multipart_allowance_bytes: u64,

    /// Largest form or JSON request body (sign-in, server functions other than the upload).
    #[arg(long, env = "INTAKE_MAX_FORM_BODY_BYTES", default_value_t = 256 * 1024)]
    pub max_form_body_bytes: usize,

    /// After refusing an upload early (401, 409, 413, 400), read and discard up to this many more
    /// bytes of its body before closing, so a client that keeps sending still reads the answer.
    #[arg(long, env = "INTAKE_REFUSED_BODY_DRAIN_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub refused_body_drain_bytes: u64,

    /// The longest a refused body is read and discarded, however slowly it arrives.
    #[arg(long, env = "INTAKE_REFUSED_BODY_DRAIN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub refused_body_drain_timeout: Duration,

    /// An import that ended this long ago is deleted, with its row errors.
    #[arg(long, env = "IMPORT_RETENTION", default_value = "90d", value_parser = parse_duration)]
    pub import_retention: Duration,

    /// Changes to contacts are kept this long for undo, then swept, a whole
    /// operation (an import, an undo, an edit, a deletion) at a time.
    #[arg(long, env = "HISTORY_RETENTION", default_value = "30d", value_parser = parse_duration)]
    pub history_retention: Duration,

    /// Changes kept per person for undo; past it their oldest operations go
    /// first (never the newest), and the pages say how far back undo reaches.
    #[arg(long, env = "HISTORY_MAX_CHANGES_PER_USER", default_value_t = 5_000_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub history_max_changes_per_user: u64,

    /// Row errors kept per import (the first ones); the count of rejected rows stays exact.
    #[arg(long, env = "IMPORT_MAX_STORED_ROW_ERRORS", default_value_t = 10_000)]
    pub import_max_stored_row_errors: u64,

    /// Values of one kind (emails, phones, addresses, custom fields, …) a contact
    /// keeps; a row or merge with more keeps these and says what it left out.
    #[arg(long, env = "IMPORT_MAX_VALUES_PER_CONTACT", default_value_t = crate::domain::contact::DEFAULT_MAX_VALUES_PER_CONTACT as u64,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub import_max_values_per_contact: u64,

    /// Rows committed per batch (one transaction, one checkpoint).
    #[arg(long, env = "IMPORT_BATCH_ROWS", default_value_t = 2000)]
    pub import_batch_rows: usize,

    /// Pause between batches, to spare a busy database.
    #[arg(long, env = "IMPORT_BATCH_PAUSE", default_value = "0s", value_parser = parse_duration)]
    pub import_batch_pause: Duration,

    /// Failures at one checkpoint (the same batch) before the import is marked failed.
    /// Crashes, panics and storage errors count; progress since the claim means it never fails.
    #[arg(long, env = "IMPORT_MAX_ATTEMPTS", default_value_t = 3)]
    pub import_max_attempts: i32,

    /// Imports this instance processes at once; 0 makes a web-only instance.
    #[arg(long, env = "IMPORT_WORKERS", default_value_t = 2)]
    pub import_workers: usize,

    /// An instance whose heartbeat is older than this is presumed dead, and its imports resume elsewhere.
    #[arg(long, env = "INSTANCE_LEASE", default_value = "30s", value_parser = parse_duration)]
    pub instance_lease: Duration,

    /// On SIGTERM or SIGINT, how long the current batches may take to commit before
    /// their imports are handed back anyway and the instance exits.
    #[arg(long, env = "INTAKE_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Postgres `lock_timeout`: the longest a statement waits for a lock.
    #[arg(long, env = "DATABASE_LOCK_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub database_lock_timeout: Duration,

    /// Postgres `statement_timeout`.
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub database_statement_timeout: Duration,

    /// Postgres `idle_in_transaction_session_timeout`: a frozen instance's
    /// transaction is ended after this long, releasing its locks.
    #[arg(long, env = "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT", default_value = "15s", value_parser = parse_duration)]
    pub database_idle_in_transaction_timeout: Duration,

    /// SQLite: the longest a write waits for its turn (and for another process's write lock).
    #[arg(long, env = "DATABASE_BUSY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub database_busy_timeout: Duration,

    /// Country calling code (e.g. 49 or +1) for phone numbers written without one; unset, they stay as written.
    #[arg(long, env = "IMPORT_DEFAULT_PHONE_REGION", value_parser = CallingCode::parse)]
    pub import_default_phone_region: Option<CallingCode>,
}

/// The cores this process may use, at least 1.
fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

impl Config {
    /// The defaults, as a test or a tool would start from.
    pub fn from_defaults(database_url: &str) -> Self {
        let mut cli = Cli::parse_from(["intake"]);
        cli.config.database_url = database_url.to_owned();
        cli.config
    }

    /// What every row of an import is built with.
    pub fn draft_rules(&self) -> crate::domain::draft::DraftRules {
        crate::domain::draft::DraftRules {
            default_code: self.import_default_phone_region.clone(),
            max_values: self.import_max_values_per_contact as usize,
            day_order: crate::domain::dates::DayOrder::default(),
        }
    }

    /// What reading one workbook may cost.
    pub fn workbook_limits(&self) -> crate::domain::workbook::WorkbookLimits {
        crate::domain::workbook::WorkbookLimits {
            max_bytes: self.import_max_upload_bytes,
            max_whole_part_bytes: self.import_max_workbook_whole_parts_bytes,
        }
    }

    /// The database session timeouts these settings ask for.
    pub fn timeouts(&self) -> crate::store::Timeouts {
        crate::store::Timeouts {
            lock: self.database_lock_timeout,
            statement: self.database_statement_timeout,
            idle_in_transaction: self.database_idle_in_transaction_timeout,
            sqlite_busy: self.database_busy_timeout,
        }
    }
}

/// Durations are written as a number and a unit: `900ms`, `30s`, `15m`, `2h`, `7d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(|| format!("`{text}` needs a unit: ms, s, m, h or d"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        "d" => number * 86400.0,
        _ => return Err(format!("`{unit}` is not a unit: use ms, s, m, h or d")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("15y").is_err());
    }

    #[test]
    fn defaults_match_the_readme() {
        let config = Config::from_defaults("sqlite://x.db");
        assert_eq!(config.import_stale_after, Duration::from_secs(15 * 60));
        assert_eq!(config.import_max_upload_bytes, 100 * 1024 * 1024);
        assert_eq!(config.import_max_attempts, 3);
        assert_eq!(config.shutdown_timeout, Duration::from_secs(10));
        assert_eq!(config.timeouts(), crate::store::Timeouts::default());
        assert_eq!(config.import_default_phone_region, None);
        assert_eq!(config.metrics_addr, None);
    }
}
