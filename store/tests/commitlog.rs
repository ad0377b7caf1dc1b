//! The commitlog against a model: append, read back, truncate, purge, and
//! reopen after crashes at every step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use raftmq_store::commitlog::{CommitLog, CommitLogConfig, NewEntry};
use raftmq_store::fault::Faults;
use raftmq_store::mapped::FileSystem;
use raftmq_store::record::entry::EntryKind;
use raftmq_store::StoreError;

const SEGMENT: u64 = 4096;

fn config(root: &Path) -> CommitLogConfig {
    CommitLogConfig {
        data_dir: root.join("commitlog"),
        index_dir: root.join("entryindex"),
        checkpoint_path: root.join("checkpoint"),
        segment_size: SEGMENT,
        index_entries_per_file: 16,
        disk_refuse_percent: 100,
        no_readahead_while_writing: false,
    }
}

fn open(root: &Path) -> CommitLog {
    CommitLog::open(config(root), FileSystem::disk()).expect("open")
}

fn open_with(root: &Path, faults: &Faults) -> CommitLog {
    CommitLog::open(config(root), FileSystem::with_faults(faults.clone())).expect("open")
}

fn body(index: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (index as usize * 31 + i) as u8).collect()
}

fn append_range(log: &CommitLog, from: u64, to: u64, len: impl Fn(u64) -> usize) {
    for i in from..to {
        let b = body(i, len(i));
        log.append(&[NewEntry {
            index: i,
            term: 1 + i / 10,
            kind: EntryKind::Command,
            body: &b,
            crc: None,
        }])
        .expect("append");
    }
}

/// Every entry the model holds reads back with the same body and term, and
/// the bounds agree.
fn assert_matches(log: &CommitLog, model: &BTreeMap<u64, (u64, Vec<u8>)>) {
    let b = log.bounds();
    match (model.keys().next(), model.keys().last()) {
        (Some(&first), Some(&last)) => {
            assert_eq!(b.start_index, first, "start index");
            assert_eq!(b.next_index, last + 1, "next index");
        }
        _ => assert!(b.is_empty(), "log should be empty: {b:?}"),
    }
    for (&i, (term, data)) in model {
        let e = log
            .read_entry(i)
            .unwrap_or_else(|err| panic!("read {i}: {err}"));
        assert_eq!(e.term.0, *term, "term of {i}");
        assert_eq!(&e.body()[..], &data[..], "body of {i}");
    }
}

fn model_of(from: u64, to: u64, len: impl Fn(u64) -> usize) -> BTreeMap<u64, (u64, Vec<u8>)> {
    (from..to)
        .map(|i| (i, (1 + i / 10, body(i, len(i)))))
        .collect()
}

fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        out.insert(
            p.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned(),
            std::fs::read(&p).expect("read"),
        );
    }
    out
}

fn last_segment(root: &Path) -> PathBuf {
    let mut segs: Vec<_> = std::fs::read_dir(root.join("commitlog"))
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .collect();
    segs.sort();
    segs.pop().expect("a segment")
}

#[test]
fn appends_read_back_across_segments_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let len = |i: u64| 100 + (i as usize * 37) % 900;
    {
        let log = open(dir.path());
        append_range(&log, 0, 60, len);
        assert!(log.segments().count() > 5, "entries should span segments");
        assert_matches(&log, &model_of(0, 60, len));
        log.close().expect("close");
    }
    let log = open(dir.path());
    assert_matches(&log, &model_of(0, 60, len));
    append_range(&log, 60, 70, len);
    assert_matches(&log, &model_of(0, 70, len));
}

/// Appends entries from `*next` until the write position passes `pos`.
fn append_past(log: &CommitLog, next: &mut u64, pos: u64, len: impl Fn(u64) -> usize + Copy) {
    for _ in 0..1000 {
        if log.bounds().end_pos > pos {
            return;
        }
        append_range(log, *next, *next + 1, len);
        *next += 1;
    }
    panic!("the log did not reach position {pos}");
}

