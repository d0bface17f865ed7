//! fail2ban's `MyTime.str2seconds` for the one action property that goes
//! through it, `timeout`: `60`, `1m`, `1h 30m`, `0.5m`, `1d-2h`.
//!
//! fail2ban rewrites the units into a Python expression and `eval`s it; this
//! accepts the same sums of `NUMBER[unit]` terms without evaluating code, and
//! keeps Python's int/float distinction because the value also appears in
//! commands as `<timeout>`.

use crate::stream::Value;

/// Seconds per unit, as fail2ban's table (month and year are floats there).
fn unit_seconds(unit: &str) -> Option<Value> {
    let u = unit.to_ascii_lowercase();
    let m = |names: &[&str]| names.contains(&u.as_str());
    Some(if m(&["days", "day", "da", "dd", "d"]) {
        Value::Int(86400)
    } else if m(&["weeks", "week", "wee", "we", "ww", "w"]) {
        Value::Int(604800)
    } else if m(&["months", "month", "mon", "mo"]) {
        Value::Float(2629800.0)
    } else if m(&["years", "year", "yea", "ye", "yy", "y"]) {
        Value::Float(31557600.0)
    } else if m(&["seconds", "second", "sec", "se", "ss", "s"]) {
        Value::Int(1)
    } else if m(&["minutes", "minute", "min", "mi", "mm", "m"]) {
        Value::Int(60)
    } else if m(&["hours", "hour", "hou", "ho", "hh", "h"]) {
        Value::Int(3600)
    } else {
        return None;
    })
}

fn mul(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Value::Int(x.saturating_mul(*y)),
        _ => Value::Float(as_f64(a) * as_f64(b)),
    }
}

fn add(a: &Value, b: &Value, sign: i64) -> Value {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Value::Int(x.saturating_add(sign * y)),
        _ => Value::Float(as_f64(a) + sign as f64 * as_f64(b)),
    }
}

/// A number value as f64 (0 for anything else).
pub fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => 0.0,
    }
}

/// Converts a property value to seconds the way `str2seconds` does; numbers
/// pass through. `None` when the text is not a time span.
pub fn str2seconds(v: &Value) -> Option<Value> {
    let text = match v {
        Value::Int(_) | Value::Float(_) => return Some(v.clone()),
        Value::Bool(b) => return Some(Value::Int(i64::from(*b))),
        Value::Str(s) => s.as_str(),
        _ => return None,
    };
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut total: Option<Value> = None;
    let mut sign = 1;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= chars.len() {
            break;
        }
        if total.is_some() {
            // Terms are joined by +, - or (as fail2ban does) plain spaces.
            match chars[i] {
                '+' => {
                    sign = 1;
                    i += 1;
                }
                '-' => {
                    sign = -1;
                    i += 1;
                }
                _ => sign = 1,
            }
            skip_ws(&mut i);
        } else if chars[i] == '-' || chars[i] == '+' {
            sign = if chars[i] == '-' { -1 } else { 1 };
            i += 1;
            skip_ws(&mut i);
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
            i += 1;
        }
        let num: String = chars[start..i].iter().collect();
        let mut term = if num.contains('.') {
            Value::Float(num.parse().ok()?)
        } else {
            Value::Int(num.parse().ok()?)
        };
        skip_ws(&mut i);
        let ustart = i;
        while i < chars.len() && chars[i].is_ascii_alphabetic() {
            i += 1;
        }
        if i > ustart {
            let unit: String = chars[ustart..i].iter().collect();
            term = mul(&term, &unit_seconds(&unit)?);
        }
        total = Some(match total {
            None => mul(&term, &Value::Int(sign)),
            Some(t) => add(&t, &term, sign),
        });
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Option<Value> {
        str2seconds(&Value::str(x))
    }

    #[test]
    fn converts_like_fail2ban() {
        assert_eq!(s("60"), Some(Value::Int(60)));
        assert_eq!(s("1m"), Some(Value::Int(60)));
        assert_eq!(s("1h 30m"), Some(Value::Int(5400)));
        assert_eq!(s("1d12h"), Some(Value::Int(129600)));
        assert_eq!(s("0.5m"), Some(Value::Float(30.0)));
        assert_eq!(s("1year-6mo"), Some(Value::Float(15778800.0)));
        assert_eq!(str2seconds(&Value::Int(5)), Some(Value::Int(5)));
    }

    #[test]
    fn rejects_what_is_not_a_time_span() {
        assert_eq!(s("abc"), None);
        assert_eq!(s("1 parsec"), None);
        assert_eq!(s(""), None);
    }
}
