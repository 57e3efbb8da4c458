//! Compiles `proto/` into the server's service traits only: the messages
//! live in `mailadmin-client` (one set of types, shared through
//! `extern_path`). Also writes the descriptor set that gRPC reflection
//! serves. Uses `protox`, so no system `protoc` is needed.

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("proto");
    let files = proto_files(&proto_root.join("mailadmin/v1"))?;
    let mut compiler = protox::Compiler::new([&proto_root])?;
    compiler
        .include_imports(true)
        .include_source_info(true)
        .open_files(&files)?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("mailadmin_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(false)
        .extern_path(".mailadmin.v1", "::mailadmin_client::pb")
        .compile_fds(compiler.file_descriptor_set())?;
    println!("cargo:rerun-if-changed={}", proto_root.display());
    Ok(())
}

fn proto_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|ext| ext == "proto"));
    files.sort();
    Ok(files)
}
