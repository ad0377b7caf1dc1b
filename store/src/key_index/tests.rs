use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use proptest::prelude::*;

use super::file::{ENTRY_LEN, HEADER_LEN, SLOT_LEN};
use super::*;

fn cfg(slot_count: u32, max_entries: u32) -> KeyIndexConfig {
    KeyIndexConfig {
        slot_count,
        max_entries,
    }
}

fn open(dir: &Path, c: KeyIndexConfig) -> KeyIndex {
    KeyIndex::open(dir, c, FileSystem::disk()).unwrap()
}

/// What was indexed under which name.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Name {
    Key(String, String),
    Id(String),
}

impl Name {
    fn key(topic: &str, key: &str) -> Self {
        Name::Key(topic.into(), key.into())
    }
}

/// The index as a list of (name, position), in put order.
#[derive(Clone, Debug, Default)]
struct Model {
    entries: Vec<(Name, u64)>,
}

impl Model {
    fn end(&self) -> Option<u64> {
        self.entries.last().map(|e| e.1)
    }

    fn put(&mut self, idx: &KeyIndex, name: &Name, pos: u64, ts: i64) {
        match name {
            Name::Key(t, k) => idx.put_key(t, k, pos, ts).unwrap(),
            Name::Id(id) => idx.put_message_id(id, pos, ts).unwrap(),
        }
        if !matches!(self.end(), Some(end) if pos < end) {
            self.entries.push((name.clone(), pos));
        }
    }

    fn lookup(&self, name: &Name, max: usize) -> Vec<u64> {
        let mut out: Vec<u64> = Vec::new();
        for (n, pos) in self.entries.iter().rev() {
            if out.len() >= max {
                break;
            }
            if n == name && out.last() != Some(pos) {
                out.push(*pos);
            }
        }
        out
    }

    fn truncate_from(&mut self, pos: u64) {
        self.entries.retain(|e| e.1 < pos);
    }
}

fn lookup(idx: &KeyIndex, name: &Name, max: usize) -> Vec<u64> {
    match name {
        Name::Key(t, k) => idx.lookup_key(t, k, max),
        Name::Id(id) => idx.lookup_message_id(id, max),
    }
}

fn names() -> Vec<Name> {
    let mut v = Vec::new();
    for t in ["TopicA", "TopicB"] {
        for k in ["k0", "k1", "k2", "order-7"] {
            v.push(Name::key(t, k));
        }
    }
    for id in ["k0", "7F000001ABCD", "0A0B0C0D"] {
        v.push(Name::Id(id.into()));
    }
    v
}

#[track_caller]
fn check(idx: &KeyIndex, model: &Model) {
    for name in names() {
        for max in [1, 3, usize::MAX] {
            assert_eq!(
                lookup(idx, &name, max),
                model.lookup(&name, max),
                "lookup of {name:?} max {max}"
            );
        }
    }
    assert_eq!(idx.end_pos(), model.end());
}

fn header_count(path: &Path) -> u32 {
    let f = std::fs::File::open(path).unwrap();
    let mut b = [0u8; 4];
    f.read_exact_at(&mut b, 16).unwrap();
    u32::from_le_bytes(b)
}

fn index_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn key_index_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<KeyIndex>();
}

#[test]
fn fnv1a_matches_reference_values() {
    // Published FNV-1a 64 test vectors.
    assert_eq!(fnv1a(&[b""]), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a(&[b"foobar"]), 0x8594_4171_f739_67e8);
    assert_eq!(fnv1a(&[b"foo", b"bar"]), fnv1a(&[b"foobar"]));
    assert_eq!(key_hash("T", "k"), fnv1a(&[b"T#k"]));
    assert_eq!(message_id_hash("x"), fnv1a(&[b"#id#x"]));
}

#[test]
fn empty_directory_gives_empty_index() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    let idx = open(&dir, cfg(16, 64));
    assert!(dir.is_dir());
    assert_eq!(idx.end_pos(), None);
    assert_eq!(idx.begin_pos(), None);
    assert_eq!(idx.file_count(), 0);
    assert!(idx.lookup_key("T", "k", 10).is_empty());
    idx.flush().unwrap();
    idx.truncate_from(1).unwrap();
    assert_eq!(idx.purge_before(u64::MAX).unwrap(), 0);
}

