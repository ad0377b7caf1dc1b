//! The launchers (`bin/mq*` and `fast-try.sh`'s build step) all build the
//! same release binaries with one cargo invocation: cargo unifies features
//! per invocation, so a launcher building a subset would compile the
//! dependencies again and replace the binaries the others run. Checked
//! with a stand-in `cargo` on PATH that records its arguments and "builds"
//! scripts that print their own name, so nothing is compiled.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use raftmq_tests::repo_root;

/// Writes an executable shell script.
fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/usr/bin/env bash\n{body}")).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A stand-in cargo in `dir/fake`: appends its arguments to `dir/calls`,
/// one line per call, and puts a script for every `--bin` into
/// `$CARGO_TARGET_DIR/release`.
fn fake_cargo(dir: &Path) {
    let fake = dir.join("fake");
    std::fs::create_dir_all(&fake).expect("mkdir");
    script(
        &fake.join("cargo"),
        r#"printf '%s\n' "$*" >>"$CALLS"
mkdir -p "$CARGO_TARGET_DIR/release"
while (($#)); do
  if [[ $1 == --bin ]]; then
    printf '#!/usr/bin/env bash\necho "%s $*"\n' "$2" >"$CARGO_TARGET_DIR/release/$2"
    chmod +x "$CARGO_TARGET_DIR/release/$2"
  fi
  shift
done
"#,
    );
}

/// Runs `command` (a bash command line) with the stand-in cargo first on
/// PATH; returns its stdout and the cargo calls it made.
fn run(dir: &Path, command: &str) -> (String, Vec<String>) {
    let calls = dir.join("calls");
    let _ = std::fs::remove_file(&calls);
    let path = format!(
        "{}:{}",
        dir.join("fake").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(command)
        .current_dir(repo_root())
        .env("PATH", path)
        .env("CALLS", &calls)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("RAFTMQ_BIN_DIR")
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "{command} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = std::fs::read_to_string(&calls).unwrap_or_default();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        calls.lines().map(str::to_owned).collect(),
    )
}

#[test]
fn every_launcher_builds_all_binaries_in_one_identical_cargo_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    fake_cargo(dir.path());
    let launchers = [
        ("bin/mqnamesrv -c x", "mqnamesrv -c x"),
        ("bin/mqbroker --check", "mqbroker --check"),
        ("bin/mqadmin clusterList", "mqadmin clusterList"),
        // fast-try.sh's build step, without starting anything.
        (
            "raftmq_home=$PWD; . bin/lib/launcher.sh; raftmq_build; echo built",
            "built",
        ),
    ];
    let mut first: Option<String> = None;
    for (command, printed) in launchers {
        let (stdout, calls) = run(dir.path(), command);
        assert_eq!(stdout.trim(), printed, "{command} ran the wrong thing");
        assert_eq!(calls.len(), 1, "{command} called cargo {calls:?}");
        let call = &calls[0];
        for bin in ["mqnamesrv", "mqbroker", "mqadmin"] {
            assert!(
                call.contains(&format!("--bin {bin}")),
                "{command} built without {bin}: {call}"
            );
        }
        assert!(call.starts_with("build --release --locked"), "{call}");
        match &first {
            None => first = Some(call.clone()),
            Some(f) => assert_eq!(call, f, "{command} builds another set than the others"),
        }
    }
    // fast-try.sh builds through launcher.sh, with nothing of its own.
    let fast_try =
        std::fs::read_to_string(repo_root().join("bin/dledger/fast-try.sh")).expect("read");
    assert!(
        !fast_try.contains("cargo build"),
        "fast-try.sh calls cargo itself"
    );
    assert!(
        fast_try.contains("raftmq_build\n"),
        "fast-try.sh no longer builds first"
    );
}
