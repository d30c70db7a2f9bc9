//! What the figures were measured on, and when.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// Online CPUs.
    pub cores: usize,
    /// `uname -r`.
    pub kernel: String,
    /// MemTotal from /proc/meminfo, in MiB.
    pub memory_mib: u64,
    /// The kernel's mitigations that cost on every call and return
    /// (spectre_v2, spec_rstack_overflow), from /sys/devices/system/cpu/vulnerabilities.
    #[serde(default)]
    pub mitigations: String,
}

impl Machine {
    pub fn probe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            cpuinfo.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == name).then(|| v.trim().to_owned())
            })
        };
        let model = field("model name").unwrap_or_else(|| "unknown".into());
        // A VM often shows only the brand; family and model still tell the core.
        let cpu = match (field("cpu family"), field("model")) {
            (Some(family), Some(m)) => format!("{model}, family {family} model {m}"),
            _ => model,
        };
        let cores = crate::xdp::online_cpus();
        let kernel = nix::sys::utsname::uname().map_or_else(
            |_| "unknown".into(),
            |u| u.release().to_string_lossy().into_owned(),
        );
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_mib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024);
        let vuln = |name: &str| {
            std::fs::read_to_string(format!("/sys/devices/system/cpu/vulnerabilities/{name}"))
                .map(|s| format!("{name}: {}", s.trim()))
                .ok()
        };
        let mitigations = ["spectre_v2", "spec_rstack_overflow"]
            .iter()
            .filter_map(|n| vuln(n))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            cpu,
            cores,
            kernel,
            memory_mib,
            mitigations,
        }
    }

    /// One line for the report.
    pub fn line(&self) -> String {
        format!(
            "{} cores ({}), {} MiB, Linux {}",
            self.cores, self.cpu, self.memory_mib, self.kernel
        )
    }
}

/// Today's date (UTC), `YYYY-MM-DD`.
pub fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400).cast_signed());
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).expect("day of month is 1..=31");
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).expect("month is 1..=12");
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_000), (2024, 10, 4));
    }
}
