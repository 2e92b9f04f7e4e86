//! Is there anything in the clip, and does it look like the world the model knows (light
//! handwritten digits moving on a dark background)? Decided beside the caption, so a tool that
//! speaks captions never speaks one for a blank screen and can tell its listener when a caption is
//! a guess about something else. Thresholds: `univid eval`'s `domain` section measures them on
//! real test clips and on clips that are not moving digits (`tools::eval::unfamiliar`).

use crate::data::Clip;
use serde::{Deserialize, Serialize};

/// What a caption comes with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Description {
    /// A sentence of the caption grammar; "no digits" when the clip shows nothing.
    pub text: String,
    /// The probability the model gives its caption among the grammar's sentences (1 for "no
    /// digits", which is read off the pixels).
    pub confidence: f32,
    /// The clip does not look like moving digits: the caption is the model's guess about
    /// something it was not made for, and should not be spoken as a description.
    pub out_of_domain: bool,
}

/// What a tool should say for a clip flagged out of domain instead of its caption.
pub const NOT_MOVING_DIGITS: &str = "this does not look like moving digits";

impl Description {
    /// What to say aloud: the caption, or [`NOT_MOVING_DIGITS`] for a clip out of domain.
    pub fn spoken(&self) -> String {
        if self.out_of_domain { NOT_MOVING_DIGITS.into() } else { self.text.clone() }
    }
}

/// Pixel statistics of a clip as the model reads it (luminance, the model's frame size).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Appearance {
    /// Most pixels in any frame that stand out from that frame's median by more than a quarter of
    /// the range: how much there is to see.
    pub marks: usize,
    /// Largest frame median (0–255): the background's brightness.
    pub background: u8,
    /// Smallest share of dark pixels (≤ 10 % of the range) in any frame.
    pub dark: f32,
    /// Largest share of a frame's pixels that are dim but not black (4–25 of 255): the world's
    /// background is black, a dark room's is noisy dim grey.
    pub dim: f32,
    /// Most separate pieces (8-connected) the marks of any frame fall into: a few digits make a
    /// few strokes, specks and noise make dozens.
    pub pieces: usize,
    /// Largest share, among a frame's lit pixels (> 10 %), of mid-tones (10–90 %): handwriting is
    /// mostly full strokes with soft edges, noise and photographs mostly mid-tones.
    pub midtones: f32,
}

const MARK: i32 = 64;
const DARK: u8 = 25;
const DIM: u8 = 3;
const LIGHT: u8 = 230;

/// Fewer marks than this in every frame is an empty clip (the fewest in 1 000 real test clips: 126).
const EMPTY_BELOW: usize = 20;
// Out of domain beyond these. On 1 000 real test clips (`univid eval`, `appearance`): background
// always 0, dark share ≥ 0.88, dim share ≤ 0.012 (≤ 0.036 once resampled from another size),
// mid-tone share 0.31–0.75 (up to 0.99 once resampled), at most 4 pieces, caption confidence ≥ 0.21.
const MAX_BACKGROUND: u8 = 32;
const MIN_DARK: f32 = 0.7;
const MAX_DIM: f32 = 0.1;
const MIN_MIDTONES: f32 = 0.25;
const MAX_HAZE: f32 = 0.8;
const MIN_CONFIDENCE: f32 = 0.2;
const MAX_PIECES: usize = 8;

impl Appearance {
    /// Nothing stands out anywhere: no digits.
    pub fn is_empty(&self) -> bool {
        self.marks < EMPTY_BELOW
    }

    /// Not the world's look. Any clip: a background that is not black (a grey or light screen, a
    /// room, a dark room's dim noise). A clip with nothing standing out (`confidence` is `None`): lit pixels nearly all
    /// mid-tones (haze, faint noise). A clip with strokes (`confidence` is its caption's): strokes
    /// unlike handwriting's (no mid-tones, as hard-edged shapes; scattered in many pieces, as
    /// specks) or a caption the model doubts. Mostly mid-tones is not held against strokes: a real
    /// clip resampled from another size (blurred edges) looks like that too.
    pub fn is_unfamiliar(&self, confidence: Option<f32>) -> bool {
        let background = self.background > MAX_BACKGROUND || self.dark < MIN_DARK || self.dim > MAX_DIM;
        match confidence {
            None => background || self.midtones > MAX_HAZE,
            Some(confidence) => {
                background || self.midtones < MIN_MIDTONES || self.pieces > MAX_PIECES || confidence < MIN_CONFIDENCE
            }
        }
    }

    /// Of a clip's first channel (the model's input is one channel of luminance).
    pub fn of(clip: &Clip) -> Self {
        let mut look = Appearance { dark: 1.0, ..Default::default() };
        for f in 0..clip.frames {
            let frame: Vec<u8> = clip.frame(f).iter().step_by(clip.channels).copied().collect();
            let mut sorted = frame.clone();
            sorted.sort_unstable();
            let median = sorted[sorted.len() / 2];
            let marked: Vec<bool> = frame.iter().map(|&v| (v as i32 - median as i32).abs() > MARK).collect();
            let marks = marked.iter().filter(|&&m| m).count();
            look.pieces = look.pieces.max(pieces(&marked, clip.width));
            let dark = frame.iter().filter(|&&v| v <= DARK).count();
            let dim = frame.iter().filter(|&&v| v > DIM && v <= DARK).count();
            look.dim = look.dim.max(dim as f32 / frame.len() as f32);
            let lit = frame.len() - dark;
            let mid = frame.iter().filter(|&&v| v > DARK && v < LIGHT).count();
            look.marks = look.marks.max(marks);
            look.background = look.background.max(median);
            look.dark = look.dark.min(dark as f32 / frame.len() as f32);
            look.midtones = look.midtones.max(if lit == 0 { 0.0 } else { mid as f32 / lit as f32 });
        }
        look
    }
}

/// How many 8-connected pieces the marked pixels of a `width`-wide frame make.
fn pieces(marked: &[bool], width: usize) -> usize {
    let mut seen = vec![false; marked.len()];
    let mut count = 0;
    let mut stack = Vec::new();
    for start in 0..marked.len() {
        if !marked[start] || seen[start] {
            continue;
        }
        count += 1;
        seen[start] = true;
        stack.push(start);
        while let Some(at) = stack.pop() {
            let (y, x) = ((at / width) as isize, (at % width) as isize);
            for (dy, dx) in [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)] {
                let (ny, nx) = (y + dy, x + dx);
                if nx < 0 || nx >= width as isize || ny < 0 {
                    continue;
                }
                let next = ny as usize * width + nx as usize;
                if next < marked.len() && marked[next] && !seen[next] {
                    seen[next] = true;
                    stack.push(next);
                }
            }
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_8_connected() {
        let frame = |rows: &[&str]| -> Vec<bool> { rows.concat().chars().map(|c| c == '#').collect() };
        // A diagonal stroke is one piece; two specks apart are two.
        assert_eq!(pieces(&frame(&["#...", ".#..", "..#.", "...#"]), 4), 1);
        assert_eq!(pieces(&frame(&["#..#", "....", "....", ".##."]), 4), 3);
        assert_eq!(pieces(&frame(&["....", "...."]), 4), 0);
    }
}
