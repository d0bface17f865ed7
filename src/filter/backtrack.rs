//! A backtracking matcher for filter regexes on ASCII texts, answering as
//! the `regex` crate would with far less work per search.
//!
//! The crate's capture engines pay for their generality on every search:
//! a pool lookup, a DFA pass to find the match, then a bounded backtracker
//! that clears a visited set as large as the program times the text and
//! walks the NFA one epsilon move at a time. fail2ban's regexes are mostly
//! literals, byte classes and repetitions of one class (`\S+`, `.*?`,
//! `\d{1,3}`), searched on short lines. Here a repetition of one class is
//! one instruction that counts its run at once and, when it must give bytes
//! back, resumes only where the rest of the pattern can start; literals are
//! compared as slices; only choice points are memoised.
//!
//! Paths are tried in the order of the crate's Thompson NFA (alternatives
//! left to right, greedy repetitions longest first, lazy ones shortest
//! first), so the first match found is the crate's leftmost-first match
//! with the same groups. Memoising (choice point, position) pairs keeps the
//! work linear: a pair reached again can only fail again, since what
//! follows does not depend on the groups recorded so far. Patterns with
//! constructs not listed here, or with a repetition whose body can match
//! the empty string, get no program; a search whose memo would be too large
//! leaves the answer to the crate ([`Outcome::Undecided`]).

use regex_syntax::hir::{Class, Hir, HirKind, Look};

use super::matcher::Span;

/// Largest program built (instructions).
const MAX_INSTS: usize = 20_000;
/// Largest memo of one search, in bits (64 KiB).
const MAX_MEMO_BITS: usize = 1 << 19;
/// Runs up to this long are measured byte by byte, longer ones with memchr.
const SHORT_RUN: usize = 16;
/// "Not set" in a capture slot.
const UNSET: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inst {
    /// One byte of `sets[set]`.
    Byte {
        set: u32,
    },
    /// The bytes `literals[start..start + len]`.
    Literal {
        start: u32,
        len: u32,
    },
    /// From `min` to `max` bytes of `sets[set]`, then the next instruction;
    /// `memo` numbers it among the choice points.
    Repeat {
        set: u32,
        min: u32,
        max: u32,
        greedy: bool,
        memo: u32,
        /// No byte of the set can start the rest (`\S+` before `\s`): only
        /// the whole run can be followed, so there is nothing to give back.
        whole_run: bool,
    },
    /// Goes on at `first`, then at `second` if that fails.
    Split {
        first: u32,
        second: u32,
        memo: u32,
    },
    Jump {
        to: u32,
    },
    /// Records the position in capture slot `slot`.
    Save {
        slot: u32,
    },
    Look(Look),
    Match,
}

/// Where the rest of a pattern can go on: the bytes it can consume first,
/// and whether it can reach the match consuming nothing (anywhere, or only
/// at the end of the text, through `$`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Follow {
    bytes: u128,
    empty_anywhere: bool,
    empty_at_end: bool,
    /// How to look for the admitted positions in a stretch of text.
    probe: Probe,
}

/// The fastest way to find bytes of a [`Follow`]: most are one to three
/// bytes (the space before ` from `), which `memchr` finds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Probe {
    /// Every position is admitted.
    Any,
    Bytes1(u8),
    Bytes2(u8, u8),
    Bytes3(u8, u8, u8),
    #[default]
    Set,
}

impl Follow {
    fn union(self, other: Follow) -> Follow {
        Follow {
            bytes: self.bytes | other.bytes,
            empty_anywhere: self.empty_anywhere || other.empty_anywhere,
            empty_at_end: self.empty_at_end || other.empty_at_end,
            probe: Probe::Set,
        }
    }

    /// `self` with its probe chosen.
    fn probed(mut self) -> Follow {
        let bytes: Vec<u8> = (0..128u8).filter(|&b| (self.bytes >> b) & 1 != 0).collect();
        self.probe = match bytes[..] {
            _ if self.empty_anywhere || self.bytes == u128::MAX >> 1 => Probe::Any,
            [a] => Probe::Bytes1(a),
            [a, b] => Probe::Bytes2(a, b),
            [a, b, c] => Probe::Bytes3(a, b, c),
            _ => Probe::Set,
        };
        self
    }

    /// Whether the rest can match from a position before byte `b`.
    #[inline]
    fn admits_byte(&self, b: u8) -> bool {
        self.empty_anywhere || (self.bytes >> b) & 1 != 0
    }

    /// Whether the rest can match at the end of the text.
    #[inline]
    fn admits_end(&self) -> bool {
        self.empty_anywhere || self.empty_at_end
    }

    /// Whether the rest can match from `pos` of `hay` (a superset).
    #[inline]
    fn admits(&self, hay: &[u8], pos: usize) -> bool {
        match hay.get(pos) {
            Some(&b) => self.admits_byte(b),
            None => self.admits_end(),
        }
    }

