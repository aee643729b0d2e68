//! Every flag error, and every runtime failure that can be provoked
//! honestly, ends in one line on stderr that says what to do, and a
//! non-zero exit: 2 for usage, 1 at run time.
//!
//! Provoked here: unknown flags and commands, missing and malformed values,
//! values out of range, a `--slabinfo` file that is missing, not slabinfo,
//! or unreadable for an unprivileged user (`/proc/slabinfo` as `nobody`,
//! through `setpriv`, when run as root).
//!
//! Not provoked: a netlink sock_diag refusal. The kernel answers a TCP
//! sock_diag dump for any user (`census` and `watch` run as `nobody` here
//! and succeed), so no permission failure exists to provoke; the message
//! for one (an `EACCES`/`EPERM` from the census says to run as root or to
//! allow netlink in the sandbox) is not exercised. Nor is "not Linux".

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_timewait");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"))
}

/// Checks that `args` fail with `code` and one line that starts with
/// `timewait: ` and contains `needle`; returns the line.
fn fails(args: &[&str], code: i32, needle: &str) -> String {
    let output = run(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(output.stdout.is_empty(), "{args:?} printed to stdout");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr:?}");
    assert!(stderr.ends_with('\n'), "{args:?}: {stderr:?}");
    assert!(stderr.starts_with("timewait: "), "{args:?}: {stderr:?}");
    assert!(
        stderr.contains(needle),
        "{args:?}: {needle:?} in {stderr:?}"
    );
    stderr
}

#[test]
fn every_flag_error_is_one_line_and_exit_code_2() {
    let usage = [
        (&["census", "--bogus"][..], "unexpected argument '--bogus'"),
        (&["watch", "--bogus"], "unexpected argument '--bogus'"),
        (
            &["plan", "--rat", "5"],
            "a similar argument exists: '--rate'",
        ),
        (&["plan"], "required arguments were not provided: --rate"),
        (&["plan", "--rate"], "a value is required for '--rate"),
        (
            &["plan", "--rate", "lots"],
            "invalid value 'lots' for '--rate",
        ),
        (&["plan", "--rate=-5"], "invalid value '-5' for '--rate"),
        (&["plan", "--rate", "-5"], "unexpected argument '-5'"),
        (
            &["plan", "--rate", "1", "--destinations", "0"],
            "--destinations",
        ),
        (
            &["plan", "--rate", "1", "--source-ips", "0"],
            "--source-ips",
        ),
        (
            &["plan", "--rate", "1", "--requests-per-connection", "0"],
            "--requests-per-connection",
        ),
        (&["plan", "--rate", "1", "--time-wait", "0"], "--time-wait"),
        (
            &["plan", "--rate", "1", "--port-range", "61000-32768"],
            "give the lower port first",
        ),
        (
            &["plan", "--rate", "1", "--port-range", "0-100"],
            "cannot include port 0",
        ),
        (
            &["plan", "--rate", "1", "--port-range", "32768"],
            "expected LOW-HIGH",
        ),
        (
            &["plan", "--rate", "1", "--port-range", "1-70000"],
            "is not a port number",
        ),
        (
            &["plan", "--rate", "1", "--reserved-ports", "80,x"],
            "is not a port number",
        ),
        (
            &["plan", "--rate", "1", "--tw-reuse", "3"],
            "expected 0 (off), 1 (on) or 2",
        ),
        (
            &["plan", "--rate", "1", "--max-tw-buckets=-1"],
            "invalid value '-1' for '--max-tw-buckets",
        ),
        (
            &["plan", "--rate", "1", "--close-policy", "polite"],
            "possible values: peer-first, local, abort",
        ),
        (&["watch", "--interval", "5x"], "unknown unit"),
        (&["watch", "--interval=-1s"], "out of range"),
        (&["watch", "--interval", "soon"], "not a duration"),
        (&["watch", "--top=-1"], "invalid value '-1' for '--top"),
        (&["census", "--port", "0"], "--port"),
        (&["census", "--port", "70000"], "--port"),
        (&["census", "--top", "many"], "--top"),
        (&["snapshot"], "unrecognized subcommand 'snapshot'"),
        (&[], "a command is needed: census, watch or plan"),
    ];
    for (args, needle) in usage {
        fails(args, 2, needle);
    }
}

#[test]
fn help_and_version_are_not_errors() {
    for args in [&["--help"][..], &["--version"], &["plan", "--help"]] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(!output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn an_unreadable_or_wrong_slabinfo_file_is_a_runtime_failure_that_says_what_to_do() {
    fails(
        &["plan", "--rate", "1", "--slabinfo", "/nonexistent/slabinfo"],
        1,
        "give a copy of /proc/slabinfo",
    );
    let not_slabinfo = std::env::temp_dir().join(format!("timewait-cli-{}", std::process::id()));
    std::fs::write(&not_slabinfo, "hello\n").expect("a temporary file");
    let path = not_slabinfo.to_string_lossy().into_owned();
    fails(
        &["plan", "--rate", "1", "--slabinfo", &path],
        1,
        "no usable tw_sock_TCP line",
    );
    let _ = std::fs::remove_file(&not_slabinfo);
}

/// `setpriv` as `nobody`, when this test runs as root and has `setpriv`.
fn as_nobody(args: &[&str]) -> Option<Output> {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("as_nobody: skipped: not root, so no user to switch to");
        return None;
    }
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
        .args(args)
        .output();
    match output {
        // setpriv itself failed: no such user, or the binary is in a
        // directory `nobody` cannot enter.
        Ok(output) if String::from_utf8_lossy(&output.stderr).starts_with("setpriv:") => {
            eprintln!(
                "as_nobody: skipped: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            None
        }
        Ok(output) => Some(output),
        Err(e) => {
            eprintln!("as_nobody: skipped: setpriv (util-linux) is not usable: {e}");
            None
        }
    }
}

#[test]
fn slabinfo_needs_root_and_says_so_but_census_and_watch_need_no_privilege() {
    let Some(output) = as_nobody(&["plan", "--rate", "1", "--slabinfo", "/proc/slabinfo"]) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(0) {
        // A kernel that lets anyone read slabinfo: nothing to provoke.
        eprintln!("/proc/slabinfo is readable by nobody here: no permission error to provoke");
    } else {
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("Permission denied") && stderr.contains("run as root"),
            "{stderr}"
        );
    }
    // Without --slabinfo the size is unknown, not an error.
    let Some(output) = as_nobody(&["plan", "--rate", "1", "--json"]) else {
        return;
    };
    assert_eq!(output.status.code(), Some(0));
    // sock_diag answers an unprivileged TCP dump.
    for args in [
        &["census", "--json"][..],
        &["watch", "--once", "--interval", "0", "--json"],
    ] {
        let Some(output) = as_nobody(args) else {
            return;
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("\"sock_diag\""));
    }
}