#[test]
fn bad_config_and_position_zero_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(matches!(
        KeyIndex::open(tmp.path(), cfg(0, 8), FileSystem::disk()),
        Err(StoreError::Config(_))
    ));
    assert!(matches!(
        KeyIndex::open(tmp.path(), cfg(8, 0), FileSystem::disk()),
        Err(StoreError::Config(_))
    ));
    let idx = open(tmp.path(), cfg(8, 8));
    assert!(matches!(
        idx.put_key("T", "k", 0, 0),
        Err(StoreError::Config(_))
    ));
    assert_eq!(idx.file_count(), 0);
}

#[test]
fn put_lookup_round_trip_with_forced_collisions() {
    let tmp = tempfile::tempdir().unwrap();
    // Two slots for eleven names: every chain mixes several keys.
    let idx = open(tmp.path(), cfg(2, 256));
    let mut model = Model::default();
    let all = names();
    let mut pos = 100;
    for i in 0..200usize {
        let name = &all[(i * 7 + i / 3) % all.len()];
        model.put(&idx, name, pos, 1_000 + i as i64);
        pos += 17;
    }
    check(&idx, &model);
    assert!(idx.lookup_key("TopicA", "absent", 10).is_empty());
    assert!(idx.lookup_key("TopicC", "k0", 10).is_empty());
    assert_eq!(idx.file_count(), 1);
}

#[test]
fn rolls_over_several_files_named_by_first_position() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = open(tmp.path(), cfg(16, 64));
    let mut model = Model::default();
    let all = names();
    let mut firsts = Vec::new();
    for i in 0..300u64 {
        let pos = 1_000 + i * 10;
        if i % 64 == 0 {
            firsts.push(format!("{pos:020}"));
        }
        model.put(&idx, &all[i as usize % all.len()], pos, i as i64 * 1000);
    }
    assert_eq!(idx.file_count(), 5);
    assert_eq!(index_files(tmp.path()), firsts);
    assert_eq!(idx.begin_pos(), Some(1_000));
    check(&idx, &model);
    // Full files were made durable when the next one was created.
    for name in &firsts[..4] {
        assert_eq!(header_count(&tmp.path().join(name)), 64);
    }
}

#[test]
fn files_keep_their_own_sizes_when_the_config_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = open(tmp.path(), cfg(16, 64));
    let mut model = Model::default();
    let all = names();
    for i in 0..100u64 {
        model.put(&idx, &all[i as usize % all.len()], 10 + i, 0);
    }
    drop(idx);
    let idx = open(tmp.path(), cfg(3, 20));
    check(&idx, &model);
    // The second file (64 entries) fills up, then 20-entry files follow.
    for i in 100..200u64 {
        model.put(&idx, &all[i as usize % all.len()], 10 + i, 0);
    }
    check(&idx, &model);
    assert_eq!(idx.file_count(), 2 + 4);
    let sizes: Vec<u64> = index_files(tmp.path())
        .iter()
        .map(|n| std::fs::metadata(tmp.path().join(n)).unwrap().len())
        .collect();
    let small = HEADER_LEN + 3 * SLOT_LEN + 20 * ENTRY_LEN;
    let big = HEADER_LEN + 16 * SLOT_LEN + 64 * ENTRY_LEN;
    assert_eq!(sizes, vec![big, big, small, small, small, small]);
    drop(idx);
    let idx = open(tmp.path(), cfg(16, 64));
    check(&idx, &model);
}

