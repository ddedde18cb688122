//! What a running supervisor can be asked to do. A leaf module: the OS layer carries
//! these requests, the supervisor acts on them, the client sends them.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Stop the child gracefully and exit.
    Stop,
    /// Stop the child gracefully and start it again at once (not counted as a failure).
    Restart,
    /// The Windows service host heard that the recorded user logged on or off: the
    /// engine plans again where the child runs (issue 15). Never sent by a client.
    SessionChanged,
}

impl Control {
    /// The error for sending a control only the service manager gives (a session
    /// change) to a supervisor, as a client would.
    pub(crate) fn not_from_a_client() -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a session change comes from the service manager, not from a client",
        )
    }
}

/// The control protocol this respawn speaks (issue 26 item 3): how a client finds a
/// supervisor and what it may ask of it. A supervisor names its protocol, the oldest
/// one it still answers, and its respawn in its holder record (`pid token [pipe]
/// protocol=N oldest=M respawn=V`); a client speaks the highest protocol both know,
/// and refuses, with what to do, a supervisor that no longer answers any it speaks.
///
/// - 1: b351e14 and before. A record of `pid token [pipe]`; SIGTERM stop and SIGHUP
///   restart on Unix, the lines `stop`, `restart`, `ping` on the Windows pipe, each
///   answered `ok …` or `error …`.
/// - 2: the record names protocol, oldest and respawn; a pipe request may end in
///   ` v<N>`, the client's protocol, and a supervisor answers a request from a newer
///   protocol it cannot read with who started it and how to move it to that version,
///   never a parse error; `version` asks for `ok respawn V protocol N oldest M`.
pub const PROTOCOL: u32 = 2;
/// The oldest protocol this respawn's supervisor still answers (and its client speaks).
pub const OLDEST: u32 = 1;

/// What a supervisor says of itself in its holder record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its control protocol; 1 when the record does not say (an older respawn).
    pub protocol: u32,
    /// The oldest protocol it answers.
    pub oldest: u32,
    /// Its respawn version (`0.2.0+1a2b3c4d5e6f`), when it says.
    pub respawn: Option<String>,
}

impl Peer {
    /// This process, as its holder record names it.
    pub fn me() -> Peer {
        Peer {
            protocol: PROTOCOL,
            oldest: OLDEST,
            respawn: Some(version_token(crate::VERSION)),
        }
    }

    /// The fields this respawn adds to a holder record (after `pid token [pipe]`,
    /// which an older respawn reads alone and so still understands the record).
    pub fn record_fields(&self) -> String {
        let mut text = format!("protocol={} oldest={}", self.protocol, self.oldest);
        if let Some(v) = &self.respawn {
            text.push_str(&format!(" respawn={v}"));
        }
        text
    }

    /// The peer a holder record names. Fields it does not know are skipped (a newer
    /// respawn may add some); a record without `protocol=` is an older respawn's.
    pub fn from_record(text: &str) -> Peer {
        let mut peer = Peer {
            protocol: 1,
            oldest: 1,
            respawn: None,
        };
        let mut oldest = None;
        for field in text.split_whitespace().skip(2) {
            match field.split_once('=') {
                Some(("protocol", n)) => {
                    if let Ok(n) = n.parse::<u32>() {
                        peer.protocol = n.max(1);
                    }
                }
                Some(("oldest", n)) => oldest = n.parse::<u32>().ok(),
                Some(("respawn", v)) if !v.is_empty() && v.len() <= 64 => {
                    peer.respawn = Some(v.to_string())
                }
                _ => {}
            }
        }
        peer.oldest = oldest.unwrap_or(1).clamp(1, peer.protocol);
        peer
    }

    /// Who started the supervisor, in words.
    pub fn who(&self) -> String {
        match &self.respawn {
            Some(v) => format!("respawn {v}"),
            None if self.protocol == 1 => "an older respawn (0.1.0 or before)".into(),
            None => "another respawn".into(),
        }
    }

    /// The protocol to speak to this supervisor: the highest both know. An error,
    /// saying what to do, when there is none (it was started by a newer respawn that
    /// no longer answers this one's requests).
    pub fn negotiate(&self, service: &str) -> Result<u32, String> {
        negotiate(PROTOCOL, OLDEST, self, service)
    }
}

