//! A small backtracking matcher for date templates anchored at the start of
//! the line (`{^LN-BEG}…`, `^…`), for lines whose first bytes are ASCII.
//!
//! The `regex` crate spends most of a date search setting up its engines;
//! a template's regex is short, anchored and of bounded length, so a plain
//! backtracker over a tiny program, compiled from the same HIR, answers in
//! a fraction of the time. It is built only when it provably gives the
//! `regex` crate's answer: the first-stage program mirrors the Thompson NFA
//! the crate compiles (same alternatives in the same priority order,
//! bounded repetitions nested the same way), every match must start at
//! position 0 (a `^` prefix on every path), nothing but literals, classes,
//! bounded repetitions, alternations, groups and `^` occurs, and the bytes
//! the search can look at are ASCII (there the ASCII and Unicode programs
//! agree). Anything else, or a search that runs past its step budget,
//! leaves the answer to the `regex` crate.
//!
//! Searches run a second stage made from the first: runs of bytes, and
//! choices whose nested alternatives are flattened in priority order and
//! filtered by the class of the next byte. Neither changes which path
//! wins: a branch skipped for its next byte would have failed there.
//!
//! A search depends on the text only through what it reads: at each
//! position, which of a few sets of byte classes the byte falls in. A run
//! notes those sets (its trace), and the next search of the same program
//! in the same [`Scratch`] gives the same answer without running when its
//! text passes every test of the trace: the lines of a log mostly differ
//! in digits the program only checks for being digits.

use std::sync::atomic::{AtomicU64, Ordering};

use regex_syntax::hir::{Hir, HirKind, Look};

use crate::filter::backtrack::ascii_set;
/// What a search found; `Undecided` also when the step budget ran out.
pub(crate) use crate::filter::backtrack::Outcome;
use crate::filter::matcher::{self, Span};

/// Steps (nodes run) one search may take before it gives up.
const STEP_BUDGET: usize = 10_000;
/// Largest first-stage program built; date templates need a few hundred
/// instructions.
const MAX_INSTS: usize = 4096;
/// Most capture groups a program may have.
const MAX_GROUPS: usize = 64;
/// Most alternatives of one choice node (bits of its masks).
const MAX_BRANCHES: usize = 64;
/// Most bytes of all runs together.
const MAX_RUN_BYTES: usize = 4 * MAX_INSTS;
/// Most byte classes (bits of a run's class sets; one more bit stands for
/// the end of the text in traces).
const MAX_CLASSES: usize = 63;

/// "Not set" in a capture slot.
const UNSET: u32 = u32::MAX;

/// The first stage: one instruction per step of the `regex` crate's
/// Thompson NFA, in the same order. All jumps go forward (repetitions are
/// bounded and unrolled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inst {
    /// Consumes one byte of the set with this index.
    Byte(u32),
    /// Goes on at the first target; the second is tried if that fails.
    Split(u32, u32),
    Jump(u32),
    /// Records the position in capture slot `n`.
    Save(u32),
    /// `^`: only at position 0.
    Start,
    Match,
}

/// A move to a node, recording the position in some capture slots first
/// (the `Save`s and `Jump`s between two first-stage instructions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Edge {
    target: u32,
    saves: u32,
    saves_len: u32,
}

/// Capture slots saved after the first `offset` bytes of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    offset: u32,
    saves: u32,
    saves_len: u32,
}

/// The second stage, what searches run: runs of bytes and flattened
/// choices, so that one step does the work of several instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    /// Consumes one byte of each class set `runs[start..start + len]`,
    /// saving slots within as `marks[marks..marks + marks_len]` say.
    Run {
        start: u32,
        len: u32,
        marks: u32,
        marks_len: u32,
        next: Edge,
    },
    /// Tries `branches[start..start + len]` in order; the mask of class
    /// `c` (the last class is the end of the text) is
    /// `masks[masks + mask_of[rows + c]]`, with bit `i` set when branch `i`
    /// can go on at a byte of that class; `alike` beside it has bit `d` set
    /// for each class `d` with that mask.
    Choice {
        start: u32,
        len: u32,
        rows: u32,
        masks: u32,
    },
    Start {
        next: Edge,
    },
    Match,
}

/// A choice with branches left to try: the set bits of `rest`, from
/// position `pos`, with the first `logged` entries of the save log.
#[derive(Debug, Clone, Copy, Default)]
struct Frame {
    node: u32,
    pos: u32,
    logged: u32,
    rest: u64,
}

/// The backtracker's buffers, kept between searches so that a search
/// allocates nothing once it has grown.
#[derive(Debug, Default)]
struct State {
    frames: Vec<Frame>,
    /// The edges with saves taken on the current path, in order: where
    /// their slots are in `saves` (start, length) and the position.
    log: Vec<(u32, u32, u32)>,
    slots: Vec<u32>,
    /// What the search read: bit `c` of `trace[p]` is set when a byte of
    /// class `c` at position `p` (class `class_count`: the end of the
    /// text) would have given the same answer at every test there.
    trace: Vec<u64>,
}

/// The last search that ran to an answer, to be reused for texts that
/// pass every test of its trace.
#[derive(Debug, Default)]
struct Last {
    /// [`Program::id`] of the program that ran (0: none).
    program: u64,
    /// The trace, without the positions nothing read at the end.
    trace: Vec<u64>,
    /// The text searched, as far as the trace goes.
    text: Vec<u8>,
    /// The answer (`Match` or `NoMatch`); on a match, the spans of the groups.
    outcome: Option<Outcome>,
    spans: Vec<Span>,
}

/// Most programs whose last answer one [`Scratch`] keeps (a detector has
/// a few dozen templates, and tries them all on a line without a date).
const MAX_REMEMBERED: usize = 32;

/// Buffers and the last answers of one searcher (a date detector): a
/// program searched again answers from its last trace.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    state: State,
    /// The last answer of each program searched (at most
    /// [`MAX_REMEMBERED`]; past that, each new one takes the place of the
    /// oldest).
    last: Vec<Last>,
    /// Where the next program past [`MAX_REMEMBERED`] goes.
    evict: usize,
    /// The entry of `last` used last (mostly the one used next).
    recent: usize,
    /// Searches answered from the last trace.
    #[cfg(test)]
    reused: usize,
}

