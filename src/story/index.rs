//! The candidate index: from an item's lookup keys (LSH bands of its body signature, its rarest
//! terms, its link) to the recent items filed under the same keys, so that finding an item's
//! story costs a few hash look-ups, not a scan of the window.

use std::collections::{HashMap, VecDeque};

/// An item in the window, numbered by the clusterer.
pub type Slot = u64;

/// Where the clusterer files and finds items by key. [`MemoryIndex`] keeps it in memory; the
/// store can back it with a `(key, slot)` table indexed on `key`.
pub trait CandidateIndex {
    /// Files `slot` under each of `keys`.
    fn insert(&mut self, slot: Slot, keys: &[u64]);
    /// Appends to `out` the slots filed under each of `keys`, newest first, at most
    /// `per_key` per key (a slot may appear once per key it shares).
    fn candidates(&self, keys: &[u64], per_key: usize, out: &mut Vec<Slot>);
    /// Forgets `slot`, which was filed under `keys`.
    fn remove(&mut self, slot: Slot, keys: &[u64]);
}

/// The longest list kept per key: a key shared by more items than this (a very common term)
/// only finds the newest of them, which bounds both memory and the cost of a look-up.
pub const MAX_SLOTS_PER_KEY: usize = 256;

/// The in-memory [`CandidateIndex`]: a hash map from key to the slots filed under it, oldest
/// first.
#[derive(Debug, Default)]
pub struct MemoryIndex {
    postings: HashMap<u64, Posting>,
}

/// The slots filed under one key. Most keys (LSH bands, rare terms) hold one item: they need no
/// list of their own.
#[derive(Debug)]
enum Posting {
    One(Slot),
    Many(VecDeque<Slot>),
}

impl MemoryIndex {
    /// An empty index.
    pub fn new() -> MemoryIndex {
        MemoryIndex::default()
    }

    /// The number of keys with at least one slot.
    pub fn keys(&self) -> usize {
        self.postings.len()
    }
}

impl CandidateIndex for MemoryIndex {
    fn insert(&mut self, slot: Slot, keys: &[u64]) {
        for key in keys {
            match self.postings.get_mut(key) {
                None => {
                    self.postings.insert(*key, Posting::One(slot));
                }
                Some(Posting::One(filed)) if *filed == slot => {}
                Some(posting @ Posting::One(_)) => {
                    let Posting::One(filed) = *posting else { continue };
                    *posting = Posting::Many(VecDeque::from([filed, slot]));
                }
                Some(Posting::Many(list)) => {
                    if list.back() != Some(&slot) {
                        list.push_back(slot);
                    }
                    if list.len() > MAX_SLOTS_PER_KEY {
                        list.pop_front();
                    }
                }
            }
        }
    }

    fn candidates(&self, keys: &[u64], per_key: usize, out: &mut Vec<Slot>) {
        for key in keys {
            match self.postings.get(key) {
                None => {}
                Some(Posting::One(slot)) => out.push(*slot),
                Some(Posting::Many(list)) => out.extend(list.iter().rev().take(per_key)),
            }
        }
    }

    fn remove(&mut self, slot: Slot, keys: &[u64]) {
        for key in keys {
            let now_empty = match self.postings.get_mut(key) {
                None => false,
                Some(Posting::One(filed)) => *filed == slot,
                Some(Posting::Many(list)) => {
                    // Items leave the window oldest first, so the slot is almost always in front.
                    if list.front() == Some(&slot) {
                        list.pop_front();
                    } else if let Some(position) = list.iter().position(|filed| *filed == slot) {
                        list.remove(position);
                    }
                    list.is_empty()
                }
            };
            if now_empty {
                self.postings.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_newest_first_and_forgets_removed_slots() {
        let mut index = MemoryIndex::new();
        index.insert(1, &[10, 20]);
        index.insert(2, &[10]);
        let mut found = Vec::new();
        index.candidates(&[10, 30], 8, &mut found);
        assert_eq!(found, vec![2, 1]);
        index.remove(1, &[10, 20]);
        found.clear();
        index.candidates(&[10, 20], 8, &mut found);
        assert_eq!(found, vec![2]);
        assert_eq!(index.keys(), 1);
    }

    #[test]
    fn a_crowded_key_keeps_only_its_newest_slots() {
        let mut index = MemoryIndex::new();
        for slot in 0..(MAX_SLOTS_PER_KEY as u64 + 10) {
            index.insert(slot, &[7]);
        }
        let mut found = Vec::new();
        index.candidates(&[7], usize::MAX, &mut found);
        assert_eq!(found.len(), MAX_SLOTS_PER_KEY);
        assert_eq!(found[0], MAX_SLOTS_PER_KEY as u64 + 9);
        // Removing a slot that fell off the list is harmless.
        index.remove(0, &[7]);
        found.clear();
        index.candidates(&[7], 1, &mut found);
        assert_eq!(found, vec![MAX_SLOTS_PER_KEY as u64 + 9]);
    }
}
