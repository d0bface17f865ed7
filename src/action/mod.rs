//! The action runner: fail2ban's shell actions (`action.d/*.conf`), built
//! from the command stream and run at ban time exactly as fail2ban's
//! `CommandAction` runs them.
//!
//! - [`commands`] parses the stream's action lines; [`JailActions`] applies
//!   them (or use [`ActionBuilder`] directly);
//! - [`BanInfo`] is what the ban engine knows about a ban;
//! - [`Action`] resolves tags ([`tags`]) and runs start/ban/unban/flush/
//!   stop through `/bin/sh` ([`runner`]), keeping values from log lines out
//!   of the shell's parser ([`escape`]).
//!
//! What the ban engine does with them, as fail2ban's `Actions` thread does:
//! - jail start: `start()` each action in order (errors are logged as
//!   `Failed to start jail 'J' action 'A': ERROR`);
//! - each ban: `ban(&info)` on each action, skipping actions whose
//!   `norestored()` is true for restored tickets (errors: `Failed to
//!   execute ban jail 'J' action 'A' info '…': ERROR`); several bans at
//!   once (one batch of log lines): `ban_many`; a ticket seen again
//!   long after its ban triggers `consistency_check(None)`, and tickets
//!   banned before an action's `ban_epoch()` went up are `reban`ned;
//! - each unban: `unban(&info)`;
//! - jail stop: `flush()` for actions that `has_flush()`, `unban` of every
//!   ticket for the others, then `stop()` in reverse order.
//!
//! ```no_run
//! use ferroban::action::{BanInfo, JailActions};
//! use ferroban::command;
//!
//! let mut actions = JailActions::new("sshd");
//! actions.apply_line(&command!["set", "sshd", "addaction", "echo"])?;
//! actions.apply_line(&command!["set", "sshd", "action", "echo", "actionban", "echo ban <ip>"])?;
//! for a in actions.iter_mut() {
//!     a.start()?;
//! }
//! let mut info = BanInfo::new("192.0.2.1", 1_700_000_000.0, 600);
//! info.failures = 5;
//! for a in actions.iter_mut() {
//!     a.ban(&info)?;
//! }
//! # Ok::<(), ferroban::action::ActionError>(())
//! ```

pub mod command;
pub mod commands;
pub mod duration;
pub mod error;
pub mod escape;
pub mod hostname;
pub mod info;
pub mod jail;
pub mod runner;
pub mod tags;

pub use command::{Action, ActionBuilder, Executor};
pub use commands::{parse_action_command, ActionCommand};
pub use error::ActionError;
pub use escape::ShellCommand;
pub use info::{BanInfo, Family};
pub use jail::JailActions;