/// Source of [`Program::id`]s.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A compiled line-anchored template regex (see the module comment).
#[derive(Debug)]
pub(crate) struct Program {
    /// Unique in the process: a trace is reused by its own program only.
    id: u64,
    entry: Edge,
    nodes: Box<[Node]>,
    /// Byte class of each byte: bytes in the same class are in the same
    /// sets of the pattern.
    classes: [u8; 256],
    /// Classes of bytes; class `class_count` stands for the end of the text.
    class_count: usize,
    /// Sets of classes (bit `c` for class `c`) of the runs.
    runs: Box<[u64]>,
    marks: Box<[Mark]>,
    branches: Box<[Edge]>,
    mask_of: Box<[u8]>,
    masks: Box<[u64]>,
    alike: Box<[u64]>,
    /// Capture slots set by edges.
    saves: Box<[u32]>,
    /// Capture groups, group 0 included.
    groups: usize,
    /// Most bytes a path consumes (each step reads at least one whole
    /// character in the Unicode program).
    max_len: usize,
}

/// A construct the program does not handle.
struct Unsupported;

struct Compiler {
    insts: Vec<Inst>,
    sets: Vec<u128>,
}

impl Compiler {
    fn emit(&mut self, inst: Inst) -> Result<usize, Unsupported> {
        if self.insts.len() >= MAX_INSTS {
            return Err(Unsupported);
        }
        self.insts.push(inst);
        Ok(self.insts.len() - 1)
    }

    fn here(&self) -> u32 {
        self.insts.len() as u32
    }

    fn byte_set(&mut self, set: u128) -> Result<(), Unsupported> {
        let index = match self.sets.iter().position(|s| *s == set) {
            Some(i) => i,
            None => {
                self.sets.push(set);
                self.sets.len() - 1
            }
        };
        self.emit(Inst::Byte(index as u32)).map(|_| ())
    }

    /// Compiles `hir` the way `regex-automata`'s Thompson compiler lays it
    /// out, so that backtracking tries the same paths in the same order.
    fn compile(&mut self, hir: &Hir) -> Result<(), Unsupported> {
        match hir.kind() {
            HirKind::Empty => Ok(()),
            HirKind::Literal(lit) => {
                for &b in lit.0.iter() {
                    // A byte past ASCII never matches an ASCII text.
                    self.byte_set(if b < 128 { 1u128 << b } else { 0 })?;
                }
                Ok(())
            }
            HirKind::Class(class) => self.byte_set(ascii_set(class)),
            HirKind::Look(Look::Start) => self.emit(Inst::Start).map(|_| ()),
            HirKind::Look(_) => Err(Unsupported),
            HirKind::Capture(cap) => {
                let index = cap.index as usize;
                if index >= MAX_GROUPS {
                    return Err(Unsupported);
                }
                self.emit(Inst::Save(2 * index as u32))?;
                self.compile(&cap.sub)?;
                self.emit(Inst::Save(2 * index as u32 + 1)).map(|_| ())
            }
            HirKind::Concat(parts) => parts.iter().try_for_each(|p| self.compile(p)),
            HirKind::Alternation(alts) => {
                let mut jumps = Vec::new();
                for (i, alt) in alts.iter().enumerate() {
                    if i + 1 == alts.len() {
                        self.compile(alt)?;
                    } else {
                        let split = self.emit(Inst::Split(0, 0))?;
                        self.compile(alt)?;
                        jumps.push(self.emit(Inst::Jump(0))?);
                        self.insts[split] = Inst::Split(split as u32 + 1, self.here());
                    }
                }
                let end = self.here();
                for j in jumps {
                    self.insts[j] = Inst::Jump(end);
                }
                Ok(())
            }
            HirKind::Repetition(rep) => {
                let max = rep.max.ok_or(Unsupported)?;
                if max < rep.min {
                    return Err(Unsupported);
                }
                for _ in 0..rep.min {
                    self.compile(&rep.sub)?;
                }
                // `a{2,4}` is `aa(?:a(?:a)?)?`: each optional copy either
                // runs or skips to the common end, as regex-automata does.
                let mut splits = Vec::new();
                for _ in rep.min..max {
                    splits.push(self.emit(Inst::Split(0, 0))?);
                    self.compile(&rep.sub)?;
                }
                let end = self.here();
                for s in splits {
                    let next = s as u32 + 1;
                    self.insts[s] = if rep.greedy {
                        Inst::Split(next, end)
                    } else {
                        Inst::Split(end, next)
                    };
                }
                Ok(())
            }
        }
    }
}

/// What the first stage tells about each instruction.
struct Analysis {
    /// The bytes that can come first on a path from it to the match (a
    /// superset: `^` and captures are looked through).
    first: Vec<u128>,
    /// Whether a path from it reaches the match without consuming a byte.
    nullable: Vec<bool>,
    /// The most bytes a path from it consumes.
    longest: Vec<usize>,
}

/// Builds the second stage from the first (see [`Node`]).
struct Lowering<'a> {
    insts: &'a [Inst],
    sets: &'a [u128],
    analysis: &'a Analysis,
    classes: [u8; 256],
    class_count: usize,
    /// A byte of each class.
    representatives: Vec<u8>,
    /// The node made for a first-stage instruction.
    node_of: Vec<Option<u32>>,
    nodes: Vec<Node>,
    /// Instructions whose node is still to be filled in.
    todo: Vec<usize>,
    runs: Vec<u64>,
    marks: Vec<Mark>,
    branches: Vec<Edge>,
    mask_of: Vec<u8>,
    masks: Vec<u64>,
    alike: Vec<u64>,
    saves: Vec<u32>,
}

