//! The multi-line failure-id (mlfid) cache of a filter: what earlier lines of
//! the same failure id said (fail2ban's `mlfidCache`: 100 entries, kept for
//! 5 minutes). An entry shares its data with the failures made from it.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::failure::FailData;

const MLFID_CACHE_SIZE: usize = 100;
const MLFID_CACHE_SECONDS: f64 = 300.0;

/// When an entry was made, and its data (`None` while the engine merges a
/// line into it).
type Entry = (f64, Option<Arc<FailData>>);

/// Multi-line failure data kept per mlfid.
#[derive(Default)]
pub(crate) struct MlfidCache {
    entries: HashMap<Arc<str>, Entry, BuildHasherDefault<KeyHasher>>,
    /// Keys in insertion order, for evicting the oldest entry.
    order: VecDeque<Arc<str>>,
}

impl MlfidCache {
    /// The entry for `key`, moved out: the caller stores the merged data
    /// back with [`update_if_present`](Self::update_if_present) (or unsets the key).
    pub(crate) fn take(&mut self, key: &str, now: f64) -> Option<Arc<FailData>> {
        let (set_at, data) = self.entries.get_mut(key)?;
        if now - *set_at > MLFID_CACHE_SECONDS {
            self.unset(key);
            return None;
        }
        Some(data.take().unwrap_or_default())
    }

    /// Makes an entry for `key` (evicting the oldest when full), its data to
    /// be stored with [`update_if_present`](Self::update_if_present).
    /// Returns the evicted entry's data, whose buffers the caller may reuse.
    pub(crate) fn reserve(&mut self, key: &str, now: f64) -> Option<Arc<FailData>> {
        if let Some(entry) = self.entries.get_mut(key) {
            return entry.1.take();
        }
        let mut evicted = None;
        if self.entries.len() >= MLFID_CACHE_SIZE {
            if let Some(oldest) = self.order.pop_front() {
                evicted = self.entries.remove(&oldest).and_then(|(_, data)| data);
            }
        }
        let key: Arc<str> = Arc::from(key);
        self.order.push_back(key.clone());
        self.entries.insert(key, (now, None));
        evicted
    }

    pub(crate) fn update_if_present(&mut self, key: &str, data: &Arc<FailData>) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.1 = Some(Arc::clone(data));
        }
    }

    pub(crate) fn unset(&mut self, key: &str) {
        if self.entries.remove(key).is_some() {
            self.order.retain(|k| &**k != key);
        }
    }
}

/// A multiply-rotate hash (as rustc's FxHash) for the cache's keys: much
/// cheaper than the default SipHash on short keys, and the cache's bound
/// (100 entries) leaves collisions nothing to slow down.
#[derive(Default)]
struct KeyHasher(u64);

impl KeyHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn finish(&self) -> u64 {
        // The table takes its bucket from the low bits: bring the well
        // mixed high bits down.
        self.0.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(user: &str) -> Arc<FailData> {
        let mut d = FailData::default();
        d.add_user(user);
        Arc::new(d)
    }

    #[test]
    fn take_moves_the_entry_out_until_it_is_stored_back() {
        let mut c = MlfidCache::default();
        assert!(c.take("a", 0.0).is_none());
        c.reserve("a", 0.0);
        c.update_if_present("a", &data("u1"));
        let d = c.take("a", 10.0).expect("entry");
        assert!(d.users.as_ref().is_some_and(|u| u.contains("u1")));
        // Moved out: the entry stays, empty, until the merged data comes back.
        assert!(c.take("a", 10.0).is_some_and(|d| d.users.is_none()));
        c.update_if_present("b", &d);
        assert!(c.take("b", 10.0).is_none());
    }

    #[test]
    fn entries_expire_and_the_oldest_is_evicted() {
        let mut c = MlfidCache::default();
        c.reserve("old", 0.0);
        c.update_if_present("old", &data("u"));
        assert!(c.take("old", 301.0).is_none());
        assert!(c.take("old", 0.0).is_none(), "an expired entry is removed");
        for i in 0..MLFID_CACHE_SIZE {
            c.reserve(&format!("k{i}"), 0.0);
        }
        c.update_if_present("k0", &data("first"));
        let evicted = c.reserve("new", 0.0).expect("the oldest entry's data");
        assert!(evicted.users.as_ref().is_some_and(|u| u.contains("first")));
        assert!(c.take("k0", 0.0).is_none());
        assert!(c.take("k1", 0.0).is_some());
        assert!(c.take("new", 0.0).is_some());
        assert_eq!(c.entries.len(), MLFID_CACHE_SIZE);
        c.unset("k1");
        assert!(c.take("k1", 0.0).is_none());
        assert_eq!(c.order.len(), MLFID_CACHE_SIZE - 1);
    }

    #[test]
    fn key_hasher_tells_similar_keys_apart() {
        let hash = |s: &str| {
            let mut h = KeyHasher::default();
            std::hash::Hash::hash(s, &mut h);
            h.finish()
        };
        let keys = [
            "gate sshd[1]: ",
            "gate sshd[2]: ",
            "gate sshd[12]: ",
            "",
            "a",
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(hash(a), hash(b), "{a:?} {b:?}");
            }
        }
    }
}
