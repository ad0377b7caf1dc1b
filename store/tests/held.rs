//! Held records (ADR 0012): timed and half messages stay out of their
//! queues until a released copy is dispatched, exactly once, across
//! restarts, snapshots and retention.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use raftmq_store::consume_queue::TagFilter;
use raftmq_store::message_store::{testing, HourOrManual, Placed};
use raftmq_store::meta_state::{Command, HeldId, Outcome};
use raftmq_store::record::message::{
    Message, MessageType, FLAG_HALF, FLAG_RELEASE, FLAG_TIMER, RELEASES_PROPERTY,
};
use raftmq_store::{LogPos, MessageStore, OpenOptions, StoreConfig};

fn open(root: &Path) -> Arc<MessageStore> {
    let mut cfg = StoreConfig::small(root);
    cfg.segment_size = 16 << 10;
    MessageStore::open_with(
        cfg,
        OpenOptions {
            no_background: true,
            ..OpenOptions::default()
        },
    )
    .expect("open store")
}

fn msg(n: u64) -> Message {
    Message {
        queue_id: 0,
        tag: Some("TagA".into()),
        keys: vec![format!("key-{n}")],
        properties: vec![("n".into(), n.to_string())],
        body: Bytes::from(format!("body {n} ").repeat(20)),
        message_id: format!("ID{n:016X}"),
        born_host: "127.0.0.1:5000".into(),
        store_host: "127.0.0.1:30911".into(),
        born_timestamp_ms: 1_700_000_000_000 + n as i64,
        store_timestamp_ms: 1_700_000_000_000 + n as i64,
        ..Message::new("T".parse().expect("legal topic"))
    }
}

fn timed(n: u64, due: i64) -> Message {
    Message {
        message_type: MessageType::Delay,
        delivery_timestamp_ms: Some(due),
        flags: FLAG_TIMER,
        ..msg(n)
    }
}

fn half(n: u64) -> Message {
    Message {
        message_type: MessageType::Transaction,
        flags: FLAG_HALF,
        ..msg(n)
    }
}

/// The released copy of `held`, stored as record `id`.
fn release(held: &Message, id: HeldId) -> Message {
    let mut copy = held.clone();
    copy.flags |= FLAG_RELEASE;
    copy.properties
        .push((RELEASES_PROPERTY.into(), id.to_string()));
    copy.store_timestamp_ms += 1;
    copy
}

fn put(store: &MessageStore, m: &Message) -> (HeldId, Placed, u64) {
    let r = testing::put(store, std::slice::from_ref(m)).expect("put");
    let id = HeldId {
        index: r[0].index,
        slot: 0,
    };
    (id, r[0].placed, r[0].queue_offset.0)
}

fn queue_ids(store: &MessageStore) -> Vec<String> {
    let (min, _) = store.queue_offsets("T", 0);
    store
        .read_messages("T", 0, min, usize::MAX, &TagFilter::All)
        .expect("read")
        .messages
        .iter()
        .map(|m| m.view().expect("decode").message_id().to_owned())
        .collect()
}

#[test]
fn a_timer_is_held_until_its_first_release_and_a_second_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let t = timed(1, 5_000);
    let (id, placed, _) = put(&store, &t);
    assert_eq!(placed, Placed::Held);
    assert!(queue_ids(&store).is_empty(), "held out of its queue");
    assert_eq!(store.next_timer_due(), Some(5_000));
    assert!(store.due_timers(4_999, 10).is_empty());
    assert_eq!(store.due_timers(5_000, 10), vec![(5_000, id)]);
    let progress = store.timer_progress(5_250);
    assert_eq!((progress.pending, progress.behind_ms), (1, 250));
    assert_eq!((progress.held_total, progress.released_total), (1, 0));
    // The record reads back by its id, as stored.
    let read = store.read_held(id).expect("read").expect("held record");
    assert_eq!(read.to_message().expect("decode"), {
        let mut stored = t.clone();
        stored.store_timestamp_ms = read.view().expect("view").store_timestamp_ms();
        stored
    });
    // A retried send of the same id finds it by message id, and its id.
    let found = store
        .query_by_id(&t.message_id)
        .expect("query")
        .expect("found");
    assert_eq!(store.held_id_at(found.pos).expect("id"), Some(id));
    assert_eq!(store.held_id_at(LogPos(found.pos.0 + 1)).expect("id"), None);

    put(&store, &msg(2));
    let (_, placed, offset) = put(&store, &release(&t, id));
    assert_eq!((placed, offset), (Placed::Queued, 1));
    let (copy2, placed, _) = put(&store, &release(&t, id));
    assert_eq!(placed, Placed::Dropped, "released once only");
    assert_eq!(
        queue_ids(&store),
        vec![msg(2).message_id, t.message_id.clone()]
    );
    let held = store.held();
    assert!(held.timers.is_empty());
    assert!(held.dropped.contains(&copy2));
    let progress = store.timer_progress(5_250);
    assert_eq!((progress.pending, progress.behind_ms), (0, 0));
    assert_eq!((progress.held_total, progress.released_total), (1, 1));
    // A copy naming nothing held, or nothing at all, is dropped too.
    let stray = release(
        &t,
        HeldId {
            index: 999,
            slot: 0,
        },
    );
    assert_eq!(put(&store, &stray).1, Placed::Dropped);
    let mut nameless = t.clone();
    nameless.flags |= FLAG_RELEASE;
    assert_eq!(put(&store, &nameless).1, Placed::Dropped);
    assert_eq!(queue_ids(&store).len(), 2);

    // Written again as a new message (a dead letter), a released copy is
    // an ordinary one.
    let mut again = release(&t, id);
    again.clear_held_marks();
    assert_eq!(again.flags, 0);
    assert!(again.properties.iter().all(|(k, _)| k != RELEASES_PROPERTY));
    assert_eq!(put(&store, &again).1, Placed::Queued);
}