#[test]
fn a_segment_made_ahead_is_used_at_the_roll_and_a_leftover_one_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("commitlog");
    let spare = |base: u64| data.join(format!("{base:020}.spare"));
    let len = |_: u64| 100;
    let mut next = 0;
    {
        let log = open(dir.path());
        append_past(&log, &mut next, 10, len);
        assert!(
            !log.prepare_next_segment().expect("prepare"),
            "not past the middle"
        );
        append_past(&log, &mut next, SEGMENT / 2, len);
        assert!(log.prepare_next_segment().expect("prepare"));
        assert!(spare(SEGMENT).exists());
        append_past(&log, &mut next, SEGMENT + 10, len);
        assert!(!spare(SEGMENT).exists(), "taken at the roll");
        assert!(data.join(format!("{SEGMENT:020}")).exists());
        assert_matches(&log, &model_of(0, next, len));

        // A stop with the next one made and unused.
        append_past(&log, &mut next, SEGMENT + SEGMENT / 2, len);
        assert!(log.prepare_next_segment().expect("prepare"));
        assert!(spare(2 * SEGMENT).exists());
        log.close().expect("close");
    }
    let log = open(dir.path());
    assert!(!spare(2 * SEGMENT).exists(), "removed at open");
    assert_eq!(log.segments().count(), 2);
    assert_matches(&log, &model_of(0, next, len));
    append_past(&log, &mut next, 2 * SEGMENT + 10, len);
    assert_matches(&log, &model_of(0, next, len));
}

#[test]
fn an_entry_appended_with_its_crc_is_the_entry_appended_without() {
    use raftmq_store::record::entry::{decode_header, encode_header, HEADER_LEN};

    let len = |i: u64| 10 + (i as usize * 97) % 1500;

    let (computed, given) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    append_range(&open(computed.path()), 0, 40, len);
    let log = open(given.path());
    for i in 0..40 {
        let b = body(i, len(i));
        let (term, kind) = (1 + i / 10, EntryKind::Command);
        let mut header = [0u8; HEADER_LEN];
        encode_header(&mut header, kind, i, term, &b);
        let crc = decode_header(&header, (HEADER_LEN + b.len()) as u64)
            .expect("header")
            .crc;
        let entry = NewEntry {
            index: i,
            term,
            kind,
            body: &b,
            crc: Some(crc),
        };
        log.append(&[entry]).expect("append");
    }
    assert_matches(&log, &model_of(0, 40, len));
    drop(log);
    for sub in ["commitlog", "entryindex"] {
        let (a, b) = (computed.path().join(sub), given.path().join(sub));
        assert_eq!(files_of(&a), files_of(&b), "{sub}");
    }
}

#[test]
fn rejects_gaps_and_oversized_entries_without_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path());
    append_range(&log, 5, 8, |_| 10);
    let gap = log.append(&[NewEntry {
        index: 9,
        term: 1,
        kind: EntryKind::Blank,
        body: &[],
        crc: None,
    }]);
    assert!(
        matches!(gap, Err(StoreError::NonContiguous { .. })),
        "{gap:?}"
    );
    let huge = vec![0u8; SEGMENT as usize];
    let big = log.append(&[NewEntry {
        index: 8,
        term: 1,
        kind: EntryKind::Command,
        body: &huge,
        crc: None,
    }]);
    assert!(
        matches!(big, Err(StoreError::EntryTooLarge { .. })),
        "{big:?}"
    );
    assert_matches(&log, &model_of(5, 8, |_| 10));
    assert!(matches!(
        log.read_entry(4),
        Err(StoreError::IndexBelowLogStart { .. })
    ));
    assert!(matches!(
        log.read_entry(8),
        Err(StoreError::IndexPastEnd { .. })
    ));
}

#[test]
fn truncate_then_append_gives_the_same_files_as_never_writing() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let len = |i: u64| 200 + (i as usize * 53) % 700;
    let other = |i: u64| 50 + (i as usize * 7) % 300;
    {
        let log = open(a.path());
        append_range(&log, 0, 40, len);
        log.truncate_after(24).expect("truncate");
        append_range(&log, 25, 35, other);
        log.close().expect("close");
    }
    {
        let log = open(b.path());
        append_range(&log, 0, 25, len);
        append_range(&log, 25, 35, other);
        log.close().expect("close");
    }
    for sub in ["commitlog", "entryindex"] {
        assert_eq!(
            files_of(&a.path().join(sub)),
            files_of(&b.path().join(sub)),
            "{sub} differs"
        );
    }
    let log = open(a.path());
    let mut model = model_of(0, 25, len);
    model.extend(model_of(25, 35, other));
    assert_matches(&log, &model);
}

