//! The lab of parts 3 and 4 and the daemon's config with the static VIP; the
//! set-up shared with other scenarios is `lb_lab::scenario`.

use anyhow::{Result, ensure};
use lb_lab::{ConfigSpec, Lab, LabSpec, LbConfig, config::VipSection};

/// The trivial backends' port (Nginx `return 200` in each backend namespace);
/// the real stack (Gunicorn) listens on 80.
pub const STATIC_PORT: u16 = 8080;
pub const STACK_PORT: u16 = 80;
/// The Nginx proxy's stream (L4) listeners: the HTTP port plus one.
pub const STREAM_OFFSET: u16 = 1;

/// A lab of three backends.
pub fn lab(prefix: &str) -> Result<Lab> {
    ensure!(lb_lab::is_root(), "the lab needs root");
    Lab::up(LabSpec {
        prefix: prefix.into(),
        backends: 3,
        ipv6: false,
    })
}

/// The daemon's config: VIP `web` (port 80, the Gunicorn backends, as the
/// lab renders it from `spec`) plus VIP `static` on port 8080 with the same
/// hosts as backends `st-1..3` (the trivial Nginx), health-checked alike, no
/// shutdown action.
pub fn lb_config(lab: &Lab, spec: &ConfigSpec, with_static: bool) -> LbConfig {
    let mut cfg = LbConfig::render(lab, spec);
    if with_static {
        let web = cfg.vip[0].clone();
        let backend = web
            .backend
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let mut b = b.clone();
                b.name = format!("st-{}", i + 1);
                b.shutdown = None;
                b.on_drain = None;
                b
            })
            .collect();
        cfg.vip.push(VipSection {
            name: "static".into(),
            port: STATIC_PORT,
            backend,
            ..web
        });
    }
    cfg
}