impl Lowering<'_> {
    /// Skips `Save`s and `Jump`s from `pc`: the slots saved on the way and
    /// the instruction reached.
    fn follow(&self, mut pc: usize) -> Option<(Vec<u32>, usize)> {
        let mut saved = Vec::new();
        loop {
            match *self.insts.get(pc)? {
                Inst::Save(slot) => {
                    saved.push(slot);
                    pc += 1;
                }
                Inst::Jump(to) => pc = to as usize,
                _ => return Some((saved, pc)),
            }
        }
    }

    fn node_for(&mut self, pc: usize) -> Option<u32> {
        if let Some(n) = *self.node_of.get(pc)? {
            return Some(n);
        }
        let n = self.nodes.len() as u32;
        self.nodes.push(Node::Match);
        self.node_of[pc] = Some(n);
        self.todo.push(pc);
        Some(n)
    }

    fn edge(&mut self, saved: &[u32], pc: usize) -> Option<Edge> {
        let target = self.node_for(pc)?;
        let saves = self.saves.len() as u32;
        self.saves.extend_from_slice(saved);
        Some(Edge {
            target,
            saves,
            saves_len: saved.len() as u32,
        })
    }

    fn edge_from(&mut self, pc: usize) -> Option<Edge> {
        let (saved, pc) = self.follow(pc)?;
        self.edge(&saved, pc)
    }

    /// The alternatives of the `Split` at `pc` in priority order, nested
    /// choices flattened (a choice's branch that leads straight to another
    /// choice stands for that choice's branches), with the slots saved on
    /// the way to each; `Some(None)` when there would be more than `limit`
    /// (a nested choice that does not fit stays one branch).
    #[allow(clippy::type_complexity)]
    fn alternatives(&self, pc: usize, limit: usize) -> Option<Option<Vec<(Vec<u32>, usize)>>> {
        let Inst::Split(x, y) = *self.insts.get(pc)? else {
            return None;
        };
        let mut out = Vec::new();
        // Room is kept for the second alternative while the first expands.
        for (to, reserve) in [(x, 1), (y, 0)] {
            let (saved, at) = self.follow(to as usize)?;
            let room = limit.saturating_sub(out.len() + reserve);
            let inner = if room >= 2 && matches!(self.insts.get(at), Some(Inst::Split(..))) {
                self.alternatives(at, room)?
            } else {
                None
            };
            match inner {
                Some(inner) => {
                    for (more, target) in inner {
                        let mut all = saved.clone();
                        all.extend(more);
                        out.push((all, target));
                    }
                }
                None => out.push((saved, at)),
            }
            if out.len() > limit {
                return Some(None);
            }
        }
        Some(Some(out))
    }

    /// Whether a path from first-stage instruction `pc` can go on at class
    /// `class` (or the end of the text).
    fn viable(&self, pc: usize, class: usize) -> bool {
        let a = self.analysis;
        a.nullable[pc]
            || self
                .representatives
                .get(class)
                .is_some_and(|&b| b < 128 && (a.first[pc] >> b) & 1 != 0)
    }

    fn class_set(&self, set: u128) -> u64 {
        (0..self.class_count)
            .filter(|&c| {
                let b = self.representatives[c];
                b < 128 && (set >> b) & 1 != 0
            })
            .fold(0, |acc, c| acc | 1 << c)
    }

    fn fill(&mut self, pc: usize) -> Option<()> {
        let node = match *self.insts.get(pc)? {
            Inst::Byte(_) => {
                // The bytes that follow one another with only captures
                // between (saved as marks).
                let start = self.runs.len() as u32;
                let marks = self.marks.len() as u32;
                let mut at = pc;
                let (saved, end) = loop {
                    let Inst::Byte(set) = *self.insts.get(at)? else {
                        return None;
                    };
                    let set = self.class_set(*self.sets.get(set as usize)?);
                    // Runs copy the bytes after joins: bound the copies.
                    if self.runs.len() >= MAX_RUN_BYTES {
                        return None;
                    }
                    self.runs.push(set);
                    let (saved, next) = self.follow(at + 1)?;
                    if !matches!(self.insts.get(next), Some(Inst::Byte(_))) {
                        break (saved, next);
                    }
                    if !saved.is_empty() {
                        let saves = self.saves.len() as u32;
                        self.saves.extend_from_slice(&saved);
                        self.marks.push(Mark {
                            offset: self.runs.len() as u32 - start,
                            saves,
                            saves_len: saved.len() as u32,
                        });
                    }
                    at = next;
                };
                Node::Run {
                    start,
                    len: self.runs.len() as u32 - start,
                    marks,
                    marks_len: self.marks.len() as u32 - marks,
                    next: self.edge(&saved, end)?,
                }
            }
            Inst::Split(..) => {
                let alternatives = self.alternatives(pc, MAX_BRANCHES)??;
                let start = self.branches.len() as u32;
                let rows = self.mask_of.len() as u32;
                let masks = self.masks.len();
                for class in 0..=self.class_count {
                    let mask = alternatives
                        .iter()
                        .enumerate()
                        .filter(|(_, (_, at))| self.viable(*at, class))
                        .fold(0u64, |acc, (i, _)| acc | 1 << i);
                    let index = match self.masks[masks..].iter().position(|m| *m == mask) {
                        Some(i) => i,
                        None => {
                            self.masks.push(mask);
                            self.alike.push(0);
                            self.masks.len() - 1 - masks
                        }
                    };
                    self.mask_of.push(u8::try_from(index).ok()?);
                    self.alike[masks + index] |= 1 << class;
                }
                for (saved, at) in &alternatives {
                    let edge = self.edge(saved, *at)?;
                    self.branches.push(edge);
                }
                Node::Choice {
                    start,
                    len: alternatives.len() as u32,
                    rows,
                    masks: masks as u32,
                }
            }
            Inst::Start => Node::Start {
                next: self.edge_from(pc + 1)?,
            },
            Inst::Match => Node::Match,
            Inst::Save(_) | Inst::Jump(_) => return None,
        };
        let n = (*self.node_of.get(pc)?)?;
        self.nodes[n as usize] = node;
        Some(())
    }
}

