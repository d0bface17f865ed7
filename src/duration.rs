//! fail2ban's time abbreviations (`MyTime.str2seconds`): `10m`, `1h 30m`,
//! `1d12h`, `1year-6mo`, `-1`, plain seconds. fail2ban rewrites the units into
//! multiplications and `eval()`s the result; we rewrite the same way and
//! evaluate with the safe evaluator of `pyexpr`.

use crate::pyexpr::{self, ExprError, Num};
use fancy_regex::Regex;
use std::sync::LazyLock;

/// Seconds in fail2ban's year (365.25 days) and month (a twelfth of it).
const YEAR: &str = "31557600.0";
const MONTH: &str = "2629800.0";

struct Rewrite {
    prep: Regex,
    parts: Vec<(Regex, String)>,
    fini: Regex,
}

static REWRITE: LazyLock<Rewrite> = LazyLock::new(|| {
    let part = |units: &str| Regex::new(&format!(r"(?i)(?<=[\d\s])({units})\b")).unwrap();
    Rewrite {
        prep: Regex::new(r"(?i)(?<=[a-z])(\d)").unwrap(),
        parts: vec![
            (part("days?|da|dd?"), format!("*{}", 24 * 60 * 60)),
            (part("weeks?|wee?|ww?"), format!("*{}", 7 * 24 * 60 * 60)),
            (part("months?|mon?"), format!("*{MONTH}")),
            (part("years?|yea?|yy?"), format!("*{YEAR}")),
            (part("seconds?|sec?|ss?"), "*1".to_string()),
            (part("minutes?|min?|mm?"), "*60".to_string()),
            (part("hours?|hou?|hh?"), format!("*{}", 60 * 60)),
        ],
        fini: Regex::new(r"(\d)\s+(\d)").unwrap(),
    }
});

/// Converts a time abbreviation to seconds, as fail2ban does.
pub fn str2seconds(value: &str) -> Result<Num, ExprError> {
    let r = &*REWRITE;
    let mut v = r.prep.replace_all(value, " $1").into_owned();
    for (re, repl) in &r.parts {
        v = re.replace_all(&v, repl.as_str()).into_owned();
    }
    // One pass, as in Python: `1 2 3` becomes `1+2 3`, a syntax error there too.
    v = r.fini.replace_all(&v, "$1+$2").into_owned();
    pyexpr::eval(&v, &())
}

/// Seconds as a whole number (fail2ban truncates float results where it stores ints).
pub fn seconds(value: &str) -> Result<i64, ExprError> {
    Ok(match str2seconds(value)? {
        Num::Int(i) => i,
        Num::Float(f) => f as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abbreviations_like_fail2ban() {
        assert_eq!(str2seconds("10m"), Ok(Num::Int(600)));
        assert_eq!(str2seconds("1h"), Ok(Num::Int(3600)));
        assert_eq!(str2seconds("1d12h"), Ok(Num::Int(129600)));
        assert_eq!(str2seconds("0d 1h 30m"), Ok(Num::Int(5400)));
        assert_eq!(str2seconds("1hour+30min"), Ok(Num::Int(5400)));
        assert_eq!(str2seconds("1w"), Ok(Num::Int(604800)));
        assert_eq!(str2seconds("-1"), Ok(Num::Int(-1)));
        assert_eq!(str2seconds("600"), Ok(Num::Int(600)));
        assert_eq!(str2seconds("1year-6mo"), Ok(Num::Float(15778800.0)));
        assert_eq!(str2seconds("6 months"), Ok(Num::Float(15778800.0)));
        assert_eq!(
            str2seconds("xyz").unwrap_err().to_string(),
            "name 'xyz' is not defined"
        );
        assert_eq!(str2seconds("2d 3"), Ok(Num::Int(172803)));
        assert_eq!(
            str2seconds("1 2 3").unwrap_err().to_string(),
            "invalid syntax (<string>, line 1)"
        );
    }
}
