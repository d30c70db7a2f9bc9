//! The standard `process_*` metrics of Prometheus client libraries, read
//! from /proc/self. Hand-written (about 60 lines) rather than taken from the
//! `prometheus` crate, whose process collector needs its registry and the
//! `procfs` crate, while this exposition is rendered by hand from the status.

/// One reading of the process.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Process {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub start_time_seconds: f64,
    pub open_fds: u64,
    pub max_fds: u64,
    pub threads: u64,
}

impl Process {
    /// Reads /proc/self; none if it is not there (not Linux, no /proc).
    pub fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<f64>().ok())?;
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        // SAFETY: as above.
        let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        let max_fds = match unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } {
            0 => limit.rlim_cur,
            _ => 0,
        };
        let mut p = from_stat(&stat, ticks, page)?;
        p.start_time_seconds += boot_time;
        p.open_fds = open_fds;
        p.max_fds = max_fds;
        Some(p)
    }
}

/// The fields of /proc/self/stat (proc(5)); `start_time_seconds` is since
/// boot. The command name may hold spaces and parentheses: fields are
/// counted after its last ')'.
fn from_stat(stat: &str, ticks_per_s: f64, page_bytes: u64) -> Option<Process> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is index 0 here.
    let f: Vec<&str> = after_comm.split_whitespace().collect();
    let num = |field: usize| f.get(field - 3)?.parse::<u64>().ok();
    Some(Process {
        cpu_seconds: (num(14)? + num(15)?) as f64 / ticks_per_s,
        threads: num(20)?,
        start_time_seconds: num(22)? as f64 / ticks_per_s,
        virtual_bytes: num(23)?,
        resident_bytes: num(24)? * page_bytes,
        ..Process::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // Tick counts over 100 ticks/s: the seconds are exact.
    #[allow(clippy::float_cmp)]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = "4242 (lb (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 \
                    150 50 0 0 20 0 3 0 12000 104857600 2560 18446744073709551615";
        let p = from_stat(stat, 100.0, 4096).unwrap();
        assert_eq!(p.cpu_seconds, 2.0);
        assert_eq!(p.threads, 3);
        assert_eq!(p.start_time_seconds, 120.0);
        assert_eq!(p.virtual_bytes, 104_857_600);
        assert_eq!(p.resident_bytes, 2560 * 4096);
        assert_eq!(from_stat("4242 (lb) S 1", 100.0, 4096), None);
    }

    #[test]
    fn this_process_reads_sensibly() {
        let p = Process::read().expect("/proc/self");
        assert!(
            p.resident_bytes > 0 && p.virtual_bytes >= p.resident_bytes,
            "{p:?}"
        );
        assert!(p.open_fds >= 3 && p.max_fds >= p.open_fds, "{p:?}");
        assert!(p.start_time_seconds > 1.7e9, "{p:?}");
        assert!(p.threads >= 1);
    }
}