/// Byte classes of `sets`: bytes in exactly the same sets share a class.
fn byte_classes(sets: &[u128]) -> Option<([u8; 256], Vec<u8>)> {
    let mut classes = [0u8; 256];
    let mut signatures: Vec<Vec<bool>> = Vec::new();
    let mut representatives = Vec::new();
    for (b, class_of) in classes.iter_mut().enumerate() {
        let signature: Vec<bool> = sets.iter().map(|s| b < 128 && (s >> b) & 1 != 0).collect();
        let class = match signatures.iter().position(|s| *s == signature) {
            Some(c) => c,
            None => {
                signatures.push(signature);
                representatives.push(b as u8);
                signatures.len() - 1
            }
        };
        *class_of = class as u8;
    }
    (representatives.len() <= MAX_CLASSES).then_some((classes, representatives))
}

impl Program {
    /// The program for `pattern` (regex-crate syntax, as the template's
    /// unbounded matcher reads it) with `groups` capture groups, or `None`
    /// when it is not provably equivalent (see the module comment).
    pub(crate) fn new(pattern: &str, groups: usize) -> Option<Program> {
        let hir = matcher::ascii_only(&crate::filter::backtrack::parse(pattern)?);
        let props = hir.properties();
        // Every match starts at 0: searching from there alone is the
        // crate's leftmost search.
        if !props.look_set_prefix().contains(Look::Start) {
            return None;
        }
        if props.explicit_captures_len() + 1 != groups || groups > MAX_GROUPS {
            return None;
        }
        let mut c = Compiler {
            insts: Vec::new(),
            sets: Vec::new(),
        };
        c.compile(&hir).ok()?;
        c.emit(Inst::Match).ok()?;
        let analysis = analyse(&c.insts, &c.sets)?;
        let (classes, representatives) = byte_classes(&c.sets)?;
        let mut lowering = Lowering {
            insts: &c.insts,
            sets: &c.sets,
            analysis: &analysis,
            classes,
            class_count: representatives.len(),
            representatives,
            node_of: vec![None; c.insts.len()],
            nodes: Vec::new(),
            todo: Vec::new(),
            runs: Vec::new(),
            marks: Vec::new(),
            branches: Vec::new(),
            mask_of: Vec::new(),
            masks: Vec::new(),
            alike: Vec::new(),
            saves: Vec::new(),
        };
        // The search starts at 0, where `^` holds.
        let entry = {
            let (mut saved, mut pc) = lowering.follow(0)?;
            while c.insts.get(pc) == Some(&Inst::Start) {
                let (more, next) = lowering.follow(pc + 1)?;
                saved.extend(more);
                pc = next;
            }
            lowering.edge(&saved, pc)?
        };
        while let Some(pc) = lowering.todo.pop() {
            lowering.fill(pc)?;
        }
        if lowering.saves.iter().any(|&s| s as usize >= 2 * groups) {
            return None;
        }
        Some(Program {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            entry,
            nodes: lowering.nodes.into(),
            classes: lowering.classes,
            class_count: lowering.class_count,
            runs: lowering.runs.into(),
            marks: lowering.marks.into(),
            branches: lowering.branches.into(),
            mask_of: lowering.mask_of.into(),
            masks: lowering.masks.into(),
            alike: lowering.alike.into(),
            saves: lowering.saves.into(),
            groups,
            max_len: *analysis.longest.first()?,
        })
    }

    /// Heap bytes of the program.
    #[cfg(test)]
    pub(crate) fn heap_size(&self) -> usize {
        use std::mem::size_of_val;
        size_of_val(&*self.nodes)
            + size_of_val(&*self.runs)
            + size_of_val(&*self.marks)
            + size_of_val(&*self.branches)
            + size_of_val(&*self.mask_of)
            + size_of_val(&*self.masks)
            + size_of_val(&*self.alike)
            + size_of_val(&*self.saves)
            + std::mem::size_of::<Program>()
    }

    /// Searches `text` from its start, filling `spans` (one per group) on
    /// a match. The answer is the last search's in `scratch` when the text
    /// passes that search's trace (see the module comment).
    pub(crate) fn search(&self, text: &str, spans: &mut [Span], scratch: &mut Scratch) -> Outcome {
        let bytes = text.as_bytes();
        // No path reads past `max_len`, and the word-end check after a match
        // reads the character at its end: if those bytes are ASCII, the
        // Unicode program would take the same paths as this one.
        let looked_at = &bytes[..bytes.len().min(self.max_len + 1)];
        if !looked_at.is_ascii() || spans.len() != self.groups {
            return Outcome::Undecided;
        }
        let Scratch {
            state,
            last,
            evict,
            recent,
            ..
        } = scratch;
        let found = match last.get(*recent) {
            Some(l) if l.program == self.id => Some(*recent),
            _ => last.iter().position(|l| l.program == self.id),
        };
        let index = match found {
            Some(i) => i,
            None if last.len() < MAX_REMEMBERED => {
                last.push(Last::default());
                last.len() - 1
            }
            None => {
                let oldest = *evict;
                *evict = (oldest + 1) % MAX_REMEMBERED;
                last[oldest].outcome = None;
                oldest
            }
        };
        *recent = index;
        let last = &mut last[index];
        let outcome = match last.outcome {
            Some(outcome) if last.program == self.id && self.passes(last, looked_at) => {
                #[cfg(test)]
                {
                    scratch.reused += 1;
                }
                outcome
            }
            _ => {
                let outcome = self.run(looked_at, state);
                self.remember(outcome, looked_at, state, last);
                outcome
            }
        };
        if let Outcome::Match(_) = outcome {
            spans.copy_from_slice(&last.spans);
        }
        outcome
    }

    /// Whether `hay` passes every test of the trace of `last`: a run on it
    /// would read the same answers and take the same path.
    fn passes(&self, last: &Last, hay: &[u8]) -> bool {
        let trace = &last.trace;
        let holds = |p: usize| {
            let class = hay.get(p).map_or(self.class_count, |&b| {
                usize::from(self.classes[usize::from(b)])
            });
            trace.get(p).is_some_and(|set| (set >> class) & 1 != 0)
        };
        // A byte the last text had passed there: most of them are, and
        // eight of them are compared at once.
        let same = trace.len().min(hay.len()).min(last.text.len());
        let (new, old) = (&hay[..same], &last.text[..same]);
        let alike = |from: usize, a: &[u8], b: &[u8]| {
            a.iter()
                .zip(b)
                .enumerate()
                .all(|(i, (x, y))| x == y || holds(from + i))
        };
        let chunks = new.chunks_exact(8).zip(old.chunks_exact(8));
        for (k, (a, b)) in chunks.enumerate() {
            if a != b && !alike(k * 8, a, b) {
                return false;
            }
        }
        let tail = same / 8 * 8;
        alike(tail, &new[tail..], &old[tail..]) && (same..trace.len()).all(holds)
    }

