//! `shutdown = { ... }` and `on_drain = { ... }`: exactly one way to reach the
//! backend (a pid, a pid file, a command or an HTTP URL), checked here so a
//! drain never discovers at run time that its action cannot work.

use super::{
    check::Checked,
    error::Problem,
    locate::KeyPath,
    model::{Action, DEFAULT_HTTP_METHOD, PidSource, Signal},
    raw::RawAction,
};

/// Linux's `PID_MAX_LIMIT`. Larger values would turn negative in kill(2) and
/// signal a whole process group.
pub const MAX_PID: u32 = 4 * 1024 * 1024;

const TARGETS: &str = "`pid`, `pid_file`, `command` or `http`";

pub(super) fn action(raw: RawAction, at: &KeyPath) -> Checked<Action> {
    let given: Vec<&str> = [
        ("pid", raw.pid.is_some()),
        ("pid_file", raw.pid_file.is_some()),
        ("command", raw.command.is_some()),
        ("http", raw.http.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect();
    match given.as_slice() {
        [] => {
            return Err(Problem::new(
                at.clone(),
                format!("expected exactly one of {TARGETS}, got none"),
            ));
        }
        [_] => {}
        [first, second, ..] => {
            return Err(Problem::new(
                at.key(second),
                format!("expected exactly one of {TARGETS}, got both `{first}` and `{second}`"),
            ));
        }
    }
    let signalled = raw.pid.is_some() || raw.pid_file.is_some();
    if !signalled && raw.signal.is_some() {
        return Err(Problem::new(
            at.key("signal"),
            "`signal` applies only with `pid` or `pid_file`",
        ));
    }
    if raw.http.is_none() && raw.method.is_some() {
        return Err(Problem::new(
            at.key("method"),
            "`method` applies only with `http`",
        ));
    }

    if let Some(pid) = raw.pid {
        let signal = signal(raw.signal.as_deref(), at)?;
        if pid == 0 || pid > MAX_PID {
            return Err(Problem::new(
                at.key("pid"),
                format!("expected a process id in 1..={MAX_PID}, got {pid}"),
            ));
        }
        return Ok(Action::Signal {
            signal,
            target: PidSource::Pid(pid),
        });
    }
    if let Some(file) = raw.pid_file {
        let signal = signal(raw.signal.as_deref(), at)?;
        // The daemon's working directory is not the operator's.
        if !file.is_absolute() {
            return Err(Problem::new(
                at.key("pid_file"),
                format!(
                    "expected an absolute path, got {:?}",
                    file.display().to_string()
                ),
            ));
        }
        return Ok(Action::Signal {
            signal,
            target: PidSource::PidFile(file),
        });
    }
    if let Some(argv) = raw.command {
        if argv.first().is_none_or(std::string::String::is_empty) {
            return Err(Problem::new(
                at.key("command"),
                format!(
                    r#"expected a program and its arguments like ["ssh", "web-1", "systemctl", "stop", "app"], got {argv:?}"#
                ),
            ));
        }
        return Ok(Action::Command { argv });
    }
    let url = raw.http.unwrap_or_default();
    if let Err(why) = check_http_url(&url) {
        return Err(Problem::new(
            at.key("http"),
            format!(
                r#"expected a URL like "http://203.0.113.11:9000/shutdown", got {url:?}: {why}"#
            ),
        ));
    }
    let method = raw.method.unwrap_or_else(|| DEFAULT_HTTP_METHOD.to_owned());
    if method.is_empty() || method.len() > 16 || !method.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(Problem::new(
            at.key("method"),
            format!(r#"expected an HTTP method like "POST", got {method:?}"#),
        ));
    }
    Ok(Action::Http {
        url,
        method: method.to_ascii_uppercase(),
    })
}

fn signal(name: Option<&str>, at: &KeyPath) -> Checked<Signal> {
    let Some(name) = name else {
        return Ok(Signal::Term);
    };
    Signal::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Signal::ALL.iter().map(|(_, n)| *n).collect();
        Problem::new(
            at.key("signal"),
            format!(
                "expected one of {} (optionally with SIG), got {name:?}",
                names.join(", ")
            ),
        )
    })
}

/// An `http://host[:port]/...` URL with a host. Only plain HTTP for now (the
/// actions target local agents on the backend network); accepting `https://`
/// must wait for a TLS client, or a drain would find out at run time.
fn check_http_url(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("it must start with http://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority
            .rsplit('@')
            .next()
            .unwrap_or("")
            .split(':')
            .next()
            .unwrap_or(""),
    };
    if host.is_empty() {
        return Err("it has no host");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains spaces");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_http_url;

    #[test]
    fn urls() {
        for ok in [
            "http://203.0.113.11:9000/shutdown",
            "http://web-1/drain",
            "http://[2001:db8::11]:9000/x?now=1",
            "http://h",
        ] {
            assert_eq!(check_http_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "https://h/x",
            "ftp://h",
            "http://",
            "http:///x",
            "http://:80/x",
            "http://h/a b",
            "h/x",
        ] {
            assert!(check_http_url(bad).is_err(), "{bad}");
        }
    }
}
