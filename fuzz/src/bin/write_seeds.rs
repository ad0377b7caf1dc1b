//! Writes the seed corpus of every fuzz target: a few valid encodings from
//! the checks' own examples, as `corpus/TARGET/seed-N`. Run from `fuzz/`
//! after `cargo +nightly fuzz build`:
//! `target/x86_64-unknown-linux-gnu/release/write_seeds corpus`.

use std::path::Path;

use prost::Message;
use raftmq_proto::rocketmq::v2;

#[allow(dead_code)]
#[path = "../../../store/tests/decode_checks/mod.rs"]
mod store_checks;

#[allow(dead_code)]
#[path = "../../../raft/tests/decode_checks/mod.rs"]
mod raft_checks;

#[allow(dead_code)]
#[path = "../../../broker/tests/decode_checks/mod.rs"]
mod broker_checks;

#[allow(dead_code)]
#[path = "../../../cli/tests/decode_checks/mod.rs"]
mod cli_checks;

#[allow(dead_code)]
#[path = "../../../filter/tests/decode_checks/mod.rs"]
mod filter_checks;

fn write(root: &Path, target: &str, seeds: Vec<Vec<u8>>) -> std::io::Result<()> {
    let dir = root.join(target);
    std::fs::create_dir_all(&dir)?;
    for (i, s) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i}")), s)?;
    }
    println!("{target}: {} seeds", seeds.len());
    Ok(())
}

fn main() -> std::io::Result<()> {
    // Not a fuzz target: refuse libFuzzer's flags (`cargo fuzz run write_seeds`).
    let root = match std::env::args().nth(1) {
        None => "corpus".to_owned(),
        Some(dir) if !dir.starts_with('-') => dir,
        Some(_) => {
            return Err(std::io::Error::other(
                "usage: write_seeds [CORPUS_DIR]; this is not a fuzz target",
            ))
        }
    };
    let root = Path::new(&root);
    write(root, "record_message", store_checks::valid_records())?;
    write(root, "record_entry", store_checks::valid_entries())?;

    let entries = raft_checks::valid_entries();
    let mut records = Vec::new();
    for n in [1, entries.len()] {
        let mut seed = u32::try_from(n).unwrap_or(0).to_le_bytes().to_vec();
        seed.extend_from_slice(&raftmq_raft::codec::encode_records(&entries[..n]));
        records.push(seed);
    }
    write(root, "raft_records", records)?;
    let requests = [
        raft_checks::valid_request(&[]),
        raft_checks::valid_request(&entries),
    ];
    write(
        root,
        "raft_append",
        requests.iter().map(|r| r.encode_to_vec()).collect(),
    )?;
    let mut membership = vec![0u8];
    membership.extend_from_slice(&raftmq_raft::codec::encode_membership(
        &raft_checks::members(),
    ));
    let mut plan = vec![1u8];
    plan.extend_from_slice(
        &raftmq_raft::codec::encode_plan(&raft_checks::valid_plan())
            .map_err(|e| std::io::Error::other(e.to_string()))?,
    );
    write(root, "raft_membership", vec![membership, plan])?;

    let messages = broker_checks::valid_messages();
    let sends = vec![
        v2::SendMessageRequest {
            messages: messages[..1].to_vec(),
        }
        .encode_to_vec(),
        v2::SendMessageRequest { messages }.encode_to_vec(),
    ];
    write(root, "send_request", sends)?;
    write(
        root,
        "receipt",
        broker_checks::valid_receipts()
            .into_iter()
            .map(String::into_bytes)
            .collect(),
    )?;
    let mut confs: Vec<Vec<u8>> = cli_checks::valid_texts()
        .into_iter()
        .map(|t| t.as_bytes().to_vec())
        .collect();
    confs.push(broker_checks::valid_confs()[0].as_bytes().to_vec());
    write(root, "conf", confs)?;
    write(
        root,
        "sql_filter",
        filter_checks::valid_texts()
            .into_iter()
            .map(|t| t.as_bytes().to_vec())
            .collect(),
    )?;
    Ok(())
}
