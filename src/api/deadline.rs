//! The caller's deadline, from the `grpc-timeout` header that gRPC clients send, so that the
//! database stops working on a request as soon as its caller has stopped waiting.

use std::time::{Duration, Instant};

use tonic::Request;

use crate::auth::Caller;
use crate::store::Scope;

/// The store scope of a request: its caller, and its deadline when the client set one.
pub fn scope_of<T>(request: &Request<T>, caller: &Caller) -> Scope {
    let deadline = request
        .metadata()
        .get("grpc-timeout")
        .and_then(|value| value.to_str().ok())
        .and_then(parse_grpc_timeout)
        .map(|timeout| Instant::now() + timeout);
    Scope { user_id: caller.user_id, deadline }
}

/// Parses the gRPC wire form of a timeout: at most 8 digits and a unit, H, M, S, m, u or n.
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_of_the_grpc_timeout_header_is_understood() {
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse_grpc_timeout("9n"), Some(Duration::from_nanos(9)));
    }

    #[test]
    fn a_malformed_grpc_timeout_is_ignored() {
        for value in ["", "S", "123456789S", "10x", "-1S"] {
            assert_eq!(parse_grpc_timeout(value), None, "{value}");
        }
    }
}
