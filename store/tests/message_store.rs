//! The store as a whole: puts, reads by queue offset / key / id / time,
//! consume queues against a model, crash recovery of the derived data,
//! retention and the disk-full gate.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use proptest::prelude::*;
use raftmq_model::TopicName;
use raftmq_store::config::FlushMode;
use raftmq_store::consume_queue::{MessageFilter, TagFilter};
use raftmq_store::fault::Faults;
use raftmq_store::message_store::{testing, HourOrManual};
use raftmq_store::record::message::{Message, MessageView};
use raftmq_store::{MessageStore, OpenOptions, QueueOffset, StoreConfig, StoreError};

fn config(root: &Path) -> StoreConfig {
    let mut cfg = StoreConfig::small(root);
    cfg.segment_size = 16 << 10;
    cfg
}

fn open(root: &Path) -> Arc<MessageStore> {
    open_with(&Faults::default(), config(root))
}

fn open_with(faults: &Faults, cfg: StoreConfig) -> Arc<MessageStore> {
    MessageStore::open_with(
        cfg,
        OpenOptions {
            faults: faults.clone(),
            no_background: true,
            ..OpenOptions::default()
        },
    )
    .expect("open store")
}

fn msg(topic: &str, queue_id: u32, n: u64) -> Message {
    Message {
        queue_id,
        tag: Some(if n.is_multiple_of(3) { "TagA" } else { "TagB" }.into()),
        keys: vec![format!("key-{n}"), format!("order-{}", n % 7)],
        properties: vec![("n".into(), n.to_string())],
        body: Bytes::from(format!("body {n} ").repeat(1 + (n as usize % 40))),
        message_id: format!("ID{n:016X}"),
        born_host: "127.0.0.1:5000".into(),
        store_host: "127.0.0.1:30911".into(),
        born_timestamp_ms: 1_700_000_000_000 + n as i64,
        store_timestamp_ms: 1_700_000_000_000 + n as i64 * 10,
        ..Message::new(topic.parse().expect("legal topic"))
    }
}

/// (topic, queue) -> messages in queue order.
type Model = BTreeMap<(String, u32), Vec<Message>>;

fn put_all(store: &MessageStore, msgs: &[Message], model: &mut Model) {
    let results = testing::put(store, msgs).expect("put");
    assert_eq!(results.len(), msgs.len());
    for (m, r) in msgs.iter().zip(&results) {
        let q = model.entry((m.topic.to_string(), m.queue_id)).or_default();
        assert_eq!(
            r.queue_offset,
            QueueOffset(q.len() as u64),
            "offsets are dense"
        );
        q.push(m.clone());
    }
}

/// Every queue holds exactly the model's messages, in order, and every one
/// can be found by key and by id.
fn assert_store_matches(store: &MessageStore, model: &Model) {
    for ((topic, qid), msgs) in model {
        let (min, max) = store.queue_offsets(topic, *qid);
        assert_eq!(min, QueueOffset(0), "{topic}:{qid} min");
        assert_eq!(max, QueueOffset(msgs.len() as u64), "{topic}:{qid} max");
        let batch = store
            .read_messages(topic, *qid, QueueOffset(0), usize::MAX, &TagFilter::All)
            .expect("read");
        let got: Vec<Message> = batch
            .messages
            .iter()
            .map(|m| m.to_message().expect("decode"))
            .collect();
        assert_eq!(&got, msgs, "{topic}:{qid} contents");
        for (i, m) in msgs.iter().enumerate() {
            let by_id = store
                .query_by_id(&m.message_id)
                .expect("by id")
                .expect("found by id");
            assert_eq!(by_id.to_message().expect("decode"), *m);
            let by_key = store.query_by_key(topic, &m.keys[0], 4).expect("by key");
            assert_eq!(by_key.len(), 1, "key {} of {topic}", m.keys[0]);
            let at = store
                .read_message(topic, *qid, QueueOffset(i as u64))
                .expect("by offset");
            assert_eq!(at.to_message().expect("decode"), *m);
        }
    }
    for q in store.queues().all() {
        assert!(
            model.contains_key(&(q.topic().to_owned(), q.queue_id()))
                || q.max_offset() == q.min_offset(),
            "queue {}:{} not in the model",
            q.topic(),
            q.queue_id()
        );
    }
}

