//! The binary stream the trainer reads (`univid data --stream`): one self-describing header, then
//! fixed-size records, so the world is defined once (here) and the trainer never re-implements it.
//!
//! Header: `UVREC003`, u32 little-endian JSON length, JSON [`RecordLayout`].
//! Record (little-endian): pixels `frames*size*size` u8 · digit count u8 · digits\[3] · motions\[3]
//! · start places\[3] · end places\[3] (u8, 255 = no digit) · question kinds\[7] u8 · answer
//! offsets\[7] u8 · caption tokens\[32] u16 · question+answer tokens\[7]\[32] u16 (all text
//! `<bos> … <eos>`, `<pad>` after) · digit top-left corners `[frames][3][x, y]` u8 (rounded pixels;
//! 255 = no digit), which lets the trainer supervise where each digit is, frame by frame.
//!
//! Every record asks one question of each kind, in a random order, so a trainer that takes the first
//! `q` learns from `q` kinds drawn uniformly without replacement (`q` = 1: one uniform kind).

use super::clip::Clip;
use super::error::Result;
use super::language::{caption, question_answer, QuestionKind, Tokenizer, BOS, EOS, MAX_TEXT_TOKENS};
use super::world::Truth;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::io::Write;

pub const MAGIC: &[u8; 8] = b"UVREC003";
const SLOTS: usize = 3;
const QUESTIONS: usize = QuestionKind::ALL.len();

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordLayout {
    pub frames: usize,
    pub size: usize,
    pub text_len: usize,
    pub slots: usize,
    pub questions: usize,
    pub record_bytes: usize,
    pub vocabulary: Vec<String>,
    pub question_kinds: Vec<QuestionKind>,
}

impl RecordLayout {
    pub fn new(frames: usize, size: usize) -> Self {
        let record_bytes = frames * size * size + 1 + 4 * SLOTS + 2 * QUESTIONS + 2 * (1 + QUESTIONS) * MAX_TEXT_TOKENS + frames * SLOTS * 2;
        Self {
            frames,
            size,
            text_len: MAX_TEXT_TOKENS,
            slots: SLOTS,
            questions: QUESTIONS,
            record_bytes,
            vocabulary: Tokenizer.vocabulary().iter().map(|s| s.to_string()).collect(),
            question_kinds: QuestionKind::ALL.to_vec(),
        }
    }

    pub fn write_header(&self, out: &mut impl Write) -> Result<()> {
        let json = serde_json::to_vec(self).expect("layout serialises");
        out.write_all(MAGIC)?;
        out.write_all(&(json.len() as u32).to_le_bytes())?;
        out.write_all(&json)?;
        Ok(())
    }
}

/// `<bos> ids <eos> <pad>…` at exactly `MAX_TEXT_TOKENS`.
fn padded(ids: &[u16]) -> Vec<u16> {
    let mut out = Vec::with_capacity(MAX_TEXT_TOKENS);
    out.push(BOS);
    out.extend_from_slice(ids);
    out.push(EOS);
    out.resize(MAX_TEXT_TOKENS, 0);
    out
}

fn slots(values: impl Iterator<Item = u8>) -> [u8; SLOTS] {
    let mut out = [255; SLOTS];
    for (slot, value) in out.iter_mut().zip(values) {
        *slot = value;
    }
    out
}

