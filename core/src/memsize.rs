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

#[cfg(test)]
mod tests {
    use super::alloc_size;

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
}
