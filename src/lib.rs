//! conversation-service: the gRPC service that owns the chat conversations of the
//! trading-coach platform. See README.md for running it and docs/ for the design.

pub mod api;
pub mod auth;
pub mod codec;
pub mod config;
pub mod connection;
pub mod database;
pub mod domain;
pub mod embedded;
pub mod health;
pub mod limits;
pub mod observability;
pub mod pb;
pub mod secrets;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tls;
