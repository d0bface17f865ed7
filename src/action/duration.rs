//! Time spans of action properties (`timeout`), through fail2ban's
//! `str2seconds` (`crate::duration`), keeping Python's int/float
//! distinction because the value also appears in commands as `<timeout>`.

use crate::pyexpr::Num;
use crate::stream::Value;

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
    match v {
        Value::Int(_) | Value::Float(_) => Some(v.clone()),
        Value::Bool(b) => Some(Value::Int(i64::from(*b))),
        Value::Str(s) => match crate::duration::str2seconds(s).ok()? {
            Num::Int(i) => Some(Value::Int(i)),
            Num::Float(f) => Some(Value::Float(f)),
        },
        _ => None,
    }
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
