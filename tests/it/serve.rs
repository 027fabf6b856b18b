//! The daemon on its embedded default: it listens, answers health checks, and its outbox
//! worker writes each acknowledgement as one .eml file into var/outbox.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{TestDesk, request};

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

#[test]
fn the_daemon_delivers_acknowledgements_to_the_outbox_folder() {
    let desk = TestDesk::new();
    let mut child = desk
        .command(&["serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let daemon = Daemon(child);
    let mut first_line = String::new();
    BufReader::new(stdout).read_line(&mut first_line).unwrap();
    let address = first_line
        .trim()
        .strip_prefix("listening on http://")
        .expect("address line")
        .to_owned();
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    assert!(http_get(&address, "/healthz").contains("200 OK"));
    assert!(http_get(&address, "/readyz").contains("ready"));

    let line = desk.ingest_text(
        "m.eml",
        &request(
            "ola@example.com",
            "Ekran miga",
            "Mój monitor miga od rana.",
            "sv1@example.com",
        ),
    );
    let ticket = line.ticket.expect("ticket");
    let outbox = desk.path("var/outbox");
    let started = Instant::now();
    let file = loop {
        let found = std::fs::read_dir(&outbox).ok().and_then(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "eml"))
        });
        if let Some(file) = found {
            break file;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no acknowledgement in {}",
            outbox.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mail = std::fs::read_to_string(&file).unwrap();
    assert!(mail.contains(&format!("[#{ticket}]")), "{mail}");
    assert!(mail.contains("To: ola@example.com"), "{mail}");
    let sent = desk.query("SELECT status FROM outbox WHERE kind = 'ack'");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = sent[0][0].clone();
    while status != "sent" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        status = desk.query("SELECT status FROM outbox WHERE kind = 'ack'")[0][0].clone();
    }
    assert_eq!(status, "sent");
    drop(daemon);
}