/// [`Peer::negotiate`] with our own range given (pure, for the table test).
pub fn negotiate(ours: u32, our_oldest: u32, peer: &Peer, service: &str) -> Result<u32, String> {
    let both = ours.min(peer.protocol);
    if both >= peer.oldest.max(our_oldest) {
        return Ok(both);
    }
    Err(if peer.oldest > ours {
        format!(
            "the supervisor of {service} was started by {} (control protocol {}, answering {} \
             and newer); this respawn ({}) speaks up to {ours}: use that respawn (upgrade this \
             one), or stop it with that one and run `respawn start {service}` to move it to \
             this version",
            peer.who(),
            peer.protocol,
            peer.oldest,
            crate::VERSION
        )
    } else {
        format!(
            "the supervisor of {service} was started by {} (control protocol {}); this respawn \
             ({}) speaks {our_oldest} to {ours}: stop it with the respawn that started it, then \
             run `respawn start {service}` to move it to this version",
            peer.who(),
            peer.protocol,
            crate::VERSION
        )
    })
}

/// A version as one word for a holder record: `0.2.0 (commit 1a2b)` → `0.2.0+1a2b`.
pub fn version_token(version: &str) -> String {
    let mut words = version.split_whitespace();
    let base = words.next().unwrap_or("unknown").to_string();
    match (words.next(), words.next()) {
        (Some("(commit"), Some(c)) => format!("{base}+{}", c.trim_end_matches(')')),
        _ => base,
    }
}

/// A request on the Windows control pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Control(Control),
    /// Is anyone there (`ok respawn PID`).
    Ping,
    /// Which respawn and protocol (protocol 2).
    Version,
}

impl Request {
    fn verb(self) -> Option<&'static str> {
        Some(match self {
            Request::Control(Control::Stop) => "stop",
            Request::Control(Control::Restart) => "restart",
            Request::Control(Control::SessionChanged) => return None,
            Request::Ping => "ping",
            Request::Version => "version",
        })
    }

    /// The protocol that brought this request in.
    fn since(self) -> u32 {
        match self {
            Request::Version => 2,
            _ => 1,
        }
    }

    /// The request line for a supervisor that speaks `protocol` (from
    /// [`Peer::negotiate`]): the bare verb for protocol 1, the verb and ` v2` after.
    /// An error, in words, when that supervisor does not know the request.
    pub fn line(self, protocol: u32, peer: &Peer, service: &str) -> Result<String, String> {
        let Some(verb) = self.verb() else {
            return Err(Control::not_from_a_client().to_string());
        };
        if self.since() > protocol {
            return Err(format!(
                "the supervisor of {service} was started by {} (control protocol {protocol}), \
                 which does not know `{verb}`; run `respawn stop {service}` and `respawn start \
                 {service}` to move it to this version ({})",
                peer.who(),
                crate::VERSION
            ));
        }
        Ok(if protocol >= 2 {
            format!("{verb} v{}", protocol.min(PROTOCOL))
        } else {
            verb.to_string()
        })
    }
}

/// Why a supervisor does not act on a request line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// From a newer protocol than this supervisor's: it cannot know what was meant.
    Newer { protocol: u32, line: String },
    /// Not a request of any protocol this supervisor knows.
    Unknown(String),
}

/// Read a request line: `VERB` (protocol 1) or `VERB vN` (N the client's protocol).
/// A request from a newer protocol than this one is refused as such, whatever its
/// verb: what it means there may not be what it means here. Pure.
pub fn parse_request(line: &str) -> Result<Request, Refusal> {
    let line = line.trim();
    let words: Vec<&str> = line.split_whitespace().collect();
    let protocol = match words.get(1) {
        None => 1,
        Some(v) => match v.strip_prefix('v').and_then(|n| n.parse::<u32>().ok()) {
            Some(n) => n,
            None => return Err(Refusal::Unknown(line.to_string())),
        },
    };
    if protocol > PROTOCOL {
        return Err(Refusal::Newer {
            protocol,
            line: line.to_string(),
        });
    }
    let request = match words.first().copied().unwrap_or("") {
        "stop" => Request::Control(Control::Stop),
        "restart" => Request::Control(Control::Restart),
        "ping" => Request::Ping,
        "version" => Request::Version,
        _ => return Err(Refusal::Unknown(line.to_string())),
    };
    if words.len() > 2 {
        return Err(Refusal::Unknown(line.to_string()));
    }
    Ok(request)
}

impl Refusal {
    /// The supervisor's answer, one line (`error …`), saying which respawn started it
    /// and what to do.
    pub fn reply(&self) -> String {
        match self {
            Refusal::Newer { protocol, line } => format!(
                "error the request `{}` is from control protocol {protocol}; this supervisor \
                 was started by respawn {} (protocol {PROTOCOL}); run `respawn stop NAME` and \
                 `respawn start NAME` with the newer respawn to move it to that version",
                shown(line),
                version_token(crate::VERSION)
            ),
            Refusal::Unknown(line) => format!(
                "error unknown request `{}`; use stop, restart, ping or version",
                shown(line)
            ),
        }
    }
}

