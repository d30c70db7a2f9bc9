//! `lb reload` / SIGHUP: a new config applied to the running state. Backends
//! that did not change keep their ids, flows, drains and health.

use super::{
    model::Model,
    state::{State, Work},
};
use crate::{
    api::{control::ControlError, types::ReloadReport},
    config::Config,
};

/// Applies `config`; returns what changed and the work that follows.
pub fn reload(
    state: &mut State,
    config: Config,
) -> Result<(ReloadReport, Vec<Work>), ControlError> {
    let old = &state.model.config.daemon;
    let new = &config.daemon;
    if old.interface != new.interface
        || old.pin_root != new.pin_root
        || old.socket != new.socket
        || old.state_file != new.state_file
        || (
            old.max_vips,
            old.max_backends,
            old.max_flows,
            old.max_drain_flows,
            old.maglev_size,
        ) != (
            new.max_vips,
            new.max_backends,
            new.max_flows,
            new.max_drain_flows,
            new.maglev_size,
        )
    {
        tracing::warn!(
            "daemon.interface, pin_root, socket, state_file and map sizes take effect only on a \
             fresh start; the rest of the new config is applied"
        );
    }
    let mut report = ReloadReport::default();
    for (_, b) in config.backends() {
        match state.model.backends.get(&b.name) {
            None => report.added.push(b.name.clone()),
            Some(old) if old.cfg != *b => report.changed.push(b.name.clone()),
            Some(_) => report.unchanged.push(b.name.clone()),
        }
    }
    for name in state.model.backends.keys() {
        if config.backend(name).is_none() {
            report.removed.push(name.clone());
        }
    }
    let (max_vips, max_backends) = match state.dataplane.as_ref() {
        Some(dp) => (dp.sizes.max_vips, dp.sizes.max_backends),
        None => (
            state.model.config.daemon.max_vips,
            state.model.config.daemon.max_backends,
        ),
    };
    let persisted = state.model.to_persisted(&state.xdp_mode);
    let previous = state.model.backends.clone();
    state.model = Model::new(config, persisted, max_vips, max_backends, previous)
        .map_err(|e| ControlError::BadConfig(e.to_string()))?;
    let mut work = Vec::new();
    for name in &report.removed {
        state.collecting.remove(name);
        state.exited.remove(name);
        if let Some(tracked) = state.tracked.remove(name) {
            work.push(Work::Forget(tracked.keys().copied().collect()));
        }
    }
    state.apply()?;
    tracing::info!(?report, "config reloaded");
    Ok((report, work))
}