/// Writes one record; the questions are drawn from a stream seeded by the clip's own identity.
pub fn write_record(out: &mut impl Write, clip: &Clip, truth: &Truth) -> Result<()> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(truth.seed ^ truth.index.rotate_left(17) ^ 0x5155);
    let mut kinds = QuestionKind::ALL;
    kinds.shuffle(&mut rng);
    let tokenizer = Tokenizer;
    let mut answer_offsets = Vec::with_capacity(QUESTIONS);
    let mut qa_tokens = Vec::with_capacity(QUESTIONS * MAX_TEXT_TOKENS);
    for kind in kinds {
        let (question, answer) = question_answer(kind, truth, &mut rng);
        let question_ids = tokenizer.encode(&question)?;
        answer_offsets.push((1 + question_ids.len()) as u8);
        qa_tokens.extend(padded(&[question_ids, tokenizer.encode(&answer)?].concat()));
    }
    let caption_ids = tokenizer.encode(&caption(truth))?;

    out.write_all(&clip.pixels)?;
    out.write_all(&[truth.digits.len() as u8])?;
    out.write_all(&slots(truth.digits.iter().map(|d| d.digit)))?;
    out.write_all(&slots(truth.digits.iter().map(|d| d.motion.id() as u8)))?;
    out.write_all(&slots(truth.digits.iter().map(|d| d.start as u8)))?;
    out.write_all(&slots(truth.digits.iter().map(|d| d.end as u8)))?;
    out.write_all(&kinds.map(|k| k.id() as u8))?;
    out.write_all(&answer_offsets)?;
    for id in padded(&caption_ids).into_iter().chain(qa_tokens) {
        out.write_all(&id.to_le_bytes())?;
    }
    out.write_all(&corners(clip.frames, truth))?;
    Ok(())
}

/// `[frame][slot][x, y]` top-left corners, rounded and clamped to u8; 255 where a slot is empty.
fn corners(frames: usize, truth: &Truth) -> Vec<u8> {
    let mut out = vec![255; frames * SLOTS * 2];
    for (slot, digit) in truth.digits.iter().enumerate().take(SLOTS) {
        for (frame, &(x, y)) in digit.trajectory.iter().enumerate().take(frames) {
            let at = (frame * SLOTS + slot) * 2;
            out[at] = x.round().clamp(0.0, 254.0) as u8;
            out[at + 1] = y.round().clamp(0.0, 254.0) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::world::tests::world;
    use crate::data::{Split, WorldConfig};

    #[test]
    fn records_have_the_declared_size() {
        let w = world(WorldConfig::standard());
        let layout = RecordLayout::new(20, 64);
        for i in 0..20 {
            let (clip, truth) = w.clip(Split::Train, 0, i);
            let mut bytes = Vec::new();
            write_record(&mut bytes, &clip, &truth).unwrap();
            assert_eq!(bytes.len(), layout.record_bytes);
            let at = 20 * 64 * 64;
            assert_eq!(bytes[at], 2);
            assert_eq!(bytes[at + 1], truth.digits[0].digit);
            assert_eq!(bytes[at + 3], 255);
        }
    }

    #[test]
    fn every_record_asks_each_question_kind_once_in_a_varying_order() {
        let w = world(WorldConfig::standard());
        let at = 20 * 64 * 64 + 1 + 4 * SLOTS;
        let mut first_kinds = std::collections::HashSet::new();
        for i in 0..40 {
            let (clip, truth) = w.clip(Split::Train, 0, i);
            let mut bytes = Vec::new();
            write_record(&mut bytes, &clip, &truth).unwrap();
            let mut kinds = bytes[at..at + QUESTIONS].to_vec();
            first_kinds.insert(kinds[0]);
            kinds.sort_unstable();
            assert_eq!(kinds, (0..QUESTIONS as u8).collect::<Vec<_>>());
            let text = &bytes[at + 2 * QUESTIONS + 2 * MAX_TEXT_TOKENS..];
            for (q, &offset) in bytes[at + QUESTIONS..at + 2 * QUESTIONS].iter().enumerate() {
                let tokens: Vec<u16> = (0..MAX_TEXT_TOKENS)
                    .map(|t| u16::from_le_bytes([text[2 * (q * MAX_TEXT_TOKENS + t)], text[2 * (q * MAX_TEXT_TOKENS + t) + 1]]))
                    .collect();
                let end = tokens.iter().position(|&t| t == EOS).unwrap();
                // The answer is at least one word, between the question and the end of text.
                assert!((offset as usize) < end && tokens[0] == BOS, "{q}: offset {offset}, end {end}");
            }
        }
        assert!(first_kinds.len() >= 5, "{first_kinds:?}");
    }
}
