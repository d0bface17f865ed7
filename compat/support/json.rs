//! JSON for the test harnesses (the `# failJSON:` comments of fail2ban's
//! sample logs and the reference's outputs): the crate's own reader, with
//! the lookups the harnesses need.

pub use ferroban::json::Json;

/// Lookups on a parsed value.
pub trait JsonExt {
    /// The member `key` of an object.
    fn get(&self, key: &str) -> Option<&Json>;
    fn as_str(&self) -> Option<&str>;
    /// A number's value.
    fn as_f64(&self) -> Option<f64>;
    /// Python truthiness.
    fn truthy(&self) -> bool;
}

impl JsonExt for Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Num(n) => match n.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                n => n.parse().ok(),
            },
            _ => None,
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Json::Null => false,
            Json::Bool(b) => *b,
            Json::Num(_) => self.as_f64().is_some_and(|n| n != 0.0),
            Json::Str(s) => !s.is_empty(),
            Json::Arr(a) => !a.is_empty(),
            Json::Obj(o) => !o.is_empty(),
        }
    }
}

/// Parses one JSON value; the error names the offending text.
pub fn parse(text: &str) -> Result<Json, String> {
    ferroban::json::parse(text).ok_or_else(|| format!("invalid JSON {text:?}"))
}
