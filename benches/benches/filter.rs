//! SQL92 filter benchmarks (issue 20): what the broker spends per scanned
//! message on a SQL92 subscription, without the store around it.
//! - compiling a typical expression (once per receive call)
//! - evaluating it against six properties: a match, a miss, and a richer
//!   expression (IN, BETWEEN, TAGS)
//! - decoding a 1 KiB message record and evaluating against its view, as
//!   the store's read does for every entry it passes
//!
//! Run: `cargo bench -p raftmq-benches --bench filter`.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use raftmq_filter::{Properties, SqlFilter};
use raftmq_store::record::message::{Message, MessageView};

const SIMPLE: &str = "match = 'yes' AND region = 'us'";
const RICH: &str = "region IN ('eu', 'ap', 'us') AND amount BETWEEN 100 AND 500 AND TAGS = 'TagA'";

fn properties(hit: bool) -> Vec<(&'static str, &'static str)> {
    vec![
        ("region", "us"),
        ("tier", "gold"),
        ("amount", "250"),
        ("customer", "c-000123"),
        ("TAGS", "TagA"),
        ("match", if hit { "yes" } else { "no" }),
    ]
}

/// The broker's view of a record's properties (as in
/// broker/src/messaging/filter.rs): user properties, and the tag as TAGS.
struct View<'v, 'a>(&'v MessageView<'a>);

impl Properties for View<'_, '_> {
    fn property(&self, name: &str) -> Option<&str> {
        if name == "TAGS" {
            return self.0.tag();
        }
        self.0
            .properties()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

fn record(hit: bool) -> Bytes {
    let mut m = Message::new("Sql92Bench".parse().expect("legal topic"));
    m.tag = Some("TagA".into());
    m.message_id = "0A0000010000000000000000000000AB".into();
    m.born_host = "127.0.0.1:50000".into();
    m.store_host = "127.0.0.1:30911".into();
    m.keys = vec!["k1".into()];
    m.body = Bytes::from(vec![b'x'; 1024]);
    m.properties = properties(hit)
        .into_iter()
        .filter(|(k, _)| *k != "TAGS")
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    m.encode_to_bytes().expect("encodes")
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sql92");
    g.throughput(Throughput::Elements(1));
    g.bench_function("compile", |b| {
        b.iter(|| SqlFilter::compile(black_box(RICH)).expect("compiles"))
    });
    let simple = SqlFilter::compile(SIMPLE).expect("compiles");
    let rich = SqlFilter::compile(RICH).expect("compiles");
    let (hit, miss) = (properties(true), properties(false));
    g.bench_function("evaluate/match", |b| {
        b.iter(|| simple.matches(black_box(&hit[..])))
    });
    g.bench_function("evaluate/miss", |b| {
        b.iter(|| simple.matches(black_box(&miss[..])))
    });
    g.bench_function("evaluate/rich", |b| {
        b.iter(|| rich.matches(black_box(&hit[..])))
    });
    let rec = record(false);
    g.bench_function("decode+evaluate/1KiB-record", |b| {
        b.iter(|| {
            let v = MessageView::decode(black_box(&rec)).expect("decodes");
            simple.matches(&View(&v))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