    /// Keeps the run's answer and trace in `last` (a run that gave up is
    /// not kept: it proves nothing about other texts).
    fn remember(&self, outcome: Outcome, hay: &[u8], state: &State, last: &mut Last) {
        if outcome == Outcome::Undecided {
            last.outcome = None;
            return;
        }
        let used = state
            .trace
            .iter()
            .rposition(|&set| set != u64::MAX)
            .map_or(0, |p| p + 1);
        last.program = self.id;
        last.trace.clear();
        last.trace.extend_from_slice(&state.trace[..used]);
        last.text.clear();
        last.text.extend_from_slice(&hay[..used.min(hay.len())]);
        last.spans.clear();
        if let Outcome::Match(end) = outcome {
            last.spans.push(Some((0, end)));
            let pairs = state.slots.chunks_exact(2).skip(1).take(self.groups - 1);
            last.spans.extend(pairs.map(|pair| match *pair {
                [a, b] if a != UNSET && b != UNSET => Some((a as usize, b as usize)),
                _ => None,
            }));
        }
        last.outcome = Some(outcome);
    }

    /// Backtracks through the program from position 0 of `hay`, trying
    /// paths in priority order. On a match, `state.slots` holds the
    /// capture slots.
    fn run(&self, hay: &[u8], state: &mut State) -> Outcome {
        // A path meets each node at most once (the program is acyclic), so
        // it has fewer pending choices and saving edges than there are nodes.
        let depth = self.nodes.len() + 1;
        if state.frames.len() < depth {
            state.frames.resize(depth, Frame::default());
        }
        let log_depth = depth + self.marks.len();
        if state.log.len() < log_depth {
            state.log.resize(log_depth, (0, 0, 0));
        }
        let State {
            frames,
            log,
            slots,
            trace,
        } = state;
        // Positions up to `max_len` are read (a path consumes at most that).
        trace.clear();
        trace.resize(self.max_len + 1, u64::MAX);
        let end_of_text = 1u64 << self.class_count;
        let (mut top, mut logged) = (0usize, 0usize);
        let mut steps = 0usize;
        let mut pos = 0u32;
        let mut edge = self.entry;
        loop {
            if edge.saves_len != 0 {
                let Some(entry) = log.get_mut(logged) else {
                    return Outcome::Undecided;
                };
                *entry = (edge.saves, edge.saves_len, pos);
                logged += 1;
            }
            steps += 1;
            if steps > STEP_BUDGET {
                return Outcome::Undecided;
            }
            let Some(node) = self.nodes.get(edge.target as usize) else {
                return Outcome::Undecided;
            };
            let next = match *node {
                Node::Run {
                    start,
                    len,
                    marks,
                    marks_len,
                    next,
                } => {
                    let (start, len) = (start as usize, len as usize);
                    let at = pos as usize;
                    let (Some(sets), Some(last)) =
                        (self.runs.get(start..start + len), (at + len).checked_sub(1))
                    else {
                        return Outcome::Undecided;
                    };
                    // Whether the text is long enough is whether its end
                    // comes before the last byte of the run.
                    let Some(at_last) = trace.get_mut(last) else {
                        return Outcome::Undecided;
                    };
                    let bytes = hay.get(at..at + len);
                    *at_last &= if bytes.is_some() {
                        !end_of_text
                    } else {
                        end_of_text
                    };
                    let Some(reads) = trace.get_mut(at..at + len) else {
                        return Outcome::Undecided;
                    };
                    let accepted = bytes.is_some_and(|bytes| {
                        sets.iter().zip(bytes).zip(reads).all(|((&set, &b), read)| {
                            let ok = (set >> self.classes[usize::from(b)]) & 1 != 0;
                            // Bytes of the set pass, the others fail.
                            *read &= if ok { set } else { !set & !end_of_text };
                            ok
                        })
                    });
                    if accepted {
                        if marks_len != 0 {
                            let (from, to) = (marks as usize, (marks + marks_len) as usize);
                            for mark in self.marks.get(from..to).unwrap_or(&[]) {
                                let Some(entry) = log.get_mut(logged) else {
                                    return Outcome::Undecided;
                                };
                                *entry = (mark.saves, mark.saves_len, pos + mark.offset);
                                logged += 1;
                            }
                        }
                        pos += len as u32;
                        Some(next)
                    } else {
                        None
                    }
                }
                Node::Choice {
                    start, rows, masks, ..
                } => {
                    let class = hay
                        .get(pos as usize)
                        .map_or(self.class_count, |&b| self.classes[b as usize] as usize);
                    let row = self.mask_of.get(rows as usize + class).copied();
                    let index = masks as usize + usize::from(row.unwrap_or(u8::MAX));
                    let (Some(_), Some(&mask), Some(&alike), Some(read)) = (
                        row,
                        self.masks.get(index),
                        self.alike.get(index),
                        trace.get_mut(pos as usize),
                    ) else {
                        return Outcome::Undecided;
                    };
                    // The classes with this mask take the same branches.
                    *read &= alike;
                    if mask == 0 {
                        None
                    } else {
                        let rest = mask & (mask - 1);
                        if rest != 0 {
                            let Some(frame) = frames.get_mut(top) else {
                                return Outcome::Undecided;
                            };
                            *frame = Frame {
                                node: edge.target,
                                pos,
                                logged: logged as u32,
                                rest,
                            };
                            top += 1;
                        }
                        self.branches
                            .get(start as usize + mask.trailing_zeros() as usize)
                            .copied()
                    }
                }
                Node::Start { next } => (pos == 0).then_some(next),
                Node::Match => {
                    self.replay(&log[..logged], slots);
                    return Outcome::Match(pos as usize);
                }
            };
            edge = match next {
                Some(next) => next,
                None => {
                    // Back to the most recent pending choice.
                    if top == 0 {
                        return Outcome::NoMatch;
                    }

                    top -= 1;
                    let frame = frames[top];
                    let Some(&Node::Choice { start, .. }) = self.nodes.get(frame.node as usize)
                    else {
                        return Outcome::Undecided;
                    };
                    (pos, logged) = (frame.pos, frame.logged as usize);
                    let rest = frame.rest & (frame.rest - 1);
                    if rest != 0 {
                        frames[top].rest = rest;
                        top += 1;
                    }
                    match self
                        .branches
                        .get(start as usize + frame.rest.trailing_zeros() as usize)
                    {
                        Some(&next) => next,
                        None => return Outcome::Undecided,
                    }
                }
            };
        }
    }

