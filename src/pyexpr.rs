//! A safe evaluator for the small Python expressions fail2ban evaluates with
//! `eval()`: time abbreviations after their rewrite (`1*3600+30*60`), and
//! `bantime.factor` / `bantime.formula` (`ban.Time * (1<<(ban.Count if
//! ban.Count<20 else 20)) * banFactor`, `math.exp(...)`).
//!
//! Numbers, names given by the caller, `math.*` and a few builtins, the
//! arithmetic, bitwise, comparison and boolean operators, and `a if c else b`
//! are supported with Python's semantics (`/` is true division, `//` and `%`
//! floor). Nothing else exists, so nothing else can run.

use std::fmt;

/// A Python number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    fn truthy(self) -> bool {
        self.as_f64() != 0.0
    }
}

impl fmt::Display for Num {
    /// Python's `str()` of the number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Int(i) => write!(f, "{i}"),
            Num::Float(x) => f.write_str(&crate::stream::float_repr(*x)),
        }
    }
}

/// Why an expression could not be evaluated; the texts are Python's.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprError {
    /// Nothing to evaluate (Python reports it at line 0).
    Empty,
    Syntax,
    UnknownName(String),
    DivisionByZero,
    Overflow,
    BadCall(String),
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExprError::Empty => f.write_str("invalid syntax (<string>, line 0)"),
            ExprError::Syntax => f.write_str("invalid syntax (<string>, line 1)"),
            ExprError::UnknownName(n) => write!(f, "name '{n}' is not defined"),
            ExprError::DivisionByZero => f.write_str("division by zero"),
            ExprError::Overflow => f.write_str("integer overflow"),
            ExprError::BadCall(n) => write!(f, "bad arguments to {n}()"),
        }
    }
}

impl std::error::Error for ExprError {}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(Num),
    Name(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

const OPS: [&str; 22] = [
    "**", "//", "<<", ">>", "<=", ">=", "==", "!=", "+", "-", "*", "/", "%", "<", ">", "&", "|",
    "^", "~", ".", "(", ")",
];

fn tokenize(s: &str) -> Result<Vec<Tok>, ExprError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
                i += 1;
            }
            let mut float = false;
            if i < b.len() && b[i] == b'.' {
                float = true;
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                let save = i;
                i += 1;
                if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                    i += 1;
                }
                if i < b.len() && b[i].is_ascii_digit() {
                    float = true;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                } else {
                    i = save;
                }
            }
            let text = s[start..i].replace('_', "");
            if i < b.len() && (b[i].is_ascii_alphabetic() || b[i] == b'_') {
                return Err(ExprError::Syntax);
            }
            out.push(Tok::Num(if float {
                Num::Float(text.parse().map_err(|_| ExprError::Syntax)?)
            } else {
                Num::Int(text.parse().map_err(|_| ExprError::Overflow)?)
            }));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Name(s[start..i].to_string()));
        } else if c == b'(' {
            out.push(Tok::LParen);
            i += 1;
        } else if c == b')' {
            out.push(Tok::RParen);
            i += 1;
        } else if c == b',' {
            out.push(Tok::Comma);
            i += 1;
        } else {
            let op = OPS
                .iter()
                .find(|op| s[i..].starts_with(**op))
                .ok_or(ExprError::Syntax)?;
            out.push(Tok::Op(op));
            i += op.len();
        }
    }
    Ok(out)
}

/// Looks up the names an expression may use (besides `math.*` and builtins).
pub trait Names {
    fn get(&self, name: &str) -> Option<Num>;
}

impl Names for () {
    fn get(&self, _: &str) -> Option<Num> {
        None
    }
}

impl<F: Fn(&str) -> Option<Num>> Names for F {
    fn get(&self, name: &str) -> Option<Num> {
        self(name)
    }
}

/// Evaluates `expr` with `names`.
pub fn eval(expr: &str, names: &dyn Names) -> Result<Num, ExprError> {
    let toks = tokenize(expr)?;
    if toks.is_empty() {
        return Err(ExprError::Empty);
    }
    let mut p = Parser {
        toks,
        pos: 0,
        names,
    };
    let v = p.conditional()?;
    if p.pos != p.toks.len() {
        return Err(ExprError::Syntax);
    }
    Ok(v)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    names: &'a dyn Names,
}

fn int_op(a: i64, b: i64, f: impl Fn(i64, i64) -> Option<i64>) -> Result<Num, ExprError> {
    f(a, b).map(Num::Int).ok_or(ExprError::Overflow)
}

