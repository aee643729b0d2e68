//! A process's descendants, read from `/proc`: PostgreSQL's backends each
//! lead a session of their own, so killing the postmaster's process group
//! does not reach them.

use std::collections::HashMap;

/// Every descendant of `root` now, children before grandchildren.
pub(crate) fn descendants(root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (pid, parent) in all_parents() {
        children.entry(parent).or_default().push(pid);
    }
    let mut found = Vec::new();
    let mut next = vec![root];
    while let Some(pid) = next.pop() {
        for &child in children.get(&pid).map(Vec::as_slice).unwrap_or_default() {
            found.push(child);
            next.push(child);
        }
    }
    found
}

/// Whether `pid` has exited (or is a zombie, which holds no sockets, files
/// or shared memory any more).
pub(crate) fn is_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => matches!(state_and_parent(&stat), Some(('Z' | 'X', _)) | None),
        Err(_) => true,
    }
}

/// `(pid, parent pid)` of every process in `/proc`.
fn all_parents() -> Vec<(i32, i32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            Some((pid, state_and_parent(&stat)?.1))
        })
        .collect()
}

/// The state letter and parent pid from a `/proc/<pid>/stat` line:
/// `pid (comm) S ppid ...`, where `comm` may hold spaces and parentheses.
fn state_and_parent(stat: &str) -> Option<(char, i32)> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((state, parent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        let line = "1234 (post gres) (x)) S 99 1234 1234 0 -1";
        assert_eq!(state_and_parent(line), Some(('S', 99)));
        assert_eq!(state_and_parent("garbage"), None);
    }

    #[test]
    fn this_test_process_is_a_descendant_of_its_parent() {
        let me = std::process::id() as i32;
        let parent = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| state_and_parent(&s))
            .unwrap()
            .1;
        assert!(descendants(parent).contains(&me));
        assert!(!is_gone(me));
    }
}