    /// Sets the capture slots from the save log of a matching path.
    fn replay(&self, log: &[(u32, u32, u32)], slots: &mut Vec<u32>) {
        slots.clear();
        slots.resize(2 * self.groups, UNSET);
        for &(start, len, pos) in log {
            let (start, len) = (start as usize, len as usize);
            for &slot in self.saves.get(start..start + len).unwrap_or(&[]) {
                if let Some(s) = slots.get_mut(slot as usize) {
                    *s = pos;
                }
            }
        }
    }
}

/// The [`Analysis`] of a first-stage program whose jumps all go forward
/// (computed from the end back); `None` if a jump does not.
fn analyse(insts: &[Inst], sets: &[u128]) -> Option<Analysis> {
    let n = insts.len();
    let mut first = vec![0u128; n];
    let mut nullable = vec![false; n];
    let mut longest = vec![0usize; n];
    for pc in (0..n).rev() {
        let forward = |t: u32| (t as usize > pc && (t as usize) < n).then_some(t as usize);
        let (f, e, l) = match insts[pc] {
            Inst::Byte(s) => {
                let t = forward(pc as u32 + 1)?;
                (*sets.get(s as usize)?, false, longest[t] + 1)
            }
            Inst::Split(x, y) => {
                let (x, y) = (forward(x)?, forward(y)?);
                (
                    first[x] | first[y],
                    nullable[x] || nullable[y],
                    longest[x].max(longest[y]),
                )
            }
            Inst::Jump(t) => {
                let t = forward(t)?;
                (first[t], nullable[t], longest[t])
            }
            Inst::Save(_) | Inst::Start => {
                let t = forward(pc as u32 + 1)?;
                (first[t], nullable[t], longest[t])
            }
            Inst::Match => (0, true, 0),
        };
        first[pc] = f;
        nullable[pc] = e;
        longest[pc] = l;
    }
    Some(Analysis {
        first,
        nullable,
        longest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans_of(p: &Program, text: &str) -> (Outcome, Vec<Span>) {
        spans_with(p, text, &mut Scratch::default())
    }

    fn spans_with(p: &Program, text: &str, scratch: &mut Scratch) -> (Outcome, Vec<Span>) {
        let mut spans = vec![None; p.groups];
        let outcome = p.search(text, &mut spans, scratch);
        (outcome, spans)
    }

    #[test]
    fn the_last_answer_is_reused_only_for_texts_that_read_alike() {
        let p = Program::new(r"^(\d{2}):([0-5]\d)(x)?", 4).unwrap();
        let other = Program::new(r"^(\d{2}):([0-5]\d)(x)?", 4).unwrap();
        let mut scratch = Scratch::default();
        let mut expect =
            |p: &Program, text: &str, reused: bool, outcome: Outcome, spans: &[Span]| {
                let before = scratch.reused;
                let got = spans_with(p, text, &mut scratch);
                assert_eq!(got, (outcome, spans.to_vec()), "{text:?}");
                assert_eq!(scratch.reused - before, usize::from(reused), "{text:?}");
            };
        let (a, b) = (Some((0, 2)), Some((3, 5)));
        let m = Outcome::Match(5);
        expect(&p, "12:34 y", false, m, &[Some((0, 5)), a, b, None]);
        // Other digits where only digits are asked for: the same path.
        expect(&p, "98:07 y", true, m, &[Some((0, 5)), a, b, None]);
        // The same reads, then anything after the last byte read.
        expect(&p, "00:00 zzz", true, m, &[Some((0, 5)), a, b, None]);
        // A byte read with another answer: the optional group now matches.
        let x = [Some((0, 6)), a, b, Some((5, 6))];
        expect(&p, "12:34x", false, Outcome::Match(6), &x);
        expect(&p, "12:34x", true, Outcome::Match(6), &x);
        // [0-5] fails where it passed: no match.
        expect(&p, "12:64x", false, Outcome::NoMatch, &[None; 4]);
        expect(&p, "12:74", true, Outcome::NoMatch, &[None; 4]);
        // The text ends where the run needed a byte.
        expect(&p, "12:3", false, Outcome::NoMatch, &[None; 4]);
        expect(&p, "12:", true, Outcome::NoMatch, &[None; 4]);
        expect(&p, "12:34", false, m, &[Some((0, 5)), a, b, None]);
        // Where the text ended, a byte that is not an x: the same path.
        expect(&p, "12:34 ", true, m, &[Some((0, 5)), a, b, None]);
        // Another program's trace is not used, even for the same text.
        expect(&other, "12:34 ", false, m, &[Some((0, 5)), a, b, None]);
        expect(&other, "12:34 ", true, m, &[Some((0, 5)), a, b, None]);
        // A text the program does not read leaves the last answer as it was.
        expect(&other, "12:34\u{e9}", false, Outcome::Undecided, &[None; 4]);
        expect(&other, "12:34 ", true, m, &[Some((0, 5)), a, b, None]);
        // A search that gave up leaves nothing to reuse.
        let runaway = Program::new("^(?:a{0,1}a{0,1}){20}b", 1).unwrap();
        let text = "a".repeat(20);
        expect(&runaway, &text, false, Outcome::Undecided, &[None]);
        expect(&runaway, &text, false, Outcome::Undecided, &[None]);
        // Each program keeps its own last answer.
        expect(&p, "12:34 ", true, m, &[Some((0, 5)), a, b, None]);
        expect(&other, "12:34 ", true, m, &[Some((0, 5)), a, b, None]);
        // Up to a limit: then the oldest are forgotten first.
        let many: Vec<Program> = (0..MAX_REMEMBERED)
            .map(|_| Program::new(r"^(\d{2}):([0-5]\d)(x)?", 4).unwrap())
            .collect();
        for q in &many {
            expect(q, "12:34 ", false, m, &[Some((0, 5)), a, b, None]);
        }
        expect(
            &many[MAX_REMEMBERED - 1],
            "12:34 ",
            true,
            m,
            &[Some((0, 5)), a, b, None],
        );
        expect(&p, "12:34 ", false, m, &[Some((0, 5)), a, b, None]);
    }

    #[test]
    fn unanchored_unbounded_and_lookaround_patterns_are_refused() {
        assert!(Program::new("a(b)", 2).is_none());
        assert!(Program::new("^a+", 1).is_none());
        assert!(Program::new(r"^a\b", 1).is_none());
        assert!(Program::new("^a|b", 1).is_none());
        // Wrong group count.
        assert!(Program::new("^(a)", 1).is_none());
        assert!(Program::new("^(a)|^b", 2).is_some());
    }

    /// The spans of the `regex` crate's leftmost-first match.
    fn crate_spans(pattern: &str, text: &str) -> Option<Vec<Span>> {
        let re = regex::Regex::new(pattern).unwrap();
        let caps = re.captures(text)?;
        Some(
            (0..caps.len())
                .map(|i| caps.get(i).map(|m| (m.start(), m.end())))
                .collect(),
        )
    }

    #[test]
    fn wide_and_deeply_nested_choices_match_like_the_regex_crate() {
        let wide = format!(
            "^(?:{})(x)?",
            (0..100)
                .map(|i| format!("a{i}"))
                .collect::<Vec<_>>()
                .join("|")
        );
        // Each optional's skip leads to the next: flattening must not
        // explore every combination.
        let deep = format!("^{}(b)", "(?:(a)?)?".repeat(60));
        let mut decided = 0;
        for pattern in [&wide, &deep] {
            let groups = regex::Regex::new(pattern).unwrap().captures_len();
            let p = Program::new(pattern, groups).unwrap();
            for text in ["a7x", "a99", "a100x", "aab", "b", "ab", "aaaab", "", "c"] {
                let (outcome, spans) = spans_of(&p, text);
                // Running out of steps leaves the answer to the crate.
                if outcome == Outcome::Undecided {
                    continue;
                }
                decided += 1;
                match crate_spans(pattern, text) {
                    Some(expected) => assert_eq!(spans, expected, "{pattern} on {text:?}"),
                    None => assert_eq!(outcome, Outcome::NoMatch, "{pattern} on {text:?}"),
                }
            }
        }
        assert!(decided >= 12, "{decided}");
    }

    #[test]
    fn priority_and_spans_follow_backtracking_order() {
        let p = Program::new("^(a|ab)(c|bcd)?", 3).unwrap();
        assert_eq!(
            spans_of(&p, "abcd"),
            (
                Outcome::Match(4),
                vec![Some((0, 4)), Some((0, 1)), Some((1, 4))]
            )
        );
        let p = Program::new("^(a{1,3}?)(a*)?", 3);
        assert!(p.is_none());
        let p = Program::new("^(a{1,3}?)(a{0,2})", 3).unwrap();
        assert_eq!(
            spans_of(&p, "aaa"),
            (
                Outcome::Match(3),
                vec![Some((0, 3)), Some((0, 1)), Some((1, 3))]
            )
        );
        let p = Program::new("^(?i)(x)?y", 2).unwrap();
        assert_eq!(
            spans_of(&p, "Y"),
            (Outcome::Match(1), vec![Some((0, 1)), None])
        );
        assert_eq!(spans_of(&p, "zY").0, Outcome::NoMatch);
    }

    #[test]
    fn text_that_is_not_ascii_where_it_is_read_is_left_undecided() {
        let p = Program::new(r"^\W{0,2}(\d)", 2).unwrap();
        assert_eq!(spans_of(&p, "«1").0, Outcome::Undecided);
        assert_eq!(spans_of(&p, "1    Ünïcödé later").0, Outcome::Match(1));
    }

    #[test]
    fn runaway_searches_give_up() {
        // 2^20 ways to split the a's before failing at the end.
        let p = Program::new("^(?:a{0,1}a{0,1}){20}b", 1).unwrap();
        let text = "a".repeat(20);
        assert_eq!(spans_of(&p, &text).0, Outcome::Undecided);
    }

    /// Date patterns anchored at the line start, in the style of stock
    /// filters' `datepattern` values.
    const ANCHORED_PATTERNS: &[&str] = &[
        "{^LN-BEG}%b-%d-%Exy %H:%M:%S",
        "^%H:%M:%S.%f",
        "^%Y-%m-%d %H:%M:%S",
        "^%Y:%m:%d-%H:%M:%S",
        "^%b %d, %ExY %I:%M:%S %p",
        "^%m/%d/%Y %H:%M:%S",
        "^(?:%Y-)?%m-%d[ T]%H:%M:%S(?:\\.%f)?",
        "^\\[%d/%b/%Y %H:%M:%S\\]",
        "^t=%Y-%m-%dT%H:%M:%S%z",
        "^L %d/%m/%Y - %H:%M:%S",
        "{^LN-BEG}%ExY(?P<_sep>[-/.])%m(?P=_sep)%d[T ]%H:%M:%S(?:[.,]%f)?(?:\\s*%z)?",
        "{^LN-BEG}%a %b %d %H:%M:%S %Y",
        "{^LN-BEG}(?:%a )?%b %d %k:%M:%S(?:\\.%f)?(?: %ExY)?",
        "{^LN-BEG}%d.%m.%y %H:%M",
        "{^LN-BEG}TAI64N",
        "{^LN-BEG}EPOCH",
    ];

    /// The `{^LN-BEG}` and `^` date patterns of the installed fail2ban
    /// filters, if there are any.
    fn installed_patterns() -> Vec<String> {
        let Ok(dir) = std::fs::read_dir("/etc/fail2ban/filter.d") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in dir.flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            for line in text.lines() {
                let Some(value) = line.trim().strip_prefix("datepattern") else {
                    continue;
                };
                let Some(value) = value.trim_start().strip_prefix('=') else {
                    continue;
                };
                let value = value.trim().replace("%%", "%");
                let anchored = value.starts_with("{^LN-BEG}") || value.starts_with('^');
                // A bare `{^LN-BEG}` selects the anchored defaults.
                let template = value != "{^LN-BEG}" && !value.contains("{DATE}");
                if anchored && template && !value.contains('<') {
                    out.push(value);
                }
            }
        }
        out
    }

    /// Lines around dates of every default format: valid, out of range,
    /// truncated, after 0-3 non-word characters, in other cases, followed
    /// by word and non-word characters.
    fn lines() -> Vec<String> {
        let dates = [
            "Jan  1 00:00:07",
            "Feb 28 23:59:59.123456",
            "Mon Dec 31 12:34:56 2025",
            "sun nov 03 1:2:3",
            "Tue Sep 09 09:09:09.5 2019",
            "Sep 31 24:00:00",
            "Jan 1 00:00:61",
            "Jan 32 00:00:00",
            "Jun 10 2024 10:00:00.1",
            "Jul  7 7:07:07.1234567",
            "2025-11-25 20:26:01",
            "2025/11/25T20:26:01,123 +0100",
            "2025.11.25  20:26:01.5Z",
            "2025-1-5 2:26:01",
            "25-11-2025 20:26:01",
            "25/Nov/2025:20:26:01 +0000",
            "25-Nov-2025 20:26:01.123 -0330",
            "11/25/2025:20:26:01",
            "11-25-2025 20:26:01.123",
            "11/25/2025 20:26:01",
            "20:26:01",
            "20:26:01.123456",
            "<11/25/25@20:26:01>",
            "251125 20:26:01",
            "20251125  20:26:01",
            "Nov 25, 2025 8:26:01 PM",
            "Nov 25, 2025 12:26:01 am",
            "Nov-25-25 20:26:01",
            "20251125T202601.123+01:00",
            "CET Mon Nov 25 20:26:01",
            "+0100 Nov 25 20:26:01 2025",
            "@4000000068a1b2c3d4e5f607",
            "1732566361.123",
            "1732566361123",
            "[25/Nov/2025 20:26:01]",
            "t=2025-11-25T20:26:01+0100",
            "L 25/11/2025 - 20:26:01",
            "2025:11:25-20:26:01",
            "25.11.25 20:26",
            "11-25 20:26:01.5",
            "2025-11-25T20:26:01",
        ];
        let prefixes = ["", " ", "[", "((", "-- ", "a", "_", " - "];
        let suffixes = [
            "",
            " host sshd[1]: failed",
            "x",
            "0",
            ".",
            "_",
            ":",
            " 2025",
            ".1234567",
            "\u{3a9}",
        ];
        let mut out = Vec::new();
        for date in dates {
            for case in [date.to_string(), date.to_uppercase(), date.to_lowercase()] {
                for prefix in prefixes {
                    for suffix in suffixes {
                        out.push(format!("{prefix}{case}{suffix}"));
                    }
                    for cut in 1..case.len() {
                        out.push(format!("{prefix}{}", &case[..cut]));
                    }
                }
            }
        }
        out.push("no date here".into());
        out.push(String::new());
        out.push("\u{ab}Jan  1 00:00:07".into());
        out.push("Jan  1 00:00:0\u{663}".into());
        out
    }

    #[test]
    fn programs_give_the_regex_crate_answers_for_every_anchored_template() {
        use crate::filter::date::strptime::YearRange;
        use crate::filter::date::{DateDetector, DateTemplate, DefaultTemplates};

        let years = YearRange::server(2026);
        let mut detector = DateDetector::new(years);
        detector.add_default_templates(&DefaultTemplates::new(years), false);
        let mut own = Vec::new();
        let mut patterns: Vec<String> = ANCHORED_PATTERNS.iter().map(|p| p.to_string()).collect();
        patterns.extend(installed_patterns());
        for p in &patterns {
            own.push(DateTemplate::from_pattern(p, years).unwrap());
        }
        let templates: Vec<&DateTemplate> = detector.templates().chain(own.iter()).collect();
        let lines = lines();
        let (mut with_program, mut matched, mut undecided, mut reused) = (0, 0, 0, 0);
        for t in templates {
            let Some((regex, program)) = t.quick_parts() else {
                continue;
            };
            with_program += 1;
            // A program is small next to the regex crate's engines.
            assert!(program.heap_size() < 16 * 1024, "{:?}", t.name);
            let mut scratch = regex.scratch();
            // Each line searched after its neighbour in the list and after
            // a line far from it, with the last answer kept in between.
            let mut quick = Scratch::default();
            let far = (0..lines.len()).map(|i| &lines[i * 7919 % lines.len()]);
            for line in lines.iter().chain(far) {
                let mut spans = vec![None; regex.captures_len()];
                let outcome = program.search(line, &mut spans, &mut quick);
                let found = regex.search_into(line, 0, &mut scratch).unwrap();
                match outcome {
                    Outcome::Match(end) => {
                        matched += 1;
                        assert!(found, "{:?} on {line:?}: only the program matched", t.name);
                        assert_eq!(spans, scratch.spans, "{:?} on {line:?}", t.name);
                        assert_eq!(Some((0, end)), spans[0]);
                    }
                    Outcome::NoMatch => {
                        assert!(
                            !found,
                            "{:?} on {line:?}: only the regex matched {:?}",
                            t.name, scratch.spans
                        );
                    }
                    Outcome::Undecided => {
                        undecided += 1;
                        assert!(!line.is_ascii(), "{:?} undecided on {line:?}", t.name);
                    }
                }
            }
            reused += quick.reused;
        }
        // The anchored twins of the default patterns without back
        // references, and most of the patterns above.
        assert!(
            with_program >= 20,
            "only {with_program} templates have a program"
        );
        assert!(matched > 5000, "only {matched} matches");
        assert!(undecided > 0);
        assert!(reused > 5000, "only {reused} answers reused");
    }
}