#[test]
fn a_transaction_ends_once_with_the_first_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let committed = half(1);
    let rolled_back = half(2);
    let (a, placed, _) = put(&store, &committed);
    assert_eq!(placed, Placed::Held);
    let (b, _, _) = put(&store, &rolled_back);
    assert_eq!(store.half(a).map(|h| h.topic), Some("T".to_owned()));
    assert!(queue_ids(&store).is_empty());

    testing::put_command(
        &store,
        &Command::CheckTransactions {
            at_ms: 77,
            checks: vec![(a, 1)],
        },
    )
    .expect("check round");
    assert_eq!(
        store.half(a).map(|h| (h.checks, h.last_check_ms)),
        Some((1, 77))
    );

    assert_eq!(put(&store, &release(&committed, a)).1, Placed::Queued);
    let rollback = |id| Command::EndTransactions {
        ended: vec![(id, Outcome::RolledBack)],
    };
    testing::put_command(&store, &rollback(b)).expect("rollback");
    // The other answers come too late and change nothing.
    testing::put_command(&store, &rollback(a)).expect("late rollback");
    assert_eq!(put(&store, &release(&rolled_back, b)).1, Placed::Dropped);
    assert_eq!(store.transaction_outcome(a), Some(Outcome::Committed));
    assert_eq!(store.transaction_outcome(b), Some(Outcome::RolledBack));
    assert_eq!(store.half(a), None);
    assert_eq!(queue_ids(&store), vec![committed.message_id]);
}

#[test]
fn held_records_survive_a_restart_from_the_metadata_file_and_from_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (saved, replayed, h) = {
        let store = open(dir.path());
        let (saved, _, _) = put(&store, &timed(1, 100));
        let (h, _, _) = put(&store, &half(2));
        store.flush().expect("flush");
        // After the last save: comes back by replaying the log.
        let (replayed, _, _) = put(&store, &timed(3, 50));
        put(&store, &release(&timed(1, 100), saved));
        (saved, replayed, h)
    };
    let store = open(dir.path());
    testing::apply_committed(&store).expect("apply");
    let held = store.held();
    let timers: Vec<_> = held.timers.iter().copied().collect();
    assert_eq!(
        timers,
        vec![(50, replayed)],
        "the released one stays released"
    );
    assert!(held.halves.contains_key(&h));
    assert_eq!(queue_ids(&store), vec![timed(1, 100).message_id]);
    // Released again after the restart: dropped, not delivered twice.
    assert_eq!(
        put(&store, &release(&timed(1, 100), saved)).1,
        Placed::Dropped
    );
    assert_eq!(
        put(&store, &release(&timed(3, 50), replayed)).1,
        Placed::Queued
    );
}

#[test]
fn a_snapshot_receiver_enqueues_exactly_what_the_sender_did() {
    let leader_dir = tempfile::tempdir().expect("tempdir");
    let leader = open(leader_dir.path());
    let t0 = timed(0, 5);
    let (id0, _, _) = put(&leader, &t0);
    for n in 100..250 {
        put(&leader, &msg(n));
    }
    let t1 = timed(1, 10);
    let (id1, _, _) = put(&leader, &t1);
    put(&leader, &msg(2));
    put(&leader, &release(&t1, id1));
    put(&leader, &release(&t1, id1)); // dropped
                                      // Released after t1's: its held record is in a segment retention takes.
    put(&leader, &release(&t0, id0));
    put(&leader, &release(&t0, id0)); // dropped
    let (pending, _, _) = put(&leader, &timed(3, 20));
    let (open_half, _, _) = put(&leader, &half(4));
    let h5 = half(5);
    let (id5, _, _) = put(&leader, &h5);
    put(&leader, &release(&h5, id5));

    leader.flush().expect("flush");
    age_all_segments(leader_dir.path());
    leader
        .delete_expired(SystemTime::now(), Some(HourOrManual::Manual))
        .expect("retention");
    let start = leader.commitlog().bounds().start_index;
    assert!(start > id0.index, "t0's record was retained: start {start}");
    let plan = leader.snapshot_plan();
    let b = leader.commitlog().bounds();
    let mut records = Vec::new();
    for e in leader
        .commitlog()
        .read_range(b.start_index, b.next_index)
        .expect("read")
    {
        records.extend_from_slice(&e.bytes);
    }
    // Entries after the plan are dispatched with the held rules as usual.
    let follower_dir = tempfile::tempdir().expect("tempdir");
    let follower = open(follower_dir.path());
    follower.install_snapshot(&plan, &records).expect("install");
    assert_eq!(queue_ids(&follower), queue_ids(&leader));
    let ids = queue_ids(&leader);
    let tail: Vec<&str> = ids.iter().rev().take(4).rev().map(String::as_str).collect();
    assert_eq!(
        tail,
        [
            &msg(2).message_id,
            &t1.message_id,
            &t0.message_id,
            &h5.message_id
        ]
    );
    assert_eq!(follower.held(), leader.held());
    assert!(follower.held().timers.iter().any(|(_, id)| *id == pending));
    assert!(follower.half(open_half).is_some());
}