#[test]
fn a_crash_at_any_step_of_truncate_leaves_a_consistent_log() {
    let len = |i: u64| 300 + (i as usize * 11) % 500;
    for point in [
        "truncate:recorded",
        "truncate:zeroed",
        "truncate:segments-removed",
        "truncate:cut",
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let faults = Faults::default();
        {
            let log = open_with(dir.path(), &faults);
            append_range(&log, 0, 30, len);
            log.flush().expect("flush");
            log.write_checkpoint(None).expect("checkpoint");
            faults.set_crash_point(Some(point));
            assert!(
                log.truncate_after(9).is_err(),
                "crash point {point} should fire"
            );
        }
        let log = open(dir.path());
        // The cut was recorded before any byte changed: it always completes.
        assert_matches(&log, &model_of(0, 10, len));
        append_range(&log, 10, 15, len);
        assert_matches(&log, &model_of(0, 15, len));
    }
}

#[test]
fn a_crash_at_any_step_of_purge_leaves_a_consistent_log() {
    let len = |i: u64| 500 + (i as usize * 13) % 400;
    for point in ["purge:recorded", "purge:segments-removed"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let faults = Faults::default();
        {
            let log = open_with(dir.path(), &faults);
            append_range(&log, 0, 40, len);
            log.close().expect("close");
            faults.set_crash_point(Some(point));
            assert!(
                log.purge_before(20).is_err(),
                "crash point {point} should fire"
            );
        }
        let log = open(dir.path());
        assert_matches(&log, &model_of(20, 40, len));
        let first_seg = log.segments().first().expect("segment");
        assert!(first_seg.base() <= log.bounds().start_pos);
        assert!(
            first_seg.base() + SEGMENT > log.bounds().start_pos,
            "segments before the start are gone"
        );
        assert!(matches!(
            log.read_entry(19),
            Err(StoreError::IndexBelowLogStart { .. })
        ));
    }
}

/// Writes 30 entries durably (checkpointed), then 10 more that a crash
/// leaves without a checkpoint. Returns the model of all 40.
fn durable_then_tail(root: &Path) -> BTreeMap<u64, (u64, Vec<u8>)> {
    let len = |i: u64| 300 + (i as usize * 17) % 400;
    let log = open(root);
    append_range(&log, 0, 30, len);
    log.close().expect("close");
    append_range(&log, 30, 40, len);
    // Dropped without close: the tail is in the files but not checkpointed.
    model_of(0, 40, len)
}

fn position_of(root: &Path, index: u64) -> (PathBuf, u64) {
    let log = open(root);
    let loc = log.location(index).expect("location");
    drop(log);
    let base = loc.pos - loc.pos % SEGMENT;
    (
        root.join("commitlog").join(format!("{base:020}")),
        loc.pos - base,
    )
}

fn flip(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).expect("read");
    bytes[offset as usize] ^= 0x5a;
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn a_torn_tail_is_cut_and_what_came_before_survives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = durable_then_tail(dir.path());
    let (path, off) = position_of(dir.path(), 39);
    assert_eq!(
        path,
        last_segment(dir.path()),
        "entry 39 should be in the last segment"
    );
    // Cut the segment in the middle of entry 39: the rest of the file is lost.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    f.set_len(off + 40).expect("set_len");
    drop(f);
    let log = open(dir.path());
    let survived: BTreeMap<_, _> = model.into_iter().filter(|(i, _)| *i < 39).collect();
    assert_matches(&log, &survived);
    // The log goes on from the cut.
    append_range(&log, 39, 41, |_| 64);
    assert_eq!(log.bounds().next_index, 41);
}

#[test]
fn flipped_bytes_in_the_tail_are_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = durable_then_tail(dir.path());
    let (path, off) = position_of(dir.path(), 33);
    flip(&path, off + 50);
    let log = open(dir.path());
    let survived: BTreeMap<_, _> = model.into_iter().filter(|(i, _)| *i < 33).collect();
    assert_matches(&log, &survived);
}

#[test]
fn a_flipped_byte_in_the_middle_is_a_named_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    durable_then_tail(dir.path());
    let (path, off) = position_of(dir.path(), 20);
    flip(&path, off + 40);
    let err = CommitLog::open(config(dir.path()), FileSystem::disk()).expect_err("corruption");
    match &err {
        StoreError::Corrupt {
            path: p, offset, ..
        } => {
            assert_eq!(p, &path);
            assert_eq!(*offset, off);
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&format!("{}", path.display())) && text.contains(&format!("byte {off}")),
        "{text}"
    );
}