#[test]
fn newest_first_and_max() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = open(tmp.path(), cfg(16, 32));
    let positions: Vec<u64> = (1..=100).map(|i| i * 64).collect();
    for (i, &p) in positions.iter().enumerate() {
        idx.put_key("T", "hot", p, i as i64).unwrap();
        idx.put_key("T", "cold", p, i as i64).unwrap();
    }
    let newest: Vec<u64> = positions.iter().rev().copied().collect();
    assert_eq!(idx.lookup_key("T", "hot", 10), newest[..10].to_vec());
    assert_eq!(idx.lookup_key("T", "hot", 1), vec![6400]);
    assert_eq!(idx.lookup_key("T", "hot", 0), Vec::<u64>::new());
    assert_eq!(idx.lookup_key("T", "hot", 1000), newest);
    assert_eq!(idx.lookup_key("T", "cold", 1000), newest);
    assert!(idx.file_count() >= 7);
}

#[test]
fn message_ids_and_keys_are_separate() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = open(tmp.path(), cfg(16, 64));
    idx.put_key("T", "abc", 10, 0).unwrap();
    idx.put_message_id("abc", 20, 0).unwrap();
    idx.put_message_id("T#abc", 30, 0).unwrap();
    assert_eq!(idx.lookup_key("T", "abc", 10), vec![10]);
    assert_eq!(idx.lookup_message_id("abc", 10), vec![20]);
    assert_eq!(idx.lookup_message_id("T#abc", 10), vec![30]);
    assert!(idx.lookup_message_id("zzz", 10).is_empty());
}

#[test]
fn several_keys_of_one_message_and_replayed_positions() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = open(tmp.path(), cfg(4, 8));
    // One message with several keys (one of them twice) and its id, at one
    // position; then a replay of older positions is ignored.
    for p in [100u64, 200] {
        idx.put_key("T", "a", p, 0).unwrap();
        idx.put_key("T", "b", p, 0).unwrap();
        idx.put_key("T", "a", p, 0).unwrap();
        idx.put_message_id("id", p, 0).unwrap();
    }
    assert_eq!(idx.file_count(), 1);
    idx.put_key("T", "a", 150, 0).unwrap();
    idx.put_key("T", "c", 150, 0).unwrap();
    assert_eq!(idx.lookup_key("T", "a", 10), vec![200, 100]);
    assert_eq!(idx.lookup_key("T", "c", 10), Vec::<u64>::new());
    assert_eq!(idx.lookup_message_id("id", 10), vec![200, 100]);
    assert_eq!(idx.end_pos(), Some(200));
    // A position split over two files is still returned once.
    idx.put_key("T", "a", 300, 0).unwrap();
    idx.put_key("T", "a", 300, 0).unwrap();
    assert_eq!(idx.file_count(), 2);
    assert_eq!(idx.lookup_key("T", "a", 10), vec![300, 200, 100]);
    // A file cannot be filled by one position alone.
    let idx2 = open(&tmp.path().join("other"), cfg(4, 2));
    idx2.put_key("T", "a", 5, 0).unwrap();
    idx2.put_key("T", "b", 5, 0).unwrap();
    assert!(matches!(
        idx2.put_key("T", "c", 5, 0),
        Err(StoreError::Config(_))
    ));
    idx2.put_key("T", "c", 6, 0).unwrap();
    assert_eq!(idx2.lookup_key("T", "c", 10), vec![6]);
}

#[test]
fn truncate_from_restores_slots() {
    let all = names();
    for cut in [
        1u64, 999, 1000, 1001, 1505, 1640, 1645, 2270, 2280, 2990, 3000, 5000,
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let c = cfg(4, 64);
        let idx = open(tmp.path(), c);
        let mut model = Model::default();
        for i in 0..200u64 {
            model.put(&idx, &all[(i as usize * 5) % all.len()], 1_000 + i * 10, 0);
        }
        idx.flush().unwrap();
        idx.truncate_from(cut).unwrap();
        model.truncate_from(cut);
        check(&idx, &model);
        let files_left = index_files(tmp.path()).len();
        assert_eq!(idx.file_count(), files_left, "cut {cut}");
        // Keep writing after the cut, reusing positions from it onward.
        let restart = cut.max(1);
        for i in 0..100u64 {
            model.put(&idx, &all[(i as usize * 3) % all.len()], restart + i * 7, 0);
        }
        check(&idx, &model);
        drop(idx);
        let idx = open(tmp.path(), c);
        check(&idx, &model);
    }
}

