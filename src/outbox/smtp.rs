//! Delivery through an SMTP relay with lettre: `smtp://` (STARTTLS when offered, and
//! required when we log in), `smtps://`, optional AUTH. Replies decide: 5xx is permanent,
//! everything else (4xx, refused connection, timeout) is worth another try.
//!
//! Connections are kept here rather than in lettre's pool, which sends a NOOP before every
//! reuse and one command per round trip: five round trips a message. A connection used in
//! the last few seconds is reused as it is, and a relay that offers PIPELINING (RFC 2920)
//! gets MAIL, RCPT and DATA in one write: two round trips a message, which is what bounds a
//! connection's rate against a relay further away than loopback. The message and its final
//! dot always go in one write (see `data_block`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, Tls, TlsParameters};
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};

use super::worker::DeliveryError;
use crate::config::Outbound;

/// Connections kept open between messages (one per message in flight).
const KEEP: usize = super::worker::CONCURRENCY;

/// A connection idle longer than this is asked with NOOP whether it is still there before
/// a message goes through it; a younger one is used at once.
const FRESH: Duration = Duration::from_secs(5);

/// Connections idle longer than this are closed by [`SmtpTransport::close_idle`].
pub const IDLE_LIMIT: Duration = Duration::from_secs(30);

/// The relay and our envelope sender.
#[derive(Clone)]
pub struct SmtpTransport {
    relay: Arc<Relay>,
}

/// How to reach and greet the relay, and the connections open to it.
struct Relay {
    host: String,
    port: u16,
    tls: Tls,
    hello: ClientId,
    credentials: Option<Credentials>,
    timeout: Duration,
    from: lettre::Address,
    parked: Mutex<Vec<Parked>>,
}

/// An open connection waiting for the next message.
struct Parked {
    connection: Connection,
    since: Instant,
}

/// A logged-in connection and what its relay offers.
struct Connection {
    smtp: AsyncSmtpConnection,
    pipelining: bool,
}

