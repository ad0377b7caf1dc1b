//! Compiles every `.proto` file under `proto/` into Rust.
//!
//! Parsing is done in-process by `protox`, so no system `protoc` is needed; the
//! resulting `FileDescriptorSet` is handed to `tonic-build` for code generation.

use std::path::{Path, PathBuf};

const PROTO_ROOT: &str = "proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");

    let mut files = Vec::new();
    collect_protos(Path::new(PROTO_ROOT), &mut files)?;
    files.sort();

    let fds = protox::compile(&files, [PROTO_ROOT])?;

    tonic_build::configure()
        .build_server(true)
        .build_client(true)
        // `bytes` fields become `bytes::Bytes`, so large payloads (log entries,
        // snapshot data) are shared rather than copied on decode.
        .bytes(["."])
        .compile_fds(fds)?;
    Ok(())
}

/// Appends the path of every `.proto` file below `dir`, recursively.
fn collect_protos(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            out.push(path);
        }
    }
    Ok(())
}