#[test]
fn truncation_is_durable_without_flush() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(4, 64);
    let idx = open(tmp.path(), c);
    let mut model = Model::default();
    for i in 1..=50u64 {
        model.put(&idx, &Name::key("T", "k0"), i * 10, 0);
    }
    idx.truncate_from(255).unwrap();
    model.truncate_from(255);
    let path = tmp.path().join(format!("{:020}", 10));
    assert_eq!(header_count(&path), 25);
    // The truncated entries are zero on disk, so reopening does not bring
    // them back.
    drop(idx);
    let idx = open(tmp.path(), c);
    check(&idx, &model);
}

#[test]
fn reopen_after_flush_gives_same_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(16, 64);
    let idx = open(tmp.path(), c);
    let mut model = Model::default();
    let all = names();
    for i in 0..150u64 {
        model.put(&idx, &all[i as usize % all.len()], 50 + i * 3, 0);
    }
    idx.flush().unwrap();
    let last = tmp.path().join(format!("{:020}", 50 + 128 * 3));
    assert_eq!(header_count(&last), 150 - 128);
    drop(idx);
    let idx = open(tmp.path(), c);
    check(&idx, &model);
    assert_eq!(idx.file_count(), 3);
    // And writing goes on in the last file.
    for i in 150..200u64 {
        model.put(&idx, &all[i as usize % all.len()], 50 + i * 3, 0);
    }
    check(&idx, &model);
    assert_eq!(idx.file_count(), 4);
}

#[test]
fn reopen_with_unflushed_entries_finds_them() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(8, 64);
    let idx = open(tmp.path(), c);
    let mut model = Model::default();
    let all = names();
    for i in 0..40u64 {
        model.put(&idx, &all[i as usize % all.len()], 10 + i, 0);
    }
    idx.flush().unwrap();
    for i in 40..100u64 {
        model.put(&idx, &all[i as usize % all.len()], 10 + i, 0);
    }
    let last = tmp.path().join(format!("{:020}", 10 + 64));
    assert_eq!(header_count(&last), 0);
    drop(idx);
    let idx = open(tmp.path(), c);
    check(&idx, &model);
    // Recovery made the found entries durable.
    assert_eq!(header_count(&last), 36);
    for i in 100..140u64 {
        model.put(&idx, &all[i as usize % all.len()], 10 + i, 0);
    }
    check(&idx, &model);
    drop(idx);
    let idx = open(tmp.path(), c);
    check(&idx, &model);
}

/// Writes `bytes` at `offset` of `path`, as a crash might have left it.
fn poke(path: &Path, offset: u64, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

fn entry_offset(c: KeyIndexConfig, index: u64) -> u64 {
    HEADER_LEN + u64::from(c.slot_count) * SLOT_LEN + index * ENTRY_LEN
}

#[test]
fn recovery_stops_at_a_lost_entry_and_zeroes_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(4, 256);
    let idx = open(tmp.path(), c);
    let mut model = Model::default();
    let all = names();
    for i in 0..60u64 {
        model.put(&idx, &all[i as usize % all.len()], 100 + i * 2, 0);
    }
    idx.flush().unwrap();
    for i in 60..150u64 {
        model.put(&idx, &all[i as usize % all.len()], 100 + i * 2, 0);
    }
    drop(idx);
    let path = tmp.path().join(format!("{:020}", 100));
    // Entry 90 never reached the disk; entry 120 lost only its hash.
    poke(&path, entry_offset(c, 90), &[0u8; 24]);
    poke(&path, entry_offset(c, 120), &[0u8; 8]);
    // Entry 70 lost its `prev` (a later page than its hash and position).
    poke(&path, entry_offset(c, 70) + 16, &[0u8; 4]);
    let idx = open(tmp.path(), c);
    model.entries.truncate(90);
    check(&idx, &model);
    assert_eq!(header_count(&path), 90);
    // Everything past the lost entry was zeroed.
    let f = std::fs::File::open(&path).unwrap();
    let mut rest = vec![0u8; (60 * ENTRY_LEN) as usize];
    f.read_exact_at(&mut rest, entry_offset(c, 90)).unwrap();
    assert!(rest.iter().all(|&b| b == 0));
    // The dispatcher re-indexes from the end.
    for i in 90..150u64 {
        model.put(&idx, &all[i as usize % all.len()], 100 + i * 2, 0);
    }
    check(&idx, &model);
    drop(idx);
    let idx = open(tmp.path(), c);
    check(&idx, &model);
}