#[test]
fn puts_read_back_by_offset_key_id_tag_and_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut model = Model::new();
    for n in 0..120u64 {
        put_all(&store, &[msg("Orders", (n % 3) as u32, n)], &mut model);
    }
    assert_store_matches(&store, &model);

    let tag_a = TagFilter::parse("TagA").expect("filter");
    let batch = store
        .read_messages("Orders", 0, QueueOffset(0), 1000, &tag_a)
        .expect("read");
    assert!(!batch.messages.is_empty());
    assert!(batch
        .messages
        .iter()
        .all(|m| m.view().expect("view").tag() == Some("TagA")));
    let expected = model[&("Orders".to_owned(), 0)]
        .iter()
        .filter(|m| m.tag.as_deref() == Some("TagA"))
        .count();
    assert_eq!(batch.messages.len(), expected);

    // A caller's own filter sees each message that passes the hash, and a
    // read that finds nothing still moves past what it looked at.
    struct EveryTenth;
    impl MessageFilter for EveryTenth {
        fn matches_hash(&self, _: u64) -> bool {
            true
        }
        fn needs_message(&self) -> bool {
            true
        }
        fn matches_message(&self, m: &MessageView<'_>) -> bool {
            m.properties()
                .find(|(k, _)| *k == "n")
                .and_then(|(_, v)| v.parse::<u64>().ok())
                .is_some_and(|n| n % 10 == 0)
        }
    }
    let batch = store
        .read_messages("Orders", 0, QueueOffset(0), 1000, &EveryTenth)
        .expect("read");
    let ns: Vec<String> = batch
        .messages
        .iter()
        .map(|m| m.to_message().expect("decode").properties[0].1.clone())
        .collect();
    assert_eq!(ns, ["0", "30", "60", "90"]);
    let one = store
        .read_messages("Orders", 0, QueueOffset(1), 1, &EveryTenth)
        .expect("read");
    assert_eq!(one.messages[0].queue_offset, Some(QueueOffset(10)));
    assert_eq!(one.next_offset, QueueOffset(11));
    let none = store
        .read_messages("Orders", 0, QueueOffset(31), 1000, &EveryTenth)
        .expect("read");
    assert!(none.messages.is_empty());
    assert_eq!(none.next_offset, QueueOffset(40), "read to the end");

    // Messages of queue 1 were stored every 30 ms (n = 1, 4, 7, ...).
    let q1 = &model[&("Orders".to_owned(), 1)];
    let at = store
        .offset_at_time("Orders", 1, q1[10].store_timestamp_ms)
        .expect("by time");
    assert_eq!(at, QueueOffset(10));
    let at = store
        .offset_at_time("Orders", 1, q1[10].store_timestamp_ms - 1)
        .expect("by time");
    assert_eq!(at, QueueOffset(10));
    let end = store
        .offset_at_time("Orders", 1, i64::MAX)
        .expect("by time");
    assert_eq!(end, QueueOffset(q1.len() as u64));

    let several = store
        .query_by_key("Orders", "order-3", 100)
        .expect("by key");
    assert_eq!(several.len(), (0..120).filter(|n| n % 7 == 3).count());
    assert!(store.query_by_id("NOPE").expect("by id").is_none());
    assert!(matches!(
        store.read_message("Orders", 0, QueueOffset(1000)),
        Err(StoreError::QueueOffsetPastEnd { .. })
    ));
}

#[test]
fn bad_topics_cannot_name_a_message() {
    // A message's topic is a `TopicName`, checked where the name enters the
    // process; `encode_batch` no longer checks it again. The names the store
    // once refused there (empty, path-like, spaced, too long) cannot become
    // one through the checked constructor.
    for topic in ["", "../etc", "a/b", "sp ace", &"x".repeat(128)] {
        let err = TopicName::new(topic).expect_err("refused");
        assert!(err.to_string().contains("topic"), "{err}");
    }
}

