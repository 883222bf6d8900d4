//! The protobuf types and service stubs generated from `proto/` by `build.rs`.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

tonic::include_proto!("tradecoach.conversations.v1");

/// The encoded descriptors of the API, served by gRPC reflection so that grpcurl needs no
/// `.proto` file.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/conversations_descriptor.bin"));

/// The fully qualified service name, as health checks and reflection report it.
pub const SERVICE_NAME: &str = "tradecoach.conversations.v1.ConversationService";
