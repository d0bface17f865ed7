//! The `-h` text of `fail2ban-client` and `fail2ban-server`, and the
//! interactive `help`: fail2ban's layout (usage line, options, then for the
//! client every server command in sections, two columns), in our words.

/// One row of the command table: a section heading when `command` is empty.
struct Row {
    command: &'static str,
    text: &'static str,
}

const fn heading(text: &'static str) -> Row {
    Row { command: "", text }
}

const fn cmd(command: &'static str, text: &'static str) -> Row {
    Row { command, text }
}

/// The commands the server understands, grouped as fail2ban groups them.
const COMMANDS: &[Row] = &[
    heading("BASIC"),
    cmd("start", "starts the server, then its jails"),
    cmd("restart", "stops and starts the server again"),
    cmd("restart [--unban] [--if-exists] <JAIL>", "restarts jail <JAIL>; the same as 'reload --restart ... <JAIL>'"),
    cmd("reload [--restart] [--unban] [--all]", "reads the configuration again and applies it without a server restart; with '--restart' the changed jails are restarted completely, and with '--unban' their addresses are unbanned"),
    cmd("reload [--restart] [--unban] [--if-exists] <JAIL>", "reloads jail <JAIL>, or restarts it with '--restart'"),
    cmd("stop", "stops every jail, then the server"),
    cmd("unban --all", "unbans every address, in all jails and in the database"),
    cmd("unban <IP> ... <IP>", "unbans the addresses given, in all jails and in the database"),
    cmd("banned", "lists the banned addresses of each jail"),
    cmd("banned <IP> ... <IP>]", "lists, for each address given, the jails that ban it"),
    cmd("status", "shows the server's status and its jails"),
    cmd("ping", "checks that the server answers"),
    cmd("echo", "sends its arguments back (for internal use)"),
    cmd("help", "shows this text"),
    cmd("version", "shows the server's version"),
    heading("LOGGING"),
    cmd("set loglevel <LEVEL>", "sets the log level: CRITICAL, ERROR, WARNING, NOTICE, INFO, DEBUG, TRACEDEBUG, HEAVYDEBUG, or a number from 50 down to 5"),
    cmd("get loglevel", "shows the log level"),
    cmd("set logtarget <TARGET>", "sends the log to <TARGET>: STDOUT, STDERR, SYSLOG, SYSTEMD-JOURNAL or a file name"),
    cmd("get logtarget", "shows where the log goes"),
    cmd("set syslogsocket auto|<SOCKET>", "sets the syslog socket, 'auto' or a path; used when the log target is SYSLOG"),
    cmd("get syslogsocket", "shows the syslog socket"),
    cmd("flushlogs", "closes and reopens a log file, after logrotate moved it"),
    heading("DATABASE"),
    cmd("set dbfile <FILE>", "sets the file of the ban database; \"None\" turns the database off"),
    cmd("get dbfile", "shows the file of the ban database"),
    cmd("set dbmaxmatches <INT>", "sets how many matched lines the database keeps per ban"),
    cmd("get dbmaxmatches", "shows how many matched lines the database keeps per ban"),
    cmd("set dbpurgeage <SECONDS>", "sets how long, in seconds, the database keeps the history of bans"),
    cmd("get dbpurgeage", "shows how long, in seconds, the database keeps the history of bans"),
    heading("JAIL CONTROL"),
    cmd("add <JAIL> <BACKEND>", "creates jail <JAIL>, watching its logs with <BACKEND>"),
    cmd("start <JAIL>", "starts jail <JAIL>"),
    cmd("stop <JAIL>", "stops jail <JAIL> and removes it"),
    cmd("status <JAIL> [FLAVOR]", "shows the status of jail <JAIL>; FLAVOR 'basic', 'cymru' or 'short' changes the detail"),
    heading("JAIL CONFIGURATION"),
    cmd("set <JAIL> idle on|off", "pauses or resumes jail <JAIL>"),
    cmd("set <JAIL> ignoreself true|false", "whether jail <JAIL> ignores this machine's own addresses"),
    cmd("set <JAIL> addignoreip <IP>", "adds <IP> (an address, network or host name) to the addresses jail <JAIL> never bans"),
    cmd("set <JAIL> delignoreip <IP>", "removes <IP> from the addresses jail <JAIL> never bans"),
    cmd("set <JAIL> ignorecommand <VALUE>", "sets the command that decides whether jail <JAIL> ignores an address"),
    cmd("set <JAIL> ignorecache <VALUE>", "sets how jail <JAIL> caches the answers of its ignorecommand"),
    cmd("set <JAIL> addlogpath <FILE> ['tail']", "adds <FILE> to the logs of jail <JAIL>, read from its start, or from its end with 'tail'"),
    cmd("set <JAIL> dellogpath <FILE>", "removes <FILE> from the logs of jail <JAIL>"),
    cmd("set <JAIL> logencoding <ENCODING>", "sets the encoding of the logs of jail <JAIL>"),
    cmd("set <JAIL> addjournalmatch <MATCH>", "adds <MATCH> to the journal matches of jail <JAIL>"),
    cmd("set <JAIL> deljournalmatch <MATCH>", "removes <MATCH> from the journal matches of jail <JAIL>"),
    cmd("set <JAIL> addfailregex <REGEX>", "adds <REGEX> to the failure regexes of jail <JAIL>"),
    cmd("set <JAIL> delfailregex <INDEX>", "removes the failure regex number <INDEX> of jail <JAIL>"),
    cmd("set <JAIL> addignoreregex <REGEX>", "adds <REGEX> to the ignore regexes of jail <JAIL>"),
    cmd("set <JAIL> delignoreregex <INDEX>", "removes the ignore regex number <INDEX> of jail <JAIL>"),
    cmd("set <JAIL> findtime <TIME>", "sets the window in which jail <JAIL> counts failures"),
    cmd("set <JAIL> bantime <TIME>", "sets how long jail <JAIL> bans an address"),
    cmd("set <JAIL> datepattern <PATTERN>", "sets the date pattern of jail <JAIL>"),
    cmd("set <JAIL> usedns <VALUE>", "sets whether jail <JAIL> resolves host names: yes, warn, no or raw"),
    cmd("set <JAIL> attempt <IP> [<failure1> ... <failureN>]", "records a failure of <IP> in jail <JAIL>, as if a log line had shown it"),
    cmd("set <JAIL> banip <IP> ... <IP>", "bans the addresses given in jail <JAIL>"),
    cmd("set <JAIL> unbanip [--report-absent] <IP> ... <IP>", "unbans the addresses given in jail <JAIL>"),
    cmd("set <JAIL> maxretry <RETRY>", "sets how many failures jail <JAIL> allows before a ban"),
    cmd("set <JAIL> maxmatches <INT>", "sets how many matched lines jail <JAIL> keeps per address"),
    cmd("set <JAIL> maxlines <LINES>", "sets how many lines jail <JAIL> buffers for multi-line regexes"),
    cmd("set <JAIL> addaction <ACT>[ <PYTHONFILE> <JSONKWARGS>]", "adds action <ACT> to jail <JAIL>"),
    cmd("set <JAIL> delaction <ACT>", "removes action <ACT> from jail <JAIL>"),
    heading("COMMAND ACTION CONFIGURATION"),
    cmd("set <JAIL> action <ACT> actionstart <CMD>", "sets the command action <ACT> of jail <JAIL> runs when it starts"),
    cmd("set <JAIL> action <ACT> actionstop <CMD>", "sets the command action <ACT> of jail <JAIL> runs when it stops"),
    cmd("set <JAIL> action <ACT> actioncheck <CMD>", "sets the command action <ACT> of jail <JAIL> runs to check its rules"),
    cmd("set <JAIL> action <ACT> actionban <CMD>", "sets the command action <ACT> of jail <JAIL> runs to ban"),
    cmd("set <JAIL> action <ACT> actionunban <CMD>", "sets the command action <ACT> of jail <JAIL> runs to unban"),
    cmd("set <JAIL> action <ACT> timeout <TIMEOUT>", "sets how many seconds a command of action <ACT> of jail <JAIL> may run"),
    heading("GENERAL ACTION CONFIGURATION"),
    cmd("set <JAIL> action <ACT> <PROPERTY> <VALUE>", "sets <PROPERTY> of action <ACT> of jail <JAIL>"),
    cmd("set <JAIL> action <ACT> <METHOD>[ <JSONKWARGS>]", "calls <METHOD> of action <ACT> of jail <JAIL>"),
    heading("JAIL INFORMATION"),
    cmd("get <JAIL> banned", "lists the addresses jail <JAIL> bans"),
    cmd("get <JAIL> banned <IP> ... <IP>]", "tells, for each address given, whether jail <JAIL> bans it"),
    cmd("get <JAIL> logpath", "lists the logs of jail <JAIL>"),
    cmd("get <JAIL> logencoding", "shows the encoding of the logs of jail <JAIL>"),
    cmd("get <JAIL> journalmatch", "lists the journal matches of jail <JAIL>"),
    cmd("get <JAIL> ignoreself", "shows whether jail <JAIL> ignores this machine's own addresses"),
    cmd("get <JAIL> ignoreip", "lists the addresses jail <JAIL> never bans"),
    cmd("get <JAIL> ignorecommand", "shows the ignorecommand of jail <JAIL>"),
    cmd("get <JAIL> failregex", "lists the failure regexes of jail <JAIL>"),
    cmd("get <JAIL> ignoreregex", "lists the ignore regexes of jail <JAIL>"),
    cmd("get <JAIL> findtime", "shows the window in which jail <JAIL> counts failures"),
    cmd("get <JAIL> bantime", "shows how long jail <JAIL> bans an address"),
    cmd("get <JAIL> datepattern", "shows the date pattern of jail <JAIL>"),
    cmd("get <JAIL> usedns", "shows whether jail <JAIL> resolves host names"),
    cmd("get <JAIL> banip [<SEP>|--with-time]", "lists the addresses jail <JAIL> bans, separated by <SEP> (a space by default), or one per line with its ban times"),
    cmd("get <JAIL> maxretry", "shows how many failures jail <JAIL> allows before a ban"),
    cmd("get <JAIL> maxmatches", "shows how many matched lines jail <JAIL> keeps per address"),
    cmd("get <JAIL> maxlines", "shows how many lines jail <JAIL> buffers"),
    cmd("get <JAIL> actions", "lists the actions of jail <JAIL>"),
    heading("COMMAND ACTION INFORMATION"),
    cmd("get <JAIL> action <ACT> actionstart", "shows the start command of action <ACT> of jail <JAIL>"),
    cmd("get <JAIL> action <ACT> actionstop", "shows the stop command of action <ACT> of jail <JAIL>"),
    cmd("get <JAIL> action <ACT> actioncheck", "shows the check command of action <ACT> of jail <JAIL>"),
    cmd("get <JAIL> action <ACT> actionban", "shows the ban command of action <ACT> of jail <JAIL>"),
    cmd("get <JAIL> action <ACT> actionunban", "shows the unban command of action <ACT> of jail <JAIL>"),
    cmd("get <JAIL> action <ACT> timeout", "shows the command timeout of action <ACT> of jail <JAIL>"),
    heading("GENERAL ACTION INFORMATION"),
    cmd("get <JAIL> actionproperties <ACT>", "lists the properties of action <ACT> of jail <JAIL>"),
    cmd("get <JAIL> actionmethods <ACT>", "lists the methods of action <ACT> of jail <JAIL>"),
    cmd("get <JAIL> action <ACT> <PROPERTY>", "shows <PROPERTY> of action <ACT> of jail <JAIL>"),
];