impl std::fmt::Debug for SmtpTransport {
    // The relay holds credentials: show only the sender.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpTransport")
            .field("from", &self.relay.from)
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
        let credentials = if login {
            let password = std::env::var(&outbound.smtp_password_env).map_err(|_| {
                format!(
                    "outbound.smtp_username is set but the variable {} holding the password is not",
                    outbound.smtp_password_env
                )
            })?;
            Some(Credentials::new(outbound.smtp_username.clone(), password))
        } else {
            None
        };
        let from = outbound
            .from_address
            .parse()
            .map_err(|e| format!("outbound.from \"{}\": {e}", outbound.from))?;
        Ok(SmtpTransport {
            relay: Arc::new(Relay {
                host,
                port,
                tls,
                hello: ClientId::default(),
                credentials,
                timeout: Duration::from_secs(30),
                from,
                parked: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Hands one message to the relay.
    pub async fn deliver(&self, recipient: &str, body: &[u8]) -> Result<(), DeliveryError> {
        let to: lettre::Address = recipient
            .parse()
            .map_err(|e| DeliveryError::Permanent(format!("recipient \"{recipient}\": {e}")))?;
        let envelope = Envelope::new(Some(self.relay.from.clone()), vec![to])
            .map_err(|e| DeliveryError::Permanent(e.to_string()))?;
        let mut connection = self.relay.connection().await.map_err(classify)?;
        match connection.send(&envelope, body).await {
            Ok(()) => {
                self.relay.park(connection);
                Ok(())
            }
            Err(e) => {
                // lettre closes a connection on any error inside its own `send`; ours may
                // be mid-transaction, so it is closed here and never reused.
                connection.smtp.abort().await;
                Err(classify(e))
            }
        }
    }

    /// Closes (with QUIT) the connections that have waited longer than `limit`, so a quiet
    /// desk holds none of the relay's processes.
    pub async fn close_idle(&self, limit: Duration) {
        let stale: Vec<Parked> = {
            let mut parked = self.relay.lock();
            let (stale, keep) = parked.drain(..).partition(|p| p.since.elapsed() >= limit);
            *parked = keep;
            stale
        };
        for mut old in stale {
            let _ = old.connection.smtp.quit().await;
        }
    }
}

impl Relay {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Parked>> {
        // The list holds no invariant a panicking holder could break: take it as it is.
        self.parked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection ready for a message: the most recently used one, asked with NOOP only
    /// when it has waited long enough for the relay to have dropped it; else a new one.
    async fn connection(&self) -> Result<Connection, lettre::transport::smtp::Error> {
        loop {
            let parked = self.lock().pop();
            let Some(Parked {
                mut connection,
                since,
            }) = parked
            else {
                return self.connect().await;
            };
            if since.elapsed() < FRESH || connection.smtp.test_connected().await {
                return Ok(connection);
            }
            connection.smtp.abort().await;
        }
    }

    fn park(&self, connection: Connection) {
        let mut parked = self.lock();
        if parked.len() < KEEP {
            parked.push(Parked {
                connection,
                since: Instant::now(),
            });
        }
        // Beyond KEEP the connection is dropped, which closes it.
    }

    /// Connects, upgrades with STARTTLS where the settings say so, learns whether the relay
    /// pipelines, and logs in.
    async fn connect(&self) -> Result<Connection, lettre::transport::smtp::Error> {
        let wrapper = match &self.tls {
            Tls::Wrapper(parameters) => Some(parameters.clone()),
            _ => None,
        };
        let mut smtp = AsyncSmtpConnection::connect_tokio1(
            (self.host.as_str(), self.port),
            Some(self.timeout),
            &self.hello,
            wrapper,
            None,
        )
        .await?;
        match &self.tls {
            Tls::Opportunistic(parameters) if smtp.can_starttls() => {
                smtp.starttls(parameters.clone(), &self.hello).await?;
            }
            Tls::Required(parameters) => smtp.starttls(parameters.clone(), &self.hello).await?,
            _ => {}
        }
        // lettre keeps only the extensions it uses from its EHLO; ask once more (before
        // AUTH, which a new EHLO could undo) to see whether PIPELINING is offered.
        let ehlo = smtp.command(Ehlo::new(self.hello.clone())).await?;
        let pipelining = ehlo
            .message()
            .any(|line| line.trim().eq_ignore_ascii_case("PIPELINING"));
        if let Some(credentials) = &self.credentials {
            smtp.auth(DEFAULT_MECHANISMS, credentials).await?;
        }
        Ok(Connection { smtp, pipelining })
    }
}

impl Connection {
    /// One transaction; on an error the connection must not be reused.
    async fn send(
        &mut self,
        envelope: &Envelope,
        body: &[u8],
    ) -> Result<(), lettre::transport::smtp::Error> {
        let utf8 = envelope
            .from()
            .into_iter()
            .chain(envelope.to())
            .any(|a: &lettre::Address| !AsRef::<str>::as_ref(a).is_ascii());
        let eight_bit = !body.is_ascii();
        let info = self.smtp.server_info();
        let text = std::str::from_utf8(body).ok().filter(|_| {
            (!utf8 || info.supports_feature(Extension::SmtpUtfEight))
                && (!eight_bit || info.supports_feature(Extension::EightBitMime))
        });
        let Some(text) = text else {
            // lettre's own path refuses a message the relay cannot take, with an error
            // that says why, and carries bytes that are not text.
            return self.smtp.send(envelope, body).await.map(|_| ());
        };
        let mut parameters = Vec::new();
        if utf8 {
            parameters.push(MailParameter::SmtpUtfEight);
        }
        if eight_bit {
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        let mut commands = vec![Mail::new(envelope.from().cloned(), parameters).to_string()];
        commands.extend(
            envelope
                .to()
                .iter()
                .map(|to| Rcpt::new(to.clone(), vec![]).to_string()),
        );
        commands.push(Data.to_string());
        if self.pipelining {
            self.pipelined(&commands.concat(), commands.len()).await?;
        } else {
            for command in &commands {
                self.smtp.command(command).await?;
            }
        }
        self.smtp.command(data_block(text)).await.map(|_| ())
    }

    /// Sends all commands in one write and reads their replies. All are read, so that the
    /// first refusal is the one reported; a failed connection ends the reading, as no more
    /// replies will come.
    async fn pipelined(
        &mut self,
        commands: &str,
        replies: usize,
    ) -> Result<(), lettre::transport::smtp::Error> {
        let refused = |e: &lettre::transport::smtp::Error| e.is_transient() || e.is_permanent();
        let mut first_refusal = None;
        for reply in 0..replies {
            let result = if reply == 0 {
                self.smtp.command(commands).await
            } else {
                self.smtp.read_response().await
            };
            match result {
                Ok(_) => {}
                Err(e) if refused(&e) => {
                    first_refusal.get_or_insert(e);
                }
                Err(e) => return Err(first_refusal.unwrap_or(e)),
            }
        }
        first_refusal.map_or(Ok(()), Err)
    }
}

/// What follows DATA, in one piece: the message with a dot doubled at the start of each
/// line, then CRLF.CRLF. lettre writes the message and the final dot separately, and the
/// second small write then waits for the relay to acknowledge the first (Nagle), which a
/// relay waiting for the dot does only after its delayed-ACK timer: ~40 ms a message.
fn data_block(body: &str) -> String {
    let mut block = String::with_capacity(body.len() + body.len() / 64 + 8);
    if body.starts_with('.') {
        block.push('.');
    }
    block.push_str(&body.replace("\r\n.", "\r\n.."));
    block.push_str("\r\n.\r\n");
    block
}

/// 5xx will never succeed; everything else may later.
fn classify(e: lettre::transport::smtp::Error) -> DeliveryError {
    if e.is_permanent() {
        DeliveryError::Permanent(e.to_string())
    } else {
        DeliveryError::Temporary(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    //! Against a scripted relay on loopback, which records every line it is sent and
    //! answers MAIL only once RCPT and DATA are in when it offers PIPELINING.

    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    use super::SmtpTransport;
    use crate::outbox::worker::DeliveryError;

    /// What the scripted relay does.
    #[derive(Clone, Copy)]
    struct Script {
        pipelining: bool,
        /// The reply to RCPT.
        rcpt: &'static str,
    }

    /// The lines each connection sent, in order.
    type Seen = Arc<Mutex<Vec<Vec<String>>>>;

    async fn relay(script: Script) -> (u16, Seen) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let seen: Seen = Arc::default();
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let index = {
                    let mut all = record.lock().expect("lock");
                    all.push(Vec::new());
                    all.len() - 1
                };
                tokio::spawn(serve(stream, script, record.clone(), index));
            }
        });
        (port, seen)
    }

    async fn serve(stream: tokio::net::TcpStream, script: Script, seen: Seen, index: usize) {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let note = |line: &str| seen.lock().expect("lock")[index].push(line.to_owned());
        let _ = write.write_all(b"220 relay.test ESMTP\r\n").await;
        let mut in_data = false;
        let wait = Duration::from_secs(2);
        while let Ok(Ok(Some(line))) = tokio::time::timeout(wait, lines.next_line()).await {
            note(&line);
            if in_data {
                if line == "." {
                    in_data = false;
                    let _ = write.write_all(b"250 2.0.0 Ok: queued\r\n").await;
                }
                continue;
            }
            let verb = line
                .split([' ', ':'])
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            let reply: String = match verb.as_str() {
                "EHLO" if script.pipelining => {
                    "250-relay.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n".into()
                }
                "EHLO" => "250-relay.test\r\n250 8BITMIME\r\n".into(),
                "MAIL" if script.pipelining => {
                    // A pipelining client has sent RCPT and DATA already; one that waits
                    // for this reply first would stall here, and the test sees "stalled".
                    let mut replies = String::from("250 2.1.0 Ok\r\n");
                    for _ in 0..2 {
                        match tokio::time::timeout(Duration::from_millis(500), lines.next_line())
                            .await
                        {
                            Ok(Ok(Some(next))) => {
                                note(&next);
                                if next.to_ascii_uppercase().starts_with("RCPT") {
                                    replies.push_str(script.rcpt);
                                } else if script.rcpt.starts_with('2') {
                                    replies.push_str("354 End data with <CR><LF>.<CR><LF>\r\n");
                                    in_data = true;
                                } else {
                                    replies.push_str("554 5.5.1 Error: no valid recipients\r\n");
                                }
                            }
                            _ => note("stalled"),
                        }
                    }
                    replies
                }
                "MAIL" => "250 2.1.0 Ok\r\n".into(),
                "RCPT" => script.rcpt.into(),
                "DATA" => {
                    in_data = true;
                    "354 End data with <CR><LF>.<CR><LF>\r\n".into()
                }
                "QUIT" => {
                    let _ = write.write_all(b"221 2.0.0 Bye\r\n").await;
                    return;
                }
                _ => "250 2.0.0 Ok\r\n".into(),
            };
            if write.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    fn transport(port: u16) -> SmtpTransport {
        let outbound = crate::config::Outbound {
            transport: crate::config::Transport::Smtp,
            dir: std::path::PathBuf::from("unused"),
            smtp_url: format!("smtp://127.0.0.1:{port}"),
            smtp_username: String::new(),
            smtp_password_env: String::new(),
            ca_file: None,
            from: "IT Service Desk <support@example.com>".into(),
            from_address: "support@example.com".into(),
            retry_for: Duration::from_secs(60),
            retry_base: Duration::from_secs(1),
        };
        SmtpTransport::new(&outbound).expect("transport")
    }

    const ACCEPT: &str = "250 2.1.5 Ok\r\n";

    fn message(n: usize) -> Vec<u8> {
        format!("Subject: ack {n}\r\n\r\n.starts with a dot\r\nThank you.\r\n").into_bytes()
    }

    /// Delivers `count` messages through a relay following `script`, then closes the
    /// connections; returns what the relay saw.
    async fn deliver_accepted(pipelining: bool, count: usize) -> Vec<Vec<String>> {
        let (port, seen) = relay(Script {
            pipelining,
            rcpt: ACCEPT,
        })
        .await;
        let smtp = transport(port);
        for n in 0..count {
            smtp.deliver(&format!("ana{n}@example.org"), &message(n))
                .await
                .expect("delivered");
        }
        smtp.close_idle(Duration::ZERO).await;
        let lines = seen.lock().expect("lock");
        lines.clone()
    }

    #[tokio::test]
    async fn a_pipelining_relay_gets_three_messages_in_two_round_trips_each_on_one_connection() {
        let seen = deliver_accepted(true, 3).await;
        assert_eq!(seen.len(), 1, "one connection for all three: {seen:?}");
        let lines = &seen[0];
        assert!(!lines.iter().any(|l| l == "stalled"), "{lines:?}");
        assert!(
            !lines.iter().any(|l| l.eq_ignore_ascii_case("NOOP")),
            "{lines:?}"
        );
        let mails = lines
            .iter()
            .filter(|l| l.starts_with("MAIL FROM:<support@example.com>"));
        assert_eq!(mails.count(), 3, "{lines:?}");
        assert!(
            lines.contains(&"RCPT TO:<ana2@example.org>".to_owned()),
            "{lines:?}"
        );
        // Dot-stuffing still happens on the pipelined path.
        assert!(
            lines.contains(&"..starts with a dot".to_owned()),
            "{lines:?}"
        );
        assert_eq!(lines.last().map(String::as_str), Some("QUIT"), "{lines:?}");
    }

    #[tokio::test]
    async fn a_relay_without_pipelining_gets_one_command_at_a_time() {
        let seen = deliver_accepted(false, 2).await;
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(
            seen[0].iter().filter(|l| l.starts_with("DATA")).count(),
            2,
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn a_refused_recipient_fails_for_good_with_the_relays_words_and_the_next_message_gets_a_new_connection()
     {
        let (port, seen) = relay(Script {
            pipelining: true,
            rcpt: "550 5.1.1 <nobody@example.org>: Recipient address rejected: no such user\r\n",
        })
        .await;
        let smtp = transport(port);
        let first = smtp.deliver("nobody@example.org", &message(0)).await;
        match first {
            Err(DeliveryError::Permanent(reason)) => {
                assert!(reason.contains("no such user"), "{reason}")
            }
            other => panic!("expected a permanent failure, got {other:?}"),
        }
        let second = smtp.deliver("nobody@example.org", &message(1)).await;
        assert!(
            matches!(second, Err(DeliveryError::Permanent(_))),
            "{second:?}"
        );
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(
            seen.len(),
            2,
            "a connection after a refusal is not reused: {seen:?}"
        );
        assert!(
            seen.iter()
                .flatten()
                .all(|l| !l.contains("starts with a dot")),
            "no body is sent after a refusal: {seen:?}"
        );
    }

    #[test]
    fn the_data_block_doubles_leading_dots_and_ends_with_the_final_dot() {
        assert_eq!(super::data_block("Hi\r\n"), "Hi\r\n\r\n.\r\n");
        assert_eq!(
            super::data_block(".x\r\n.\r\nmid.dle\r\n..y"),
            "..x\r\n..\r\nmid.dle\r\n...y\r\n.\r\n"
        );
        // Only a dot after CRLF starts a line on the wire, as lettre counts it.
        assert_eq!(super::data_block("a\n.b"), "a\n.b\r\n.\r\n");
    }

    #[tokio::test]
    async fn a_busy_relay_is_asked_again_later() {
        let (port, _) = relay(Script {
            pipelining: true,
            rcpt: "451 4.3.0 Try again later\r\n",
        })
        .await;
        let result = transport(port)
            .deliver("ana@example.org", &message(0))
            .await;
        assert!(
            matches!(&result, Err(DeliveryError::Temporary(reason)) if reason.contains("Try again later")),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn no_relay_listening_is_asked_again_later() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            listener.local_addr().expect("address").port()
        };
        let result = transport(port)
            .deliver("ana@example.org", &message(0))
            .await;
        assert!(
            matches!(result, Err(DeliveryError::Temporary(_))),
            "{result:?}"
        );
    }
}
