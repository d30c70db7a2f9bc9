//! What a program does to the frame it is given, run after run.

use crate::packet::Mac;

/// What a program does to the frame on each run.
#[derive(Clone, Copy, Debug)]
pub enum Effect {
    /// Nothing (XDP_PASS).
    Unchanged,
    /// Swaps the two MACs (the floor).
    SwapMacs,
    /// Source MAC := destination MAC, destination MAC := this one.
    Forward(Mac),
}

impl Effect {
    /// The frame after `runs` runs on the same buffer (what repeat = N leaves).
    pub fn after(self, frame: &[u8], runs: u32) -> Vec<u8> {
        let mut out = frame.to_vec();
        match self {
            Effect::Unchanged => {}
            Effect::SwapMacs => {
                if runs % 2 == 1 {
                    out[0..6].copy_from_slice(&frame[6..12]);
                    out[6..12].copy_from_slice(&frame[0..6]);
                }
            }
            Effect::Forward(mac) => {
                if runs >= 1 {
                    let src = if runs == 1 { &frame[0..6] } else { &mac[..] };
                    out[6..12].copy_from_slice(src);
                    out[0..6].copy_from_slice(&mac);
                }
            }
        }
        out
    }
}
