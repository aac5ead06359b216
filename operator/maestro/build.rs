//! Compiles `proto/cloudevent.proto` with protox (a protobuf compiler in Rust, so a fresh machine
//! needs no `protoc`) into prost messages and a tonic client; the server side only for the
//! `double` feature.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/cloudevent.proto");
    let descriptors = protox::compile(["proto/cloudevent.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(std::env::var_os("CARGO_FEATURE_DOUBLE").is_some())
        .compile_fds(descriptors)?;
    Ok(())
}