#[test]
fn recovery_rebuilds_queues_and_index_past_their_checkpoints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut model = Model::new();
    {
        let store = open(dir.path());
        for n in 0..60u64 {
            put_all(&store, &[msg("T", (n % 4) as u32, n)], &mut model);
        }
        store.flush().expect("flush");
        for n in 60..100u64 {
            put_all(&store, &[msg("T", (n % 4) as u32, n)], &mut model);
        }
        // Dropped without close: queues and index are past their checkpoint.
    }
    // Lose the derived data's progress entirely for one queue.
    std::fs::remove_dir_all(dir.path().join("consumequeue/T/2")).expect("remove queue");
    std::fs::remove_file(dir.path().join("dispatch.checkpoint")).expect("remove checkpoint");
    let store = open(dir.path());
    assert_store_matches(&store, &model);
}

#[test]
fn a_torn_log_tail_takes_its_messages_out_of_queues_and_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut model = Model::new();
    let cut_at;
    {
        let store = open(dir.path());
        for n in 0..80u64 {
            put_all(&store, &[msg("T", (n % 2) as u32, n)], &mut model);
        }
        store.flush().expect("flush");
        for n in 80..90u64 {
            put_all(&store, &[msg("T", (n % 2) as u32, n)], &mut model);
        }
        store
            .queues()
            .flush()
            .expect("queues flushed past the log's checkpoint");
        let last = store.commitlog().bounds().next_index - 1;
        cut_at = store.commitlog().location(last - 3).expect("location");
    }
    // Tear the log in the middle of the entry holding message 86.
    let base = cut_at.pos - cut_at.pos % (16 << 10);
    let seg = dir.path().join("commitlog").join(format!("{base:020}"));
    let mut bytes = std::fs::read(&seg).expect("read");
    let off = (cut_at.pos - base) as usize + 60;
    bytes[off..].iter_mut().for_each(|b| *b = 0);
    std::fs::write(&seg, bytes).expect("write");

    let store = open(dir.path());
    for q in model.values_mut() {
        q.retain(|m| m.born_timestamp_ms < 1_700_000_000_000 + 86);
    }
    assert_store_matches(&store, &model);
    for n in 86..90u64 {
        assert!(store
            .query_by_id(&format!("ID{n:016X}"))
            .expect("by id")
            .is_none());
    }
    // Offsets continue densely from the cut.
    let r = testing::put(&store, &[msg("T", 0, 200)]).expect("put");
    assert_eq!(
        r[0].queue_offset,
        QueueOffset(model[&("T".to_owned(), 0)].len() as u64)
    );
}

#[test]
fn sync_flush_group_commits_concurrent_writers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    cfg.flush_mode = FlushMode::Sync;
    let store = open_with(&Faults::default(), cfg);
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for n in 0..50u64 {
                    let r = testing::put(&store, &[msg("S", t, n)]).expect("put");
                    // Returned only once durable.
                    let durable = store.commitlog().durable().0;
                    assert!(
                        durable > r[0].pos.0,
                        "put returned before its bytes were durable"
                    );
                    assert_eq!(r[0].queue_offset, QueueOffset(n));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer");
    }
    for t in 0..8 {
        assert_eq!(store.queue_offsets("S", t).1, QueueOffset(50));
    }
}

fn age_segments(root: &Path, count: usize, age: Duration) {
    let mut segs: Vec<_> = std::fs::read_dir(root.join("commitlog"))
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .collect();
    segs.sort();
    for p in segs.iter().take(count) {
        let f = std::fs::File::options().write(true).open(p).expect("open");
        f.set_times(std::fs::FileTimes::new().set_modified(SystemTime::now() - age))
            .expect("set mtime");
    }
}

