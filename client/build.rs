//! Compiles `proto/` (at the workspace root) into the messages and client
//! stubs this crate owns. Uses `protox`, so no system `protoc` is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto");
    let files = proto_files(&proto_root.join("mailadmin/v1"))?;
    let mut compiler = protox::Compiler::new([&proto_root])?;
    compiler
        .include_imports(true)
        .include_source_info(true)
        .open_files(&files)?;
    // For the CLI's JSON output (the proto's own JSON mapping, by reflection).
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("mailadmin_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    let fds = compiler.file_descriptor_set();
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        // Its Debug (in lib.rs) leaves the private key out of logs.
        .skip_debug([".mailadmin.v1.SigningKey"])
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed={}", proto_root.display());
    Ok(())
}

fn proto_files(dir: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|ext| ext == "proto"));
    files.sort();
    Ok(files)
}
