//! Client ids and message ids.
//!
//! A message id is chosen by the producer and kept across retries, so the
//! broker can drop a retried duplicate. It follows RocketMQ 5's layout, 34
//! upper-case hex digits:
//!
//! ```text
//! 01 | 48 bits: this process (random) | 16 bits: pid | 32 bits: seconds since 2021 | 32 bits: sequence
//! ```

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 2021-01-01T00:00:00Z, the epoch of the id's time field.
const ID_EPOCH: Duration = Duration::from_secs(1_609_459_200);

/// A random 64-bit value (std's hasher keys are seeded from the OS).
fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    h.finish()
}

/// The fixed part of this process's message ids.
fn process_prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let node = random_u64() & 0xFFFF_FFFF_FFFF;
        let pid = std::process::id() & 0xFFFF;
        format!("01{node:012X}{pid:04X}")
    })
}

/// A new message id, unique in this process and, with high probability,
/// among all processes.
pub fn message_id() -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH + ID_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as u32;
    let prefix = process_prefix();
    let mut id = String::with_capacity(prefix.len() + 16);
    id.push_str(prefix);
    push_hex8(&mut id, secs);
    push_hex8(&mut id, seq);
    id
}

/// Appends `v` as 8 upper-case hex digits (`{v:08X}` without the
/// formatting machinery: this runs for every message sent).
fn push_hex8(out: &mut String, v: u32) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for shift in (0..8).rev() {
        out.push(char::from(DIGITS[(v >> (shift * 4)) as usize & 0xF]));
    }
}

/// This machine's name, for client ids and the born host.
pub(crate) fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// A new client id, `hostname@pid@counter@random`, stable for the life of
/// one client instance.
pub(crate) fn client_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}@{}@{n}@{:08x}",
        hostname(),
        std::process::id(),
        random_u64() as u32
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn hex8_matches_the_formatter() {
        for v in [0u32, 1, 0xA, 0xDEAD_BEEF, u32::MAX, 0x0102_0304] {
            let mut s = String::new();
            push_hex8(&mut s, v);
            assert_eq!(s, format!("{v:08X}"));
        }
    }

    #[test]
    fn message_ids_are_34_hex_digits_and_unique() {
        let ids: Vec<String> = (0..10_000).map(|_| message_id()).collect();
        for id in &ids {
            assert_eq!(id.len(), 34, "{id}");
            assert!(id.starts_with("01"));
            assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        }
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }

    #[test]
    fn message_ids_are_unique_across_threads() {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..2_000).map(|_| message_id()).collect::<Vec<_>>()))
            .collect();
        let mut all = HashSet::new();
        for h in handles {
            for id in h.join().unwrap() {
                assert!(all.insert(id));
            }
        }
        assert_eq!(all.len(), 8_000);
    }

    #[test]
    fn client_ids_differ_per_instance() {
        let a = client_id();
        let b = client_id();
        assert_ne!(a, b);
        assert!(a.contains(&format!("@{}@", std::process::id())), "{a}");
    }
}
