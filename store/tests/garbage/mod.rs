//! Deterministic garbage for the decode tests of the store, raft, broker
//! and cli crates (each includes this file by path): a small PRNG and
//! mutations of valid encodings.
#![allow(dead_code)]

/// xorshift64*: small, deterministic, good enough to make garbage.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Values that break length and offset arithmetic.
pub const EDGES_32: [u32; 7] = [0, 1, 0x7f, 0xffff, 0x7fff_ffff, 0xffff_fff0, u32::MAX];

/// One to four random mutations of `valid`.
pub fn mutate(rng: &mut Rng, valid: &[u8]) -> Vec<u8> {
    let mut v = valid.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len());
        match rng.below(8) {
            0 if !v.is_empty() => v[at] ^= 1 << rng.below(8),
            1 if !v.is_empty() => v[at] = [0, 0xff, 0x7f, 0x80][rng.below(4)],
            2 => v.truncate(at),
            3 => {
                let n = rng.below(64);
                v.extend(rng.bytes(n));
            }
            4 if v.len() >= 2 => {
                let at = rng.below(v.len() - 1);
                let x = EDGES_32[rng.below(EDGES_32.len())] as u16;
                v[at..at + 2].copy_from_slice(&x.to_le_bytes());
            }
            5 if v.len() >= 4 => {
                let at = rng.below(v.len() - 3);
                let x = EDGES_32[rng.below(EDGES_32.len())];
                v[at..at + 4].copy_from_slice(&x.to_le_bytes());
            }
            6 => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at..end);
            }
            _ => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                let copy = v[at..end].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, copy);
            }
        }
    }
    v
}
