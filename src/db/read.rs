//! Lenient reading of column values. SQLite stores whatever a writer gave it:
//! fail2ban 0.9 wrote `timeofban` as a float, bantime.increment may store a
//! fractional bantime, a hand-edited file may hold text. A value that cannot
//! be read makes its row skipped (and left in the file), never a panic.

use super::json::from_json;
use crate::stream::Value;
use rusqlite::types::ValueRef;

/// A number in any storage class.
pub(crate) fn number(v: ValueRef<'_>) -> Option<f64> {
    match v {
        ValueRef::Integer(i) => Some(i as f64),
        ValueRef::Real(x) if x.is_finite() => Some(x),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite()),
        _ => None,
    }
}

/// A whole number, fractions rounded down (times: the second it fell in).
pub(crate) fn floor(v: ValueRef<'_>) -> Option<i64> {
    match v {
        ValueRef::Integer(i) => Some(i),
        other => number(other).map(|x| x.floor() as i64),
    }
}

/// A whole number, fractions rounded up (lengths: a ban never ends early).
pub(crate) fn ceil(v: ValueRef<'_>) -> Option<i64> {
    match v {
        ValueRef::Integer(i) => Some(i),
        other => number(other).map(|x| x.ceil() as i64),
    }
}

/// Text, from a TEXT or BLOB value (fail2ban under Python 3 stores its JSON
/// as bytes); numbers in their decimal form.
pub(crate) fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(x) => Some(x.to_string()),
        ValueRef::Null => None,
    }
}

/// The `data` column: a dict, or an empty one for NULL or unreadable JSON
/// (as fail2ban's converter does).
pub(crate) fn data(v: ValueRef<'_>) -> Value {
    match text(v).as_deref().and_then(from_json) {
        Some(d @ Value::Dict(_)) => d,
        _ => Value::Dict(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_from_every_storage_class() {
        assert_eq!(floor(ValueRef::Real(1388009242.75)), Some(1388009242));
        assert_eq!(ceil(ValueRef::Real(600.2)), Some(601));
        assert_eq!(floor(ValueRef::Text(b" 12 ")), Some(12));
        assert_eq!(floor(ValueRef::Text(b"x")), None);
        assert_eq!(floor(ValueRef::Null), None);
        assert_eq!(ceil(ValueRef::Real(f64::NAN)), None);
    }

    #[test]
    fn data_is_always_a_dict() {
        assert_eq!(data(ValueRef::Null), Value::Dict(vec![]));
        assert_eq!(data(ValueRef::Blob(b"{not json")), Value::Dict(vec![]));
        assert_eq!(data(ValueRef::Text(b"[1]")), Value::Dict(vec![]));
        assert_eq!(
            data(ValueRef::Blob(br#"{"failures": 2}"#)),
            Value::Dict(vec![(Value::str("failures"), Value::Int(2))])
        );
    }
}
