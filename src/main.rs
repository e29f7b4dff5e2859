//! The `shipgate` binary: parse arguments, build the runtime, run, exit.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = shipgate::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
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
