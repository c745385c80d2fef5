//! The `intake` binary: the server, and the operator commands.

use clap::Parser;
use intake::config::{Cli, Command, Config, TokensCommand, UsersCommand};
use intake::services::Services;
use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;

/// mimalloc, for the server's own allocations. An import allocates on the
/// runtime's threads and frees on others: glibc's malloc made them queue for
/// its arenas when capped at two, and kept memory freed into one arena from
/// the others when not. With mimalloc a 1,000,000-row import on SQLite took
/// about a quarter less time (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    cap_malloc_arenas();
    run()
}

/// Indexes into `mimalloc.h`'s `mi_option_e`, whose version Cargo.lock pins.
#[cfg(target_os = "linux")]
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
#[cfg(target_os = "linux")]
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// Milliseconds before memory freed goes back to the system (mimalloc: 1,000).
#[cfg(target_os = "linux")]
const PURGE_DELAY_MS: libc::c_long = 10;

/// mimalloc reads its options as the process starts, in a constructor of its
/// own, so they are set in one that runs before it (prioritised constructors
/// run before plain ones). Its defaults commit whole arenas up front, which
/// transparent huge pages back in 2 MiB steps, and keep freed memory for a
/// second or more: a 1,000,000-row import peaked 20 to 35 MiB higher with them
/// (BENCHMARKS.md). An operator's own `MIMALLOC_*` variables win.
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array.00100"]
static SET_MIMALLOC_OPTIONS: extern "C" fn() = set_mimalloc_options;

#[cfg(target_os = "linux")]
extern "C" fn set_mimalloc_options() {
    for (option, variable, value) in [
        (MI_OPTION_ARENA_EAGER_COMMIT, c"MIMALLOC_ARENA_EAGER_COMMIT", 0),
        (MI_OPTION_PURGE_DELAY, c"MIMALLOC_PURGE_DELAY", PURGE_DELAY_MS),
    ] {
        // SAFETY: getenv reads the environment the process started with (nothing
        // has run to change it), and allocates nothing; mi_option_set writes
        // one entry of mimalloc's option table.
        unsafe {
            if libc::getenv(variable.as_ptr()).is_null() {
                libmimalloc_sys::mi_option_set(option, value);
            }
        }
    }
}

/// glibc's malloc still serves SQLite, and gives threads that contend for the
/// heap arenas of their own, up to 8 per core; memory freed into one arena
/// serves only that arena. With the server's own allocations on glibc too, a
/// 1,000,000-row import peaked at 83 to 102 MiB of RSS with the default, and at
/// 65 to 69 MiB with two arenas (BENCHMARKS.md). An operator's own
/// `MALLOC_ARENA_MAX`, or `arena_max` in `GLIBC_TUNABLES`, wins.
fn cap_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none()
        && !std::env::var("GLIBC_TUNABLES").is_ok_and(|tunables| tunables.contains("arena_max"))
    {
        // SAFETY: mallopt only sets a tunable; it runs before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_ARENAS: libc::c_int = 2;

#[tokio::main]
async fn run() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&cli.config.log).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => intake::server::serve(cli.config).await,
        Command::Users { command: UsersCommand::Add { email } } => add_user(cli.config, &email).await,
        Command::Users { command: UsersCommand::Delete { email } } => delete_user(cli.config, &email).await,
        Command::Tokens { command: TokensCommand::Add { email, name } } => add_token(cli.config, &email, &name).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("intake: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn services(config: Config) -> Result<Services, Box<dyn std::error::Error>> {
    let store = intake::store::connect(&config.database_url).await?;
    Ok(Services::new(store, Arc::new(intake::clock::SystemClock), config))
}

/// `intake users add EMAIL`, with the password on standard input (one line, or all of it).
async fn add_user(config: Config, email: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut input = Vec::new();
    std::io::stdin().take(intake::auth::MAX_PASSWORD_BYTES as u64 + 2).read_to_end(&mut input)?;
    let password = String::from_utf8(input)?;
    let password = password.strip_suffix('\n').unwrap_or(&password);
    let password = password.strip_suffix('\r').unwrap_or(password);
    let services = services(config).await?;
    let user_id = intake::auth::create_account(&services, email, password).await?;
    println!("created account {user_id} for {}", intake::auth::normalize_email(email));
    Ok(())
}

/// `intake users delete EMAIL`: the account and everything that is the person's.
async fn delete_user(config: Config, email: &str) -> Result<(), Box<dyn std::error::Error>> {
    let services = services(config).await?;
    let email = intake::auth::normalize_email(email);
    let user = services.store.user_by_email(&email).await?.ok_or_else(|| format!("no account for {email}"))?;
    if !services.store.delete_user(user.id).await? {
        return Err(format!("no account for {email}").into());
    }
    tracing::warn!(user_id = user.id, "account deleted with its contacts, history and imports");
    println!("deleted account {} ({email}) with its contacts, history and imports", user.id);
    Ok(())
}

/// `intake tokens add EMAIL`: prints a new personal API token.
async fn add_token(config: Config, email: &str, name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let services = services(config).await?;
    let user = services
        .store
        .user_by_email(&intake::auth::normalize_email(email))
        .await?
        .ok_or_else(|| format!("no account for {email}"))?;
    let token = intake::auth::create_token(&services, user.id, name).await?;
    println!("{}", token.token);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn mimallocs_options_are_set_as_the_process_starts() {
        // SAFETY: reads entries of mimalloc's option table.
        let option = |option| unsafe { libmimalloc_sys::mi_option_get(option) };
        if std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_none() {
            assert_eq!(option(MI_OPTION_ARENA_EAGER_COMMIT), 0);
        }
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(option(MI_OPTION_PURGE_DELAY), PURGE_DELAY_MS);
        }
    }
}
