//! Compiles the API in `proto/` into Rust with a pure-Rust protobuf compiler, so that a build
//! needs no system `protoc`. The encoded descriptor set is kept for server reflection.

use std::{env, fs, path::PathBuf};

use protox::prost::Message as _;

const PROTO: &str = "proto/tradecoach/conversations/v1/conversations.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");

    let descriptors = protox::compile([PROTO], ["proto"])?;

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("conversations_descriptor.bin"), descriptors.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .codec_path("crate::codec::StrictProstCodec")
        .compile_fds(descriptors)?;

    Ok(())
}