#[test]
fn retention_deletes_only_expired_segments_at_delete_hour_or_above_ratio() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults::default();
    let store = open_with(&faults, config(dir.path()));
    let mut model = Model::new();
    for n in 0..300u64 {
        put_all(&store, &[msg("R", 0, n)], &mut model);
    }
    store.flush().expect("flush");
    let segments = store.commitlog().segments().count();
    assert!(segments >= 5, "{segments} segments");
    age_segments(dir.path(), 3, Duration::from_secs(73 * 3600));
    let now = SystemTime::now();

    // Not the delete hour, disk not full: nothing goes.
    faults.set_disk_used_percent(Some(10));
    let out = store
        .delete_expired(now, Some(HourOrManual::Hour(12)))
        .expect("retention");
    assert_eq!(out.segments_deleted, 0);
    assert_eq!(store.commitlog().segments().count(), segments);

    // Above diskMaxUsedSpaceRatio: expired segments go at any hour, and only they.
    faults.set_disk_used_percent(Some(80));
    let out = store
        .delete_expired(now, Some(HourOrManual::Hour(12)))
        .expect("retention");
    assert_eq!(out.segments_deleted, 3);
    assert_eq!(store.commitlog().segments().count(), segments - 3);

    let (min, max) = store.queue_offsets("R", 0);
    assert!(
        min.0 > 0 && max.0 == 300,
        "queue follows the log start: {min}..{max}"
    );
    let below = store
        .read_message("R", 0, QueueOffset(min.0 - 1))
        .expect_err("removed");
    assert!(
        below.to_string().contains("below the queue's minimum"),
        "{below}"
    );
    let first_kept = store
        .read_message("R", 0, min)
        .expect("kept")
        .to_message()
        .expect("decode");
    assert_eq!(first_kept, model[&("R".to_owned(), 0)][min.0 as usize]);
    assert!(store
        .query_by_id(&format!("ID{:016X}", 0))
        .expect("by id")
        .is_none());
    let log_start = store.commitlog().bounds().start_pos;
    let err = store
        .commitlog()
        .read(log_start - 1, 1)
        .expect_err("below start");
    assert!(err.to_string().contains("below the log start"), "{err}");

    // At the delete hour, with newly expired segments.
    age_segments(dir.path(), 1, Duration::from_secs(73 * 3600));
    faults.set_disk_used_percent(Some(10));
    let out = store
        .delete_expired(now, Some(HourOrManual::Hour(4)))
        .expect("retention");
    assert_eq!(out.segments_deleted, 1);

    // After a restart everything still agrees.
    store.close().expect("close");
    drop(store);
    let store = open(dir.path());
    let (min2, max2) = store.queue_offsets("R", 0);
    assert!(min2 > min && max2.0 == 300);
    let batch = store
        .read_messages("R", 0, QueueOffset(0), usize::MAX, &TagFilter::All)
        .expect("read");
    assert_eq!(batch.messages.len() as u64, max2.0 - min2.0);
}

#[test]
fn a_full_disk_refuses_puts_cleanly_and_they_resume() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults::default();
    let store = open_with(&faults, config(dir.path()));
    let mut model = Model::new();
    put_all(&store, &[msg("D", 0, 0)], &mut model);
    // `StoreConfig::small` refuses at 100%.
    faults.set_disk_used_percent(Some(100));
    let err = testing::put(&store, &[msg("D", 0, 1)]).expect_err("refused");
    assert!(
        matches!(&err, StoreError::DiskFull { path, used_percent, limit_percent: 100 }
            if path.ends_with("commitlog") && *used_percent >= 100.0),
        "{err}"
    );
    assert!(err.to_string().contains("disk full"));
    faults.set_disk_used_percent(None);
    put_all(&store, &[msg("D", 0, 1)], &mut model);
    assert_store_matches(&store, &model);
}

/// Fault switches and a config whose key-index files hold 4 entries: the
/// entries of [`msg`]'s second message (two keys and an id each) cross
/// into a second file, where a crash point at the roll cuts them off.
fn four_index_entries_per_file(root: &Path) -> (Faults, StoreConfig) {
    let mut cfg = config(root);
    cfg.key_index_entries = 4;
    (Faults::default(), cfg)
}

#[test]
fn a_message_cut_off_between_its_keys_gets_the_rest_on_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (faults, cfg) = four_index_entries_per_file(dir.path());
    let store = open_with(&faults, cfg.clone());
    let mut model = Model::new();
    put_all(&store, &[msg("K", 0, 0)], &mut model);
    faults.set_crash_point(Some("key-index:roll"));
    let cut = msg("K", 0, 1);
    testing::put(&store, std::slice::from_ref(&cut)).expect_err("crash at the roll");
    model.entry(("K".to_owned(), 0)).or_default().push(cut);
    drop(store);

    let store = open_with(&faults, cfg);
    assert_store_matches(&store, &model);
    for key in ["key-1", "order-1"] {
        let found = store.query_by_key("K", key, 10).expect("by key");
        assert_eq!(found.len(), 1, "{key}: {found:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn consume_queues_equal_a_model(
        batches in proptest::collection::vec(
            proptest::collection::vec((0usize..3, 0u32..3, 0u64..1000), 1..8), 1..25),
        reopen_at in 0usize..25,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open(dir.path());
        let mut model = Model::new();
        let mut n = 0u64;
        for (i, batch) in batches.iter().enumerate() {
            let msgs: Vec<Message> = batch.iter().map(|(t, q, salt)| {
                n += 1;
                let mut m = msg(["A", "B", "%RETRY%g"][*t], *q, n);
                m.body = Bytes::from(vec![*salt as u8; (*salt as usize) % 700]);
                m
            }).collect();
            put_all(&store, &msgs, &mut model);
            if i == reopen_at {
                drop(store);
                store = open(dir.path());
            }
        }
        assert_store_matches(&store, &model);
    }
}

