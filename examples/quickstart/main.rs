//! The quickstart story, end to end, with no cloud account:
//!
//! 1. deploy release `v1`: gates pass, two migrations apply (after a backup),
//!    the app starts, the smoke suite is green;
//! 2. deploy release `v2`: its health check fails, shipgate rolls back to `v1`
//!    by itself and re-checks it green.
//!
//! Run it with `cargo run --example quickstart`. It starts from a clean
//! `examples/quickstart/.state/` every time, and stops the app at the end.

#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use shipgate::cli::Cli;
use shipgate::exit::ExitStatus;

#[tokio::main]
async fn main() -> ExitCode {
    let started = Instant::now();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let state = dir.join(".state");
    if state.exists() {
        stop_app(&dir);
        if let Err(error) = fs_err::remove_dir_all(&state) {
            println!("error: cannot reset the story: {error}");
            return ExitCode::FAILURE;
        }
    }

    // The database and the releases live here; shipgate creates neither
    // directory on its own, so a typo in a path never goes unnoticed.
    if let Err(error) = fs_err::create_dir_all(&state) {
        println!("error: {error}");
        return ExitCode::FAILURE;
    }

    println!("==> 1/2 deploy v1 (a healthy release)\n");
    let first = deploy(&dir, "v1").await;
    println!(
        "\n==> 2/2 deploy v2 (its health check fails: it queries a table no migration creates)\n"
    );
    let second = deploy(&dir, "v2").await;
    stop_app(&dir);

    let elapsed = started.elapsed().as_secs_f64();
    if first == ExitStatus::Success && second == ExitStatus::RolledBack {
        println!(
            "\n==> story complete in {elapsed:.1}s: v1 went live (exit 0); v2 failed its smoke check and was rolled back to v1, which passed its re-check (exit 4)"
        );
        ExitCode::SUCCESS
    } else {
        println!(
            "\n==> unexpected: v1 exited {} (expected 0), v2 exited {} (expected 4)",
            first.code(),
            second.code()
        );
        ExitCode::FAILURE
    }
}

async fn deploy(dir: &Path, release: &str) -> ExitStatus {
    let config = dir.join("shipgate.toml");
    let source = dir.join("app").join(release);
    let args = [
        "shipgate".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "run".as_ref(),
        "--source".as_ref(),
        source.as_os_str(),
        "--id".as_ref(),
        release.as_ref(),
    ];
    shipgate::run(Cli::parse_from(args)).await
}

/// Stops the app the restart hook started, if it runs.
fn stop_app(dir: &Path) {
    let pid_file = dir.join(".state/app.pid");
    if let Ok(pid) = fs_err::read_to_string(&pid_file) {
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
        let _ = fs_err::remove_file(pid_file);
    }
}