fn bool_num(b: bool) -> Num {
    Num::Int(b as i64)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Op(o)) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_name(&mut self, name: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Name(n)) if n == name) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn conditional(&mut self) -> Result<Num, ExprError> {
        let v = self.or()?;
        if self.eat_name("if") {
            let cond = self.or()?;
            if !self.eat_name("else") {
                return Err(ExprError::Syntax);
            }
            let other = self.conditional()?;
            return Ok(if cond.truthy() { v } else { other });
        }
        Ok(v)
    }

    fn or(&mut self) -> Result<Num, ExprError> {
        let mut v = self.and()?;
        while self.eat_name("or") {
            let r = self.and()?;
            if !v.truthy() {
                v = r;
            }
        }
        Ok(v)
    }

    fn and(&mut self) -> Result<Num, ExprError> {
        let mut v = self.not()?;
        while self.eat_name("and") {
            let r = self.not()?;
            if v.truthy() {
                v = r;
            }
        }
        Ok(v)
    }

    fn not(&mut self) -> Result<Num, ExprError> {
        if self.eat_name("not") {
            let v = self.not()?;
            return Ok(bool_num(!v.truthy()));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Num, ExprError> {
        let mut left = self.bitor()?;
        let mut result: Option<bool> = None;
        while let Some(Tok::Op(op @ ("<" | ">" | "<=" | ">=" | "==" | "!="))) = self.peek() {
            let op = *op;
            self.pos += 1;
            let right = self.bitor()?;
            let (a, b) = (left.as_f64(), right.as_f64());
            let ok = match op {
                "<" => a < b,
                ">" => a > b,
                "<=" => a <= b,
                ">=" => a >= b,
                "==" => a == b,
                _ => a != b,
            };
            result = Some(result.unwrap_or(true) && ok);
            left = right;
        }
        Ok(match result {
            Some(r) => bool_num(r),
            None => left,
        })
    }

    fn bitor(&mut self) -> Result<Num, ExprError> {
        let mut v = self.bitxor()?;
        while self.eat_op("|") {
            let r = self.bitxor()?;
            v = int_op(self.int(v)?, self.int(r)?, |a, b| Some(a | b))?;
        }
        Ok(v)
    }

    fn bitxor(&mut self) -> Result<Num, ExprError> {
        let mut v = self.bitand()?;
        while self.eat_op("^") {
            let r = self.bitand()?;
            v = int_op(self.int(v)?, self.int(r)?, |a, b| Some(a ^ b))?;
        }
        Ok(v)
    }

    fn bitand(&mut self) -> Result<Num, ExprError> {
        let mut v = self.shift()?;
        while self.eat_op("&") {
            let r = self.shift()?;
            v = int_op(self.int(v)?, self.int(r)?, |a, b| Some(a & b))?;
        }
        Ok(v)
    }

    fn int(&self, v: Num) -> Result<i64, ExprError> {
        match v {
            Num::Int(i) => Ok(i),
            Num::Float(_) => Err(ExprError::Syntax),
        }
    }

    fn shift(&mut self) -> Result<Num, ExprError> {
        let mut v = self.sum()?;
        loop {
            let left = self.eat_op("<<");
            if !left && !self.eat_op(">>") {
                return Ok(v);
            }
            let r = self.sum()?;
            let (a, b) = (self.int(v)?, self.int(r)?);
            if b < 0 {
                return Err(ExprError::Syntax);
            }
            v = if left {
                int_op(a, b, |a, b| {
                    u32::try_from(b)
                        .ok()
                        .and_then(|b| a.checked_shl(b))
                        .filter(|r| r >> b == a)
                })?
            } else {
                Num::Int(if b >= 64 {
                    if a < 0 {
                        -1
                    } else {
                        0
                    }
                } else {
                    a >> b
                })
            };
        }
    }

    fn sum(&mut self) -> Result<Num, ExprError> {
        let mut v = self.term()?;
        loop {
            let plus = self.eat_op("+");
            if !plus && !self.eat_op("-") {
                return Ok(v);
            }
            let r = self.term()?;
            v = match (v, r) {
                (Num::Int(a), Num::Int(b)) => int_op(
                    a,
                    b,
                    if plus {
                        i64::checked_add
                    } else {
                        i64::checked_sub
                    },
                )?,
                (a, b) => Num::Float(if plus {
                    a.as_f64() + b.as_f64()
                } else {
                    a.as_f64() - b.as_f64()
                }),
            };
        }
    }

    fn term(&mut self) -> Result<Num, ExprError> {
        let mut v = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Op(op @ ("*" | "/" | "//" | "%"))) => *op,
                _ => return Ok(v),
            };
            self.pos += 1;
            let r = self.unary()?;
            v = arith(op, v, r)?;
        }
    }

    fn unary(&mut self) -> Result<Num, ExprError> {
        if self.eat_op("-") {
            return match self.unary()? {
                Num::Int(i) => i.checked_neg().map(Num::Int).ok_or(ExprError::Overflow),
                Num::Float(f) => Ok(Num::Float(-f)),
            };
        }
        if self.eat_op("+") {
            return self.unary();
        }
        if self.eat_op("~") {
            let v = self.unary()?;
            return Ok(Num::Int(!self.int(v)?));
        }
        self.power()
    }

    fn power(&mut self) -> Result<Num, ExprError> {
        let base = self.atom()?;
        if self.eat_op("**") {
            let exp = self.unary()?;
            return match (base, exp) {
                (Num::Int(a), Num::Int(b)) if b >= 0 => u32::try_from(b)
                    .ok()
                    .and_then(|b| a.checked_pow(b))
                    .map(Num::Int)
                    .ok_or(ExprError::Overflow),
                (a, b) => Ok(Num::Float(a.as_f64().powf(b.as_f64()))),
            };
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Num, ExprError> {
        let tok = self.peek().cloned().ok_or(ExprError::Syntax)?;
        self.pos += 1;
        match tok {
            Tok::Num(n) => Ok(n),
            Tok::LParen => {
                let v = self.conditional()?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(ExprError::Syntax);
                }
                self.pos += 1;
                Ok(v)
            }
            Tok::Name(first) => {
                let mut name = first;
                while self.peek() == Some(&Tok::Op(".")) {
                    self.pos += 1;
                    match self.peek().cloned() {
                        Some(Tok::Name(n)) => {
                            self.pos += 1;
                            name = format!("{name}.{n}");
                        }
                        _ => return Err(ExprError::Syntax),
                    }
                }
                if self.peek() == Some(&Tok::LParen) {
                    if !FUNCTIONS.contains(&name.as_str()) {
                        return Err(ExprError::UnknownName(
                            name.split('.').next().unwrap_or(&name).to_string(),
                        ));
                    }
                    self.pos += 1;
                    let mut args = Vec::new();
                    if self.peek() != Some(&Tok::RParen) {
                        loop {
                            args.push(self.conditional()?);
                            if self.peek() == Some(&Tok::Comma) {
                                self.pos += 1;
                                continue;
                            }
                            break;
                        }
                    }
                    if self.peek() != Some(&Tok::RParen) {
                        return Err(ExprError::Syntax);
                    }
                    self.pos += 1;
                    return call(&name, &args);
                }
                match name.as_str() {
                    "True" => Ok(Num::Int(1)),
                    "False" => Ok(Num::Int(0)),
                    "math.e" => Ok(Num::Float(std::f64::consts::E)),
                    "math.pi" => Ok(Num::Float(std::f64::consts::PI)),
                    _ => self.names.get(&name).ok_or_else(|| {
                        ExprError::UnknownName(name.split('.').next().unwrap_or(&name).to_string())
                    }),
                }
            }
            _ => Err(ExprError::Syntax),
        }
    }
}

