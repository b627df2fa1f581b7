//! How many bytes an allocation really takes in jemalloc (Redis's allocator), so that
//! MEMORY USAGE reports what is held rather than what was asked for.

/// The jemalloc size class that serves a request of `n` bytes.
pub fn alloc_size(n: usize) -> usize {
    match n {
        0 => 0,
        1..=8 => 8,
        9..=128 => n.div_ceil(16) * 16,
        _ => {
            // Four classes per doubling: 160, 192, 224, 256, 320, 384, ...
            let pow = usize::BITS - (n - 1).leading_zeros(); // 2^pow >= n
            let step = 1usize << (pow - 3);
            n.div_ceil(step) * step
        }
    }
}

/// A B-tree map (or set) of `len` entries of `entry` bytes (key and value): about 1.5 x the
/// entries, as its nodes run about 2/3 full, but never less than the one leaf a non-empty tree
/// allocates whole (11 slots and its header), which is what a small tree holds.
pub fn btree_bytes(len: usize, entry: usize) -> usize {
    tree_bytes(len, entry, len * entry * 3 / 2)
}

/// A B-tree filled in key order (IDs as they come), which leaves its nodes about half full: 2 x
/// the entries, and at least the one leaf.
pub fn btree_bytes_in_order(len: usize, entry: usize) -> usize {
    tree_bytes(len, entry, len * entry * 2)
}

fn tree_bytes(len: usize, entry: usize, filled: usize) -> usize {
    if len == 0 {
        return 0;
    }
    filled.max(alloc_size(16 + 11 * entry))
}

/// Tables and vectors keep their capacity when entries go; these give it back once the
/// entries have fallen to a quarter of it (or to none), keeping room for twice the entries:
/// amortised O(1) per removal, and no shrink-grow churn around one size.
pub fn worth_shrinking(len: usize, capacity: usize) -> bool {
    (len == 0 && capacity > 0) || (capacity >= 64 && len * 4 <= capacity)
}

/// Shrinks a hash map far below its capacity (see `worth_shrinking`).
pub fn shrink_map<K, V, S>(map: &mut hashbrown::HashMap<K, V, S>)
where
    K: Eq + std::hash::Hash,
    S: std::hash::BuildHasher,
{
    if worth_shrinking(map.len(), map.capacity()) {
        map.shrink_to(map.len() * 2);
    }
}

/// Slots of a free-listed vector (`slots[i]` None and `i` in `free`): the unused slots at
/// its end go, with their room once far below capacity. Slots in use keep their index.
pub fn shrink_slots<T, F: Copy + Into<u64>>(slots: &mut Vec<Option<T>>, free: &mut Vec<F>) {
    if slots.last().is_some_and(Option::is_none) {
        while slots.last().is_some_and(Option::is_none) {
            slots.pop();
        }
        let n = slots.len() as u64;
        free.retain(|s| (*s).into() < n);
    }
    if worth_shrinking(slots.len(), slots.capacity()) {
        slots.shrink_to(slots.len() * 2);
    }
    if worth_shrinking(free.len(), free.capacity()) {
        free.shrink_to(free.len() * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes() {
        assert_eq!(alloc_size(1), 8);
        assert_eq!(alloc_size(17), 32);
        assert_eq!(alloc_size(129), 160);
        assert_eq!(alloc_size(303), 320);
        assert_eq!(alloc_size(320), 320);
        assert_eq!(alloc_size(321), 384);
        assert_eq!(alloc_size(4096), 4096);
        assert_eq!(alloc_size(4097), 5120);
    }

    /// The floor is std's leaf: a map of one entry takes a whole leaf (measured with a counting
    /// allocator: a stream's first revision block, a BTreeMap entry of 72 bytes, allocates 808).
    #[test]
    fn one_entry_takes_a_whole_leaf() {
        assert_eq!(btree_bytes(0, 72), 0);
        assert_eq!(btree_bytes(1, 72), alloc_size(808));
        // Large trees: 1.5 x the entries, as before.
        assert_eq!(btree_bytes(1000, 72), 108_000);
        assert_eq!(btree_bytes_in_order(1, 72), alloc_size(808));
        assert_eq!(btree_bytes_in_order(1000, 72), 144_000);
    }
}
