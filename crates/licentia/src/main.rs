use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = licentia::cli::Cli::parse();
    licentia::cli::run(cli)
}
