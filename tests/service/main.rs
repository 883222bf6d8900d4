//! Integration tests: a real server over a real socket, real tonic clients, and a real
//! PostgreSQL. See `support` for the world each test gets.

mod process;
mod steady_load;
mod support;

mod authorization;
mod bad_input;
mod concurrency;
mod connections;
mod conversations;
mod credentials;
mod filtering;
mod health;
mod idempotency;
mod isolation;
mod keys;
mod lifecycle;
mod limits;
mod listing;
mod lookup;
mod messages;
mod migrations;
mod observability;
mod outage;
mod rollout;
mod row_security;
mod search;
mod shutdown;
mod stats;
mod tls;
mod updates;