/// `*`, `/`, `//`, `%` with Python's semantics.
fn arith(op: &str, a: Num, b: Num) -> Result<Num, ExprError> {
    if b.as_f64() == 0.0 && op != "*" {
        return Err(ExprError::DivisionByZero);
    }
    Ok(match (op, a, b) {
        ("*", Num::Int(x), Num::Int(y)) => return int_op(x, y, i64::checked_mul),
        ("*", x, y) => Num::Float(x.as_f64() * y.as_f64()),
        ("/", x, y) => Num::Float(x.as_f64() / y.as_f64()),
        ("//", Num::Int(x), Num::Int(y)) => Num::Int(floor_div(x, y)),
        ("//", x, y) => Num::Float((x.as_f64() / y.as_f64()).floor()),
        (_, Num::Int(x), Num::Int(y)) => Num::Int(x - y * floor_div(x, y)),
        (_, x, y) => {
            let (x, y) = (x.as_f64(), y.as_f64());
            Num::Float(x - y * (x / y).floor())
        }
    })
}

/// The functions an expression may call.
const FUNCTIONS: [&str; 15] = [
    "float",
    "int",
    "abs",
    "round",
    "min",
    "max",
    "math.exp",
    "math.sqrt",
    "math.floor",
    "math.ceil",
    "math.log",
    "math.log2",
    "math.log10",
    "math.pow",
    "pow",
];

