//! Problems that fail2ban only logs (an unreadable file, a value that falls
//! back to its default, a jail without log files) are collected here during a
//! configuration run, so that `fail2ban-client -t` can list them with their
//! `file:line`. A run is single-threaded; the list is per thread.

use super::error::ConfigError;
use std::cell::RefCell;

thread_local! {
    static WARNINGS: RefCell<Vec<ConfigError>> = const { RefCell::new(Vec::new()) };
}

/// Records a problem once.
pub fn warn(e: ConfigError) {
    WARNINGS.with(|w| {
        let mut w = w.borrow_mut();
        if !w.contains(&e) {
            w.push(e);
        }
    });
}

/// Takes the problems recorded so far on this thread.
pub fn take() -> Vec<ConfigError> {
    WARNINGS.with(|w| std::mem::take(&mut *w.borrow_mut()))
}
