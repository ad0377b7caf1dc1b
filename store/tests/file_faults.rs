//! The commitlog on the in-memory file system (`mapped::MemFs`): power
//! loss, torn writes, fsync failures and a full disk, injected under the
//! files rather than through the switchboard.

use std::path::Path;
use std::sync::Arc;

use raftmq_store::commitlog::{CommitLog, CommitLogConfig, NewEntry};
use raftmq_store::mapped::{FileSystem, MemFs};
use raftmq_store::record::entry::EntryKind;
use raftmq_store::StoreError;

const SEGMENT: u64 = 64 << 10;

fn config(root: &Path) -> CommitLogConfig {
    CommitLogConfig {
        data_dir: root.join("commitlog"),
        index_dir: root.join("entryindex"),
        checkpoint_path: root.join("checkpoint"),
        segment_size: SEGMENT,
        index_entries_per_file: 64,
        disk_refuse_percent: 100,
        no_readahead_while_writing: true,
    }
}

fn open(root: &Path, fs: &Arc<MemFs>) -> CommitLog {
    // The disk gate reads the real file system under the data directory.
    std::fs::create_dir_all(root.join("commitlog")).expect("mkdir");
    CommitLog::open(config(root), FileSystem::memory(Arc::clone(fs))).expect("open")
}

fn body(index: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (index as usize * 31 + i) as u8).collect()
}

fn entry(index: u64, b: &[u8]) -> NewEntry<'_> {
    NewEntry {
        index,
        term: 1,
        kind: EntryKind::Command,
        body: b,
        crc: None,
    }
}

fn append(log: &CommitLog, index: u64, len: usize) -> u64 {
    let b = body(index, len);
    log.append(&[entry(index, &b)]).expect("append")[0].end()
}

/// Entries `[0, next)` are exactly the log, each reading back its body.
fn assert_holds(log: &CommitLog, next: u64, len: impl Fn(u64) -> usize) {
    let b = log.bounds();
    assert_eq!((b.start_index, b.next_index), (0, next), "{b:?}");
    for i in 0..next {
        let e = log.read_entry(i).expect("read back");
        assert_eq!(e.body().as_ref(), body(i, len(i)).as_slice(), "entry {i}");
    }
}

#[test]
fn sync_flush_loses_nothing_acknowledged_to_a_power_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = MemFs::new();
    {
        let log = open(dir.path(), &fs);
        for i in 0..40 {
            // SYNC_FLUSH: an entry is acknowledged once synced.
            let end = append(&log, i, 3000);
            log.sync_to(end).expect("sync");
        }
    }
    fs.crash();
    let log = open(dir.path(), &fs);
    assert_holds(&log, 40, |_| 3000);
}

#[test]
fn async_flush_loses_only_the_unsynced_tail_and_recovers_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = MemFs::new();
    {
        let log = open(dir.path(), &fs);
        for i in 0..30 {
            append(&log, i, 1000);
        }
        log.flush().expect("flush");
        log.write_checkpoint(None).expect("checkpoint");
        // Written to memory only, as between two background flushes.
        for i in 30..45 {
            append(&log, i, 1000);
        }
        assert_eq!(log.bounds().next_index, 45);
    }
    fs.crash();
    let log = open(dir.path(), &fs);
    assert_holds(&log, 30, |_| 1000);
    // The log goes on from where the durable part ends.
    append(&log, 30, 10);
    assert_eq!(log.read_entry(30).expect("read").body().len(), 10);
}

#[test]
fn a_torn_tail_is_cut_at_the_last_whole_entry() {
    for keep in [1usize, 40, 1500, 2500, 4000] {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = MemFs::new();
        {
            let log = open(dir.path(), &fs);
            for i in 0..10 {
                append(&log, i, 1000);
            }
            log.flush().expect("flush");
            log.write_checkpoint(None).expect("checkpoint");
            for i in 10..14 {
                append(&log, i, 1000);
            }
        }
        // Only a prefix of the unsynced bytes reached the device.
        fs.crash_keeping(keep);
        let log = open(dir.path(), &fs);
        let next = log.bounds().next_index;
        assert!((10..14).contains(&next), "keep {keep}: next {next}");
        assert_holds(&log, next, |_| 1000);
        append(&log, next, 7);
    }
}

#[test]
fn a_write_torn_by_a_failing_device_is_cut_on_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = MemFs::new();
    {
        let log = open(dir.path(), &fs);
        append(&log, 0, 100);
        log.flush().expect("flush");
        log.write_checkpoint(None).expect("checkpoint");
        // Large entries are written with pwritev; this one lands half.
        fs.tear_next_write(10_000);
        let big = body(1, 20_000);
        let err = log.append(&[entry(1, &big)]).expect_err("torn");
        assert!(err.is_fatal(), "{err}");
        assert_eq!(
            log.bounds().next_index,
            1,
            "the torn entry is not in the log"
        );
    }
    fs.crash_keeping(usize::MAX);
    let log = open(dir.path(), &fs);
    assert_holds(&log, 1, |_| 100);
}

#[test]
fn a_failed_write_is_fatal_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = MemFs::new();
    let log = open(dir.path(), &fs);
    append(&log, 0, 100);
    fs.fail_writes(true);
    let big = body(1, 20_000);
    let err = log.append(&[entry(1, &big)]).expect_err("EIO");
    assert!(
        matches!(&err, StoreError::Io { op: "pwritev", .. }) && err.is_fatal(),
        "{err}"
    );
    assert_holds(&log, 1, |_| 100);
}

#[test]
fn an_fsync_failure_poisons_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = MemFs::new();
    let log = open(dir.path(), &fs);
    append(&log, 0, 10);
    fs.fail_syncs(true);
    assert!(matches!(log.flush(), Err(StoreError::Io { .. })));
    // Never retried and pretended: the failure sticks.
    fs.fail_syncs(false);
    let b = body(1, 10);
    let again = log.append(&[entry(1, &b)]);
    assert!(matches!(again, Err(StoreError::Poisoned(_))), "{again:?}");
    assert!(matches!(log.flush(), Err(StoreError::Poisoned(_))));
}

#[test]
fn a_full_disk_refuses_appends_whole_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = MemFs::new();
    let log = open(dir.path(), &fs);
    for i in 0..5 {
        append(&log, i, 1000);
    }
    let files_before = fs.paths();
    let bounds_before = log.bounds();
    // Enough to need blocks past what was reserved, and a new segment.
    fs.no_space(true);
    let bodies: Vec<Vec<u8>> = (5..80).map(|i| body(i, 1000)).collect();
    let entries: Vec<NewEntry<'_>> = bodies
        .iter()
        .enumerate()
        .map(|(k, b)| entry(5 + k as u64, b))
        .collect();
    let err = log.append(&entries).expect_err("no space");
    assert!(
        matches!(&err, StoreError::NoSpace { path } if path.starts_with(dir.path())),
        "{err}"
    );
    assert!(!err.is_fatal(), "a full disk is not a broken one");
    assert!(err.to_string().contains("free space"), "{err}");
    assert_eq!(log.bounds(), bounds_before);
    assert_holds(&log, 5, |_| 1000);
    fs.no_space(false);
    log.append(&entries).expect("space is back");
    assert_holds(&log, 80, |_| 1000);
    assert!(fs.paths().len() > files_before.len());
}
