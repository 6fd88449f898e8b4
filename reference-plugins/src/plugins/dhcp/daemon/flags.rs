//! The command line of `dhcp daemon`, read as Go's `flag` package reads upstream's:
//! `-name value`, `-name=value`, `--name` alike; booleans as `-name` or `-name=true|false`;
//! durations in Go's syntax (`10s`, `1m30s`, `250ms`, `1h`).

use std::path::PathBuf;
use std::time::Duration;

use super::exchange::Timing;
use super::store::DEFAULT_STATE_DIR;
use crate::plugins::dhcp::config::DEFAULT_SOCKET_PATH;

/// What `dhcp daemon` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flags {
    pub socket_path: PathBuf,
    pub pid_file: Option<PathBuf>,
    /// Prefix of the socket path and of every namespace path.
    pub host_prefix: String,
    /// Accepted for upstream's command lines; the broadcast flag is always set.
    pub broadcast: bool,
    pub timing: Timing,
    pub state_dir: PathBuf,
}

pub const USAGE: &str =
    "usage: dhcp daemon [-socketpath PATH] [-pidfile PATH] [-hostprefix PREFIX] \
[-broadcast] [-timeout DURATION] [-resendmax DURATION] [-resendtimeout DURATION] [-statedir DIR]";

/// A Go duration: a sequence of decimal numbers with units ns, us, µs, ms, s, m, h.
pub fn parse_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    (total.is_finite() && total < 1e9).then(|| Duration::from_secs_f64(total))
}

impl Flags {
    pub fn parse(args: &[String]) -> Result<Flags, String> {
        let mut f = Flags {
            socket_path: PathBuf::from(DEFAULT_SOCKET_PATH),
            pid_file: None,
            host_prefix: String::new(),
            broadcast: false,
            timing: Timing::default(),
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
                return Err(format!("unexpected argument {arg:?}"));
            };
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            if name == "broadcast" {
                f.broadcast = match inline.as_deref() {
                    None | Some("true") | Some("1") | Some("t") | Some("T") | Some("TRUE") => true,
                    Some("false") | Some("0") | Some("f") | Some("F") | Some("FALSE") => false,
                    Some(v) => return Err(format!("invalid boolean {v:?} for -broadcast")),
                };
                continue;
            }
            let mut value = || match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("flag needs an argument: -{name}")),
            };
            let duration = |v: String| {
                parse_duration(&v).ok_or_else(|| format!("invalid duration {v:?} for -{name}"))
            };
            match name {
                "socketpath" => f.socket_path = PathBuf::from(value()?),
                "pidfile" => {
                    f.pid_file = Some(PathBuf::from(value()?)).filter(|p| !p.as_os_str().is_empty())
                }
                "hostprefix" => f.host_prefix = value()?,
                "statedir" => f.state_dir = PathBuf::from(value()?),
                "timeout" => f.timing.timeout = duration(value()?)?,
                "resendmax" => f.timing.resend_max = duration(value()?)?,
                "resendtimeout" => f.timing.resend_timeout = duration(value()?)?,
                "h" | "help" => return Err(USAGE.to_string()),
                other => return Err(format!("flag provided but not defined: -{other}")),
            }
        }
        if f.timing.timeout.is_zero() {
            return Err("-timeout must be positive".into());
        }
        Ok(f)
    }

    /// A path the daemon uses on the host: `host_prefix` then `path`.
    pub fn on_host(&self, path: &str) -> PathBuf {
        if self.host_prefix.is_empty() {
            PathBuf::from(path)
        } else {
            PathBuf::from(&self.host_prefix).join(path.trim_start_matches('/'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Flags, String> {
        Flags::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn go_style_flags() {
        let f = parse(&[
            "-socketpath",
            "/tmp/d.sock",
            "--pidfile=/tmp/p",
            "-broadcast",
            "-timeout",
            "1m30s",
            "-resendmax=500ms",
            "-hostprefix",
            "/host",
            "-statedir",
            "/tmp/s",
        ])
        .unwrap();
        assert_eq!(f.socket_path, PathBuf::from("/tmp/d.sock"));
        assert_eq!(f.pid_file, Some(PathBuf::from("/tmp/p")));
        assert!(f.broadcast);
        assert_eq!(f.timing.timeout, Duration::from_secs(90));
        assert_eq!(f.timing.resend_max, Duration::from_millis(500));
        assert_eq!(f.timing.resend_timeout, Duration::from_secs(208));
        assert_eq!(
            f.on_host("/run/netns/x"),
            PathBuf::from("/host/run/netns/x")
        );
        assert_eq!(parse(&[]).unwrap().on_host("/a"), PathBuf::from("/a"));
        assert!(parse(&["-nope"]).is_err());
        assert!(parse(&["-timeout"]).is_err());
        assert!(parse(&["-timeout", "10"]).is_err());
        assert!(parse(&["-timeout", "0s"]).is_err());
        assert!(parse(&["stray"]).is_err());
        assert_eq!(
            parse_duration("1h2m3.5s"),
            Some(Duration::from_secs_f64(3723.5))
        );
    }
}
