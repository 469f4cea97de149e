//! Randomness as the core sees it: bytes drawn from a source the caller supplies.

/// A cryptographically secure source of random bytes (the OS at the origin and dmclient,
/// `crypto.getRandomValues` at the edge, a seeded stream in tests).
pub trait SecureRandom {
    /// Fills `dest` with random bytes.
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomUnavailable>;
}

/// The random source failed; nothing secure can be made without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the secure random source is unavailable")]
pub struct RandomUnavailable;

/// Draws `N` random bytes from `rng`.
pub fn bytes<const N: usize>(rng: &mut dyn SecureRandom) -> Result<[u8; N], RandomUnavailable> {
    let mut out = [0u8; N];
    rng.fill(&mut out)?;
    Ok(out)
}

/// A deterministic, NOT secure stream for tests (xorshift64*).
///
/// Only in this crate's tests and behind the `test-rng` feature, which only dev-dependencies
/// turn on: no shipped binary can draw a key or token from it.
#[cfg(any(test, feature = "test-rng"))]
#[derive(Debug, Clone)]
pub struct TestRng(pub u64);

#[cfg(any(test, feature = "test-rng"))]
impl SecureRandom for TestRng {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomUnavailable> {
        for b in dest {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
        Ok(())
    }
}