/// Python's `//` on integers (rounds toward negative infinity).
fn floor_div(x: i64, y: i64) -> i64 {
    let q = x / y;
    if x % y != 0 && ((x < 0) != (y < 0)) {
        q - 1
    } else {
        q
    }
}

fn call(name: &str, args: &[Num]) -> Result<Num, ExprError> {
    let bad = || ExprError::BadCall(name.to_string());
    let one = || {
        if args.len() == 1 {
            Ok(args[0])
        } else {
            Err(bad())
        }
    };
    let f = |g: fn(f64) -> f64| one().map(|a| Num::Float(g(a.as_f64())));
    match name {
        "float" => f(|x| x),
        "int" => one().map(|a| match a {
            Num::Int(i) => Num::Int(i),
            Num::Float(x) => Num::Int(x.trunc() as i64),
        }),
        "abs" => one().map(|a| match a {
            Num::Int(i) => Num::Int(i.abs()),
            Num::Float(x) => Num::Float(x.abs()),
        }),
        "round" => one().map(|a| Num::Int(a.as_f64().round_ties_even() as i64)),
        "min" | "max" if !args.is_empty() => {
            let mut best = args[0];
            for &a in &args[1..] {
                let better = if name == "min" {
                    a.as_f64() < best.as_f64()
                } else {
                    a.as_f64() > best.as_f64()
                };
                if better {
                    best = a;
                }
            }
            Ok(best)
        }
        "math.exp" => f(f64::exp),
        "math.sqrt" => f(f64::sqrt),
        "math.floor" => one().map(|a| Num::Int(a.as_f64().floor() as i64)),
        "math.ceil" => one().map(|a| Num::Int(a.as_f64().ceil() as i64)),
        "math.log" if args.len() == 2 => {
            Ok(Num::Float(args[0].as_f64().ln() / args[1].as_f64().ln()))
        }
        "math.log" => f(f64::ln),
        "math.log2" => f(f64::log2),
        "math.log10" => f(f64::log10),
        "math.pow" | "pow" if args.len() == 2 => {
            Ok(Num::Float(args[0].as_f64().powf(args[1].as_f64())))
        }
        _ => Err(ExprError::UnknownName(
            name.split('.').next().unwrap_or(name).to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str) -> Result<Num, ExprError> {
        eval(s, &())
    }

    #[test]
    fn arithmetic_like_python() {
        assert_eq!(ev("1*3600+30*60"), Ok(Num::Int(5400)));
        assert_eq!(ev("7/2"), Ok(Num::Float(3.5)));
        assert_eq!(ev("-7//2"), Ok(Num::Int(-4)));
        assert_eq!(ev("-7%3"), Ok(Num::Int(2)));
        assert_eq!(ev("7//-2"), Ok(Num::Int(-4)));
        assert_eq!(ev("7%-3"), Ok(Num::Int(-2)));
        assert_eq!(ev("2**10"), Ok(Num::Int(1024)));
        assert_eq!(ev("1<<(3 if 3<20 else 20)"), Ok(Num::Int(8)));
        assert_eq!(ev("1*2629800.0"), Ok(Num::Float(2629800.0)));
        assert_eq!(ev("xyz"), Err(ExprError::UnknownName("xyz".into())));
        assert_eq!(ev("1/0"), Err(ExprError::DivisionByZero));
        assert_eq!(ev("1 +"), Err(ExprError::Syntax));
        assert_eq!(
            ev("__import__(os)"),
            Err(ExprError::UnknownName("__import__".into()))
        );
        assert_eq!(ev("open('/etc/passwd')"), Err(ExprError::Syntax));
    }

    #[test]
    fn fail2ban_formulas() {
        let names = |n: &str| match n {
            "ban.Time" => Some(Num::Int(600)),
            "ban.Count" => Some(Num::Int(3)),
            "banFactor" => Some(Num::Int(1)),
            _ => None,
        };
        assert_eq!(
            eval(
                "ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor",
                &names
            ),
            Ok(Num::Int(4800))
        );
        let v = eval(
            "ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)",
            &names,
        )
        .unwrap();
        assert!((v.as_f64() - 600.0 * (3.0f64).exp()).abs() < 1e-6);
    }
}
