//! The JSON of the `data` column of `bans` and `bips`, as fail2ban writes it
//! with Python's `json.dumps(data, ensure_ascii=False)`: `", "` and `": "` as
//! separators, non-ASCII text as it is, `NaN`/`Infinity` for the floats JSON
//! has no word for. Writing the same bytes keeps files that both tools touched
//! looking like fail2ban's own.
//!
//! Values are [`Value`]s, the Python-like values of the command stream, so a
//! ticket's data goes to the server in the shape the protocol already uses.

use crate::json::{self, Json};
use crate::stream::{float_repr, Value};

/// `json.dumps(v, ensure_ascii=False)`.
pub fn to_json(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::None => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(x) => out.push_str(&float_json(*x)),
        Value::Str(s) => write_str(out, s),
        // fail2ban's default= hook turns unknown values into text.
        Value::Bytes(b) => write_str(out, &String::from_utf8_lossy(b)),
        Value::List(items) | Value::Tuple(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Dict(items) => {
            out.push('{');
            for (i, (k, item)) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str(out, &key_text(k));
                out.push_str(": ");
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// JSON object keys are text; Python converts the scalar ones this way.
fn key_text(k: &Value) -> String {
    match k {
        Value::Str(s) => s.clone(),
        Value::None => "null".into(),
        Value::Bool(b) => if *b { "true" } else { "false" }.into(),
        Value::Int(i) => i.to_string(),
        Value::Float(x) => float_json(*x),
        other => to_json(other),
    }
}

fn float_json(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        float_repr(x)
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `json.loads`: `None` on any syntax error, trailing junk or excessive
/// nesting (fail2ban then uses an empty dict, and so do the callers).
pub fn from_json(text: &str) -> Option<Value> {
    json::parse(text).map(to_value)
}

/// The Python value `json.loads` makes of a JSON value.
fn to_value(j: Json) -> Value {
    match j {
        Json::Null => Value::None,
        Json::Bool(b) => Value::Bool(b),
        Json::Num(text) => number(&text),
        Json::Str(s) => Value::Str(s),
        Json::Arr(items) => Value::List(items.into_iter().map(to_value).collect()),
        Json::Obj(items) => Value::Dict(
            items
                .into_iter()
                .map(|(k, v)| (Value::Str(k), to_value(v)))
                .collect(),
        ),
    }
}

fn number(text: &str) -> Value {
    let float = text.contains(['.', 'e', 'E', 'N', 'I']);
    if !float {
        // Python's ints have no bound; past i64 the nearest float keeps
        // the magnitude rather than failing the whole row.
        if let Ok(i) = text.parse::<i64>() {
            return Value::Int(i);
        }
    }
    match text {
        "NaN" => Value::Float(f64::NAN),
        "Infinity" => Value::Float(f64::INFINITY),
        "-Infinity" => Value::Float(f64::NEG_INFINITY),
        _ => Value::Float(text.parse().unwrap_or(f64::NAN)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_python_writes() {
        let v = Value::Dict(vec![
            (
                Value::str("matches"),
                Value::List(vec![Value::str("a \"b\"\n"), Value::str("é\u{1}")]),
            ),
            (Value::str("failures"), Value::Int(3)),
            (Value::str("x"), Value::Float(1.5)),
            (Value::str("n"), Value::None),
        ]);
        assert_eq!(
            to_json(&v),
            r#"{"matches": ["a \"b\"\n", "é\u0001"], "failures": 3, "x": 1.5, "n": null}"#
        );
        assert_eq!(to_json(&Value::Float(f64::INFINITY)), "Infinity");
        assert_eq!(to_json(&Value::Float(2.0)), "2.0");
    }

    #[test]
    fn reads_back_what_it_writes_and_what_python_writes() {
        let text = r#"{"matches": ["Dec  3 09:31:08 x", "\u00e9\ud83d\ude00"], "failures": 3, "f": -1.25e2, "b": [true, false, null]}"#;
        let v = from_json(text).expect("valid JSON");
        let Value::Dict(items) = &v else {
            panic!("a dict: {v:?}")
        };
        assert_eq!(items[0].1.as_list().unwrap()[1], Value::str("é😀"));
        assert_eq!(items[1].1, Value::Int(3));
        assert_eq!(items[2].1, Value::Float(-125.0));
        assert_eq!(from_json(&to_json(&v)), Some(v));
    }

    #[test]
    fn repeated_keys_keep_the_first_place_and_the_last_value() {
        let v = from_json(r#"{"a": 1, "b": 2, "a": 3}"#).unwrap();
        assert_eq!(
            v,
            Value::Dict(vec![
                (Value::str("a"), Value::Int(3)),
                (Value::str("b"), Value::Int(2))
            ])
        );
    }

    #[test]
    fn junk_is_none_and_big_ints_become_floats() {
        assert_eq!(from_json("{\"a\" 1}"), None);
        assert_eq!(from_json("NaN").map(|v| v.to_string()), Some("nan".into()));
        assert_eq!(
            from_json("123456789012345678901234567890"),
            Some(Value::Float(1.2345678901234568e29))
        );
    }
}