#[test]
fn dropping_a_store_stops_its_threads_before_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    // The housekeeper works all the time, so a drop lands mid-work.
    cfg.flush_pacing.interval = Duration::from_millis(1);
    cfg.flush_pacing.min_dirty_pages = 0;
    let mut model = Model::new();
    for round in 0..20u64 {
        let store = MessageStore::open(cfg.clone()).expect("open");
        put_all(&store, &[msg("Drop", 0, round)], &mut model);
        std::thread::yield_now();
        drop(store);
    }
    let store = open(dir.path());
    assert_store_matches(&store, &model);
}

fn open_replicated_at(root: &Path) -> Arc<MessageStore> {
    open_replicated_with(&Faults::default(), config(root))
}

fn open_replicated_with(faults: &Faults, cfg: StoreConfig) -> Arc<MessageStore> {
    MessageStore::open_with(
        cfg,
        OpenOptions {
            faults: faults.clone(),
            no_background: true,
            ..OpenOptions::default()
        },
    )
    .expect("open")
}

/// Appends one messages entry per message (`count` of them, to `topic`
/// queue `queue_id`) starting at `first_index`, without dispatching.
fn append_message_entries(
    store: &MessageStore,
    queue_id: u32,
    count: u64,
    first_index: u64,
    term: u64,
) {
    use raftmq_store::commitlog::NewEntry;
    use raftmq_store::record::entry::EntryKind;

    let bodies: Vec<Vec<u8>> = (0..count)
        .map(|n| {
            store
                .encode_batch(&[msg("Rep", queue_id, n)], usize::MAX)
                .expect("encode")
        })
        .collect();
    let entries: Vec<NewEntry<'_>> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| NewEntry {
            index: first_index + i as u64,
            term,
            kind: EntryKind::Messages,
            body: b,
            crc: None,
        })
        .collect();
    store.append_entries(&entries).expect("append");
}

#[test]
fn replicated_entries_get_queue_offsets_only_when_dispatched_in_log_order() {
    use raftmq_store::commitlog::NewEntry;
    use raftmq_store::record::entry::EntryKind;

    let dir = tempfile::tempdir().expect("tempdir");
    let open_replicated = || open_replicated_at(dir.path());
    let store = open_replicated();
    append_message_entries(&store, 0, 6, 1, 3);
    assert_eq!(
        store.queue_offsets("Rep", 0).1,
        QueueOffset(0),
        "nothing dispatched yet"
    );

    let applied = store.dispatch_to(4).expect("dispatch");
    let offsets: Vec<u64> = applied.iter().map(|r| r.queue_offset.0).collect();
    assert_eq!(offsets, vec![0, 1, 2, 3]);
    let refused = store.truncate_after(2).expect_err("committed entries stay");
    assert!(
        matches!(refused, StoreError::TruncateBelowApplied { .. }),
        "{refused}"
    );

    // The uncommitted tail is replaced, as a new leader would.
    store.truncate_after(4).expect("truncate tail");
    let other = store
        .encode_batch(&[msg("Rep", 0, 100)], usize::MAX)
        .expect("encode");
    store
        .append_entries(&[NewEntry {
            index: 5,
            term: 4,
            kind: EntryKind::Messages,
            body: &other,
            crc: None,
        }])
        .expect("append");
    let applied = store.dispatch_to(5).expect("dispatch");
    assert_eq!(applied[0].queue_offset, QueueOffset(4));
    let m = store
        .read_message("Rep", 0, QueueOffset(4))
        .expect("read")
        .to_message()
        .expect("decode");
    assert_eq!(m.message_id, msg("Rep", 0, 100).message_id);

    // After a restart, dispatch resumes where the checkpoint says.
    store.flush().expect("flush");
    drop(store);
    let store = open_replicated();
    assert_eq!(store.dispatched().0, 6);
    assert_eq!(store.queue_offsets("Rep", 0).1, QueueOffset(5));
}