#[test]
fn recovery_stops_at_a_position_going_backwards() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(4, 64);
    let idx = open(tmp.path(), c);
    let mut model = Model::default();
    for i in 0..30u64 {
        model.put(&idx, &Name::key("TopicA", "k1"), 100 + i, 0);
    }
    drop(idx);
    let path = tmp.path().join(format!("{:020}", 100));
    poke(&path, entry_offset(c, 20) + 8, &50u64.to_le_bytes());
    let idx = open(tmp.path(), c);
    model.entries.truncate(20);
    check(&idx, &model);
}

#[test]
fn recovery_repairs_slots_that_point_past_the_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(4, 64);
    let idx = open(tmp.path(), c);
    let mut model = Model::default();
    let all = names();
    for i in 0..30u64 {
        model.put(&idx, &all[i as usize % all.len()], 100 + i, 0);
    }
    idx.flush().unwrap();
    for i in 30..40u64 {
        model.put(&idx, &all[i as usize % all.len()], 100 + i, 0);
    }
    drop(idx);
    // The slots reached the disk but entries 30.. did not.
    let path = tmp.path().join(format!("{:020}", 100));
    poke(
        &path,
        entry_offset(c, 30),
        &vec![0u8; (10 * ENTRY_LEN) as usize],
    );
    let idx = open(tmp.path(), c);
    model.entries.truncate(30);
    check(&idx, &model);
}

#[test]
fn a_last_file_without_entries_is_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(4, 8);
    let idx = open(tmp.path(), c);
    let mut model = Model::default();
    for i in 0..9u64 {
        model.put(&idx, &Name::key("TopicA", "k0"), 10 + i, 0);
    }
    assert_eq!(idx.file_count(), 2);
    drop(idx);
    // The new file's only entry was lost.
    let second = tmp.path().join(format!("{:020}", 18));
    poke(&second, entry_offset(c, 0), &[0u8; 24]);
    let idx = open(tmp.path(), c);
    model.entries.truncate(8);
    check(&idx, &model);
    assert_eq!(idx.file_count(), 1);
    assert!(!second.exists());
    model.put(&idx, &Name::key("TopicA", "k0"), 18, 0);
    check(&idx, &model);
    assert_eq!(idx.file_count(), 2);
}

#[test]
fn purge_before_removes_whole_old_files_only() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(16, 64);
    let idx = open(tmp.path(), c);
    let mut model = Model::default();
    let all = names();
    // Files begin at 1000, 1640, 2280, 2920, 3560; each ends 630 later.
    for i in 0..300u64 {
        model.put(&idx, &all[i as usize % all.len()], 1_000 + i * 10, 0);
    }
    assert_eq!(idx.purge_before(1_000).unwrap(), 0);
    assert_eq!(idx.purge_before(1_630).unwrap(), 0);
    assert_eq!(idx.purge_before(1_631).unwrap(), 1);
    assert_eq!(idx.begin_pos(), Some(1_640));
    model.entries.drain(..64);
    check(&idx, &model);
    // Never the last file, however far.
    assert_eq!(idx.purge_before(u64::MAX).unwrap(), 3);
    assert_eq!(idx.file_count(), 1);
    assert_eq!(index_files(tmp.path()), vec![format!("{:020}", 3_560)]);
    model.entries.drain(..192);
    check(&idx, &model);
    drop(idx);
    let idx = open(tmp.path(), c);
    check(&idx, &model);
}

