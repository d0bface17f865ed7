//! fail2ban's option-list syntax: `name[opt=value, opt2="a,b"][opt3='x']` for
//! filters and actions, several of them in one multi-line `action` value, and
//! comma/space separated word lists such as `ignoreip`.

use super::dict::Dict;
use super::error::{ConfigError, ErrorKind};
use fancy_regex::Regex;
use std::sync::LazyLock;

// The patterns are fail2ban's own (helpers.py), so that odd inputs split the same way.
static OPTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)^([^\[]+)(?:\[(.*)\])?\s*$").unwrap());
static OPTION_EXTRACT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?s)\s*([\w\-_\.]+)=(?:"([^"]*)"|'([^']*)'|([^,\]]*))(?:,|\]\s*\[|$|(?P<wrngA>.+))|,?\s*$|(?P<wrngB>.+)"#,
    )
    .unwrap()
});
static OPTION_SPLIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?s)(?:[^\[\s]+(?:\s*\[\s*(?:[\w\-_\.]+=(?:"[^"]*"|'[^']*'|[^,\]]*)\s*(?:,|\]\s*\[)?\s*)*\])?\s*|\S+)(?=\n\s*|\s+|$)"#,
    )
    .unwrap()
});

fn invalid(spec: &str, detail: String) -> ConfigError {
    ConfigError::new(ErrorKind::InvalidOptions {
        spec: spec.to_string(),
        detail,
    })
}

/// Splits `sshd[mode=aggressive, x="a,b"]` into the name and its options.
pub fn extract_options(spec: &str) -> Result<(String, Vec<(String, String)>), ConfigError> {
    let caps = OPTION
        .captures(spec)
        .map_err(|e| invalid(spec, e.to_string()))?
        .ok_or_else(|| invalid(spec, "unexpected option syntax".into()))?;
    let name = caps.get(1).unwrap().as_str().to_string();
    let mut opts: Dict<String> = Dict::new();
    if let Some(optstr) = caps.get(2).map(|m| m.as_str()).filter(|s| !s.is_empty()) {
        for m in OPTION_EXTRACT.captures_iter(optstr) {
            let m = m.map_err(|e| invalid(spec, e.to_string()))?;
            if let Some(w) = m.name("wrngA") {
                let after = m.get(1).map_or("", |g| g.as_str());
                return Err(invalid(
                    spec,
                    format!(
                        "unexpected syntax at {} after option {}: {}",
                        optstr[..w.start()].chars().count(),
                        crate::stream::str_repr(after),
                        w.as_str().chars().take(25).collect::<String>()
                    ),
                ));
            }
            if let Some(w) = m.name("wrngB") {
                return Err(invalid(
                    spec,
                    format!(
                        "expected option, wrong syntax at {}: {}",
                        optstr[..w.start()].chars().count(),
                        w.as_str().chars().take(25).collect::<String>()
                    ),
                ));
            }
            let Some(opt) = m.get(1) else { continue };
            let value = (2..=4).find_map(|i| m.get(i)).map_or("", |g| g.as_str());
            opts.insert(
                super::ini::py_strip(opt.as_str()),
                super::ini::py_strip(value).to_string(),
            );
        }
    }
    Ok((
        name,
        opts.iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    ))
}

/// Splits a multi-line `action` value into one `name[options]` per entry,
/// keeping line breaks inside `[…]`.
pub fn split_with_options(value: &str) -> Vec<String> {
    OPTION_SPLIT
        .find_iter(value)
        .filter_map(Result::ok)
        .map(|m| m.as_str().to_string())
        .collect()
}

/// Splits on commas, spaces and newlines, dropping empty words.
pub fn split_words(s: &str) -> Vec<String> {
    s.split([' ', ',', '\n'])
        .map(super::ini::py_strip)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_quoted_and_plain_options() {
        let (name, opts) =
            extract_options(r#"iptables[name=Courier, port="80,443", protocol='tcp']"#).unwrap();
        assert_eq!(name, "iptables");
        assert_eq!(
            opts,
            vec![
                ("name".into(), "Courier".into()),
                ("port".into(), "80,443".into()),
                ("protocol".into(), "tcp".into())
            ]
        );
        let (name, opts) = extract_options("sshd[mode=aggressive][logtype=journal]").unwrap();
        assert_eq!(name, "sshd");
        assert_eq!(opts.len(), 2);
        assert_eq!(extract_options("plain").unwrap(), ("plain".into(), vec![]));
    }

    #[test]
    fn bad_option_syntax_is_reported() {
        let detail = |s| match extract_options(s).unwrap_err().kind {
            ErrorKind::InvalidOptions { detail, .. } => detail,
            k => panic!("{k:?}"),
        };
        // fail2ban's own texts, checked against helpers.extractOptions.
        assert_eq!(
            detail(r#"x[a="q" z]"#),
            "unexpected syntax at 5 after option 'a':  z"
        );
        assert_eq!(detail("x[=1]"), "expected option, wrong syntax at 0: =1");
        assert_eq!(
            detail("x[a=1,,b=2]"),
            "expected option, wrong syntax at 4: ,b=2"
        );
        assert_eq!(
            extract_options("x[a=1 b]").unwrap().1,
            vec![("a".into(), "1 b".into())]
        );
    }

    #[test]
    fn splits_multi_line_actions() {
        let v = "a[x=1, y=\"2\"]\nb[name=%(__name__)s-tcp,\n  protocol=\"tcp\"]\nc";
        let parts: Vec<String> = split_with_options(v)
            .iter()
            .map(|s| s.trim().to_string())
            .collect();
        assert_eq!(
            parts,
            vec![
                "a[x=1, y=\"2\"]",
                "b[name=%(__name__)s-tcp,\n  protocol=\"tcp\"]",
                "c"
            ]
        );
    }

    #[test]
    fn splits_words() {
        assert_eq!(
            split_words("127.0.0.1/8 ::1,10.0.0.1\n x"),
            vec!["127.0.0.1/8", "::1", "10.0.0.1", "x"]
        );
    }
}
