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
    match runtime.block_on(notify::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "vigil-notify: stopped");
            ExitCode::FAILURE
        }
    }
}
