use super::*;

#[derive(Debug)]
struct Item {
    key: QueueKey,
    size: usize,
    ordered: bool,
    n: usize,
}

impl Pending for Item {
    fn key(&self) -> &QueueKey {
        &self.key
    }
    fn size(&self) -> usize {
        self.size
    }
    fn ordered(&self) -> bool {
        self.ordered
    }
}

fn key(q: i32) -> QueueKey {
    QueueKey {
        topic: Arc::from("T"),
        queue_id: q,
    }
}

fn item(q: i32, n: usize) -> Item {
    Item {
        key: key(q),
        size: 100,
        ordered: false,
        n,
    }
}

fn limits(max_messages: usize, max_bytes: usize) -> BatchLimits {
    BatchLimits {
        max_messages,
        max_bytes,
        max_in_flight: 4,
    }
}

fn ns(b: &Batch<Item>) -> Vec<usize> {
    b.items.iter().map(|i| i.n).collect()
}

#[test]
fn a_batch_takes_every_queue_of_its_topic_each_in_order() {
    let mut b = Batcher::new(limits(256, 1 << 20));
    for n in 0..10 {
        b.push(item((n % 2) as i32, n));
    }
    b.push(Item {
        key: QueueKey {
            topic: Arc::from("U"),
            queue_id: 0,
        },
        ..item(0, 10)
    });
    assert_eq!(b.len(), 11);
    let first = b.next_batch().unwrap();
    assert_eq!(first.keys, [key(0), key(1)]);
    assert_eq!(ns(&first), [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]);
    let second = b.next_batch().unwrap();
    assert_eq!(&**second.topic(), "U", "another topic, another request");
    assert_eq!(ns(&second), [10]);
    assert!(b.next_batch().is_none());
    assert!(b.is_empty());
}

#[test]
fn batches_are_bounded_by_count_and_bytes() {
    let mut b = Batcher::new(limits(3, 1 << 20));
    for n in 0..7 {
        b.push(item(0, n));
    }
    let sizes: Vec<usize> = std::iter::from_fn(|| b.next_batch().map(|x| x.items.len())).collect();
    assert_eq!(sizes, [3, 3, 1]);

    let mut b = Batcher::new(limits(100, 250));
    for n in 0..5 {
        b.push(item(0, n));
    }
    let sizes: Vec<usize> = std::iter::from_fn(|| b.next_batch().map(|x| x.items.len())).collect();
    assert_eq!(sizes, [2, 2, 1]);
}

#[test]
fn a_batch_can_be_capped_below_the_limits_but_takes_at_least_one() {
    let mut b = Batcher::new(limits(256, 1 << 20));
    for n in 0..10 {
        b.push(item(0, n));
    }
    assert_eq!(ns(&b.next_batch_of(4).unwrap()), [0, 1, 2, 3]);
    assert_eq!(ns(&b.next_batch_of(0).unwrap()), [4]);
    assert_eq!(ns(&b.next_batch_of(usize::MAX).unwrap()), [5, 6, 7, 8, 9]);
    assert!(b.next_batch_of(4).is_none());

    // FIFO sends (and explicit batches) are not split by the cap.
    for n in 0..10 {
        b.push(Item {
            ordered: true,
            ..item(1, n)
        });
    }
    assert_eq!(b.next_batch_of(4).unwrap().items.len(), 10);
}

#[test]
fn an_oversized_message_goes_alone() {
    let mut b = Batcher::new(limits(100, 250));
    b.push(Item {
        size: 1_000,
        ..item(0, 0)
    });
    b.push(item(0, 1));
    assert_eq!(ns(&b.next_batch().unwrap()), [0]);
    assert_eq!(ns(&b.next_batch().unwrap()), [1]);
}

#[test]
fn the_queue_waiting_longest_goes_first() {
    let mut b = Batcher::new(limits(2, 1 << 20));
    b.push(item(5, 0));
    b.push(item(1, 1));
    b.push(item(5, 2));
    assert_eq!(b.next_batch().unwrap().keys, [key(5)]);
    assert_eq!(b.next_batch().unwrap().keys, [key(1)]);
}

#[test]
fn a_fifo_batch_in_flight_holds_back_its_queue_only() {
    let mut b = Batcher::new(limits(256, 1 << 20));
    b.push(Item {
        ordered: true,
        ..item(0, 0)
    });
    let first = b.next_batch().unwrap();
    assert_eq!(first.busy, [key(0)]);
    b.push(item(0, 1));
    b.push(item(1, 2));
    let other = b.next_batch().unwrap();
    assert_eq!(other.keys, [key(1)]);
    assert!(other.busy.is_empty());
    assert!(b.next_batch().is_none(), "queue 0 waits for its FIFO batch");
    b.done(&first.busy);
    assert_eq!(ns(&b.next_batch().unwrap()), [1]);
}

#[test]
fn unordered_batches_may_overlap_on_one_queue() {
    let mut b = Batcher::new(limits(1, 1 << 20));
    b.push(item(0, 0));
    b.push(item(0, 1));
    assert!(b.next_batch().is_some());
    assert!(b.next_batch().is_some());
}

#[test]
fn drain_takes_everything() {
    let mut b = Batcher::new(limits(256, 1 << 20));
    for n in 0..4 {
        b.push(item(n as i32, n));
    }
    assert_eq!(b.drain().len(), 4);
    assert!(b.is_empty() && b.next_batch().is_none());
}

#[test]
fn fifo_queues_share_a_request_and_each_waits_for_it() {
    let mut b = Batcher::new(limits(256, 1 << 20));
    for n in 0..4 {
        b.push(Item {
            ordered: true,
            ..item((n % 2) as i32, n)
        });
    }
    let first = b.next_batch().unwrap();
    assert_eq!(ns(&first), [0, 2, 1, 3]);
    assert_eq!(first.busy, [key(0), key(1)]);
    b.push(Item {
        ordered: true,
        ..item(1, 4)
    });
    assert!(b.next_batch().is_none(), "both queues wait");
    b.done(&first.busy);
    assert_eq!(ns(&b.next_batch().unwrap()), [4]);
}
