//! Finding the servers' programs where Debian's packages put them.

use std::path::{Path, PathBuf};

use crate::ServerError;

/// Directories searched after `PATH`: a root shell's `PATH` may lack the
/// `sbin` ones, where nginx lives.
const SYSTEM_DIRS: &[&str] = &["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// Where PostgreSQL's server programs are: one `bin` per major version.
const POSTGRES_LIB: &str = "/usr/lib/postgresql";

/// `explicit` if given and present, else `program` on `PATH` or in the
/// system directories; a [`ServerError::MissingBinary`] naming `package`
/// otherwise.
pub(crate) fn find(
    program: &'static str,
    package: &'static str,
    explicit: Option<&Path>,
) -> Result<PathBuf, ServerError> {
    if let Some(path) = explicit {
        return present(path).ok_or_else(|| missing(program, package, path.display().to_string()));
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .chain(SYSTEM_DIRS.iter().map(PathBuf::from))
        .find_map(|dir| present(&dir.join(program)))
        .ok_or_else(|| missing(program, package, "PATH, /usr/sbin, /usr/bin".to_owned()))
}

/// `program` in the `bin` directory of the newest PostgreSQL installed under
/// `/usr/lib/postgresql/<major>/`, or `explicit_dir/program` when a
/// directory is given.
pub(crate) fn find_postgres(
    program: &'static str,
    explicit_dir: Option<&Path>,
) -> Result<PathBuf, ServerError> {
    const PACKAGE: &str = "postgresql";
    if let Some(dir) = explicit_dir {
        let path = dir.join(program);
        return present(&path).ok_or_else(|| missing(program, PACKAGE, path.display().to_string()));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(POSTGRES_LIB)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, present(&entry.path().join("bin").join(program))?))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, path)| path)
        .ok_or_else(|| missing(program, PACKAGE, format!("{POSTGRES_LIB}/*/bin")))
}

fn present(path: &Path) -> Option<PathBuf> {
    path.is_file().then(|| path.to_owned())
}

fn missing(program: &'static str, package: &'static str, looked_in: String) -> ServerError {
    ServerError::MissingBinary {
        program,
        looked_in,
        package,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_says_which_package_to_install() {
        let err = find(
            "redis-server",
            "redis-server",
            Some(Path::new("/nonexistent/x")),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("apt-get install redis-server"), "{err}");
    }

    #[test]
    fn an_explicit_postgres_dir_without_the_program_is_missing() {
        let err = find_postgres("initdb", Some(Path::new("/nonexistent")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("apt-get install postgresql"), "{err}");
    }
}