/// Makes every commitlog segment older than the default 72 h retention.
fn age_all_segments(root: &Path) {
    for e in std::fs::read_dir(root.join("commitlog")).expect("read_dir") {
        let p = e.expect("entry").path();
        let f = std::fs::File::options().write(true).open(&p).expect("open");
        let old = SystemTime::now() - Duration::from_secs(80 * 3600);
        f.set_times(std::fs::FileTimes::new().set_modified(old))
            .expect("set mtime");
    }
}

#[test]
fn retention_keeps_the_segment_of_a_held_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (held, _, _) = put(&store, &timed(0, i64::MAX));
    for n in 1..200 {
        put(&store, &msg(n));
    }
    store.flush().expect("flush");
    let mut segs: Vec<_> = std::fs::read_dir(dir.path().join("commitlog"))
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .collect();
    segs.sort();
    assert!(segs.len() >= 3, "{} segments", segs.len());
    age_all_segments(dir.path());
    store
        .delete_expired(SystemTime::now(), Some(HourOrManual::Manual))
        .expect("retention");
    assert_eq!(store.commitlog().bounds().start_index, held.index);
    assert!(store.read_held(held).expect("read").is_some());
}

#[test]
fn a_release_whose_entry_fails_part_way_is_enqueued_by_the_retry() {
    use raftmq_store::commitlog::NewEntry;
    use raftmq_store::fault::Faults;
    use raftmq_store::record::entry::EntryKind;

    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults::default();
    let mut cfg = StoreConfig::small(dir.path());
    cfg.key_index_entries = 4;
    let store = MessageStore::open_with(
        cfg,
        OpenOptions {
            faults: faults.clone(),
            no_background: true,
            ..OpenOptions::default()
        },
    )
    .expect("open");
    let t = timed(1, 10);
    // The first entry holds the timer (a key and an id: two index entries).
    let (id, _, _) = put(&store, &t);
    // The next: a message (two more) and the release (the fifth, which
    // rolls the index file: the failure comes after both were placed).
    let body = store
        .encode_batch(&[msg(2), release(&t, id)], usize::MAX)
        .expect("encode");
    let index = store.commitlog().bounds().next_index;
    store
        .append_entries(&[NewEntry {
            index,
            term: testing::TERM,
            kind: EntryKind::Messages,
            body: &body,
            crc: None,
        }])
        .expect("append");
    faults.set_crash_point(Some("key-index:roll"));
    store
        .dispatch_to(index)
        .expect_err("fails at the index roll");
    faults.set_crash_point(None);
    let applied = store.dispatch_to(index).expect("dispatched again");
    let placed: Vec<_> = applied
        .iter()
        .map(|r| (r.placed, r.queue_offset.0))
        .collect();
    assert_eq!(placed, vec![(Placed::Queued, 0), (Placed::Queued, 1)]);
    assert!(store.held().timers.is_empty());
    assert_eq!(queue_ids(&store), vec![msg(2).message_id, t.message_id]);
}

#[test]
fn records_of_a_batch_are_found_by_slot_and_by_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    put(&store, &msg(1));
    let batch = [half(2), msg(3), timed(4, 9_000)];
    let r = testing::put(&store, &batch).expect("put");
    let index = r[0].index;
    for (slot, m) in batch.iter().enumerate() {
        let id = HeldId {
            index,
            slot: slot as u32,
        };
        let read = store.read_held(id).expect("read").expect("in the log");
        assert_eq!(read.view().expect("view").message_id(), m.message_id);
        let found = store
            .query_by_id(&m.message_id)
            .expect("query")
            .expect("found");
        assert_eq!(found.pos, read.pos);
        assert_eq!(store.held_id_at(found.pos).expect("id"), Some(id));
        assert_eq!(store.held_id_at(LogPos(found.pos.0 + 3)).expect("id"), None);
    }
    let past = HeldId { index, slot: 3 };
    assert_eq!(
        store.read_held(past).expect("read"),
        None,
        "no fourth record"
    );
    let unknown = HeldId {
        index: index + 5,
        slot: 0,
    };
    assert_eq!(
        store.read_held(unknown).expect("read"),
        None,
        "no such entry"
    );
}