#[test]
fn corrupt_magic_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(16, 64);
    let idx = open(tmp.path(), c);
    for i in 0..100u64 {
        idx.put_key("T", "k", 10 + i, 0).unwrap();
    }
    idx.flush().unwrap();
    drop(idx);
    let first = tmp.path().join(format!("{:020}", 10));
    poke(&first, 0, b"XXXX");
    match KeyIndex::open(tmp.path(), c, FileSystem::disk()) {
        Err(StoreError::Corrupt { path, offset, .. }) => {
            assert_eq!(path, first);
            assert_eq!(offset, 0);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // A wrong size or a name that disagrees with the header is caught too.
    poke(&first, 0, b"RMQK");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&first)
        .unwrap();
    f.set_len(100).unwrap();
    assert!(matches!(
        KeyIndex::open(tmp.path(), c, FileSystem::disk()),
        Err(StoreError::Corrupt { path, .. }) if path == first
    ));
    std::fs::remove_file(&first).unwrap();
    let second = tmp.path().join(format!("{:020}", 74));
    let renamed = tmp.path().join(format!("{:020}", 75));
    std::fs::rename(&second, &renamed).unwrap();
    assert!(matches!(
        KeyIndex::open(tmp.path(), c, FileSystem::disk()),
        Err(StoreError::Corrupt { path, offset: 36, .. }) if path == renamed
    ));
}

#[test]
fn leftover_temporary_files_are_removed_and_strangers_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(16, 64);
    std::fs::write(tmp.path().join(format!("{:020}.tmp", 5)), b"half made").unwrap();
    std::fs::write(tmp.path().join("README"), b"hello").unwrap();
    let idx = open(tmp.path(), c);
    assert_eq!(idx.file_count(), 0);
    assert_eq!(index_files(tmp.path()), vec!["README".to_string()]);
    idx.put_key("T", "k", 5, 0).unwrap();
    assert_eq!(idx.lookup_key("T", "k", 5), vec![5]);
}

#[cfg(feature = "failpoints")]
#[test]
fn allocation_failure_gives_disk_full_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(16, 64);
    let faults = crate::fault::Faults::default();
    let fs = FileSystem::with_faults(faults.clone());
    let idx = KeyIndex::open(tmp.path(), c, fs.clone()).unwrap();
    let mut model = Model::default();
    let all = names();

    // The very first put cannot create a file.
    faults.set_allocation_fails(true);
    assert!(matches!(
        idx.put_key("TopicA", "k0", 10, 0),
        Err(StoreError::NoSpace { .. })
    ));
    assert_eq!(idx.file_count(), 0);
    assert!(index_files(tmp.path()).is_empty());
    check(&idx, &model);
    faults.set_allocation_fails(false);

    for i in 0..64u64 {
        model.put(&idx, &all[i as usize % all.len()], 10 + i, 0);
    }
    // Rolling to a new file fails.
    faults.set_allocation_fails(true);
    for name in &all {
        let r = match name {
            Name::Key(t, k) => idx.put_key(t, k, 100, 0),
            Name::Id(id) => idx.put_message_id(id, 100, 0),
        };
        assert!(matches!(r, Err(StoreError::NoSpace { .. })), "{r:?}");
    }
    assert_eq!(idx.file_count(), 1);
    assert_eq!(index_files(tmp.path()).len(), 1);
    check(&idx, &model);
    faults.set_allocation_fails(false);
    model.put(&idx, &all[0], 100, 0);
    check(&idx, &model);

    // After a reopen, entry blocks are reserved again before use.
    idx.flush().unwrap();
    drop(idx);
    let idx = KeyIndex::open(tmp.path(), c, fs).unwrap();
    faults.set_allocation_fails(true);
    assert!(matches!(
        idx.put_key("TopicA", "k1", 101, 0),
        Err(StoreError::NoSpace { .. })
    ));
    check(&idx, &model);
    faults.set_allocation_fails(false);
    model.put(&idx, &Name::key("TopicA", "k1"), 101, 0);
    check(&idx, &model);
}

