//! Delivery through an SMTP relay with lettre: `smtp://` (STARTTLS when offered, and
//! required when we log in), `smtps://`, optional AUTH, pooled connections. Replies decide: 5xx is permanent, everything else
//! (4xx, refused connection, timeout) is worth another try.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransport, PoolConfig};
use lettre::{AsyncTransport, Tokio1Executor};

use super::worker::DeliveryError;
use crate::config::Outbound;

/// The relay and our envelope sender.
#[derive(Clone)]
pub struct SmtpTransport {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::Address,
}

impl std::fmt::Debug for SmtpTransport {
    // The transport holds credentials: show only the sender.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpTransport")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl SmtpTransport {
    /// Builds the transport from `[outbound]`; the password comes from its variable.
    pub fn new(outbound: &Outbound) -> Result<SmtpTransport, String> {
        let (implicit_tls, rest) = match outbound.smtp_url.split_once("://") {
            Some(("smtps", rest)) => (true, rest),
            Some(("smtp", rest)) => (false, rest),
            _ => {
                return Err(format!(
                    "outbound.smtp_url \"{}\" must start with smtp:// or smtps://",
                    outbound.smtp_url
                ));
            }
        };
        let authority = rest.split('/').next().unwrap_or(rest);
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (
                host.to_owned(),
                port.parse::<u16>()
                    .map_err(|_| format!("outbound.smtp_url: \"{port}\" is not a port"))?,
            ),
            None => (authority.to_owned(), if implicit_tls { 465 } else { 25 }),
        };
        let mut parameters = TlsParameters::builder(host.clone());
        if let Some(ca_file) = &outbound.ca_file {
            let pem = std::fs::read(ca_file)
                .map_err(|e| format!("outbound.ca_file {}: {e}", ca_file.display()))?;
            let certificate = Certificate::from_pem(&pem)
                .map_err(|e| format!("outbound.ca_file {}: {e}", ca_file.display()))?;
            parameters = parameters.add_root_certificate(certificate);
        }
        let parameters = parameters
            .build_rustls()
            .map_err(|e| format!("TLS for the SMTP relay: {e}"))?;
        let login = !outbound.smtp_username.is_empty();
        let tls = if implicit_tls {
            Tls::Wrapper(parameters)
        } else if login {
            // A password never crosses the wire in the clear: without STARTTLS, no delivery.
            Tls::Required(parameters)
        } else {
            Tls::Opportunistic(parameters)
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(30)))
            .pool_config(PoolConfig::new().max_size(32));
        if login {
            let password = std::env::var(&outbound.smtp_password_env).map_err(|_| {
                format!(
                    "outbound.smtp_username is set but the variable {} holding the password is not",
                    outbound.smtp_password_env
                )
            })?;
            builder =
                builder.credentials(Credentials::new(outbound.smtp_username.clone(), password));
        }
        let from = outbound
            .from_address
            .parse()
            .map_err(|e| format!("outbound.from \"{}\": {e}", outbound.from))?;
        Ok(SmtpTransport {
            transport: builder.build(),
            from,
        })
    }

    /// Hands one message to the relay.
    pub async fn deliver(&self, recipient: &str, body: &[u8]) -> Result<(), DeliveryError> {
        let to: lettre::Address = recipient
            .parse()
            .map_err(|e| DeliveryError::Permanent(format!("recipient \"{recipient}\": {e}")))?;
        let envelope = Envelope::new(Some(self.from.clone()), vec![to])
            .map_err(|e| DeliveryError::Permanent(e.to_string()))?;
        match self.transport.send_raw(&envelope, body).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(DeliveryError::Permanent(e.to_string())),
            Err(e) => Err(DeliveryError::Temporary(e.to_string())),
        }
    }
}
