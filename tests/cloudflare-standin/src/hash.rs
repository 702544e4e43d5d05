//! A small, fixed, platform-independent hash (FNV-1a, then a SplitMix64 finaliser), for embeddings and etags.
//! It must never change: tests rely on embeddings being the same on every run and machine.

/// FNV-1a over `bytes`, mixed so that every output bit depends on every input bit.
pub(crate) fn hash64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        h ^= u64::from(*byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_stable() {
        assert_eq!(hash64(b"memory"), hash64(b"memory"));
        assert_ne!(hash64(b"memory"), hash64(b"memories"));
    }
}
