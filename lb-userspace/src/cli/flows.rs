//! `lb flows`: follows the API's pages (`next` cursors) so that nothing is
//! ever left out silently.

use crate::api::{
    client::{Client, ClientResult},
    types::FlowView,
};

/// Flows per request.
const PAGE: usize = 1000;

pub struct Listed {
    pub flows: Vec<FlowView>,
    /// Matching flows in the table when the first page was read.
    pub total: u64,
    /// Flows not shown because of `--limit`.
    pub more: u64,
}

/// Every flow (of `backend`), or the first `limit`.
pub async fn list(
    client: &Client,
    backend: Option<&str>,
    limit: Option<u64>,
) -> ClientResult<Listed> {
    let mut flows = Vec::new();
    let mut after: Option<String> = None;
    let mut total = None;
    loop {
        let want = limit.map_or(PAGE, |l| (l as usize).saturating_sub(flows.len()).min(PAGE));
        let page = client
            .flows(backend, Some(want.max(1)), after.as_deref())
            .await?;
        total.get_or_insert(page.total);
        flows.extend(page.flows);
        let full = limit.is_some_and(|l| flows.len() as u64 >= l);
        match page.next {
            Some(next) if !full => after = Some(next),
            Some(_) => {
                let total = total.unwrap_or(0);
                let more = total.saturating_sub(flows.len() as u64).max(1);
                return Ok(Listed { flows, total, more });
            }
            None => {
                let total = total.unwrap_or(0).max(flows.len() as u64);
                return Ok(Listed {
                    flows,
                    total,
                    more: 0,
                });
            }
        }
    }
}