#[test]
fn an_entry_dispatched_again_after_failing_part_way_is_not_doubled() {
    use raftmq_store::commitlog::NewEntry;
    use raftmq_store::record::entry::EntryKind;

    let dir = tempfile::tempdir().expect("tempdir");
    let (faults, cfg) = four_index_entries_per_file(dir.path());
    let store = open_replicated_with(&faults, cfg);
    let msgs = [msg("Rep", 0, 0), msg("Rep", 0, 1)];
    let body = store.encode_batch(&msgs, usize::MAX).expect("encode");
    let entry = NewEntry {
        index: 1,
        term: 1,
        kind: EntryKind::Messages,
        body: &body,
        crc: None,
    };
    store.append_entries(&[entry]).expect("append");
    faults.set_crash_point(Some("key-index:roll"));
    store.dispatch_to(1).expect_err("fails at the index roll");
    assert_eq!(
        store.queue_offsets("Rep", 0).1,
        QueueOffset(2),
        "the queue took both"
    );

    let applied = store.dispatch_to(1).expect("dispatched again");
    let offsets: Vec<u64> = applied.iter().map(|r| r.queue_offset.0).collect();
    assert_eq!(offsets, vec![0, 1]);
    assert_eq!(store.queue_offsets("Rep", 0).1, QueueOffset(2));
    for (n, m) in msgs.iter().enumerate() {
        for key in &m.keys {
            let found = store.query_by_key("Rep", key, 10).expect("by key");
            assert_eq!(found.len(), 1, "{key}: {found:?}");
        }
        let read = store.read_message("Rep", 0, QueueOffset(n as u64));
        assert_eq!(read.expect("read").to_message().expect("decode"), *m);
        assert!(store.query_by_id(&m.message_id).expect("by id").is_some());
    }
}

#[test]
fn a_replicated_store_never_dispatches_twice_after_losing_its_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let open_replicated = || open_replicated_at(dir.path());
    {
        let store = open_replicated();
        append_message_entries(&store, 1, 5, 0, 1);
        store.dispatch_to(2).expect("dispatch");
        // No flush: the dispatch checkpoint never gets written.
    }
    let store = open_replicated();
    assert_eq!(
        store.dispatched().0,
        3,
        "entries the queues hold count as dispatched"
    );
    assert_eq!(store.queue_offsets("Rep", 1).1, QueueOffset(3));
    let next = store.dispatch_to(4).expect("dispatch the rest");
    assert_eq!(
        next.iter().map(|r| r.queue_offset.0).collect::<Vec<_>>(),
        vec![3, 4]
    );
}

#[test]
fn a_snapshot_of_retained_entries_installs_with_the_same_queue_offsets() {
    let leader_dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults::default();
    let leader = open_with(&faults, config(leader_dir.path()));
    let mut model = Model::new();
    for n in 0..200u64 {
        put_all(&leader, &[msg("S", (n % 2) as u32, n)], &mut model);
    }
    leader.flush().expect("flush");
    age_segments(leader_dir.path(), 3, Duration::from_secs(73 * 3600));
    let out = leader
        .delete_expired(SystemTime::now(), Some(HourOrManual::Manual))
        .expect("retention");
    assert_eq!(out.segments_deleted, 3);

    let plan = leader.snapshot_plan();
    let b = leader.commitlog().bounds();
    assert_eq!(plan.start_index, b.start_index);
    let mut records = Vec::new();
    for e in leader
        .commitlog()
        .read_range(b.start_index, b.next_index)
        .expect("read")
    {
        records.extend_from_slice(&e.bytes);
    }

    let follower_dir = tempfile::tempdir().expect("tempdir");
    let open_follower = || open_replicated_at(follower_dir.path());
    let follower = open_follower();
    let last = follower.install_snapshot(&plan, &records).expect("install");
    assert_eq!(last, Some(b.next_index - 1));
    let same = |f: &MessageStore| {
        for q in 0..2u32 {
            assert_eq!(
                f.queue_offsets("S", q),
                leader.queue_offsets("S", q),
                "queue {q} offsets"
            );
            let (min, _) = leader.queue_offsets("S", q);
            let mine = f
                .read_messages("S", q, min, usize::MAX, &TagFilter::All)
                .expect("read");
            let theirs = leader
                .read_messages("S", q, min, usize::MAX, &TagFilter::All)
                .expect("read");
            let bodies = |b: &raftmq_store::message_store::ReadBatch| {
                b.messages
                    .iter()
                    .map(|m| (m.queue_offset, m.to_message().expect("decode")))
                    .collect::<Vec<_>>()
            };
            assert_eq!(bodies(&mine), bodies(&theirs), "queue {q} contents");
        }
    };
    same(&follower);
    assert!(
        leader.queue_offsets("S", 0).0 .0 > 0,
        "retention moved the queue start"
    );
    // The queue starts survive a restart of the member.
    follower.flush().expect("flush");
    drop(follower);
    same(&open_follower());
}

