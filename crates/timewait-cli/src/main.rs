//! `timewait`: the operators' tool. See the library's documentation, or
//! `timewait --help`.
//!
//! Exit codes: 0 done, 1 a runtime failure (the kernel, a file, the
//! output), 2 a usage error. Every error is one line on stderr that says
//! what to do.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use timewait_cli::cli::Cli;
use timewait_cli::error::{CliError, EXIT_USAGE, one_line, usage_line};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => match e.kind() {
            // Not errors: clap prints them to stdout and exits 0.
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                eprintln!(
                    "timewait: a command is needed: census, watch or plan; see timewait --help"
                );
                return ExitCode::from(EXIT_USAGE);
            }
            _ => {
                eprintln!("timewait: {}", usage_line(&e));
                return ExitCode::from(EXIT_USAGE);
            }
        },
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match timewait_cli::run(&cli, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`timewait census | head`): it has what it
        // wanted, and there is nobody left to tell.
        Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("timewait: {}", one_line(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}