#[test]
fn without_a_checkpoint_a_torn_tail_is_cut_and_middle_damage_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = durable_then_tail(dir.path());
    // The last entry torn: with nothing valid after it, it is a tail.
    let (path, off) = position_of(dir.path(), 39);
    flip(&path, off + 3);
    std::fs::remove_file(dir.path().join("checkpoint")).expect("remove checkpoint");
    {
        let log = open(dir.path());
        let survived: BTreeMap<_, _> = model.clone().into_iter().filter(|(i, _)| *i < 39).collect();
        assert_matches(&log, &survived);
    }
    // Damage with valid entries after it, and no checkpoint to say where
    // durable data ended: reported, never cut.
    let (path, off) = position_of(dir.path(), 12);
    flip(&path, off + 60);
    std::fs::remove_file(dir.path().join("checkpoint")).expect("remove checkpoint");
    let err = CommitLog::open(config(dir.path()), FileSystem::disk()).expect_err("corruption");
    assert!(
        matches!(&err, StoreError::Corrupt { path: p, offset, .. } if *p == path && *offset == off),
        "{err}"
    );
}

/// Above the used-space ratio (the process-level switch), an append is
/// refused with a typed error naming the disk; fsync and allocation
/// failures are tested on the in-memory file system (tests/file_faults.rs).
#[test]
fn above_the_disk_ratio_appends_are_refused_and_they_resume() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults::default();
    let log = open_with(dir.path(), &faults);
    append_range(&log, 0, 5, |_| 1000);
    let bodies: Vec<Vec<u8>> = (5..12).map(|i| body(i, 1000)).collect();
    let entries: Vec<NewEntry<'_>> = bodies
        .iter()
        .enumerate()
        .map(|(k, b)| NewEntry {
            index: 5 + k as u64,
            term: 1,
            kind: EntryKind::Command,
            body: b,
            crc: None,
        })
        .collect();
    faults.set_disk_used_percent(Some(100));
    let refused = log.append(&entries).expect_err("refused");
    assert!(
        matches!(&refused, StoreError::DiskFull { path, limit_percent: 100, .. } if path.ends_with("commitlog")),
        "{refused}"
    );
    let text = refused.to_string();
    assert!(text.contains("disk full") && text.contains("100"), "{text}");
    assert_matches(&log, &model_of(0, 5, |_| 1000));
    faults.set_disk_used_percent(None);
    log.append(&entries).expect("space is back");
    let mut model = model_of(0, 5, |_| 1000);
    model.extend((5..12).map(|i| (i, (1, body(i, 1000)))));
    assert_matches(&log, &model);
}

#[derive(Clone, Debug)]
enum Op {
    Append(Vec<usize>),
    Truncate(u64),
    Purge(u64),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => proptest::collection::vec(0usize..1500, 1..6).prop_map(Op::Append),
        1 => (0u64..40).prop_map(Op::Truncate),
        1 => (0u64..40).prop_map(Op::Purge),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_log_equals_a_model(ops in proptest::collection::vec(op(), 1..30)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path());
        let mut model: BTreeMap<u64, (u64, Vec<u8>)> = BTreeMap::new();
        let mut next = 0u64;
        let mut term = 1u64;
        for op in ops {
            match op {
                Op::Append(lens) => {
                    let bodies: Vec<Vec<u8>> = lens.iter().enumerate().map(|(k, l)| body(next + k as u64, *l)).collect();
                    let entries: Vec<_> = bodies.iter().enumerate().map(|(k, b)| NewEntry {
                        index: next + k as u64, term, kind: EntryKind::Messages, body: b, crc: None,
                    }).collect();
                    log.append(&entries).expect("append");
                    for (k, b) in bodies.into_iter().enumerate() {
                        model.insert(next + k as u64, (term, b));
                    }
                    next += lens.len() as u64;
                }
                Op::Truncate(keep) => {
                    let start = model.keys().next().copied().unwrap_or(next);
                    if keep + 1 >= start && keep < next {
                        log.truncate_after(keep).expect("truncate");
                        model.retain(|i, _| *i <= keep);
                        next = keep + 1;
                        term += 1;
                    }
                }
                Op::Purge(before) => {
                    log.purge_before(before).expect("purge");
                    model.retain(|i, _| *i >= before);
                }
                Op::Reopen => {
                    log.close().expect("close");
                    drop(log);
                    log = open(dir.path());
                }
            }
            if model.is_empty() {
                prop_assert!(log.bounds().is_empty());
            } else {
                assert_matches(&log, &model);
            }
        }
    }
}

#[test]
fn large_entries_written_through_the_file_read_back_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = CommitLogConfig {
        segment_size: 256 << 10,
        ..config(dir.path())
    };
    let len = |i: u64| 16_384 + (i as usize * 7_919) % 60_000;
    {
        let log = CommitLog::open(cfg.clone(), FileSystem::disk()).expect("open");
        append_range(&log, 0, 30, len);
        assert_matches(&log, &model_of(0, 30, len));
        log.close().expect("close");
    }
    let log = CommitLog::open(cfg, FileSystem::disk()).expect("reopen");
    assert_matches(&log, &model_of(0, 30, len));
}