    /// The last admitted position in `lo..=hi` (`hi` at most the text's length).
    #[inline]
    fn last_admitted(&self, hay: &[u8], lo: usize, hi: usize) -> Option<usize> {
        if lo > hi {
            return None;
        }
        if hi == hay.len() && self.admits(hay, hi) {
            return Some(hi);
        }
        // The positions with a byte.
        let end = hi.min(hay.len().saturating_sub(1)) + 1;
        let bytes = hay.get(lo..end)?;
        if bytes.len() <= SHORT_RUN {
            return bytes
                .iter()
                .rposition(|&b| self.admits_byte(b))
                .map(|i| lo + i);
        }
        let found = match self.probe {
            Probe::Any => bytes.len().checked_sub(1),
            Probe::Bytes1(a) => memchr::memrchr(a, bytes),
            Probe::Bytes2(a, b) => memchr::memrchr2(a, b, bytes),
            Probe::Bytes3(a, b, c) => memchr::memrchr3(a, b, c, bytes),
            Probe::Set => bytes.iter().rposition(|&b| (self.bytes >> b) & 1 != 0),
        };
        found.map(|i| lo + i)
    }

    /// The first admitted position in `lo..=hi` (`hi` at most the text's length).
    #[inline]
    fn first_admitted(&self, hay: &[u8], lo: usize, hi: usize) -> Option<usize> {
        if lo > hi {
            return None;
        }
        let end = hi.min(hay.len().saturating_sub(1)) + 1;
        let bytes = hay.get(lo..end.max(lo)).unwrap_or(&[]);
        let found = match self.probe {
            _ if bytes.len() <= SHORT_RUN => bytes.iter().position(|&b| self.admits_byte(b)),
            Probe::Any => (!bytes.is_empty()).then_some(0),
            Probe::Bytes1(a) => memchr::memchr(a, bytes),
            Probe::Bytes2(a, b) => memchr::memchr2(a, b, bytes),
            Probe::Bytes3(a, b, c) => memchr::memchr3(a, b, c, bytes),
            Probe::Set => bytes.iter().position(|&b| (self.bytes >> b) & 1 != 0),
        };
        match found {
            Some(i) => Some(lo + i),
            None => (hi == hay.len() && self.admits(hay, hi)).then_some(hi),
        }
    }
}

/// A compiled pattern. Build it with [`Program::new`]; search with a
/// [`Cache`] of the caller's.
#[derive(Debug, Clone)]
pub struct Program {
    insts: Box<[Inst]>,
    /// Byte `b` is in set `s` when `member[s * 128 + b]` (texts are ASCII).
    member: Box<[bool]>,
    /// How a `Repeat` of each set finds the end of its run.
    scans: Box<[Scan]>,
    literals: Box<[u8]>,
    /// For each instruction, where the pattern can go on after it (used
    /// by `Repeat`s to skip lengths the rest cannot follow).
    follow: Box<[Follow]>,
    /// Choice points (memoised instructions).
    memos: usize,
    /// For the `Split` with memo `m`, at `m * 129 + c` (`c` the next byte,
    /// 128 at the end of the text): bit 0 set when its first branch can
    /// start there, bit 1 for the second.
    branches: Box<[u8]>,
    /// Capture groups, group 0 included.
    groups: usize,
    /// Every match starts at the start of the text (a `^` on every path).
    anchored_start: bool,
    /// A literal every match contains (the last one the pattern requires):
    /// a text without it is answered without a search. Late failures are
    /// the costly ones (sshd's `…(?: ssh\d*)?: ` on a line without `: `).
    required: Option<memchr::memmem::Finder<'static>>,
}

/// How the run of a repeated set is measured: most sets fail on one to
/// three bytes (`.` on a newline), which `memchr` finds fastest.
#[derive(Debug, Clone, Copy)]
enum Scan {
    Table,
    Until1(u8),
    Until2(u8, u8),
    Until3(u8, u8, u8),
}

impl Scan {
    fn of(set: u128) -> Scan {
        let outside: Vec<u8> = (0..128u8).filter(|&b| (set >> b) & 1 == 0).collect();
        match outside[..] {
            [a] => Scan::Until1(a),
            [a, b] => Scan::Until2(a, b),
            [a, b, c] => Scan::Until3(a, b, c),
            _ => Scan::Table,
        }
    }
}

/// The reusable buffers of searches (one per caller, like the crate's caches).
#[derive(Debug, Clone, Default)]
pub struct Cache {
    stack: Vec<Frame>,
    slots: Vec<u32>,
    memo: Vec<u64>,
}

#[derive(Debug, Clone, Copy)]
enum Frame {
    /// Try instruction `pc` at `pos`.
    Explore { pc: u32, pos: u32 },
    /// Put back a capture slot's value on the way back.
    Restore { slot: u32, old: u32 },
    /// A greedy `Repeat` at `pc` from `base` took `taken` bytes; shorter
    /// takes down to `min` are left.
    Greedy {
        pc: u32,
        base: u32,
        taken: u32,
        min: u32,
    },
    /// A lazy `Repeat` at `pc` from `base` took `taken` bytes; longer takes
    /// up to `max` are left.
    Lazy {
        pc: u32,
        base: u32,
        taken: u32,
        max: u32,
    },
}

