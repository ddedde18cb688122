//! `[logs] timestamps`: each line of the child's output starts with when the
//! supervisor read it and which stream it came from, e.g.
//! `2026-05-01T12:00:00.123Z [err] boom: missing API key`. `respawn logs --since`
//! reads the time back with [`line_time`].

use std::time::SystemTime;

/// Which of the child's streams a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

impl Stream {
    fn tag(self) -> &'static str {
        match self {
            Stream::Out => "[out]",
            Stream::Err => "[err]",
        }
    }
}

/// Puts the prefix before every line of one stream, across reads that split lines.
pub struct Stamper {
    stream: Stream,
    at_line_start: bool,
}

impl Stamper {
    pub fn new(stream: Stream) -> Self {
        Stamper {
            stream,
            at_line_start: true,
        }
    }

    /// `bytes` as read from the stream, each line that starts in them stamped `now`.
    pub fn stamp(&mut self, bytes: &[u8], now: SystemTime) -> Vec<u8> {
        let prefix = format!("{} {} ", crate::state::rfc3339(now), self.stream.tag());
        let mut out = Vec::with_capacity(bytes.len() + prefix.len());
        for line in bytes.split_inclusive(|b| *b == b'\n') {
            if self.at_line_start {
                out.extend_from_slice(prefix.as_bytes());
            }
            out.extend_from_slice(line);
            self.at_line_start = line.ends_with(b"\n");
        }
        out
    }
}

/// When a log line was written, if it says: a stamped line of the child's, or one of
/// the supervisor's own (`[respawn TIME] …`).
pub fn line_time(line: &str) -> Option<SystemTime> {
    let word = line
        .strip_prefix("[respawn ")
        .map_or_else(|| line.split(' ').next(), |rest| rest.split(']').next())?;
    humantime::parse_rfc3339(word).ok()
}

/// The lines written at or after `cutoff`. A line without a time goes with the one
/// before it (a continuation, or output of a spec without timestamps between stamped
/// supervisor lines); before any time is known it is kept only when no line has one.
pub fn since(lines: Vec<String>, cutoff: SystemTime) -> Vec<String> {
    let any_time = lines.iter().any(|l| line_time(l).is_some());
    let mut keep = !any_time;
    lines
        .into_iter()
        .filter(|line| {
            if let Some(t) = line_time(line) {
                keep = t >= cutoff;
            }
            keep
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_line_is_stamped_once_across_split_reads() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let mut s = Stamper::new(Stream::Err);
        let mut out = s.stamp(b"one\ntw", t);
        out.extend(s.stamp(b"o\nthree\n", t));
        let text = String::from_utf8(out).unwrap();
        let want = "2023-11-14T22:13:20.123Z [err] ";
        assert_eq!(
            text,
            format!("{want}one\n{want}two\n{want}three\n"),
            "{text}"
        );
        for line in text.lines() {
            assert_eq!(line_time(line), Some(t), "{line}");
        }
        assert_eq!(
            line_time("[respawn 2023-11-14T22:13:20.123Z] started"),
            Some(t)
        );
        assert_eq!(line_time("plain output"), None);
        let later = t + Duration::from_secs(60);
        let lines: Vec<String> = [
            "untimed first".to_string(),
            format!("{} [out] old", crate::state::rfc3339(t)),
            "old continuation".into(),
            format!("{} [out] new", crate::state::rfc3339(later)),
            "new continuation".into(),
        ]
        .into();
        assert_eq!(
            since(lines, t + Duration::from_secs(30)),
            [
                format!("{} [out] new", crate::state::rfc3339(later)),
                "new continuation".into()
            ]
        );
        let plain = vec!["a".to_string(), "b".into()];
        assert_eq!(since(plain.clone(), later), plain);
        assert_eq!(line_time(""), None);
    }
}
