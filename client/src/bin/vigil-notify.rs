//! vigil-notify: follows the change feed of Vigil alert streams (ALERT.READ ... BLOCK) from a
//! cursor file per key and posts the alerts to Alertmanager (POST /api/v2/alerts), at least
//! once. `vigil-notify --help` lists the flags; the logic is `vigil_client::notify`, and
//! client/README.md and docs/monitoring.md describe what it sends.

use std::process::ExitCode;
use vigil_client::notify::{self, args};

fn main() -> ExitCode {
    let env = |name: &str| std::env::var(name).ok();
    let options = match args::parse(std::env::args().skip(1), env) {
        Ok(args::Parsed::Run(options)) => *options,
        Ok(args::Parsed::Help) => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprint!("vigil-notify: {why}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    notify::log::init(options.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("vigil-notify")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vigil-notify: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let run = async {
        tokio::select! {
            done = notify::run(options) => done,
            signal = stop_signal() => {
                // Cursor files are replaced atomically: stopping between two writes loses
                // nothing (the next run posts again what had no cursor yet).
                tracing::info!(signal = %signal, "vigil-notify: stopping");
                Ok(())
            }
        }
    };
    match runtime.block_on(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "vigil-notify: stopped");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM (`docker stop`, systemd) or SIGINT (Ctrl-C). The bridge sets handlers for both:
/// as PID 1 in a container, a process without handlers ignores them, and every stop waited
/// for the grace period, then a SIGKILL.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // No handler could be set: wait for nothing, as before.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