/// What a search found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A match ending at this byte; the spans are filled.
    Match(usize),
    NoMatch,
    /// The program cannot answer for this text (not ASCII where it looks,
    /// or past the program's limits): ask the `regex` crate.
    Undecided,
}

/// A construct the program does not handle.
struct Unsupported;

struct Compiler {
    insts: Vec<Inst>,
    sets: Vec<u128>,
    literals: Vec<u8>,
    memos: u32,
}

impl Compiler {
    fn emit(&mut self, inst: Inst) -> Result<u32, Unsupported> {
        if self.insts.len() >= MAX_INSTS {
            return Err(Unsupported);
        }
        self.insts.push(inst);
        Ok(self.insts.len() as u32 - 1)
    }

    fn here(&self) -> u32 {
        self.insts.len() as u32
    }

    fn memo(&mut self) -> u32 {
        self.memos += 1;
        self.memos - 1
    }

    fn set(&mut self, set: u128) -> u32 {
        match self.sets.iter().position(|s| *s == set) {
            Some(i) => i as u32,
            None => {
                self.sets.push(set);
                self.sets.len() as u32 - 1
            }
        }
    }

    fn split(&mut self) -> Result<u32, Unsupported> {
        let memo = self.memo();
        self.emit(Inst::Split {
            first: 0,
            second: 0,
            memo,
        })
    }

    fn patch_split(&mut self, at: u32, first: u32, second: u32) {
        if let Some(Inst::Split { memo, .. }) = self.insts.get(at as usize).copied() {
            self.insts[at as usize] = Inst::Split {
                first,
                second,
                memo,
            };
        }
    }

    /// Compiles `hir` in the layout of the crate's Thompson compiler, so
    /// that paths are tried in the same order.
    fn compile(&mut self, hir: &Hir) -> Result<(), Unsupported> {
        match hir.kind() {
            HirKind::Empty => Ok(()),
            HirKind::Literal(lit) => {
                if lit.0.iter().any(|&b| b >= 128) {
                    // Never matches an ASCII text.
                    let set = self.set(0);
                    return self.emit(Inst::Byte { set }).map(drop);
                }
                let start = self.literals.len() as u32;
                self.literals.extend_from_slice(&lit.0);
                self.emit(Inst::Literal {
                    start,
                    len: lit.0.len() as u32,
                })
                .map(drop)
            }
            HirKind::Class(class) => {
                let set = self.set(ascii_set(class));
                self.emit(Inst::Byte { set }).map(drop)
            }
            HirKind::Look(look) => match look {
                Look::Start
                | Look::End
                | Look::StartLF
                | Look::EndLF
                | Look::WordAscii
                | Look::WordAsciiNegate
                | Look::WordStartAscii
                | Look::WordEndAscii
                | Look::WordStartHalfAscii
                | Look::WordEndHalfAscii => self.emit(Inst::Look(*look)).map(drop),
                _ => Err(Unsupported),
            },
            HirKind::Capture(cap) => {
                let slot = 2 * cap.index;
                self.emit(Inst::Save { slot })?;
                self.compile(&cap.sub)?;
                self.emit(Inst::Save { slot: slot + 1 }).map(drop)
            }
            HirKind::Concat(parts) => parts.iter().try_for_each(|p| self.compile(p)),
            HirKind::Alternation(alts) => {
                let mut jumps = Vec::new();
                for (i, alt) in alts.iter().enumerate() {
                    if i + 1 == alts.len() {
                        self.compile(alt)?;
                    } else {
                        let split = self.split()?;
                        self.compile(alt)?;
                        jumps.push(self.emit(Inst::Jump { to: 0 })?);
                        let next = self.here();
                        self.patch_split(split, split + 1, next);
                    }
                }
                let end = self.here();
                for j in jumps {
                    self.insts[j as usize] = Inst::Jump { to: end };
                }
                Ok(())
            }
            HirKind::Repetition(rep) => self.repetition(rep),
        }
    }

