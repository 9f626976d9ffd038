//! A small SMTP server on 127.0.0.1 for the e-mail tests: EHLO/HELO, AUTH PLAIN, MAIL, RCPT,
//! DATA, RSET, NOOP, QUIT. It keeps every message it accepted (envelope, login and the raw
//! message) and can misbehave on cue: each scripted [`Fault`] spoils one session, in order.

use base64::Engine as _;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// How one session fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The greeting is `421` and the connection is closed.
    Busy421,
    /// `MAIL FROM` is answered `451` (try again later).
    Mail451,
    /// The whole message is sent, then refused with `554` after DATA: not kept.
    Data554,
    /// The whole message is sent and kept in [`SmtpServer::held`], but never answered: the
    /// connection stays open until the client goes (a crash mid-send).
    HoldAfterData,
}

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The decoded AUTH PLAIN response ("\0user\0password"), when the client logged in.
    pub login: Option<String>,
    /// The message as received (dot-unstuffed, CRLF line ends).
    pub data: Vec<u8>,
}

#[derive(Default)]
struct State {
    received: Mutex<Vec<Received>>,
    faults: Mutex<VecDeque<Fault>>,
    /// Every fault served, in order, for assertions.
    faults_served: Mutex<Vec<Fault>>,
    /// Messages received in full but never answered ([`Fault::HoldAfterData`]).
    held: Mutex<Vec<Received>>,
}

/// A loopback SMTP server; it runs until the test's runtime ends.
#[derive(Clone)]
pub struct SmtpServer {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl SmtpServer {
    /// Listens on a free loopback port.
    pub async fn start(faults: &[Fault]) -> SmtpServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        SmtpServer::serve(listener, faults)
    }

    /// Listens on `addr` (a port reserved earlier, so clients were refused until now).
    pub async fn start_at(addr: SocketAddr, faults: &[Fault]) -> SmtpServer {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind the reserved port");
        SmtpServer::serve(listener, faults)
    }

    fn serve(listener: tokio::net::TcpListener, faults: &[Fault]) -> SmtpServer {
        let state = Arc::new(State::default());
        state.faults.lock().unwrap().extend(faults.iter().copied());
        let addr = listener.local_addr().unwrap();
        let server_state = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, server_state.clone()));
            }
        });
        SmtpServer { addr, state }
    }

    /// `smtp://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    pub fn held(&self) -> Vec<Received> {
        self.state.held.lock().unwrap().clone()
    }

    pub fn faults_served(&self) -> Vec<Fault> {
        self.state.faults_served.lock().unwrap().clone()
    }
}

async fn session(stream: tokio::net::TcpStream, state: Arc<State>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let fault = state.faults.lock().unwrap().pop_front();
    if let Some(fault) = fault {
        state.faults_served.lock().unwrap().push(fault);
    }
    if fault == Some(Fault::Busy421) {
        let _ = write.write_all(b"421 127.0.0.1 busy, try later\r\n").await;
        return;
    }
    let reply = async |write: &mut tokio::net::tcp::OwnedWriteHalf, text: &str| {
        write.write_all(text.as_bytes()).await.is_ok()
    };
    if !reply(&mut write, "220 127.0.0.1 ESMTP newswatch-test\r\n").await {
        return;
    }
    let (mut mail_from, mut rcpt_to, mut login) = (None::<String>, Vec::new(), None::<String>);
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_string();
        let verb = command.split(' ').next().unwrap_or_default().to_ascii_uppercase();
        let answer = match verb.as_str() {
            "EHLO" => "250-127.0.0.1\r\n250-AUTH PLAIN\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".to_string(),
            "HELO" => "250 127.0.0.1\r\n".to_string(),
            "AUTH" => {
                let mut parts = command.split(' ').skip(1);
                let mechanism = parts.next().unwrap_or_default().to_ascii_uppercase();
                let initial = match parts.next() {
                    Some(initial) => initial.to_string(),
                    None => {
                        if !reply(&mut write, "334 \r\n").await {
                            return;
                        }
                        let mut response = String::new();
                        if lines.read_line(&mut response).await.unwrap_or(0) == 0 {
                            return;
                        }
                        response.trim_end().to_string()
                    }
                };
                match base64::engine::general_purpose::STANDARD.decode(initial.as_bytes()) {
                    Ok(decoded) if mechanism == "PLAIN" => {
                        login = Some(String::from_utf8_lossy(&decoded).into_owned());
                        "235 2.7.0 accepted\r\n".to_string()
                    }
                    _ => "535 5.7.8 bad credentials\r\n".to_string(),
                }
            }
            "MAIL" if fault == Some(Fault::Mail451) => "451 4.3.0 try again later\r\n".to_string(),
            "MAIL" => {
                mail_from = Some(argument(&command, "FROM:"));
                "250 2.1.0 ok\r\n".to_string()
            }
            "RCPT" if mail_from.is_some() => {
                rcpt_to.push(argument(&command, "TO:"));
                "250 2.1.5 ok\r\n".to_string()
            }
            "RCPT" => "503 5.5.1 MAIL first\r\n".to_string(),
            "DATA" if rcpt_to.is_empty() => "503 5.5.1 RCPT first\r\n".to_string(),
            "DATA" => {
                if !reply(&mut write, "354 end with <CRLF>.<CRLF>\r\n").await {
                    return;
                }
                let mut data = Vec::new();
                loop {
                    let mut data_line = Vec::new();
                    match lines.read_until(b'\n', &mut data_line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if data_line == b".\r\n" {
                        break;
                    }
                    // Dot-unstuffing (RFC 5321 4.5.2).
                    let unstuffed =
                        if data_line.starts_with(b"..") { &data_line[1..] } else { &data_line[..] };
                    data.extend_from_slice(unstuffed);
                }
                let message = Received {
                    mail_from: mail_from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    login: login.clone(),
                    data,
                };
                if fault == Some(Fault::HoldAfterData) {
                    state.held.lock().unwrap().push(message);
                    // Read (and ignore) until the client is gone; never answer.
                    let mut ignored = Vec::new();
                    while matches!(lines.read_until(b'\n', &mut ignored).await, Ok(n) if n > 0) {}
                    return;
                }
                if fault == Some(Fault::Data554) {
                    "554 5.6.0 message refused\r\n".to_string()
                } else {
                    state.received.lock().unwrap().push(message);
                    "250 2.0.0 queued\r\n".to_string()
                }
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                "250 2.0.0 ok\r\n".to_string()
            }
            "NOOP" => "250 2.0.0 ok\r\n".to_string(),
            "QUIT" => {
                let _ = reply(&mut write, "221 2.0.0 bye\r\n").await;
                return;
            }
            _ => "502 5.5.2 not implemented\r\n".to_string(),
        };
        if !reply(&mut write, &answer).await {
            return;
        }
    }
}

/// The path of `MAIL FROM:<a@b> BODY=8BITMIME` or `RCPT TO:<a@b>`: "a@b".
fn argument(command: &str, prefix: &str) -> String {
    let upper = command.to_ascii_uppercase();
    let start = upper.find(prefix).map_or(command.len(), |at| at + prefix.len());
    let rest = command[start..].trim_start();
    let path = rest.split(' ').next().unwrap_or_default();
    path.trim_start_matches('<').trim_end_matches('>').to_string()
}
