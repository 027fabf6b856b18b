//! Connecting to an IMAP server: `imaps://` (TLS from the first byte) or `imap://` with
//! STARTTLS when the server offers it, certificates checked by rustls against the system's
//! roots plus the mailbox's `ca_file`, then LOGIN.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::{Client, Session};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::ImapError;
use crate::config::Mailbox;

/// Every IMAP command gets this long; IDLE has its own timeout.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A plain or TLS connection, so one session type serves both.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A logged-in session.
pub(crate) type ImapSession = Session<Stream>;

/// Where to connect, parsed from the mailbox URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) implicit_tls: bool,
}

impl Endpoint {
    pub(crate) fn parse(url: &str) -> Result<Endpoint, ImapError> {
        let (implicit_tls, rest) = match url.split_once("://") {
            Some(("imaps", rest)) => (true, rest),
            Some(("imap", rest)) => (false, rest),
            _ => {
                return Err(ImapError::Config(format!(
                    "url \"{url}\" must start with imap:// or imaps://"
                )));
            }
        };
        let authority = rest.split('/').next().unwrap_or(rest);
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (
                host.to_owned(),
                port.parse().map_err(|_| {
                    ImapError::Config(format!("\"{port}\" in \"{url}\" is not a port"))
                })?,
            ),
            None => (authority.to_owned(), if implicit_tls { 993 } else { 143 }),
        };
        Ok(Endpoint {
            host,
            port,
            implicit_tls,
        })
    }
}

/// The password: from the variable `password_env`, else the file `password_file`.
pub(crate) fn password(mailbox: &Mailbox) -> Result<String, ImapError> {
    if !mailbox.password_env.is_empty()
        && let Ok(password) = std::env::var(&mailbox.password_env)
    {
        return Ok(password);
    }
    if !mailbox.password_file.is_empty() {
        return std::fs::read_to_string(&mailbox.password_file)
            .map(|p| p.trim_end_matches(['\r', '\n']).to_owned())
            .map_err(|e| {
                ImapError::Config(format!("password_file {}: {e}", mailbox.password_file))
            });
    }
    Err(ImapError::Config(format!(
        "no password: set the variable {} or password_file",
        if mailbox.password_env.is_empty() {
            "named by password_env"
        } else {
            &mailbox.password_env
        }
    )))
}

/// rustls with the ring provider (explicitly: another provider in the build would make the
/// default ambiguous), trusting the usual roots plus `ca_file`.
pub(crate) fn tls_config(ca_file: &str) -> Result<Arc<rustls::ClientConfig>, ImapError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if !ca_file.is_empty() {
        let certificates = CertificateDer::pem_file_iter(ca_file)
            .map_err(|e| ImapError::Config(format!("ca_file {ca_file}: {e}")))?;
        for certificate in certificates {
            let certificate =
                certificate.map_err(|e| ImapError::Config(format!("ca_file {ca_file}: {e}")))?;
            roots
                .add(certificate)
                .map_err(|e| ImapError::Config(format!("ca_file {ca_file}: {e}")))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ImapError::Config(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Runs one IMAP step under the command timeout, naming the step in any error.
pub(crate) async fn timed<T, E: std::fmt::Display>(
    what: &str,
    future: impl Future<Output = Result<T, E>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(ImapError::Server(format!("{what}: {e}"))),
        Err(_) => Err(ImapError::Server(format!(
            "{what}: no answer within {} s",
            COMMAND_TIMEOUT.as_secs()
        ))),
    }
}

async fn start_tls(
    endpoint: &Endpoint,
    config: Arc<rustls::ClientConfig>,
    tcp: TcpStream,
) -> Result<Stream, ImapError> {
    let name = ServerName::try_from(endpoint.host.clone())
        .map_err(|e| ImapError::Config(format!("\"{}\" is not a host name: {e}", endpoint.host)))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let tls = tokio::time::timeout(COMMAND_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| ImapError::Server("TLS handshake timed out".into()))?
        .map_err(|e| {
            ImapError::Tls(format!(
                "TLS with {}:{} failed: {e}",
                endpoint.host, endpoint.port
            ))
        })?;
    Ok(Stream::Tls(Box::new(tls)))
}

/// Connects, secures and logs in.
pub(crate) async fn connect(mailbox: &Mailbox) -> Result<ImapSession, ImapError> {
    let endpoint = Endpoint::parse(&mailbox.url)?;
    let password = password(mailbox)?;
    let config = tls_config(&mailbox.ca_file)?;
    let tcp = timed(
        "connect",
        TcpStream::connect((endpoint.host.as_str(), endpoint.port)),
    )
    .await?;
    let _ = tcp.set_nodelay(true);
    let stream = if endpoint.implicit_tls {
        start_tls(&endpoint, config.clone(), tcp).await?
    } else {
        Stream::Plain(tcp)
    };
    let mut client = Client::new(stream);
    // The server speaks first; its greeting must be read before any command.
    timed("greeting", async {
        client.read_response().await.map_err(|e| e.to_string())
    })
    .await?;
    if !endpoint.implicit_tls {
        // STARTTLS when the server takes it; a server that refuses stays in plain text
        // (the admin chose imap://, not imaps://).
        if timed("STARTTLS", async {
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .is_ok()
        {
            let Stream::Plain(tcp) = client.into_inner() else {
                return Err(ImapError::Server("STARTTLS on a TLS connection".into()));
            };
            client = Client::new(start_tls(&endpoint, config, tcp).await?);
        } else {
            tracing::warn!(mailbox = %mailbox.name, "The server refused STARTTLS; logging in without TLS.");
        }
    }
    match tokio::time::timeout(COMMAND_TIMEOUT, client.login(&mailbox.username, &password)).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err((e, _client))) => Err(ImapError::Login(format!(
            "login as {} failed: {e}",
            mailbox.username
        ))),
        Err(_) => Err(ImapError::Server("LOGIN: no answer".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::Endpoint;

    #[test]
    fn urls_give_host_port_and_tls() {
        assert_eq!(
            Endpoint::parse("imaps://127.0.0.1:10993").unwrap(),
            Endpoint {
                host: "127.0.0.1".into(),
                port: 10993,
                implicit_tls: true
            }
        );
        assert_eq!(
            Endpoint::parse("imap://mail.example.com").unwrap().port,
            143
        );
        assert!(Endpoint::parse("pop3://x").is_err());
        assert!(Endpoint::parse("imap://x:port").is_err());
    }
}
