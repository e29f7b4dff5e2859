//! The `shipgate` binary: parse arguments, build the runtime, run, exit.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = shipgate::cli::Cli::parse();
    // One thread: shipgate waits on the network, databases and child
    // processes, and its CPU-heavy parts (lint, backup copies, SQLite) run on
    // the blocking pool. A multi-threaded runtime paid for cross-thread
    // wake-ups on every request (1,635 futex calls for 500 smoke checks,
    // 0.060 s of CPU against 0.038 s on one thread).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            // No printer exists before the runtime; this is the one direct write.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: failed to start the async runtime: {error}");
            }
            return shipgate::exit::ExitStatus::Infrastructure.into();
        }
    };
    runtime.block_on(shipgate::run(cli)).into()
}
