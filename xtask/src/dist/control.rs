//! The package's DEBIAN/control and md5sums, derived from the staged tree
//! and the binary (its glibc needs, its installed size).

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use super::output;

/// The fields that vary; the rest is fixed text in [`Control::render`].
pub struct Control {
    pub version: String,
    pub arch: String,
    pub installed_kib: u64,
    /// Newest `GLIBC_x.y` symbol version the binary needs.
    pub glibc: String,
}

impl Control {
    pub fn for_tree(stage: &Path, lb: &Path) -> Result<Self> {
        let arch = output(Command::new("dpkg").arg("--print-architecture"))?
            .trim()
            .to_owned();
        let symbols = output(Command::new("objdump").arg("-T").arg(lb))?;
        let glibc = newest_glibc(&symbols).context("lb needs no GLIBC_ symbol version?")?;
        let du = output(
            Command::new("du")
                .args(["-sk", "--exclude=DEBIAN"])
                .arg(stage),
        )?;
        let installed_kib = du
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .context("parsing du's output")?;
        Ok(Self {
            version: format!("{}-1", env!("CARGO_PKG_VERSION")),
            arch,
            installed_kib,
            glibc,
        })
    }

    pub fn file_name(&self) -> String {
        format!("lb_{}_{}.deb", self.version, self.arch)
    }

    pub fn render(&self) -> String {
        format!(
            "Package: lb\n\
             Version: {}\n\
             Architecture: {}\n\
             Maintainer: lb developers <lb@example.org>\n\
             Installed-Size: {}\n\
             Depends: libc6 (>= {}), libgcc-s1, adduser, mount, util-linux\n\
             Recommends: nftables\n\
             Section: net\n\
             Priority: optional\n\
             Homepage: https://github.com/example/lb\n\
             Description: XDP L4 load balancer with graceful backend drains\n \
             lb spreads connections over backends with Maglev hashing in an XDP\n \
             program, and drains a backend without losing a request: new\n \
             connections stop at once in the kernel, existing ones finish, then\n \
             the backend is told to shut down.\n \
             .\n \
             The daemon runs as the system user lb with CAP_BPF, CAP_NET_ADMIN,\n \
             CAP_PERFMON and CAP_KILL only. The service is not started on\n \
             installation: edit /etc/lb/lb.toml, run `lb check`, then\n \
             `systemctl enable --now lb`.\n",
            self.version, self.arch, self.installed_kib, self.glibc
        )
    }
}

/// `2.34` from objdump -T lines like `... (GLIBC_2.34) pthread_create`.
pub fn newest_glibc(objdump: &str) -> Option<String> {
    objdump
        .split(|c: char| c == '(' || c == ')' || c.is_whitespace())
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let parts: Option<Vec<u32>> = v.split('.').map(|p| p.parse().ok()).collect();
            parts.map(|p| (p, v.to_owned()))
        })
        .max()
        .map(|(_, v)| v)
}

/// `md5sum` lines for every file outside DEBIAN, paths relative to the root.
pub fn md5sums(stage: &Path) -> Result<String> {
    let mut files = Vec::new();
    walk(stage, &mut files)?;
    files.retain(|f| !f.starts_with(stage.join("DEBIAN")));
    files.sort();
    if files.is_empty() {
        bail!("nothing staged in {}", stage.display());
    }
    let relative: Vec<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix(stage).map(Path::to_path_buf))
        .collect::<Result<_, _>>()?;
    output(Command::new("md5sum").current_dir(stage).args(&relative))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_glibc_compares_versions_as_numbers() {
        let dump = "0 DF *UND* 0 (GLIBC_2.9) a\n0 DF *UND* 0 (GLIBC_2.34) b\n\
                    0 DF *UND* 0 (GLIBC_2.3.4) c\n0 DF *UND* 0 GCC_3.0 d\n";
        assert_eq!(newest_glibc(dump).as_deref(), Some("2.34"));
        assert_eq!(newest_glibc("nothing here"), None);
    }
}