/// The options both programs accept, in fail2ban's order and columns.
const OPTIONS: &[(&str, &str)] = &[
    ("-c, --conf <DIR>", "configuration directory"),
    ("-s, --socket <FILE>", "socket path"),
    ("-p, --pidfile <FILE>", "pidfile path"),
    (
        "--pname <NAME>",
        "name of the server process (default fail2ban-server)",
    ),
    ("--loglevel <LEVEL>", "logging level"),
    (
        "--logtarget <TARGET>",
        "logging target: a file name, STDOUT, STDERR, SYSLOG or SYSTEMD-JOURNAL",
    ),
    ("--syslogsocket auto|<FILE>", ""),
    ("-d", "dump the configuration as commands"),
    (
        "--dp, --dump-pretty",
        "dump the configuration in a more readable form",
    ),
    ("-t, --test", "test the configuration (also with start)"),
    ("-i", "interactive mode"),
    ("-v", "increase verbosity"),
    ("-q", "decrease verbosity"),
    (
        "-x",
        "force execution of the server (remove a stale socket file)",
    ),
    ("-b", "start the server in the background (default)"),
    ("-f", "start the server in the foreground"),
    (
        "--async",
        "start the server without waiting for it (internal use, reads no configuration)",
    ),
    (
        "--timeout",
        "how long to wait for the server (internal use, reads no configuration)",
    ),
    (
        "--str2sec <STRING>",
        "convert a time abbreviation to seconds",
    ),
    ("-h, --help", "display this help message"),
    (
        "-V, --version",
        "print the version (-V prints the short, machine-readable form)",
    ),
];