#[test]
fn topics_and_offsets_survive_restarts_and_crashes() {
    use raftmq_store::meta_state::{Command, Perm, TopicConfig};

    let dir = tempfile::tempdir().expect("tempdir");
    let topic = |q| Command::UpsertTopic {
        topic: "Orders".parse().expect("legal"),
        config: TopicConfig {
            read_queues: q,
            write_queues: q,
            perm: Perm::READ_WRITE,
            message_type: Default::default(),
        },
    };
    let commit = |o| Command::CommitOffsets {
        group: "g".parse().expect("legal"),
        offsets: vec![("Orders".parse().expect("legal"), 0, o)],
    };
    {
        let store = open(dir.path());
        testing::put_command(&store, &topic(4)).expect("command");
        testing::put_command(&store, &commit(5)).expect("command");
        store.flush().expect("flush");
        // After the last checkpoint: must come back by replay.
        testing::put_command(&store, &topic(8)).expect("command");
        testing::put_command(&store, &commit(9)).expect("command");
    }
    let store = open(dir.path());
    // Past the checkpoint, Raft applies the committed entries again.
    assert_eq!(store.topic("Orders").map(|c| c.read_queues), Some(4));
    testing::apply_committed(&store).expect("apply");
    assert_eq!(store.topic("Orders").map(|c| c.read_queues), Some(8));
    assert_eq!(store.consumer_offset("g", "Orders", 0), Some(9));
    testing::put_command(
        &store,
        &Command::DeleteTopic {
            topic: "Orders".parse().expect("legal"),
        },
    )
    .expect("command");
    store.close().expect("close");
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.topic("Orders"), None);
    assert_eq!(store.consumer_offset("g", "Orders", 0), None);
}

#[test]
fn groups_survive_restarts_and_crashes() {
    use raftmq_store::meta_state::{Command, GroupRetryPolicy, SubscriptionGroupConfig};

    let dir = tempfile::tempdir().expect("tempdir");
    let upsert = |retries| Command::UpsertGroup {
        group: "g".parse().expect("legal"),
        config: SubscriptionGroupConfig {
            retry_max_times: retries,
            retry_policy: GroupRetryPolicy::default_exponential(),
            ..Default::default()
        },
    };
    {
        let store = open(dir.path());
        testing::put_command(&store, &upsert(2)).expect("command");
        store.flush().expect("flush");
        // After the last checkpoint: must come back by replay.
        testing::put_command(&store, &upsert(5)).expect("command");
    }
    let store = open(dir.path());
    assert_eq!(store.group("g").map(|c| c.retry_max_times), Some(2));
    testing::apply_committed(&store).expect("apply");
    let g = store.group("g").expect("the group");
    assert_eq!(g.retry_max_times, 5);
    assert_eq!(g.retry_policy, GroupRetryPolicy::default_exponential());
    assert_eq!(store.groups().len(), 1);
    testing::put_command(
        &store,
        &Command::DeleteGroup {
            group: "g".parse().expect("legal"),
            remove_offsets: true,
        },
    )
    .expect("command");
    store.close().expect("close");
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.group("g"), None);
    assert!(store.groups().is_empty());
}
