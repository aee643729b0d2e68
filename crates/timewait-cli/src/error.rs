//! What can go wrong, each as one line that says what to do, and the exit
//! codes: 0 done, 1 a runtime failure, 2 a usage error.

use std::io;
use std::path::PathBuf;

/// The exit code of a runtime failure (the kernel, a file, the output).
pub const EXIT_FAILURE: u8 = 1;
/// The exit code of a usage error (an unknown flag, a bad value): clap's.
pub const EXIT_USAGE: u8 = 2;

/// A command failed after its arguments were accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The command reads the Linux kernel and this is another system.
    #[error(
        "`timewait {command}` reads the Linux kernel's sockets and sysctls: run it on Linux{hint}"
    )]
    NotLinux {
        /// The command.
        command: &'static str,
        /// What else would work, if anything (starts with `; `).
        hint: &'static str,
    },
    /// A sysctl could not be read, and no flag gave its value.
    #[cfg(target_os = "linux")]
    #[error("{source}; or give its value with {flag}")]
    Sysctl {
        /// The flag that would replace the live value.
        flag: &'static str,
        /// What went wrong.
        #[source]
        source: timewait_core::sys::SysctlError,
    },
    /// A sysctl could not be read (census and watch take no flag for it).
    #[cfg(target_os = "linux")]
    #[error(transparent)]
    Kernel(#[from] timewait_core::sys::SysctlError),
    /// The socket census failed.
    #[cfg(target_os = "linux")]
    #[error("{source}{}", census_hint(.source))]
    Census {
        /// What went wrong.
        #[source]
        source: timewait_core::sys::CensusError,
    },
    /// `/proc/net/sockstat` could not be read.
    #[cfg(target_os = "linux")]
    #[error(transparent)]
    Sockstat(#[from] timewait_core::sys::SockstatError),
    /// A slabinfo file named by `--slabinfo` could not be read.
    #[error(
        "cannot read {}: {source}; {}",
        .path.display(),
        slabinfo_hint(.source)
    )]
    SlabinfoRead {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// A slabinfo file named by `--slabinfo` has no `tw_sock_TCP` line.
    #[error(
        "{} has no usable tw_sock_TCP line ({reason}); give a copy of /proc/slabinfo or leave out --slabinfo",
        .path.display()
    )]
    SlabinfoParse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The refresh timer or the Ctrl-C handler could not be set up.
    #[error(
        "cannot start the refresh loop: {0}; check the process's limits on threads and signals"
    )]
    Runtime(#[source] io::Error),
    /// Writing the output failed (a closed pipe, a full disk).
    #[error("cannot write the output: {0}")]
    Output(#[from] io::Error),
    /// The JSON output could not be produced.
    #[error("cannot write the JSON output: {0}")]
    Json(#[from] serde_json::Error),
}

impl CliError {
    /// The process's exit code for this error: always [`EXIT_FAILURE`];
    /// usage errors are clap's and exit with [`EXIT_USAGE`].
    pub fn exit_code(&self) -> u8 {
        EXIT_FAILURE
    }
}

#[cfg(target_os = "linux")]
impl From<timewait_core::sys::CensusError> for CliError {
    fn from(source: timewait_core::sys::CensusError) -> Self {
        CliError::Census { source }
    }
}

/// What to do when a slabinfo file cannot be read.
fn slabinfo_hint(error: &io::Error) -> &'static str {
    if error.kind() == io::ErrorKind::PermissionDenied {
        "run as root (/proc/slabinfo is readable by root only) or leave out --slabinfo"
    } else {
        "give a copy of /proc/slabinfo, or leave out --slabinfo to read the live one"
    }
}

/// What to do after a census error, beyond what the core's message says.
#[cfg(target_os = "linux")]
fn census_hint(error: &timewait_core::sys::CensusError) -> &'static str {
    use std::error::Error as _;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = error.source();
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::PermissionDenied {
                return "; permission denied: run as root, or allow netlink sockets and /proc/net in this sandbox";
            }
        }
        cause = e.source();
    }
    ""
}

/// One line for a clap error: its first line without `error: `, its tips,
/// and where to look. Help and version output are not errors and are not
/// passed here.
///
/// ```
/// use clap::Parser;
/// use timewait_cli::{cli::Cli, error::usage_line};
///
/// let err = Cli::try_parse_from(["timewait", "plan", "--rat", "5"]).unwrap_err();
/// let line = usage_line(&err);
/// assert!(line.starts_with("unexpected argument '--rat' found"));
/// assert!(!line.contains('\n'));
/// ```
pub fn usage_line(error: &clap::Error) -> String {
    let text = error.render().to_string();
    // The first paragraph is the error (with, for missing arguments, their
    // names on the lines below it); then come tips and the usage.
    let first: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    let first = first.join(" ");
    let first = first.trim_start_matches("error: ");
    let mut line = if first.is_empty() {
        "invalid arguments".to_owned()
    } else {
        first.to_owned()
    };
    for tip in text.lines().filter_map(|l| l.trim().strip_prefix("tip: ")) {
        line.push_str("; ");
        line.push_str(tip);
    }
    if let Some(usage) = text.lines().find_map(|l| l.trim().strip_prefix("Usage: ")) {
        line.push_str("; usage: ");
        line.push_str(usage);
    }
    line.push_str("; see --help");
    line
}

/// `text` on one line: line breaks become `; `.
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
