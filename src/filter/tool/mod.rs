//! The engine of `fail2ban-regex`: runs lines through a filter, keeps
//! fail2ban-regex's statistics and prints its report or its `-o` output,
//! byte for byte as fail2ban 1.0.2 does.

pub mod out;

use std::io::{self, BufRead, Write};

use super::engine::{Filter, LineOutcome};
use super::failure::TupleLine;

/// What fail2ban-regex's options ask of the report.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// `-o`: print only failures, in this format.
    pub out: Option<String>,
    /// Lines listed per category before "too many to print" (`-L`, else 20).
    pub list_limit: usize,
    pub print_all_matched: bool,
    pub print_all_missed: bool,
    pub print_all_ignored: bool,
    pub print_no_missed: bool,
    pub print_no_ignored: bool,
    pub verbose: u32,
    pub verbose_date: bool,
}

/// A regex as the user gave it, and how often it matched.
#[derive(Debug, Clone)]
pub struct RegexStat {
    pub text: String,
    pub hits: usize,
}

impl RegexStat {
    pub fn new(text: &str) -> RegexStat {
        RegexStat {
            text: text.to_string(),
            hits: 0,
        }
    }
}

/// fail2ban-regex's `LineStats`.
#[derive(Debug, Default)]
struct LineStats {
    tested: usize,
    matched: usize,
    missed: usize,
    ignored: usize,
    matched_lines: Vec<String>,
    missed_lines: Vec<String>,
    ignored_lines: Vec<String>,
}

/// Runs a filter over lines the way fail2ban-regex does.
pub struct RegexTool<W: Write> {
    pub filter: Filter,
    pub failregex: Vec<RegexStat>,
    pub ignoreregex: Vec<RegexStat>,
    options: ReportOptions,
    stats: LineStats,
    prefregex_matched: usize,
    out: W,
    elapsed: Option<f64>,
    /// The last line's outcome, whose buffers the next line reuses.
    outcome: LineOutcome,
}

impl<W: Write> RegexTool<W> {
    pub fn new(
        filter: Filter,
        failregex: Vec<RegexStat>,
        ignoreregex: Vec<RegexStat>,
        options: ReportOptions,
        out: W,
    ) -> Self {
        RegexTool {
            filter,
            failregex,
            ignoreregex,
            options,
            stats: LineStats::default(),
            prefregex_matched: 0,
            out,
            elapsed: None,
            outcome: LineOutcome::default(),
        }
    }

    /// The writer, once processing is done.
    pub fn into_writer(self) -> W {
        self.out
    }

