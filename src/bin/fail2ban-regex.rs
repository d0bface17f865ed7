//! `fail2ban-regex`: tests failregexes, filters and date patterns against a
//! log file or a log line, with fail2ban 1.0.2's command line and output.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgAction, Parser};

use ferroban::filter::builder::{read_setting, Setting};
use ferroban::filter::tool::{RegexStat, RegexTool, ReportOptions};
use ferroban::filter::{Clock, FilterBuilder, MatchOptions};
use ferroban::stream::{str_repr, Value};

/// fail2ban-regex's options (1.0.2).
#[derive(Parser, Debug)]
#[command(
    name = "fail2ban-regex",
    disable_version_flag = true,
    about = "Fail2Ban reads log file that contains password failure report and bans the corresponding IP addresses using firewall rules.\n\nThis tools can test regular expressions for \"fail2ban\"."
)]
struct Options {
    /// set alternate config directory
    #[arg(short = 'c', long = "config", default_value = "/etc/fail2ban")]
    config: String,
    /// set custom pattern used to match date/times
    #[arg(short = 'd', long = "datepattern")]
    datepattern: Option<String>,
    /// set time-zone used by convert time format
    #[arg(long = "timezone", visible_alias = "TZ")]
    timezone: Option<String>,
    /// File encoding. Default: system locale
    #[arg(short = 'e', long = "encoding", default_value = "UTF-8")]
    encoding: String,
    /// Raw hosts, don't resolve dns
    #[arg(short = 'r', long = "raw")]
    raw: bool,
    /// DNS specified replacement of tags <HOST> in regexp ('yes' - matches all form of hosts, 'no' - IP addresses only)
    #[arg(long = "usedns")]
    usedns: Option<String>,
    /// maxlines for multi-line regex.
    #[arg(short = 'L', long = "maxlines", default_value_t = 0)]
    maxlines: i64,
    /// journalctl style matches overriding filter file. "systemd-journal" only
    #[arg(short = 'm', long = "journalmatch")]
    journalmatch: Option<String>,
    /// Log level for the Fail2Ban logger to use
    #[arg(short = 'l', long = "log-level", default_value = "critical")]
    log_level: String,
    /// get version in machine-readable short format
    #[arg(short = 'V')]
    version: bool,
    /// Increase verbosity
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    verbose: u8,
    /// Set numerical level of verbosity (0..4)
    #[arg(long = "verbosity")]
    verbosity: Option<u8>,
    /// Verbose date patterns/regex in output
    #[arg(long = "verbose-date", visible_alias = "VD")]
    verbose_date: bool,
    /// Produce debuggex.com urls for debugging there
    #[arg(short = 'D', long = "debuggex")]
    debuggex: bool,
    /// Disable check for all regex's
    #[arg(long = "no-check-all")]
    no_check_all: bool,
    /// Set token to print failure information only (row, id, ip, msg, host, ip4, ip6, dns, matches, ...)
    #[arg(short = 'o', long = "out")]
    out: Option<String>,
    /// Do not print any missed lines
    #[arg(long = "print-no-missed")]
    print_no_missed: bool,
    /// Do not print any ignored lines
    #[arg(long = "print-no-ignored")]
    print_no_ignored: bool,
    /// Print all matched lines
    #[arg(long = "print-all-matched")]
    print_all_matched: bool,
    /// Print all missed lines, no matter how many
    #[arg(long = "print-all-missed")]
    print_all_missed: bool,
    /// Print all ignored lines, no matter how many
    #[arg(long = "print-all-ignored")]
    print_all_ignored: bool,
    /// Enrich log-messages with compressed tracebacks
    #[arg(short = 't', long = "log-traceback")]
    log_traceback: bool,
    /// Either to make the tracebacks full, not compressed (as by default)
    #[arg(long = "full-traceback")]
    full_traceback: bool,
    /// <LOG> <REGEX> [IGNOREREGEX]
    #[arg(allow_hyphen_values = true)]
    args: Vec<String>,
}

/// A failure of the tool: the message fail2ban-regex prints, then exit 255.
struct Failed(String);

/// fail2ban-regex's `shortstr`.
fn shortstr(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() > 53 {
        format!("{}...", chars[..50].iter().collect::<String>())
    } else {
        s.to_string()
    }
}

