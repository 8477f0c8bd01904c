//! The `chat-server` binary: reads settings from flags and the environment, then serves (or
//! runs a sub-command such as `create-admin`).

use chat_server::config::{Cli, Command, Settings};
use chat_server::db;
use chat_server::startup::{create_admin, graceful_shutdown, Application};
use clap::Parser;
use std::io::BufRead;
use std::process::ExitCode;

/// jemalloc: less memory per idle connection and cheaper frees than the system allocator
/// (measured in docs/performance.md).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    chat_server::logging::init(cli.settings.log_format);
    match cli.command {
        Some(Command::CreateAdmin { username }) => create_admin_command(&cli.settings, &username),
        Some(Command::Serve) | None => serve(cli.settings),
    }
}

fn serve(settings: Settings) -> ExitCode {
    actix_web::rt::System::new().block_on(async move {
        let app = match Application::build(settings).await {
            Ok(app) => app,
            Err(e) => {
                log::error!("cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
        log::info!("chat server listening on http://{}", app.address());
        let stopper = app.stopper();
        actix_web::rt::spawn(async move {
            wait_for_stop_signal().await;
            log::info!("stopping: storing queued messages and closing connections");
            graceful_shutdown(stopper).await;
        });
        match app.run().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                log::error!("server failed: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn create_admin_command(settings: &Settings, username: &str) -> ExitCode {
    let password = match &settings.admin_password {
        Some(p) => p.clone(),
        None => {
            eprintln!("password for {username} (one line on standard input):");
            let mut line = String::new();
            if std::io::stdin().lock().read_line(&mut line).is_err() {
                eprintln!("could not read a password");
                return ExitCode::FAILURE;
            }
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let pool = match db::open_pool(&settings.db_target(), 1, settings.sqlite_sync) {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("cannot open the database: {e}");
            return ExitCode::FAILURE;
        }
    };
    match create_admin(&pool, username, &password) {
        Ok(id) => {
            println!("admin {username} (id {id}) is ready");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot create the admin: {e}");
            ExitCode::FAILURE
        }
    }
}