const INDENT: usize = 4;
/// Column where descriptions start, after the indent.
const MARGIN: usize = 41;
/// Width descriptions are wrapped to.
const WIDTH: usize = 34;

/// The `-h` text of `program`: the client's lists the commands, the
/// server's does not (as fail2ban's).
pub fn usage(program: &str) -> String {
    let server = program.ends_with("server");
    let mut out = format!(
        "Usage: {program} [OPTIONS]{}\n\n",
        if server { "" } else { " <COMMAND>" }
    );
    out.push_str(
        "ferroban reads log files that report authentication failures (Fail2Ban v1.0.2\n\
         compatible) and bans the offending IP addresses with firewall rules.\n\n",
    );
    out.push_str("Options:\n");
    for (opt, text) in OPTIONS {
        let line = if text.is_empty() {
            format!("    {opt}")
        } else {
            format!("    {opt:<24}{text}")
        };
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if !server {
        out.push_str("\nCommand:\n");
        out.push_str(&commands());
    }
    out.push_str("\nReport ferroban's bugs to its issue tracker.\n");
    out
}

/// The command table: headings, then each command with its description
/// wrapped in a second column.
fn commands() -> String {
    let mut out = String::new();
    for (i, row) in COMMANDS.iter().enumerate() {
        if row.command.is_empty() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&format!(
                "{:width$}{}\n",
                "",
                row.text,
                width = INDENT + MARGIN
            ));
            continue;
        }
        let lines = wrap(row.text, WIDTH);
        let mut rest = lines.iter();
        if row.command.len() >= MARGIN {
            // Too long to share a line with its description.
            out.push_str(&format!("{:INDENT$}{}\n", "", row.command));
        } else if let Some(first) = rest.next() {
            out.push_str(&format!("{:INDENT$}{:<MARGIN$}{first}\n", "", row.command));
        }
        for line in rest {
            out.push_str(&format!("{:width$}{line}\n", "", width = INDENT + MARGIN));
        }
    }
    out
}

/// Greedy word wrap of `text` to lines of at most `width` characters
/// (a longer word gets a line of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_lines_fit_their_column() {
        for row in COMMANDS {
            for line in wrap(row.text, WIDTH) {
                assert!(line.chars().count() <= WIDTH, "{line:?}");
            }
        }
    }

    #[test]
    fn client_lists_commands_and_server_does_not() {
        let client = usage("fail2ban-client");
        assert!(client.starts_with("Usage: fail2ban-client [OPTIONS] <COMMAND>\n"));
        assert!(client.contains("\nCommand:\n"));
        assert!(client.contains("    set <JAIL> banip <IP> ... <IP>"));
        let server = usage("fail2ban-server");
        assert!(server.starts_with("Usage: fail2ban-server [OPTIONS]\n"));
        assert!(!server.contains("Command:"));
        assert!(server.contains("    -x                      force execution"));
    }

    #[test]
    fn long_commands_get_a_line_of_their_own() {
        let text = commands();
        let line = text
            .lines()
            .find(|l| l.contains("set <JAIL> attempt"))
            .unwrap();
        assert_eq!(
            line.trim_end(),
            "    set <JAIL> attempt <IP> [<failure1> ... <failureN>]"
        );
    }
}
