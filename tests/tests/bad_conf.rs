//! Bad conf files stop `mqbroker` and `mqnamesrv` at once, with one message
//! naming the file, line and key at fault, and nothing created on disk.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use raftmq_tests::{bin, free_ports, wait_for, MemberConf, Proc};

/// Runs a binary that must fail fast; returns its output.
fn run_failing(name: &str, args: &[&str], dir: &Path) -> Output {
    let log = dir.join(format!("{name}.log"));
    let mut cmd = Command::new(bin(name));
    cmd.args(args).env_remove("NAMESRV_ADDR");
    let mut p = Proc::spawn(name, cmd, &log);
    let status = wait_for(&format!("{name} to fail"), Duration::from_secs(20), || {
        p.exited()
    });
    assert!(
        !status.success(),
        "{name} started with a bad conf:\n{}",
        p.log()
    );
    Output {
        status,
        stdout: Vec::new(),
        stderr: p.log().into_bytes(),
    }
}

fn good_conf(dir: &Path, client: &[u16], raft: &[u16]) -> String {
    MemberConf {
        group: "RaftNode00",
        id: 0,
        client_ports: client,
        raft_ports: raft,
        namesrv: "127.0.0.1:9",
        store: &dir.join("store"),
    }
    .text()
}

/// Writes `text` to `broker.conf`, runs `mqbroker -c` on it, and checks
/// that it fails naming `expected` and created no store.
fn broker_refuses(text: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker.conf");
    std::fs::write(&path, text).unwrap();
    let out = run_failing("mqbroker", &["-c", path.to_str().unwrap()], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = expected.replace("FILE", path.to_str().unwrap());
    assert!(
        stderr.contains(&expected),
        "expected {expected:?} in:\n{stderr}"
    );
    assert!(
        !dir.path().join("store").exists(),
        "a refused conf created the store"
    );
}

#[test]
fn unknown_key_names_file_line_key_and_the_nearest_key() {
    let ports = free_ports(6);
    let dir = tempfile::tempdir().unwrap();
    let text = good_conf(dir.path(), &ports[..3], &ports[3..]) + "listenPrt=1\n";
    // The bad key is on the last line.
    let line = text.lines().count();
    broker_refuses(
        &text,
        &format!("FILE:{line}: unknown key `listenPrt`; did you mean `listenPort`?"),
    );
}

#[test]
fn bad_number_names_file_line_and_key() {
    let ports = free_ports(6);
    let dir = tempfile::tempdir().unwrap();
    let text = good_conf(dir.path(), &ports[..3], &ports[3..])
        .replace(&format!("listenPort={}", ports[0]), "listenPort=30x11");
    broker_refuses(&text, "FILE:3: listenPort:");
}

#[test]
fn missing_self_id_is_named() {
    let ports = free_ports(6);
    let dir = tempfile::tempdir().unwrap();
    let text = good_conf(dir.path(), &ports[..3], &ports[3..]).replace("dLegerSelfId=n0\n", "");
    broker_refuses(&text, "FILE: missing dLegerSelfId");
}

#[test]
fn self_id_outside_the_peers_is_named() {
    let ports = free_ports(6);
    let dir = tempfile::tempdir().unwrap();
    let text = good_conf(dir.path(), &ports[..3], &ports[3..])
        .replace("dLegerSelfId=n0", "dLegerSelfId=n7");
    broker_refuses(
        &text,
        "FILE:10: dLegerSelfId `n7` is not one of the peers n0, n1, n2",
    );
}

#[test]
fn a_client_port_in_use_is_named() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let ports = free_ports(5);
    let dir = tempfile::tempdir().unwrap();
    let text = good_conf(dir.path(), &[port, ports[0], ports[1]], &ports[2..]);
    broker_refuses(
        &text,
        &format!("cannot listen on 127.0.0.1:{port} (listenPort={port})"),
    );
}

#[test]
fn a_raft_port_in_use_is_named() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let ports = free_ports(5);
    let dir = tempfile::tempdir().unwrap();
    let text = good_conf(dir.path(), &ports[..3], &[port, ports[3], ports[4]]);
    broker_refuses(
        &text,
        &format!(
            "cannot listen on 127.0.0.1:{port} (the Raft port of dLegerSelfId n0 in dLegerPeers)"
        ),
    );
}

#[test]
fn check_flag_validates_without_starting() {
    let ports = free_ports(6);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker.conf");
    let text = good_conf(dir.path(), &ports[..3], &ports[3..]) + "brokerRole=SYNC_MASTER\n";
    let line = text.lines().count();
    std::fs::write(&path, &text).unwrap();
    let out = Command::new(bin("mqbroker"))
        .args(["--check", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:{line}: ", path.display())) && stderr.contains("brokerRole"),
        "the ignored key is not warned about:\n{stderr}"
    );
    assert!(
        !dir.path().join("store").exists(),
        "--check created the store"
    );
}

#[test]
fn the_stock_conf_files_pass_the_check() {
    for n in 0..3 {
        let path = raftmq_tests::repo_root().join(format!("conf/dledger/broker-n{n}.conf"));
        let out = Command::new(bin("mqbroker"))
            .args(["--check", "-c", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn nameserver_refuses_unknown_keys_and_ports_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("namesrv.conf");
    std::fs::write(&path, "listenPort=9876\nlistenPrt=1\n").unwrap();
    let out = run_failing("mqnamesrv", &["-c", path.to_str().unwrap()], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:2: unknown key `listenPrt`; did you mean `listenPort`?",
            path.display()
        )),
        "{stderr}"
    );

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    std::fs::write(&path, format!("listenPort={port}\nbindAddress=127.0.0.1\n")).unwrap();
    let out = run_failing("mqnamesrv", &["-c", path.to_str().unwrap()], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port} (listenPort)")),
        "{stderr}"
    );
}
