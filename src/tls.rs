//! TLS for the gRPC port: a server certificate, and with a client CA, mutual TLS that
//! requires every client to present a certificate signed by that CA.
//!
//! Kubernetes gRPC probes speak neither TLS nor mutual TLS, so with TLS on, health can be
//! served on a second, plaintext port that carries nothing but the health service.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

#[derive(Debug, Clone, Default, Args)]
pub struct TlsSettings {
    /// PEM certificate chain of the gRPC port; turns TLS on together with --tls-key-file.
    #[arg(long, env = "CONVERSATION_TLS_CERT_FILE", requires = "tls_key_file", global = true)]
    pub tls_cert_file: Option<PathBuf>,

    /// PEM private key of the certificate.
    #[arg(long, env = "CONVERSATION_TLS_KEY_FILE", requires = "tls_cert_file", global = true)]
    pub tls_key_file: Option<PathBuf>,

    /// PEM CA certificate(s) that sign client certificates; turns on mutual TLS, where every
    /// client must present a certificate.
    #[arg(
        long,
        env = "CONVERSATION_TLS_CLIENT_CA_FILE",
        requires = "tls_cert_file",
        global = true
    )]
    pub tls_client_ca_file: Option<PathBuf>,

    /// Plaintext address serving only grpc.health.v1, for probes that cannot do (mutual) TLS.
    #[arg(long, env = "CONVERSATION_HEALTH_LISTEN_ADDR", global = true)]
    pub health_listen_addr: Option<std::net::SocketAddr>,
}

/// Certificates read from disk, ready for the server.
#[derive(Clone)]
pub struct TlsMaterial {
    pub certificate_chain: Vec<u8>,
    pub private_key: Vec<u8>,
    pub client_ca: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("private_key", &"[redacted]")
            .field("mutual", &self.client_ca.is_some())
            .finish()
    }
}

impl TlsMaterial {
    /// The configured files, or `None` when TLS is off.
    pub fn load(settings: &TlsSettings) -> anyhow::Result<Option<Self>> {
        let (Some(cert), Some(key)) = (&settings.tls_cert_file, &settings.tls_key_file) else {
            return Ok(None);
        };
        Ok(Some(Self {
            certificate_chain: read(cert)?,
            private_key: read(key)?,
            client_ca: settings.tls_client_ca_file.as_deref().map(read).transpose()?,
        }))
    }

    pub fn server_config(&self) -> ServerTlsConfig {
        let identity = Identity::from_pem(&self.certificate_chain, &self.private_key);
        let config = ServerTlsConfig::new().identity(identity);
        match &self.client_ca {
            Some(ca) => {
                config.client_ca_root(Certificate::from_pem(ca)).client_auth_optional(false)
            }
            None => config,
        }
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}
