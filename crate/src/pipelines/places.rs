//! Where a digit starts and where it ends up, read from the locate head: per grid cell of a time
//! slot, P(a digit's centre is here) and P(which digit). The language head answered these from its
//! own states at 74 % (start) and 68 % (end) on the test split; the locate head's cell, on the
//! same clips, is right 95 % of the time for both (`scripts/trainer/probes/where_probe.py`).

use crate::data::{Clip, Place};
use crate::model::{read, Result, UniVid, LOCATE_OUTPUTS};

/// Which end of the clip a place is asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Start,
    Finish,
}

impl UniVid {
    /// The locate head's logits `[cells × LOCATE_OUTPUTS]` for the clip's first time slot, from the
    /// video-only pass (the states the head was trained on); `None` without a locate head.
    pub async fn locate_first_slot(&self, clip: &Clip) -> Result<Option<Vec<f32>>> {
        let (_, gh, gw) = self.config.grid();
        match self.locate_logits(self.video_states(clip)?.narrow(1, 0, gh * gw)) {
            Some(logits) => Ok(Some(read(logits).await?)),
            None => Ok(None),
        }
    }

    /// Where `digit` is at the clip's first or last frame: the quadrant of the cell that most
    /// likely holds its centre. The last frame is read as the first frame of the clip played
    /// backwards (the head labels a slot's first frame; a bouncing digit at constant speed looks
    /// the same in reverse), one more pass. `None` without a locate head.
    pub async fn digit_place(&self, clip: &Clip, digit: u8, end: End) -> Result<Option<Place>> {
        let reversed;
        let clip = match end {
            End::Start => clip,
            End::Finish => {
                reversed = clip.reversed();
                &reversed
            }
        };
        let Some(logits) = self.locate_first_slot(clip).await? else { return Ok(None) };
        let (_, _, gw) = self.config.grid();
        let side = self.config.tubelet_hw as f32;
        let cell = best_cell(&logits, digit as usize);
        let (x, y) = (((cell % gw) as f32 + 0.5) * side, ((cell / gw) as f32 + 0.5) * side);
        Ok(Some(Place::of_centre(x, y, self.config.size as f32)))
    }
}

/// The cell maximising P(a centre here) · P(it is `digit` | a centre here); ties to the first.
fn best_cell(logits: &[f32], digit: usize) -> usize {
    let score = |row: &[f32]| {
        let centre = 1.0 / (1.0 + (-row[0]).exp());
        let names = &row[1..11];
        let max = names.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let total: f32 = names.iter().map(|v| (v - max).exp()).sum();
        centre * (names[digit] - max).exp() / total
    };
    logits
        .chunks(LOCATE_OUTPUTS)
        .map(score)
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, s)| if s > best.1 { (i, s) } else { best })
        .0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_cell_weighs_a_centre_by_which_digit_it_is() {
        let mut logits = vec![0.0; 3 * LOCATE_OUTPUTS];
        // Cell 0: surely a centre, but of a 5. Cell 2: likely a centre, of a 3.
        logits[0] = 6.0;
        logits[1 + 5] = 8.0;
        logits[2 * LOCATE_OUTPUTS] = 2.0;
        logits[2 * LOCATE_OUTPUTS + 1 + 3] = 8.0;
        assert_eq!(best_cell(&logits, 3), 2);
        assert_eq!(best_cell(&logits, 5), 0);
    }
}
