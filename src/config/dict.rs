//! An insertion-ordered string-keyed map with Python `dict` semantics.
//!
//! fail2ban's output order follows Python dict order everywhere (options,
//! sections, jails), so the configuration engine needs a map that keeps the
//! first insertion position of a key when its value is replaced.

use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct Dict<V> {
    entries: Vec<(String, V)>,
    index: HashMap<String, usize>,
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> Dict<V> {
    pub fn new() -> Self {
        Dict {
            entries: Vec::new(),
            index: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        match self.index.get(key) {
            Some(&i) => Some(&mut self.entries[i].1),
            None => None,
        }
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// Inserts or replaces; a replaced key keeps its position, as in Python.
    pub fn insert(&mut self, key: impl Into<String>, value: V) {
        let key = key.into();
        match self.index.get(&key) {
            Some(&i) => self.entries[i].1 = value,
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, value));
            }
        }
    }

    /// Removes a key, keeping the order of the others.
    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.index.remove(key)?;
        let (_, v) = self.entries.remove(i);
        for (_, idx) in self.index.iter_mut() {
            if *idx > i {
                *idx -= 1;
            }
        }
        Some(v)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.entries.iter_mut().map(|(_, v)| v)
    }
}

impl<V: Clone> Dict<V> {
    /// Python's `dict.update`.
    pub fn update(&mut self, other: &Dict<V>) {
        for (k, v) in other.iter() {
            self.insert(k, v.clone());
        }
    }
}

impl<V> FromIterator<(String, V)> for Dict<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> Self {
        let mut d = Dict::new();
        for (k, v) in iter {
            d.insert(k, v);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacing_keeps_position_and_remove_keeps_order() {
        let mut d = Dict::new();
        d.insert("a", 1);
        d.insert("b", 2);
        d.insert("c", 3);
        d.insert("a", 4);
        assert_eq!(d.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(d.get("a"), Some(&4));
        d.remove("b");
        assert_eq!(d.keys().collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!(d.get("c"), Some(&3));
    }
}