#[cfg(feature = "failpoints")]
#[test]
fn flush_failure_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let faults = crate::fault::Faults::default();
    let fs = FileSystem::with_faults(faults.clone());
    let idx = KeyIndex::open(tmp.path(), cfg(16, 64), fs).unwrap();
    idx.put_key("T", "k", 10, 0).unwrap();
    faults.set_fsync_fails(true);
    assert!(matches!(idx.flush(), Err(StoreError::Io { .. })));
    faults.set_fsync_fails(false);
    idx.flush().unwrap();
    assert_eq!(header_count(&tmp.path().join(format!("{:020}", 10))), 1);
}

#[test]
fn lookup_between_skips_other_times() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = open(tmp.path(), cfg(16, 10));
    // One put a minute, ten per file.
    let t0 = 1_700_000_000_000i64;
    for i in 0..35i64 {
        idx.put_key("T", "k", 100 + i as u64, t0 + i * 60_000)
            .unwrap();
    }
    let all = idx.lookup_key("T", "k", 100);
    assert_eq!(all.len(), 35);
    let got = idx.lookup_key_between("T", "k", t0 + 12 * 60_000, t0 + 22 * 60_000, 100);
    assert_eq!(got, (112..=122).rev().collect::<Vec<u64>>());
    let got = idx.lookup_key_between(
        "T",
        "k",
        t0 + 12 * 60_000 + 1_000,
        t0 + 13 * 60_000 - 1,
        100,
    );
    assert_eq!(got, Vec::<u64>::new());
    let got = idx.lookup_key_between("T", "k", t0 - 10_000, t0, 100);
    assert_eq!(got, vec![100]);
    let got = idx.lookup_key_between("T", "k", t0 + 100 * 60_000, i64::MAX, 100);
    assert!(got.is_empty());
    let got = idx.lookup_key_between("T", "k", i64::MIN, i64::MAX, 3);
    assert_eq!(got, vec![134, 133, 132]);
}

#[test]
fn concurrent_lookups_see_consistent_prefixes() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = Arc::new(open(tmp.path(), cfg(8, 500)));
    let done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for r in 0..3 {
        let idx = Arc::clone(&idx);
        let done = Arc::clone(&done);
        readers.push(std::thread::spawn(move || {
            let key = format!("k{r}");
            let mut seen = 0;
            while !done.load(Ordering::Acquire) {
                let got = idx.lookup_key("T", &key, usize::MAX);
                // Positions of key r are 3i + r + 1: newest first, no gaps.
                for (j, p) in got.iter().enumerate() {
                    let expected = (got.len() - 1 - j) as u64 * 3 + r + 1;
                    assert_eq!(*p, expected);
                }
                assert!(got.len() >= seen);
                seen = got.len();
            }
            seen
        }));
    }
    let mut flushes = 0;
    for i in 0..6000u64 {
        idx.put_key("T", &format!("k{}", i % 3), i + 1, 0).unwrap();
        if i % 1000 == 999 {
            idx.flush().unwrap();
            flushes += 1;
        }
    }
    done.store(true, Ordering::Release);
    for h in readers {
        assert!(h.join().unwrap() <= 2000);
    }
    assert_eq!(flushes, 6);
    assert_eq!(idx.lookup_key("T", "k0", usize::MAX).len(), 2000);
}

// ---------------------------------------------------------------- proptest