#[test]
fn an_entry_of_an_unknown_version_is_refused_not_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    durable_then_tail(dir.path());
    let (path, off) = position_of(dir.path(), 36);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[off as usize + 4] = 2;
    std::fs::write(&path, bytes).expect("write");
    let err = CommitLog::open(config(dir.path()), FileSystem::disk()).expect_err("refused");
    assert!(err.to_string().contains("version 2"), "{err}");
}

/// The resident bytes of this process's mappings of files under `dir`
/// (from /proc/self/smaps).
fn resident_bytes_under(dir: &Path) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
    let dir = dir.to_string_lossy().into_owned();
    let mut inside = false;
    let mut total = 0;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            inside = line.contains(&dir);
        } else if inside && first == "Rss:" {
            let kb: u64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .expect("an Rss figure");
            total += kb * 1024;
        }
    }
    total
}

#[test]
fn cold_pages_leave_resident_memory_and_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    cfg.segment_size = 1 << 20;
    let log = CommitLog::open(cfg, FileSystem::disk()).expect("open");
    // 4 MiB in 4 segments; each entry read once through the mapping, as
    // replication and dispatch do, so that all of it is mapped in.
    append_range(&log, 1, 1025, |_| 4000);
    for i in 1..1025 {
        log.read_entry(i).expect("read");
    }
    log.flush().expect("flush");
    let data = dir.path().join("commitlog");
    let before = resident_bytes_under(&data);
    assert!(before >= 3 << 20, "only {before} bytes mapped in");

    log.release_cold_pages(512 << 10);
    let after = resident_bytes_under(&data);
    assert!(
        after <= (512 << 10) + (64 << 10),
        "{after} bytes still resident (before: {before})"
    );
    assert_matches(&log, &model_of(1, 1025, |_| 4000));
}

/// Bytes of disk a file holds (its allocated blocks).
fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).expect("stat").blocks() * 512
}

#[test]
fn segment_blocks_are_reserved_a_step_at_a_time_as_the_writer_reaches_them() {
    use raftmq_store::commitlog::layout::SEGMENT_RESERVE_STEP as STEP;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = CommitLogConfig {
        segment_size: 8 * STEP,
        index_entries_per_file: 1 << 20,
        ..config(dir.path())
    };
    let segment = cfg.data_dir.join("00000000000000000000");
    let index = cfg.index_dir.join("00000000000000000000");
    let log = CommitLog::open(cfg.clone(), FileSystem::disk()).expect("open");
    append_range(&log, 0, 10, |_| 1000);
    // A store with one small append holds one step of its segment, not the
    // segment, and one step of its entry index, not the file.
    assert_eq!(allocated(&segment), STEP, "after the first append");
    assert!(allocated(&index) <= 1 << 20, "{}", allocated(&index));
    // Writing past the step reserves the next one, and no more.
    let big = vec![7u8; (STEP as usize) / 2];
    for i in 10..13 {
        log.append(&[NewEntry {
            index: i,
            term: 1,
            kind: EntryKind::Command,
            body: &big,
            crc: None,
        }])
        .expect("append");
    }
    let end = log.bounds().end_pos;
    assert!(end > STEP && end < 2 * STEP, "{end}");
    assert_eq!(
        allocated(&segment),
        2 * STEP,
        "after crossing the first step"
    );
    // The background thread's call keeps a step ahead of the writer.
    log.reserve_ahead().expect("reserve ahead");
    assert_eq!(
        allocated(&segment),
        3 * STEP,
        "a step past the write position"
    );
    log.close().expect("close");
    drop(log);
    // Reopened, recovery's cut at the end gives back the blocks reserved
    // past it; the writer reserves again, a step at a time.
    let log = CommitLog::open(cfg, FileSystem::disk()).expect("reopen");
    assert!(allocated(&segment) < 2 * STEP, "{}", allocated(&segment));
    append_range(&log, 13, 20, |_| 1000);
    assert_eq!(
        allocated(&segment),
        2 * STEP,
        "after reopening and appending"
    );
    let mut model = model_of(0, 10, |_| 1000);
    model.extend((10..13).map(|i| (i, (1, big.clone()))));
    model.extend(model_of(13, 20, |_| 1000));
    assert_matches(&log, &model);
}