    /// Processes every line (comments and empty lines are skipped).
    pub fn process<'a>(&mut self, lines: impl Iterator<Item = &'a str>) -> io::Result<()> {
        let started = std::time::Instant::now();
        for line in lines {
            self.process_text(line)?;
        }
        self.elapsed = Some(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Processes the complete lines read from `reader`, one at a time (an
    /// unterminated last line is ignored, as fail2ban does).
    pub fn process_reader(&mut self, mut reader: impl BufRead) -> io::Result<()> {
        let started = std::time::Instant::now();
        let mut raw = Vec::new();
        loop {
            raw.clear();
            if reader.read_until(b'\n', &mut raw)? == 0 || raw.last() != Some(&b'\n') {
                break;
            }
            // Validating is much cheaper than the lossy decoder's scan.
            let line = match std::str::from_utf8(&raw) {
                Ok(text) => std::borrow::Cow::Borrowed(text),
                Err(_) => String::from_utf8_lossy(&raw),
            };
            self.process_text(&line)?;
        }
        self.elapsed = Some(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// One line as read: terminators stripped, comments and empty lines skipped.
    fn process_text(&mut self, line: &str) -> io::Result<()> {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.starts_with('#') || line.is_empty() {
            return Ok(());
        }
        self.process_one(line)
    }

    fn process_one(&mut self, line: &str) -> io::Result<()> {
        let before = if self.filter.maxlines() > 1 {
            self.filter.buffer().to_vec()
        } else {
            Vec::new()
        };
        let full_buffer = before.len() >= self.filter.maxlines();
        let mut outcome = std::mem::take(&mut self.outcome);
        self.filter.process_line_into(line, &mut outcome);
        let result = self.count_outcome(line, &mut outcome, &before, full_buffer);
        self.outcome = outcome;
        result
    }

    /// Counts what the filter found on `line` (`before`: the buffer before it).
    fn count_outcome(
        &mut self,
        line: &str,
        outcome: &mut LineOutcome,
        before: &[TupleLine],
        full_buffer: bool,
    ) -> io::Result<()> {
        let mut is_ignored = false;
        for f in &outcome.failures {
            if self.options.out.is_none() {
                self.failregex[f.regex_index].hits += 1;
            }
            if f.data.is_nofail() {
                is_ignored = true;
            }
        }
        // The failures proper: the not-failures only count as ignored.
        outcome.failures.retain(|f| !f.data.is_nofail());
        let failures = &outcome.failures;
        if let Some(fmt) = &self.options.out {
            if !failures.is_empty() {
                out::write_failures(&mut self.out, fmt, failures)?;
            }
            return Ok(());
        }
        for i in &outcome.ignored_by {
            self.ignoreregex[*i].hits += 1;
        }
        if outcome.prefregex_matched {
            self.prefregex_matched += 1;
        }
        if self.filter.maxlines() > 1 {
            let start = usize::from(full_buffer);
            for old in before.iter().skip(start) {
                if !self.filter.buffer().contains(old) {
                    let text = old.full();
                    if let Some(pos) = self.stats.missed_lines.iter().position(|l| *l == text) {
                        self.stats.missed_lines.remove(pos);
                    }
                    if self.options.print_all_matched {
                        self.stats.matched_lines.push(text);
                    }
                    self.stats.matched += 1;
                    self.stats.missed = self.stats.missed.wrapping_sub(1);
                }
            }
        }
        let ignored = is_ignored || !outcome.ignored_by.is_empty();
        let limit = self.options.list_limit;
        if ignored {
            self.stats.ignored += 1;
            if !self.options.print_no_ignored
                && (self.options.print_all_ignored || self.stats.ignored <= limit + 1)
            {
                self.stats.ignored_lines.push(line.to_string());
            }
        } else if !failures.is_empty() {
            self.stats.matched += 1;
            if self.options.print_all_matched {
                self.stats.matched_lines.push(line.to_string());
            }
        } else {
            self.stats.missed = self.stats.missed.wrapping_add(1);
            if !self.options.print_no_missed
                && (self.options.print_all_missed || self.stats.missed <= limit + 1)
            {
                self.stats.missed_lines.push(line.to_string());
            }
        }
        self.stats.tested += 1;
        Ok(())
    }

    /// The `Lines:` summary (`N lines, X ignored, Y matched, Z missed`).
    pub fn lines_summary(&self) -> String {
        let s = &self.stats;
        format!(
            "{} lines, {} ignored, {} matched, {} missed",
            s.tested, s.ignored, s.matched, s.missed
        )
    }

    fn pprint_list(&mut self, items: &[String], header: Option<&str>) -> io::Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let head = header.map(|h| format!("|- {h}\n")).unwrap_or_default();
        writeln!(self.out, "{head}|  {}\n`-", items.join("\n|  "))
    }

    fn print_regexes(&mut self, title: &str, which: bool) -> io::Result<usize> {
        let list = if which {
            &self.failregex
        } else {
            &self.ignoreregex
        };
        let mut total = 0;
        let mut rows = Vec::new();
        for (i, r) in list.iter().enumerate() {
            total += r.hits;
            if r.hits > 0 || self.options.verbose > 0 {
                rows.push(format!("{:2}) [{}] {}", i + 1, r.hits, r.text));
            }
        }
        writeln!(self.out, "\n{title}: {total} total")?;
        self.pprint_list(&rows, Some(" #) [# of hits] regular expression"))?;
        Ok(total)
    }

    fn print_lines(&mut self, kind: &str) -> io::Result<()> {
        let (count, lines, print_all) = match kind {
            "matched" => (
                self.stats.matched,
                self.stats.matched_lines.clone(),
                self.options.print_all_matched,
            ),
            "missed" => (
                self.stats.missed,
                self.stats.missed_lines.clone(),
                self.options.print_all_missed,
            ),
            _ => (
                self.stats.ignored,
                self.stats.ignored_lines.clone(),
                self.options.print_all_ignored,
            ),
        };
        if count == 0 {
            return Ok(());
        }
        let mut title = kind.to_string();
        title[..1].make_ascii_uppercase();
        let header = format!("{title} line(s):");
        if count < self.options.list_limit || print_all {
            let trimmed: Vec<String> = lines.iter().map(|l| l.trim_end().to_string()).collect();
            self.pprint_list(&trimmed, Some(&header))
        } else {
            writeln!(
                self.out,
                "{header} too many to print.  Use --print-all-{kind} to print all {count} lines"
            )
        }
    }

    /// Prints fail2ban-regex's report (nothing with `-o`).
    pub fn print_report(&mut self) -> io::Result<()> {
        if self.options.out.is_some() {
            return Ok(());
        }
        writeln!(self.out, "\nResults\n=======")?;
        if let Some(pre) = self.filter.prefregex() {
            let expanded = pre.expanded.clone();
            writeln!(self.out, "\nPrefregex: {} total", self.prefregex_matched)?;
            self.pprint_list(&[expanded], None)?;
        }
        self.print_regexes("Failregex", true)?;
        self.print_regexes("Ignoreregex", false)?;
        writeln!(self.out, "\nDate template hits:")?;
        let mut rows = Vec::new();
        let dates = self.filter.date_detector();
        for (i, t) in dates.templates().enumerate() {
            let hits = dates.hits(i);
            if self.options.verbose > 0 || hits > 0 {
                rows.push(format!("[{hits}] {}", t.name));
                if self.options.verbose_date {
                    rows.push(format!(
                        "    # weight: {:.3} ({:.3}), pattern: {}",
                        dates.weight(i),
                        t.weight,
                        t.pattern.as_deref().unwrap_or("")
                    ));
                    rows.push(format!("    # regex:   {}", t.regex_text));
                }
            }
        }
        self.pprint_list(&rows, Some("[# of hits] date format"))?;
        writeln!(self.out, "\nLines: {}", self.lines_summary())?;
        if let Some(e) = self.elapsed {
            writeln!(self.out, "[processed in {e:.2} sec]")?;
        }
        writeln!(self.out)?;
        if self.options.print_all_matched {
            self.print_lines("matched")?;
        }
        if !self.options.print_no_ignored {
            self.print_lines("ignored")?;
        }
        if !self.options.print_no_missed {
            self.print_lines("missed")?;
        }
        Ok(())
    }
}