#[derive(Clone, Debug)]
enum Op {
    Put { name: usize, step: u64 },
    Flush,
    Truncate { back: u64 },
    Purge { back: u64 },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0..11usize, prop_oneof![1 => Just(0u64), 4 => 1..4u64])
            .prop_map(|(name, step)| Op::Put { name, step }),
        1 => Just(Op::Flush),
        2 => (0..40u64).prop_map(|back| Op::Truncate { back }),
        1 => (0..60u64).prop_map(|back| Op::Purge { back }),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matches_a_model(
        slots in 1u32..6,
        max_entries in 3u32..12,
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let c = cfg(slots, max_entries);
        let mut idx = open(tmp.path(), c);
        let mut model = Model::default();
        let all = names();
        let mut cursor = 1u64;
        for op in ops {
            match op {
                Op::Put { name, step } => {
                    let pos = cursor + step;
                    let name = &all[name];
                    let active = idx.writer.lock().active.clone();
                    let refused = active.is_some_and(|f| f.is_full() && f.begin_pos() == pos);
                    if refused {
                        let r = match name {
                            Name::Key(t, k) => idx.put_key(t, k, pos, 0),
                            Name::Id(id) => idx.put_message_id(id, pos, 0),
                        };
                        prop_assert!(matches!(r, Err(StoreError::Config(_))));
                    } else {
                        model.put(&idx, name, pos, pos as i64 * 100);
                    }
                    cursor = pos;
                }
                Op::Flush => idx.flush().unwrap(),
                Op::Truncate { back } => {
                    let to = cursor.saturating_sub(back).max(1);
                    idx.truncate_from(to).unwrap();
                    model.truncate_from(to);
                    cursor = to;
                }
                Op::Purge { back } => {
                    let to = cursor.saturating_sub(back);
                    let counts: Vec<u32> =
                        idx.files.read().iter().map(|f| f.count()).collect();
                    let n = idx.purge_before(to).unwrap();
                    let dropped: u32 = counts[..n].iter().sum();
                    model.entries.drain(..dropped as usize);
                    prop_assert!(model.entries.iter().all(|e| e.1 >= idx.begin_pos().unwrap()));
                }
                Op::Reopen => {
                    drop(idx);
                    idx = open(tmp.path(), c);
                }
            }
            check(&idx, &model);
            let on_disk: u32 = idx.files.read().iter().map(|f| f.count()).sum();
            prop_assert_eq!(on_disk as usize, model.entries.len());
        }
        drop(idx);
        let idx = open(tmp.path(), c);
        check(&idx, &model);
    }
}

fn name_hash(name: &Name) -> u64 {
    match name {
        Name::Key(t, k) => key_hash(t, k),
        Name::Id(id) => message_id_hash(id),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Putting in batches (replayed prefixes included) leaves exactly the
    /// files that one put at a time leaves, across slot collisions and
    /// file rolls.
    #[test]
    fn put_many_writes_what_single_puts_write(
        ops in prop::collection::vec((0usize..11, 0u64..3, 0i64..4000), 1..60),
        cuts in prop::collection::vec(1usize..9, 1..20),
        replay in 0usize..4,
    ) {
        let all = names();
        let mut puts = Vec::new();
        let mut pos = 100u64;
        let mut ts = 1_700_000_000_000i64;
        let mut same = 0;
        for (name, step, dt) in ops {
            // Up to three keys share a message's position (a file holds 5).
            same = if step == 0 { same + 1 } else { 0 };
            pos += if same >= 3 { 1 } else { step };
            ts += dt;
            puts.push(KeyPut { hash: name_hash(&all[name]), pos, ts });
        }
        let c = cfg(7, 5);
        let one = tempfile::tempdir().unwrap();
        let many = tempfile::tempdir().unwrap();
        let (a, b) = (open(one.path(), c), open(many.path(), c));
        for p in &puts {
            a.put_hash(p.hash, p.pos, p.ts).unwrap();
        }
        let mut at = 0;
        for cut in cuts.iter().cycle() {
            if at >= puts.len() {
                break;
            }
            let end = (at + cut).min(puts.len());
            // A replay hands again some whole messages indexed before
            // (positions below the last one indexed).
            let last = at.checked_sub(1).map_or(0, |i| puts[i].pos);
            let below = puts[..at].partition_point(|p| p.pos < last);
            let mut batch = puts[below.saturating_sub(replay)..below].to_vec();
            batch.extend_from_slice(&puts[at..end]);
            b.put_many(&batch).unwrap();
            at = end;
        }
        for name in all {
            prop_assert_eq!(lookup(&a, &name, usize::MAX), lookup(&b, &name, usize::MAX));
        }
        prop_assert_eq!(a.end_pos(), b.end_pos());
        a.flush().unwrap();
        b.flush().unwrap();
        let files = index_files(one.path());
        prop_assert_eq!(&files, &index_files(many.path()));
        for f in files {
            let x = std::fs::read(one.path().join(&f)).unwrap();
            let y = std::fs::read(many.path().join(&f)).unwrap();
            prop_assert!(x == y, "file {} differs", f);
        }
    }
}
