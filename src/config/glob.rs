//! Python's `glob.glob` for `logpath` patterns: `*`, `?` and `[…]` in any
//! path component, hidden names only matched by patterns starting with `.`,
//! results in directory-listing order (as fail2ban sends them), and dangling
//! symlinks dropped with a warning as fail2ban's `JailReader._glob` does.

use std::path::Path;

fn has_magic(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Python's `os.path.split`.
fn split(path: &str) -> (&str, &str) {
    let i = path.rfind('/').map_or(0, |i| i + 1);
    let (head, tail) = path.split_at(i);
    let trimmed = head.trim_end_matches('/');
    (if trimmed.is_empty() { head } else { trimmed }, tail)
}

fn join(dir: &str, name: &str) -> String {
    super::parser::join(dir, name)
}

fn lexists(p: &str) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

fn list_dir(dir: &str, dirs_only: bool) -> Vec<String> {
    let d = if dir.is_empty() { "." } else { dir };
    let Ok(entries) = std::fs::read_dir(d) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| !dirs_only || e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

/// Python's `fnmatch.fnmatchcase`, in linear time per star (the classic
/// backtrack-to-last-star algorithm), so no pattern can make it explode.
pub fn fnmatch(name: &str, pattern: &str) -> bool {
    let n: Vec<char> = name.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    let (mut ni, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => match class_end(&p[pi..]) {
                Some(end) => class_matches(&p[pi + 1..pi + end], n[ni]).then_some(end + 1),
                None => (n[ni] == '[').then_some(1),
            },
            Some(&c) => (n[ni] == c).then_some(1),
            None => None,
        };
        match step {
            Some(width) => {
                pi += width;
                ni += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Index of the `]` closing a class that starts at p[0] == '['.
fn class_end(p: &[char]) -> Option<usize> {
    let mut j = 1;
    if p.get(j) == Some(&'!') {
        j += 1;
    }
    if p.get(j) == Some(&']') {
        j += 1;
    }
    while j < p.len() && p[j] != ']' {
        j += 1;
    }
    (j < p.len()).then_some(j)
}

fn class_matches(class: &[char], c: char) -> bool {
    let (negate, class) = match class.split_first() {
        Some(('!', rest)) => (true, rest),
        _ => (false, class),
    };
    let mut found = false;
    let mut i = 0;
    while i < class.len() {
        if i + 2 < class.len() && class[i + 1] == '-' {
            if class[i] <= c && c <= class[i + 2] {
                found = true;
            }
            i += 3;
        } else {
            if class[i] == c {
                found = true;
            }
            i += 1;
        }
    }
    found != negate
}

fn iglob(pattern: &str, dirs_only: bool) -> Vec<String> {
    let (dirname, basename) = split(pattern);
    if !has_magic(pattern) {
        let ok = if basename.is_empty() {
            Path::new(dirname).is_dir()
        } else {
            lexists(pattern)
        };
        return if ok {
            vec![pattern.to_string()]
        } else {
            Vec::new()
        };
    }
    let glob_in_dir = |dir: &str| -> Vec<String> {
        if has_magic(basename) {
            list_dir(dir, dirs_only)
                .into_iter()
                .filter(|n| basename.starts_with('.') || !n.starts_with('.'))
                .filter(|n| fnmatch(n, basename))
                .collect()
        } else if basename.is_empty() {
            if Path::new(if dir.is_empty() { "." } else { dir }).is_dir() {
                vec![String::new()]
            } else {
                Vec::new()
            }
        } else if lexists(&join(dir, basename)) {
            vec![basename.to_string()]
        } else {
            Vec::new()
        }
    };
    if dirname.is_empty() {
        return glob_in_dir("");
    }
    let dirs = if dirname != pattern && has_magic(dirname) {
        iglob(dirname, true)
    } else {
        vec![dirname.to_string()]
    };
    let mut out = Vec::new();
    for d in dirs {
        for name in glob_in_dir(&d) {
            out.push(join(&d, &name));
        }
    }
    out
}

/// The existing files matching `pattern`, as fail2ban's jail reader lists them.
pub fn glob(pattern: &str) -> Vec<String> {
    iglob(pattern, false)
        .into_iter()
        .filter(|p| {
            let exists = Path::new(p).exists();
            if !exists {
                log::warn!(target: "fail2ban.jailreader",
                    "File {p} is a dangling link, thus cannot be monitored");
            }
            exists
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_like_python() {
        assert!(fnmatch("access.log", "*.log"));
        assert!(fnmatch("a1", "a[0-9]"));
        assert!(!fnmatch("a1", "a[!0-9]"));
        assert!(fnmatch("[x", "[x"));
        assert!(fnmatch("]", "[]]"));
        assert!(!fnmatch("access.log.1", "*.log"));
        assert!(fnmatch("", "*"));
        assert!(!fnmatch(&"a".repeat(60), &format!("{}b", "*a".repeat(30))));
    }

    #[test]
    fn globs_files_across_directories() {
        let dir = std::env::temp_dir().join(format!("ferroban-glob-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::create_dir_all(dir.join("b")).unwrap();
        for f in ["a/x.log", "b/x.log", "b/.h.log", "b/y.txt"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let d = dir.to_str().unwrap();
        let mut got = glob(&format!("{d}/*/*.log"));
        got.sort();
        assert_eq!(got, vec![format!("{d}/a/x.log"), format!("{d}/b/x.log")]);
        assert_eq!(glob(&format!("{d}/a/x.log")), vec![format!("{d}/a/x.log")]);
        assert!(glob(&format!("{d}/nope/*.log")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