    fn repetition(&mut self, rep: &regex_syntax::hir::Repetition) -> Result<(), Unsupported> {
        if rep.max.is_some_and(|max| max < rep.min) {
            return Err(Unsupported);
        }
        if let Some(set) = single_byte_set(&rep.sub) {
            let set = self.set(set);
            if rep.min == 0 && rep.max == Some(1) {
                // `x?` is a choice the branch table settles at the next byte.
                let split = self.split()?;
                self.emit(Inst::Byte { set })?;
                let end = self.here();
                if rep.greedy {
                    self.patch_split(split, split + 1, end);
                } else {
                    self.patch_split(split, end, split + 1);
                }
                return Ok(());
            }
            let memo = self.memo();
            return self
                .emit(Inst::Repeat {
                    set,
                    min: rep.min,
                    max: rep.max.unwrap_or(u32::MAX),
                    greedy: rep.greedy,
                    memo,
                    whole_run: false,
                })
                .map(drop);
        }
        // An unbounded loop whose iteration can match nothing is where
        // engines disagree (and where a loop could spin): left to the crate.
        if rep.max.is_none() && rep.sub.properties().minimum_len().is_none_or(|n| n == 0) {
            return Err(Unsupported);
        }
        for _ in 0..rep.min {
            self.compile(&rep.sub)?;
        }
        match rep.max {
            None => {
                // L: split(body, exit); body; jump L
                let head = self.split()?;
                self.compile(&rep.sub)?;
                self.emit(Inst::Jump { to: head })?;
                let exit = self.here();
                if rep.greedy {
                    self.patch_split(head, head + 1, exit);
                } else {
                    self.patch_split(head, exit, head + 1);
                }
            }
            Some(max) => {
                // `a{2,4}` is `aa(?:a(?:a)?)?`: each optional copy runs or
                // skips to the common end.
                let mut splits = Vec::new();
                for _ in rep.min..max {
                    splits.push(self.split()?);
                    self.compile(&rep.sub)?;
                }
                let end = self.here();
                for s in splits {
                    if rep.greedy {
                        self.patch_split(s, s + 1, end);
                    } else {
                        self.patch_split(s, end, s + 1);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The ASCII bytes of a class (also the date templates' programs').
pub(crate) fn ascii_set(class: &Class) -> u128 {
    let mut set = 0u128;
    let mut add = |lo: u32, hi: u32| {
        for b in lo..=hi.min(127) {
            set |= 1u128 << b;
        }
    };
    match class {
        Class::Unicode(c) => c.iter().for_each(|r| add(r.start() as u32, r.end() as u32)),
        Class::Bytes(c) => c.iter().for_each(|r| add(r.start() as u32, r.end() as u32)),
    }
    set
}

/// `pattern` read as the `regex` crate reads it by default.
pub(crate) fn parse(pattern: &str) -> Option<Hir> {
    regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()
}

/// The last literal of two bytes or more that every match of `hir` contains.
fn last_required_literal(hir: &Hir) -> Option<Vec<u8>> {
    match hir.kind() {
        HirKind::Literal(lit) if lit.0.len() >= 2 => Some(lit.0.to_vec()),
        HirKind::Capture(cap) => last_required_literal(&cap.sub),
        HirKind::Concat(parts) => parts.iter().rev().find_map(last_required_literal),
        HirKind::Repetition(rep) if rep.min > 0 => last_required_literal(&rep.sub),
        _ => None,
    }
}

/// The bytes of `hir` when it matches exactly one ASCII byte.
fn single_byte_set(hir: &Hir) -> Option<u128> {
    match hir.kind() {
        HirKind::Class(c) => Some(ascii_set(c)),
        HirKind::Literal(lit) if lit.0.len() == 1 => {
            let b = lit.0[0];
            Some(if b < 128 { 1u128 << b } else { 0 })
        }
        _ => None,
    }
}

/// [`Follow`] of every instruction (what can come from it on).
fn follows(insts: &[Inst], sets: &[u128], literals: &[u8]) -> Vec<Follow> {
    // Paths only loop back through a `Jump` to a `Split` whose body consumes
    // a byte, so a walk over epsilon moves ends; `busy` guards it anyway.
    fn of(
        pc: usize,
        insts: &[Inst],
        sets: &[u128],
        literals: &[u8],
        done: &mut [Option<Follow>],
        busy: &mut [bool],
    ) -> Follow {
        if let Some(f) = done[pc] {
            return f;
        }
        if busy[pc] {
            return Follow::default();
        }
        busy[pc] = true;
        let mut next = |to: usize| match to < insts.len() {
            true => of(to, insts, sets, literals, done, busy),
            false => Follow::default(),
        };
        let f = match insts[pc] {
            Inst::Byte { set } => Follow {
                bytes: sets[set as usize],
                ..Follow::default()
            },
            Inst::Literal { start, len } => match len {
                0 => next(pc + 1),
                _ => Follow {
                    bytes: 1u128 << literals[start as usize],
                    ..Follow::default()
                },
            },
            Inst::Repeat { set, min, .. } => {
                let own = Follow {
                    bytes: sets[set as usize],
                    ..Follow::default()
                };
                if min == 0 {
                    own.union(next(pc + 1))
                } else {
                    own
                }
            }
            Inst::Split { first, second, .. } => next(first as usize).union(next(second as usize)),
            Inst::Jump { to } => next(to as usize),
            Inst::Save { .. } => next(pc + 1),
            Inst::Look(Look::End) => {
                let after = next(pc + 1);
                Follow {
                    bytes: 0,
                    empty_anywhere: false,
                    empty_at_end: after.empty_anywhere || after.empty_at_end,
                    probe: Probe::Set,
                }
            }
            // Other assertions are looked through (a superset).
            Inst::Look(_) => next(pc + 1),
            Inst::Match => Follow {
                empty_anywhere: true,
                ..Follow::default()
            },
        };
        busy[pc] = false;
        done[pc] = Some(f);
        f
    }
    let mut done = vec![None; insts.len()];
    let mut busy = vec![false; insts.len()];
    (0..insts.len())
        .map(|pc| of(pc, insts, sets, literals, &mut done, &mut busy))
        .collect()
}

#[inline]
fn is_word(b: Option<&u8>) -> bool {
    b.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

#[inline]
fn look_holds(look: Look, hay: &[u8], pos: usize) -> bool {
    let before = pos.checked_sub(1).and_then(|p| hay.get(p));
    let after = hay.get(pos);
    match look {
        Look::Start => pos == 0,
        Look::End => pos == hay.len(),
        Look::StartLF => pos == 0 || before == Some(&b'\n'),
        Look::EndLF => pos == hay.len() || after == Some(&b'\n'),
        Look::WordAscii => is_word(before) != is_word(after),
        Look::WordAsciiNegate => is_word(before) == is_word(after),
        Look::WordStartAscii => !is_word(before) && is_word(after),
        Look::WordEndAscii => is_word(before) && !is_word(after),
        Look::WordStartHalfAscii => !is_word(before),
        Look::WordEndHalfAscii => !is_word(after),
        _ => false,
    }
}

impl Program {
    /// The program for `pattern` (regex-crate syntax) or `None` when it uses
    /// something the program does not handle (see the module comment). The
    /// program answers for ASCII texts only.
    pub fn new(pattern: &str) -> Option<Program> {
        Program::from_hir(&super::matcher::ascii_only(&parse(pattern)?))
    }

    /// The program for `hir`, whose classes and word boundaries are ASCII.
    pub fn from_hir(hir: &Hir) -> Option<Program> {
        let props = hir.properties();
        let groups = props.explicit_captures_len() + 1;
        let mut c = Compiler {
            insts: Vec::new(),
            sets: Vec::new(),
            literals: Vec::new(),
            memos: 0,
        };
        c.compile(hir).ok()?;
        c.emit(Inst::Match).ok()?;
        if c.insts
            .iter()
            .any(|i| matches!(i, Inst::Save { slot } if *slot as usize >= 2 * groups))
        {
            return None;
        }
        let follow: Vec<Follow> = follows(&c.insts, &c.sets, &c.literals)
            .into_iter()
            .map(Follow::probed)
            .collect();
        for (pc, inst) in c.insts.iter_mut().enumerate() {
            if let Inst::Repeat { set, whole_run, .. } = inst {
                let rest = &follow[pc + 1];
                *whole_run = !rest.empty_anywhere && rest.bytes & c.sets[*set as usize] == 0;
            }
        }
        let mut branches = vec![0u8; c.memos as usize * 129];
        for inst in &c.insts {
            if let Inst::Split {
                first,
                second,
                memo,
            } = *inst
            {
                let row = &mut branches[memo as usize * 129..][..129];
                for (class, entry) in row.iter_mut().enumerate() {
                    let can = |f: &Follow| match class {
                        128 => f.admits_end(),
                        b => f.admits_byte(b as u8),
                    };
                    *entry = u8::from(can(&follow[first as usize]))
                        | u8::from(can(&follow[second as usize])) << 1;
                }
            }
        }
        let member = c
            .sets
            .iter()
            .flat_map(|set| (0..128u8).map(move |b| (set >> b) & 1 != 0))
            .collect();
        Some(Program {
            insts: c.insts.into(),
            member,
            scans: c.sets.iter().map(|&set| Scan::of(set)).collect(),
            literals: c.literals.into(),
            follow: follow.into(),
            memos: c.memos as usize,
            branches: branches.into(),
            groups,
            anchored_start: props.look_set_prefix().contains(Look::Start),
            required: last_required_literal(hir)
                .map(|lit| memchr::memmem::Finder::new(&lit).into_owned()),
        })
    }

    /// Number of groups, group 0 included.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// For a pattern whose matches all start at the start of the text: the
    /// ASCII bytes a match can begin with, and whether it can be empty. A
    /// text whose first byte is ASCII and not among them cannot match (the
    /// pattern's Unicode program included: its first character is that byte).
    pub fn first_bytes(&self) -> Option<(u128, bool)> {
        let f = self.follow.first()?;
        self.anchored_start
            .then_some((f.bytes, f.empty_anywhere || f.empty_at_end))
    }

    /// Whether every match starts at the start of the text (`^`).
    pub fn anchored_start(&self) -> bool {
        self.anchored_start
    }

    /// Searches `text` from `start` (leftmost-first, as the crate's
    /// unanchored search), or only at `start` when `anchored`; on a match
    /// fills `spans` (one per group).
    pub fn search(
        &self,
        text: &str,
        start: usize,
        anchored: bool,
        cache: &mut Cache,
        spans: &mut [Span],
    ) -> Outcome {
        let hay = text.as_bytes();
        if start > hay.len() || spans.len() != self.groups || !hay[start..].is_ascii() {
            return Outcome::Undecided;
        }
        if (anchored || self.anchored_start) && !self.follow[0].admits(hay, start) {
            return Outcome::NoMatch;
        }
        if let Some(required) = &self.required {
            if required.find(&hay[start..]).is_none() {
                return Outcome::NoMatch;
            }
        }
        // Assertions look one byte back.
        if start > 0 && !hay[start - 1].is_ascii() {
            return Outcome::Undecided;
        }
        let width = hay.len() - start + 1;
        let bits = self.memos.saturating_mul(width);
        if bits > MAX_MEMO_BITS || hay.len() >= u32::MAX as usize {
            return Outcome::Undecided;
        }
        let words = bits.div_ceil(64);
        cache.memo.clear();
        cache.memo.resize(words, 0);
        cache.slots.clear();
        cache.slots.resize(2 * self.groups, UNSET);
        let last_start = if anchored || self.anchored_start {
            start
        } else {
            hay.len()
        };
        for at in start..=last_start {
            if let Some(end) = self.run(hay, start, at, cache) {
                spans[0] = Some((at, end));
                for (g, span) in spans.iter_mut().enumerate().skip(1) {
                    let (a, b) = (cache.slots[2 * g], cache.slots[2 * g + 1]);
                    *span = (a != UNSET && b != UNSET).then_some((a as usize, b as usize));
                }
                return Outcome::Match(end);
            }
        }
        Outcome::NoMatch
    }

    /// Whether ASCII byte `b` is in set `set`.
    #[inline]
    fn has(&self, set: u32, b: u8) -> bool {
        self.member
            .get(set as usize * 128 + usize::from(b))
            .copied()
            .unwrap_or(false)
    }

    /// How many bytes at the start of `bytes` are in set `set`.
    #[inline]
    fn run_length(&self, set: u32, bytes: &[u8]) -> usize {
        let base = set as usize * 128;
        let Some(table) = self.member.get(base..base + 128) else {
            return 0;
        };
        // Most runs are short (`\s+`, a user name): the table settles them
        // before a call to memchr would have started.
        let head = bytes.len().min(SHORT_RUN);
        if let Some(i) = bytes[..head]
            .iter()
            .position(|&b| !table[usize::from(b & 127)])
        {
            return i;
        }
        let rest = &bytes[head..];
        let found = match self.scans.get(set as usize) {
            Some(Scan::Until1(a)) => memchr::memchr(*a, rest),
            Some(Scan::Until2(a, b)) => memchr::memchr2(*a, *b, rest),
            Some(Scan::Until3(a, b, c)) => memchr::memchr3(*a, *b, *c, rest),
            _ => rest.iter().position(|&b| !table[usize::from(b & 127)]),
        };
        head + found.unwrap_or(rest.len())
    }

    /// Marks choice point `memo` at `pos` as visited; false if it was.
    #[inline]
    fn visit(memo_bits: &mut [u64], memo: u32, pos: usize, origin: usize, width: usize) -> bool {
        let bit = memo as usize * width + (pos - origin);
        let (word, mask) = (bit / 64, 1u64 << (bit % 64));
        match memo_bits.get_mut(word) {
            Some(w) if *w & mask == 0 => {
                *w |= mask;
                true
            }
            _ => false,
        }
    }

    /// Backtracks from `at`, trying paths in priority order; the end of
    /// the first match found, with its slots in `cache.slots`.
    fn run(&self, hay: &[u8], origin: usize, at: usize, cache: &mut Cache) -> Option<usize> {
        let width = hay.len() - origin + 1;
        let Cache { stack, slots, memo } = cache;
        // Saves made with nothing left to try are not undone (see `Save`).
        slots.fill(UNSET);
        stack.clear();
        stack.push(Frame::Explore {
            pc: 0,
            pos: at as u32,
        });
        while let Some(frame) = stack.pop() {
            let (mut pc, mut pos) = match frame {
                Frame::Explore { pc, pos } => (pc as usize, pos as usize),
                Frame::Restore { slot, old } => {
                    slots[slot as usize] = old;
                    continue;
                }
                Frame::Greedy {
                    pc,
                    base,
                    taken,
                    min,
                } => {
                    let follow = &self.follow[pc as usize + 1];
                    let (lo, hi) = ((base + min) as usize, (base + taken) as usize);
                    let Some(p) = hi
                        .checked_sub(1)
                        .and_then(|hi| follow.last_admitted(hay, lo, hi))
                    else {
                        continue;
                    };
                    let k = p as u32 - base;
                    if k > min {
                        stack.push(Frame::Greedy {
                            pc,
                            base,
                            taken: k,
                            min,
                        });
                    }
                    (pc as usize + 1, (base + k) as usize)
                }
                Frame::Lazy {
                    pc,
                    base,
                    taken,
                    max,
                } => {
                    let follow = &self.follow[pc as usize + 1];
                    let (lo, hi) = ((base + taken + 1) as usize, (base + max) as usize);
                    let Some(p) = follow.first_admitted(hay, lo, hi) else {
                        continue;
                    };
                    let k = p as u32 - base;
                    stack.push(Frame::Lazy {
                        pc,
                        base,
                        taken: k,
                        max,
                    });
                    (pc as usize + 1, (base + k) as usize)
                }
            };
            // Runs one path until it fails or matches.
            loop {
                match self.insts[pc] {
                    Inst::Byte { set } => match hay.get(pos) {
                        Some(&b) if self.has(set, b) => {
                            pc += 1;
                            pos += 1;
                        }
                        _ => break,
                    },
                    Inst::Literal { start, len } => {
                        let (start, len) = (start as usize, len as usize);
                        let (Some(have), Some(want)) = (
                            hay.get(pos..pos + len),
                            self.literals.get(start..start + len),
                        ) else {
                            break;
                        };
                        // Literals are short: a loop beats a call to memcmp.
                        if have.iter().zip(want).all(|(a, b)| a == b) {
                            pc += 1;
                            pos += len;
                        } else {
                            break;
                        }
                    }
                    Inst::Repeat {
                        set,
                        min,
                        max,
                        greedy,
                        memo: m,
                        whole_run,
                    } => {
                        let follow = &self.follow[pc + 1];
                        let limit = (hay.len() - pos).min(max as usize);
                        if whole_run {
                            // No choice here: nothing to remember or give back.
                            let run = self.run_length(set, &hay[pos..pos + limit]);
                            if run < min as usize || !follow.admits(hay, pos + run) {
                                break;
                            }
                            pc += 1;
                            pos += run;
                            continue;
                        }
                        if !Self::visit(memo, m, pos, origin, width) {
                            break;
                        }
                        let run = self.run_length(set, &hay[pos..pos + limit]);
                        let min = min as usize;
                        if run < min {
                            break;
                        }
                        if greedy {
                            let Some(k) = follow
                                .last_admitted(hay, pos + min, pos + run)
                                .map(|p| p - pos)
                            else {
                                break;
                            };
                            if k > min {
                                stack.push(Frame::Greedy {
                                    pc: pc as u32,
                                    base: pos as u32,
                                    taken: k as u32,
                                    min: min as u32,
                                });
                            }
                            pc += 1;
                            pos += k;
                        } else {
                            // The shortest take the rest admits, the longer ones left.
                            let Some(k) = follow
                                .first_admitted(hay, pos + min, pos + run)
                                .map(|p| p - pos)
                            else {
                                break;
                            };
                            stack.push(Frame::Lazy {
                                pc: pc as u32,
                                base: pos as u32,
                                taken: k as u32,
                                max: run as u32,
                            });
                            pc += 1;
                            pos += k;
                        }
                    }
                    Inst::Split {
                        first,
                        second,
                        memo: m,
                    } => {
                        // A branch that cannot start here is not tried.
                        let class = hay.get(pos).map_or(128, |&b| usize::from(b & 127));
                        match self
                            .branches
                            .get(m as usize * 129 + class)
                            .copied()
                            .unwrap_or(3)
                        {
                            3 => {
                                if !Self::visit(memo, m, pos, origin, width) {
                                    break;
                                }
                                stack.push(Frame::Explore {
                                    pc: second,
                                    pos: pos as u32,
                                });
                                pc = first as usize;
                            }
                            1 => pc = first as usize,
                            2 => pc = second as usize,
                            _ => break,
                        }
                    }
                    Inst::Jump { to } => pc = to as usize,
                    Inst::Save { slot } => {
                        // With nothing left to try, a failure ends the search
                        // (whose slots start unset): no need to restore.
                        if !stack.is_empty() {
                            let old = slots[slot as usize];
                            stack.push(Frame::Restore { slot, old });
                        }
                        slots[slot as usize] = pos as u32;
                        pc += 1;
                    }
                    Inst::Look(look) => {
                        if !look_holds(look, hay, pos) {
                            break;
                        }
                        pc += 1;
                    }
                    Inst::Match => return Some(pos),
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::meta;
    use regex_automata::util::primitives::NonMaxUsize;

    /// The crate's answer on an ASCII text: spans of every group.
    fn crate_spans(pattern: &str, text: &str, start: usize, anchored: bool) -> Option<Vec<Span>> {
        let re = meta::Regex::new(pattern).unwrap();
        let mut slots: Vec<Option<NonMaxUsize>> = vec![None; re.group_info().slot_len()];
        let mode = if anchored {
            regex_automata::Anchored::Yes
        } else {
            regex_automata::Anchored::No
        };
        let input = regex_automata::Input::new(text)
            .range(start..)
            .anchored(mode);
        re.search_slots(&input, &mut slots)?;
        Some(
            slots
                .chunks(2)
                .map(|p| match (p[0], p[1]) {
                    (Some(a), Some(b)) => Some((a.get(), b.get())),
                    _ => None,
                })
                .collect(),
        )
    }

    fn ours(pattern: &str, text: &str, start: usize, anchored: bool) -> Option<Option<Vec<Span>>> {
        let program = Program::new(pattern)?;
        let mut spans = vec![None; program.groups()];
        let mut cache = Cache::default();
        match program.search(text, start, anchored, &mut cache, &mut spans) {
            Outcome::Match(_) => Some(Some(spans)),
            Outcome::NoMatch => Some(None),
            Outcome::Undecided => None,
        }
    }

    /// Small deterministic generator (no dependency).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[(self.next() % items.len() as u64) as usize]
        }
    }

    const PATTERNS: &[&str] = &[
        r"^(?P<user>\S+) from (?P<host>\d{1,3}(?:\.\d{1,3}){3})(?: port \d+)?(?: ssh\d*)?$",
        r"^Failed (?:(?P<nf>publickey)|\S+) for (?P<inv>invalid user )?(?P<user>[^:]+) from (?:\[?(?:(?:::f{4,6}:)?(?P<ip4>(?:\d{1,3}\.){3}\d{1,3})|(?P<ip6>(?:[0-9a-fA-F]{1,4}::?|:){1,7}(?:[0-9a-fA-F]{1,4}|:)))\]?|(?P<dns>[\w\-.^_]*\w))(?: (?:port \d+|on \S+)){0,2}(?: ssh\d*)?",
        r"(?P<a>a+?)(?P<b>a*)b",
        r"x(?:ab|a)*?(?P<t>b+)",
        r"(?:(?P<x>\w+)=(?P<v>[^,]*), )*ip=\[(?P<ip>[^\]]*)\]",
        r"^(?P<mlfid>(?:\[\])?\s*(?:<[^.]+\.[^.]+>\s+)?(?:\S+\s+)?(?:kernel:\s?\[ *\d+\.\d+\]:?\s+)?(?:[\[\(]?sshd(?:\(\S+\))?[\]\)]?:?(?:\[\d+\])?:?\s+)?)(?:(?:error|fatal): (?:PAM: )?)?(?P<content>.+)$",
        r"\bfrom\b(?P<r>.*?)\B",
        r"(?m)^(?P<l>[a-z]+)$",
        r"(?i)user=(?P<u>[a-z]{2,4})\b",
        r"a{2,3}?(?P<r>a{0,2})",
        r"(?:ab|a)(?:bc|b|c)*(?P<e>$|x)",
        r"^(?:[^\w]{0,2})?(?P<d>(?:a|)(?:b?){2,3}x?)",
    ];

    const WORDS: &[&str] = &[
        "a",
        "b",
        "ab",
        "aab",
        "x",
        " ",
        "from",
        " from ",
        "1.2.3.4",
        "::ffff:",
        "port 22",
        " ssh2",
        "user=",
        "ip=[",
        "]",
        ", ",
        "Failed ",
        "password ",
        "for ",
        "invalid user ",
        "sshd[12]: ",
        "gate ",
        "\n",
        "=",
        "publickey",
        "AB",
        ":",
        "[",
        "error: ",
        "kernel: [1.5] ",
    ];

    #[test]
    fn agrees_with_the_regex_crate_on_generated_texts() {
        let mut rng = Rng(0x9E3779B97F4A7C15);
        let mut compared = 0;
        for pattern in PATTERNS {
            assert!(Program::new(pattern).is_some(), "no program for {pattern}");
            for _ in 0..3000 {
                let n = (rng.next() % 12) as usize;
                let text: String = (0..n).map(|_| rng.pick(WORDS)).collect();
                let start = (rng.next() as usize) % (text.len() + 1);
                for anchored in [false, true] {
                    let want = crate_spans(pattern, &text, start, anchored);
                    let got = ours(pattern, &text, start, anchored)
                        .unwrap_or_else(|| panic!("undecided: {pattern} on {text:?}"));
                    assert_eq!(got, want, "{pattern} on {text:?} from {start}");
                    compared += 1;
                }
            }
        }
        assert!(compared > 60_000);
    }

    #[test]
    fn constructs_it_cannot_order_like_the_crate_get_no_program() {
        // A repetition whose body can match nothing.
        assert!(Program::new(r"(?:a*)*b").is_none());
        assert!(Program::new(r"(?:a|)+").is_none());
        // A Unicode word boundary on an ASCII program is made ASCII; CRLF
        // line anchors are not handled.
        assert!(Program::new(r"(?Rm)^a$").is_none());
    }

    #[test]
    fn texts_that_are_not_ascii_are_left_to_the_crate() {
        let program = Program::new(r"a(?P<x>.)b").unwrap();
        let mut spans = vec![None; 2];
        let out = program.search("aéb", 0, false, &mut Cache::default(), &mut spans);
        assert_eq!(out, Outcome::Undecided);
    }

    #[test]
    fn a_long_greedy_run_gives_back_only_where_the_rest_can_start() {
        let text = format!("{} from 1.2.3.4", "x".repeat(5000));
        let got = ours(r"^(?P<u>.+) from (?P<h>\S+)$", &text, 0, false).unwrap();
        assert_eq!(
            got,
            crate_spans(r"^(?P<u>.+) from (?P<h>\S+)$", &text, 0, false)
        );
    }
}