/// A client's line as it may be echoed: printable, and short.
fn shown(line: &str) -> String {
    line.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// The answer to a request the supervisor takes: `ok`, or for `version` who it is.
pub fn ok_reply(request: Request, pid: u32) -> String {
    match request {
        Request::Ping => format!("ok respawn {pid}"),
        Request::Version => format!(
            "ok respawn {} protocol {PROTOCOL} oldest {OLDEST}",
            version_token(crate::VERSION)
        ),
        Request::Control(_) => "ok".into(),
    }
}

/// A supervisor's answer, as the client takes it: `Ok` for `ok …`, its own words for
/// `error …`, and anything else said plainly (a newer supervisor's answer is never a
/// parse error).
pub fn read_reply(reply: &str) -> Result<String, String> {
    let reply = reply.trim();
    if reply == "ok" || reply.starts_with("ok ") {
        return Ok(reply.trim_start_matches("ok").trim().to_string());
    }
    if let Some(why) = reply.strip_prefix("error ") {
        return Err(format!("the supervisor answered: {why}"));
    }
    Err(format!(
        "the supervisor answered `{}`, which this respawn ({}) does not understand; if a \
         newer respawn started it, drive it with that one, or stop it with that one and \
         start it with this one to move it to this version",
        shown(reply),
        crate::VERSION
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_record_says_what_its_supervisor_speaks() {
        let p = |protocol, oldest, v: Option<&str>| Peer {
            protocol,
            oldest,
            respawn: v.map(str::to_string),
        };
        let table = [
            // b351e14 and before: Unix, then Windows with its pipe suffix.
            ("42 7\n", p(1, 1, None)),
            ("42 7 00ff\n", p(1, 1, None)),
            (
                "42 7 protocol=2 oldest=1 respawn=0.2.0+1a2b\n",
                p(2, 1, Some("0.2.0+1a2b")),
            ),
            (
                "42 7 00ff protocol=2 oldest=1 respawn=0.2.0",
                p(2, 1, Some("0.2.0")),
            ),
            // A newer respawn, with a field this one does not know.
            (
                "42 7 protocol=9 oldest=5 respawn=9.9.9 colour=blue",
                p(9, 5, Some("9.9.9")),
            ),
            ("42 7 protocol=9", p(9, 1, None)),
            // Nonsense is read as little as possible, never as a newer protocol.
            ("42 7 protocol=x oldest=y respawn=", p(1, 1, None)),
            ("42 7 protocol=0 oldest=7", p(1, 1, None)),
            ("42 7 protocol=3 oldest=9", p(3, 3, None)),
            ("", p(1, 1, None)),
        ];
        for (record, want) in table {
            assert_eq!(Peer::from_record(record), want, "{record:?}");
        }
        let me = Peer::me();
        let record = format!("42 7 {}\n", me.record_fields());
        assert_eq!(Peer::from_record(&record), me);
        assert!(!me.record_fields().contains("  "));
        assert_eq!(
            version_token("0.2.0 (commit 1a2b3c4d5e6f)"),
            "0.2.0+1a2b3c4d5e6f"
        );
        assert_eq!(version_token("0.2.0"), "0.2.0");
        assert!(!version_token(crate::VERSION).contains(char::is_whitespace));
    }

    #[test]
    fn client_and_supervisor_speak_the_highest_protocol_both_know() {
        let peer = |protocol, oldest, v: Option<&str>| Peer {
            protocol,
            oldest,
            respawn: v.map(str::to_string),
        };
        // (ours, our oldest, the supervisor) → the protocol, or words of the error.
        type Want = Result<u32, &'static [&'static str]>;
        let table: [(u32, u32, Peer, Want); 6] = [
            (2, 1, peer(1, 1, None), Ok(1)),
            (2, 1, peer(2, 1, Some("0.2.0")), Ok(2)),
            (2, 1, peer(9, 1, Some("9.9.9")), Ok(2)),
            (1, 1, peer(2, 1, Some("0.2.0")), Ok(1)),
            (
                2,
                1,
                peer(9, 5, Some("9.9.9")),
                Err(&[
                    "started by respawn 9.9.9",
                    "speaks up to 2",
                    "respawn start svc",
                ]),
            ),
            (
                4,
                3,
                peer(1, 1, None),
                Err(&[
                    "started by an older respawn",
                    "stop it with the respawn that started it",
                    "respawn start svc",
                ]),
            ),
        ];
        for (ours, oldest, supervisor, want) in table {
            let got = negotiate(ours, oldest, &supervisor, "svc");
            match (got, want) {
                (Ok(p), Ok(w)) => assert_eq!(p, w, "{ours} {supervisor:?}"),
                (Err(e), Err(words)) => {
                    for w in words {
                        assert!(e.contains(w), "{e}: no {w:?}");
                    }
                }
                (got, want) => panic!("{ours} {supervisor:?}: {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn every_request_round_trips_in_every_protocol_it_exists_in() {
        let requests = [
            Request::Control(Control::Stop),
            Request::Control(Control::Restart),
            Request::Ping,
            Request::Version,
        ];
        for protocol in OLDEST..=PROTOCOL {
            let peer = Peer {
                protocol,
                oldest: OLDEST,
                respawn: None,
            };
            for r in requests {
                match r.line(protocol, &peer, "svc") {
                    Ok(line) => assert_eq!(parse_request(&line), Ok(r), "{line:?}"),
                    Err(e) => {
                        assert!(r.since() > protocol, "{r:?} in {protocol}: {e}");
                        assert!(
                            e.contains("started by an older respawn")
                                && e.contains("`respawn stop svc` and `respawn start svc`"),
                            "{e}"
                        );
                    }
                }
            }
        }
        // Protocol 1's words are the bare verbs b351e14 reads; its clients read `ok`.
        let old = Peer::from_record("42 7");
        assert_eq!(
            Request::Control(Control::Stop)
                .line(1, &old, "svc")
                .as_deref(),
            Ok("stop")
        );
        assert_eq!(ok_reply(Request::Control(Control::Restart), 42), "ok");
        assert!(Request::Control(Control::SessionChanged)
            .line(PROTOCOL, &Peer::me(), "svc")
            .is_err());
    }

    #[test]
    fn a_request_from_a_newer_client_gets_who_started_the_supervisor_never_a_parse_error() {
        let newer = PROTOCOL + 1;
        let table: [(String, Result<Request, bool>); 12] = [
            ("stop".into(), Ok(Request::Control(Control::Stop))),
            ("restart v2".into(), Ok(Request::Control(Control::Restart))),
            (" ping ".into(), Ok(Request::Ping)),
            ("version v1".into(), Ok(Request::Version)),
            (format!("stop v{newer}"), Err(true)),
            (format!("reload v{newer}"), Err(true)),
            (format!("stop v{newer} now please"), Err(true)),
            ("stop please".into(), Err(false)),
            ("stop v2 x".into(), Err(false)),
            ("reboot".into(), Err(false)),
            ("".into(), Err(false)),
            ("stop v99999999999999999999".into(), Err(false)),
        ];
        for (line, want) in table {
            let got = parse_request(&line);
            match (&got, want) {
                (Ok(r), Ok(w)) => assert_eq!(*r, w, "{line:?}"),
                (Err(Refusal::Newer { protocol, .. }), Err(true)) => {
                    assert_eq!(*protocol, newer);
                    let reply = got.unwrap_err().reply();
                    assert!(reply.starts_with("error "), "{reply}");
                    assert!(reply.contains("started by respawn "), "{reply}");
                    assert!(reply.contains("`respawn stop NAME`"), "{reply}");
                    assert!(!reply.contains('\n'), "{reply}");
                    // The client shows it as the supervisor's own words.
                    let said = read_reply(&reply).unwrap_err();
                    assert!(
                        said.starts_with("the supervisor answered: the request"),
                        "{said}"
                    );
                }
                (Err(Refusal::Unknown(_)), Err(false)) => {
                    let reply = got.unwrap_err().reply();
                    assert!(reply.starts_with("error unknown request"), "{reply}");
                }
                _ => panic!("{line:?}: {got:?}, want {want:?}"),
            }
        }
        // Answers a client reads: any `ok …`, any `error …`, and anything else said
        // plainly (a newer supervisor's answer), never a parse error.
        assert_eq!(read_reply("ok").as_deref(), Ok(""));
        assert_eq!(read_reply("ok respawn 42\n").as_deref(), Ok("respawn 42"));
        assert!(read_reply("error no").unwrap_err().contains("answered: no"));
        let odd = read_reply("{\"v\":3,\"ok\":true}\u{7}").unwrap_err();
        assert!(
            odd.contains("does not understand") && !odd.contains('\u{7}'),
            "{odd}"
        );
    }
}
