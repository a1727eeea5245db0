use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    haven::cli::main(haven::cli::Cli::parse())
}