/// Python `repr` of a dict of string options.
fn options_repr(options: &[(String, String)]) -> String {
    let items: Vec<String> = options
        .iter()
        .map(|(k, v)| format!("{}: {}", str_repr(k), str_repr(v)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// Where a REGEX argument comes from.
enum RegexSource {
    Line(String),
    Filter { commands: Vec<Value> },
}

/// Whether `value` looks like a filter name or path (fail2ban-regex's test).
fn looks_like_filter(value: &str) -> bool {
    let body = value.trim_start_matches('/');
    if value.len() - body.len() > 3 {
        return false;
    }
    let name_end = body.find('[').unwrap_or(body.len());
    let name = &body[..name_end];
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "/_-.".contains(c));
    let rest_ok = name_end == body.len() || body.trim_end_matches('\n').ends_with(']');
    name_ok && rest_ok
}

fn last_six(s: &str) -> &str {
    let n = s.chars().count();
    let skip = n.saturating_sub(6);
    let idx = s.char_indices().nth(skip).map(|(i, _)| i).unwrap_or(0);
    &s[idx..]
}

struct Session<W: Write> {
    options: Options,
    out: W,
    quiet: bool,
    builder: FilterBuilder,
    maxlines_set: bool,
    datepattern_set: bool,
}

impl<W: Write> Session<W> {
    fn say(&mut self, line: &str) -> io::Result<()> {
        if !self.quiet {
            writeln!(self.out, "{line}")?;
        }
        Ok(())
    }

    fn set_maxlines(&mut self, value: &str) -> Result<(), Failed> {
        if self.maxlines_set {
            return Ok(());
        }
        self.builder
            .maxlines(value)
            .map_err(|e| Failed(format!("ERROR: {e}")))?;
        self.maxlines_set = true;
        let n = self.builder.get_maxlines();
        self.say(&format!("Use         maxlines : {n}"))
            .map_err(io_failed)
    }

    fn set_datepattern(&mut self, pattern: &str) -> Result<(), Failed> {
        if self.datepattern_set {
            return Ok(());
        }
        self.builder.datepattern(pattern);
        self.datepattern_set = true;
        let probe = self
            .builder
            .build_date_detector()
            .map_err(|e| Failed(format!("ERROR: {e}")))?;
        let name = if probe.is_empty() || probe.len() > 2 {
            "Default Detectors".to_string()
        } else {
            probe.template(0).name.clone()
        };
        self.say(&format!("Use      datepattern : {pattern} : {name}"))
            .map_err(io_failed)
    }

    /// fail2ban-regex's `readRegex`.
    fn read_regex(&mut self, value: &str, kind: &str) -> Result<RegexSource, Failed> {
        let label = format!("{kind}regex");
        let mut basedir = PathBuf::from(&self.options.config);
        let mut found: Option<(String, Vec<(String, String)>)> = None;
        if kind == "fail" && looks_like_filter(value) {
            let (name, opts) = ferroban::config::extract_options(value).map_err(|e| {
                Failed(format!(
                    "ERROR: Wrong filter name or options: {e}\n       while parsing: {value}"
                ))
            })?;
            let candidates: Vec<String> = if last_six(&name).contains('.') {
                vec![name.clone()]
            } else {
                vec![
                    name.clone(),
                    format!("{name}.conf"),
                    format!("{name}.local"),
                ]
            };
            for candidate in candidates {
                let file = if !candidate.contains('/') {
                    if basedir.file_name().is_some_and(|n| n == "filter.d") {
                        basedir.join(&candidate)
                    } else {
                        basedir.join("filter.d").join(&candidate)
                    }
                } else {
                    let f = PathBuf::from(&candidate);
                    basedir = f.parent().map(Path::to_path_buf).unwrap_or_default();
                    f
                };
                if file.is_file() {
                    found = Some((name.clone(), opts.clone()));
                    break;
                }
            }
        }
        let Some((name, opts)) = found else {
            self.say(&format!("Use {label:>11} line : {}", shortstr(value)))
                .map_err(io_failed)?;
            return Ok(RegexSource::Line(value.to_string()));
        };
        let in_config = basedir == Path::new(&self.options.config)
            || basedir.file_name().is_some_and(|n| n == "filter.d")
            || (!last_six(&name).contains('.') && !name.contains('/'));
        let loaded = if in_config {
            if basedir.file_name().is_some_and(|n| n == "filter.d") {
                basedir = basedir.parent().map(Path::to_path_buf).unwrap_or_default();
            }
            let short = Path::new(&name)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            self.say(&format!(
                "Use {label:>11} filter file : {short}, basedir: {}",
                basedir.display()
            ))
            .map_err(io_failed)?;
            if !opts.is_empty() {
                self.say(&format!("Use   filter options : {}", options_repr(&opts)))
                    .map_err(io_failed)?;
            }
            ferroban::config::load_filter(
                Some(&basedir),
                &short,
                "fail2ban-regex-jail",
                &opts,
                "auto",
            )
        } else {
            let path = std::path::absolute(&name).unwrap_or_else(|_| PathBuf::from(&name));
            self.say(&format!("Use {label:>11} file : {name}"))
                .map_err(io_failed)?;
            if !opts.is_empty() {
                self.say(&format!("Use   filter options : {}", options_repr(&opts)))
                    .map_err(io_failed)?;
            }
            ferroban::config::load_filter(
                None,
                &path.to_string_lossy(),
                "fail2ban-regex-jail",
                &opts,
                "auto",
            )
        };
        match loaded {
            Ok(commands) => Ok(RegexSource::Filter { commands }),
            Err(e) => Err(Failed(format!(
                "Wrong config file: {e}\nERROR: failed to load filter {value}"
            ))),
        }
    }

    /// Applies a filter's commands as fail2ban-regex does (usedns and
    /// logtimezone of the filter are not used by the tool).
    fn apply_filter(
        &mut self,
        commands: &[Value],
        failregex: &mut Vec<RegexStat>,
        ignoreregex: &mut Vec<RegexStat>,
    ) -> Result<(), Failed> {
        for cmd in commands {
            let Some(Setting { option, values }) =
                read_setting(cmd).map_err(|e| Failed(format!("ERROR: {e}")))?
            else {
                continue;
            };
            match option.as_str() {
                "prefregex" => {
                    for v in &values {
                        self.builder.prefregex(v);
                    }
                }
                "addfailregex" => failregex.extend(values.iter().map(|v| RegexStat::new(v))),
                "addignoreregex" => ignoreregex.extend(values.iter().map(|v| RegexStat::new(v))),
                "maxlines" => {
                    for v in &values {
                        self.set_maxlines(v)?;
                    }
                }
                "datepattern" => {
                    for v in &values {
                        self.set_datepattern(v)?;
                    }
                }
                "addjournalmatch" if self.options.journalmatch.is_none() => {
                    self.builder.add_journalmatch(values);
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn io_failed(e: io::Error) -> Failed {
    Failed(format!("ERROR: {e}"))
}

fn run(options: Options, stdout: &mut impl Write) -> Result<(), Failed> {
    let quiet = options.out.is_some();
    let mut session = Session {
        out: stdout,
        quiet,
        builder: FilterBuilder::new(),
        maxlines_set: false,
        datepattern_set: false,
        options,
    };
    session.builder.regex_tool_years(true).clock(Clock::System);
    session
        .say("\nRunning tests\n=============\n")
        .map_err(io_failed)?;
    if session.options.maxlines != 0 {
        let v = session.options.maxlines.to_string();
        session.set_maxlines(&v)?;
    }
    if let Some(tz) = session.options.timezone.clone() {
        session
            .builder
            .logtimezone(&tz)
            .map_err(|e| Failed(format!("ERROR: {e}")))?;
    }
    if let Some(p) = session.options.datepattern.clone() {
        session.set_datepattern(&p)?;
    }
    if let Some(u) = session.options.usedns.clone() {
        session.builder.usedns(&u);
    }
    let args = session.options.args.clone();
    let (log, regex) = (&args[0], &args[1]);
    if log.starts_with("systemd-journal") {
        return Err(Failed(
            "Error: systemd library not found. Exiting...".into(),
        ));
    }
    let mut failregex = Vec::new();
    let mut ignoreregex = Vec::new();
    match session.read_regex(regex, "fail")? {
        RegexSource::Line(r) => failregex.push(RegexStat::new(&r)),
        RegexSource::Filter { commands } => {
            session.apply_filter(&commands, &mut failregex, &mut ignoreregex)?
        }
    }
    if let Some(ignore) = args.get(2) {
        match session.read_regex(ignore, "ignore")? {
            RegexSource::Line(r) => ignoreregex.push(RegexStat::new(&r)),
            RegexSource::Filter { commands } => {
                session.apply_filter(&commands, &mut failregex, &mut ignoreregex)?
            }
        }
    }
    for r in &failregex {
        session.builder.add_failregex(&r.text);
    }
    for r in &ignoreregex {
        session.builder.add_ignoreregex(&r.text);
    }
    let mut filter = session
        .builder
        .build()
        .map_err(|e| Failed(format!("ERROR: {e}")))?;
    filter.options = MatchOptions {
        check_all_regex: !session.options.no_check_all && session.options.out.is_none(),
        return_raw_host: session.options.raw,
        ignore_pending: session.options.out.is_some(),
        check_find_time: false,
    };

    let file = if Path::new(log).is_file() {
        let file = std::fs::File::open(log)
            .map_err(|e| Failed(format!("ERROR: cannot read {log}: {e}")))?;
        session
            .say(&format!("Use         log file : {log}"))
            .map_err(io_failed)?;
        let enc = session.options.encoding.clone();
        session
            .say(&format!("Use         encoding : {enc}"))
            .map_err(io_failed)?;
        Some(file)
    } else {
        None
    };
    let lines: Vec<&str> = if file.is_some() {
        Vec::new()
    } else if filter.maxlines() <= 1 && !log.contains('\n') {
        session
            .say(&format!(
                "Use      single line : {}",
                shortstr(&log.replace('\n', "\\n"))
            ))
            .map_err(io_failed)?;
        vec![log.as_str()]
    } else {
        let split: Vec<&str> = log.split('\n').collect();
        session
            .say(&format!("Use      multi line : {} line(s)", split.len()))
            .map_err(io_failed)?;
        for (i, l) in split.iter().enumerate() {
            if i >= 5 {
                session.say("| ...").map_err(io_failed)?;
                break;
            }
            session
                .say(&format!("| {:>2.2}: {}", (i + 1).to_string(), shortstr(l)))
                .map_err(io_failed)?;
        }
        session.say("`-").map_err(io_failed)?;
        split
    };
    session.say("").map_err(io_failed)?;

    let opts = &session.options;
    let report = ReportOptions {
        out: opts.out.clone(),
        list_limit: if opts.maxlines != 0 {
            opts.maxlines as usize
        } else {
            20
        },
        print_all_matched: opts.print_all_matched,
        print_all_missed: opts.print_all_missed,
        print_all_ignored: opts.print_all_ignored,
        print_no_missed: opts.print_no_missed,
        print_no_ignored: opts.print_no_ignored,
        verbose: u32::from(opts.verbosity.unwrap_or(opts.verbose)),
        verbose_date: opts.verbose_date,
    };
    let mut tool = RegexTool::new(filter, failregex, ignoreregex, report, &mut session.out);
    match file {
        Some(f) => tool.process_reader(io::BufReader::with_capacity(1 << 16, f)),
        None => tool.process(lines.into_iter()),
    }
    .map_err(io_failed)?;
    tool.print_report().map_err(io_failed)?;
    Ok(())
}

fn main() -> ExitCode {
    let options = Options::parse();
    if options.version {
        println!("1.0.2");
        return ExitCode::SUCCESS;
    }
    let mut errors = Vec::new();
    if options.print_no_missed && options.print_all_missed {
        errors.push("ERROR: --print-no-missed and --print-all-missed are mutually exclusive.");
    }
    if options.print_no_ignored && options.print_all_ignored {
        errors.push("ERROR: --print-no-ignored and --print-all-ignored are mutually exclusive.");
    }
    if !matches!(options.args.len(), 2 | 3) {
        errors.push("ERROR: provide both <LOG> and <REGEX>.");
    }
    if !errors.is_empty() {
        eprintln!("\n{}", errors.join("\n"));
        return ExitCode::from(255);
    }
    let level = match options.log_level.to_lowercase().as_str() {
        "debug" | "heavydebug" | "traceback" => log::LevelFilter::Debug,
        "info" | "notice" => log::LevelFilter::Info,
        "warn" | "warning" => log::LevelFilter::Warn,
        "error" => log::LevelFilter::Error,
        _ => log::LevelFilter::Off,
    };
    env_logger::Builder::new()
        .filter_level(level)
        .target(env_logger::Target::Stdout)
        .init();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = run(options, &mut out);
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed(message)) => {
            let _ = writeln!(out, "{message}");
            ExitCode::from(255)
        }
    };
    let _ = out.flush();
    code
}
