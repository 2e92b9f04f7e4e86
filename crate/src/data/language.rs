//! The language of the world: a closed vocabulary, the caption grammar (also the generation prompt
//! grammar), seven templated question types, and a tokenizer that refuses words it does not know.
//!
//! Caption grammar, digits in ascending order:
//! `digit D moves M` joined by `while` (two digits) or `, … while …` (three), where M is one of
//! `right`, `up and to the right`, `up`, `up and to the left`, `left`, `down and to the left`,
//! `down`, `down and to the right` — the digit's initial direction (it bounces afterwards); and
//! [`NO_DIGITS`] for a clip that shows none.

use super::error::{DataError, Result};
use super::world::{Motion, Place, Truth};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Every word the model reads or writes, in token-id order. Ids 0–2 are special.
const VOCABULARY: &[&str] = &[
    "<pad>", "<bos>", "<eos>", "digit", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "moves",
    "move", "up", "down", "left", "right", "and", "to", "the", "while", ",", "?", "which",
    "digits", "are", "there", "how", "many", "way", "does", "where", "end", "start", "is", "a",
    "yes", "no", "none", "one", "two", "three", "top", "bottom",
];

pub type Token = u16;
pub const PAD: Token = 0;
pub const BOS: Token = 1;
pub const EOS: Token = 2;
/// Longest token sequence (with `<bos>` and `<eos>`) any caption, prompt or Q+A takes.
pub const MAX_TEXT_TOKENS: usize = 32;

/// How the language words the world's motions and places.
impl Motion {
    pub fn phrase(self) -> &'static str {
        match self {
            Motion::Right => "right",
            Motion::UpRight => "up and to the right",
            Motion::Up => "up",
            Motion::UpLeft => "up and to the left",
            Motion::Left => "left",
            Motion::DownLeft => "down and to the left",
            Motion::Down => "down",
            Motion::DownRight => "down and to the right",
        }
    }
}

impl Place {
    pub fn phrase(self) -> &'static str {
        match self {
            Place::TopLeft => "top left",
            Place::TopRight => "top right",
            Place::BottomLeft => "bottom left",
            Place::BottomRight => "bottom right",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuestionKind {
    WhichDigits,
    HowMany,
    WhichWay,
    WhichDigitMoves,
    WhereEnd,
    WhereStart,
    IsThere,
}

impl QuestionKind {
    pub const ALL: [QuestionKind; 7] = [
        QuestionKind::WhichDigits, QuestionKind::HowMany, QuestionKind::WhichWay,
        QuestionKind::WhichDigitMoves, QuestionKind::WhereEnd, QuestionKind::WhereStart,
        QuestionKind::IsThere,
    ];

    pub fn id(self) -> usize {
        self as usize
    }
}

/// "3", "3 and 7", "1 , 4 and 9".
pub(super) fn list(items: &[String]) -> String {
    match items {
        [] => "none".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(" , ")),
    }
}

/// The caption of a clip with no digit in it.
pub const NO_DIGITS: &str = "no digits";

/// The caption of a clip: every digit with its initial direction, digits in ascending order.
pub fn caption(truth: &Truth) -> String {
    if truth.digits.is_empty() {
        return NO_DIGITS.into();
    }
    let parts: Vec<String> = truth
        .digits
        .iter()
        .map(|d| format!("digit {} moves {}", d.digit, d.motion.phrase()))
        .collect();
    match parts.as_slice() {
        [init @ .., last] if !init.is_empty() => format!("{} while {last}", init.join(" , ")),
        _ => parts.join(""),
    }
}

/// Parses a caption/prompt back into (digit, motion) pairs; the inverse of [`caption`].
pub fn parse_caption(text: &str) -> Result<Vec<(u8, Motion)>> {
    let words: Vec<&str> = Tokenizer::split(text);
    if words.is_empty() {
        return Err(DataError::EmptyText);
    }
    if words == NO_DIGITS.split(' ').collect::<Vec<_>>() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut rest = words.as_slice();
    loop {
        let [first, digit, verb, tail @ ..] = rest else {
            return Err(DataError::Grammar(format!("expected \"digit D moves …\" at \"{}\"", rest.join(" "))));
        };
        let digit: u8 = match (*first, digit.parse::<u8>(), *verb) {
            ("digit", Ok(d), "moves") if d < 10 => d,
            _ => return Err(DataError::Grammar(format!("expected \"digit D moves …\" at \"{}\"", rest.join(" ")))),
        };
        let (motion, after) = Motion::ALL
            .iter()
            .filter_map(|m| {
                let phrase: Vec<&str> = m.phrase().split(' ').collect();
                tail.starts_with(&phrase).then(|| (*m, &tail[phrase.len()..]))
            })
            .max_by_key(|(m, _)| m.phrase().len())
            .ok_or_else(|| DataError::Grammar(format!("unknown direction at \"{}\"", tail.join(" "))))?;
        if out.iter().any(|(d, _)| *d == digit) {
            return Err(DataError::Grammar(format!("digit {digit} is named twice")));
        }
        out.push((digit, motion));
        match after {
            [] => return Ok(out),
            ["while" | ",", more @ ..] => rest = more,
            _ => return Err(DataError::Grammar(format!("unexpected \"{}\"", after.join(" ")))),
        }
    }
}

pub(super) fn number_word(n: usize) -> &'static str {
    ["none", "one", "two", "three"][n.min(3)]
}

/// A question of `kind` about `truth` and its answer. Questions about a digit ask about a present
/// digit most of the time, and about an absent one (answer "none"/"no") otherwise, so the model
/// learns to say when something is not there.
pub fn question_answer(kind: QuestionKind, truth: &Truth, rng: &mut impl Rng) -> (String, String) {
    let present: Vec<u8> = truth.digits.iter().map(|d| d.digit).collect();
    let absent: Vec<u8> = (0..10).filter(|d| !present.contains(d)).collect();
    let pick_digit = |rng: &mut dyn rand::RngCore| -> u8 {
        if rng.random_bool(0.8) || absent.is_empty() {
            present[rng.random_range(0..present.len())]
        } else {
            absent[rng.random_range(0..absent.len())]
        }
    };
    match kind {
        QuestionKind::WhichDigits => {
            let names: Vec<String> = present.iter().map(u8::to_string).collect();
            ("which digits are there ?".into(), list(&names))
        }
        QuestionKind::HowMany => ("how many digits are there ?".into(), number_word(present.len()).into()),
        QuestionKind::WhichWay => {
            let d = pick_digit(rng);
            let answer = truth.find(d).map_or("none", |t| t.motion.phrase());
            (format!("which way does digit {d} move ?"), answer.into())
        }
        QuestionKind::WhichDigitMoves => {
            let motion = if rng.random_bool(0.7) {
                truth.digits[rng.random_range(0..truth.digits.len())].motion
            } else {
                Motion::ALL[rng.random_range(0..8)]
            };
            let movers: Vec<String> =
                truth.digits.iter().filter(|d| d.motion == motion).map(|d| d.digit.to_string()).collect();
            (format!("which digit moves {} ?", motion.phrase()), list(&movers))
        }
        QuestionKind::WhereEnd => {
            let d = pick_digit(rng);
            let answer = truth.find(d).map_or("none", |t| t.end.phrase());
            (format!("where does digit {d} end up ?"), answer.into())
        }
        QuestionKind::WhereStart => {
            let d = pick_digit(rng);
            let answer = truth.find(d).map_or("none", |t| t.start.phrase());
            (format!("where does digit {d} start ?"), answer.into())
        }
        QuestionKind::IsThere => {
            let d = if rng.random_bool(0.5) { present[rng.random_range(0..present.len())] } else { pick_digit(rng) };
            let answer = if present.contains(&d) { "yes" } else { "no" };
            (format!("is there a digit {d} ?"), answer.into())
        }
    }
}

/// Word-level tokenizer over [`VOCABULARY`]; unknown words are an error, never `<unk>`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tokenizer;

impl Tokenizer {
    pub fn vocab_size(&self) -> usize {
        VOCABULARY.len()
    }

    pub fn vocabulary(&self) -> &'static [&'static str] {
        VOCABULARY
    }

    /// Lower-cases and splits on white space, detaching `,` and `?`.
    pub(super) fn split(text: &str) -> Vec<&str> {
        text.split_whitespace()
            .flat_map(|word| word.split_inclusive([',', '?']))
            .flat_map(|word| match word.strip_suffix([',', '?']) {
                Some(head) if !head.is_empty() => vec![head, &word[head.len()..]],
                _ => vec![word],
            })
            .collect()
    }

    /// Token ids of `text` (no `<bos>`/`<eos>`).
    pub fn encode(&self, text: &str) -> Result<Vec<Token>> {
        let lower = text.to_lowercase();
        let words = Self::split(&lower);
        if words.is_empty() {
            return Err(DataError::EmptyText);
        }
        let mut unknown = Vec::new();
        let ids: Vec<Token> = words
            .iter()
            .filter_map(|w| {
                let id = VOCABULARY.iter().skip(3).position(|v| v == w).map(|i| (i + 3) as Token);
                if id.is_none() && !unknown.contains(&w.to_string()) {
                    unknown.push(w.to_string());
                }
                id
            })
            .collect();
        if !unknown.is_empty() {
            let vocabulary = VOCABULARY[3..].iter().map(|s| s.to_string()).collect();
            return Err(DataError::UnknownWords { unknown, vocabulary });
        }
        if ids.len() + 2 > MAX_TEXT_TOKENS {
            return Err(DataError::TextTooLong { len: ids.len() + 2, max: MAX_TEXT_TOKENS });
        }
        Ok(ids)
    }

    /// Text of token ids, stopping at `<eos>` and skipping `<pad>`/`<bos>`.
    pub fn decode(&self, ids: &[Token]) -> String {
        let words: Vec<&str> = ids
            .iter()
            .take_while(|&&id| id != EOS)
            .filter(|&&id| id != PAD && id != BOS)
            .map(|&id| VOCABULARY.get(id as usize).copied().unwrap_or("<?>"))
            .collect();
        words.join(" ")
    }

    pub fn id(&self, word: &str) -> Option<Token> {
        VOCABULARY.iter().position(|v| *v == word).map(|i| i as Token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::world::tests::world;
    use crate::data::{Split, WorldConfig};
    use rand::SeedableRng;

    #[test]
    fn captions_follow_the_truth_and_parse_back() {
        let w = world(WorldConfig { min_digits: 1, max_digits: 3, ..WorldConfig::standard() });
        for i in 0..300 {
            let (_, truth) = w.clip(Split::Train, 11, i);
            let text = caption(&truth);
            let parsed = parse_caption(&text).unwrap();
            let expected: Vec<(u8, Motion)> = truth.digits.iter().map(|d| (d.digit, d.motion)).collect();
            assert_eq!(parsed, expected, "{text}");
            let ids = Tokenizer.encode(&text).unwrap();
            assert_eq!(Tokenizer.decode(&ids), text);
        }
    }

    #[test]
    fn caption_examples() {
        assert_eq!(parse_caption("digit 3 moves up and to the left while digit 7 moves right").unwrap(),
            vec![(3, Motion::UpLeft), (7, Motion::Right)]);
        assert!(matches!(parse_caption("digit 3 moves sideways"), Err(DataError::Grammar(_))));
        assert!(matches!(parse_caption("digit 3 moves up digit"), Err(DataError::Grammar(_))));
        assert!(matches!(parse_caption("digit 3 moves up while digit 3 moves left"), Err(DataError::Grammar(_))));
    }

    #[test]
    fn unknown_words_are_refused_with_the_vocabulary() {
        let err = Tokenizer.encode("digit 3 flies left").unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, DataError::UnknownWords { ref unknown, .. } if unknown == &["flies"]));
        assert!(message.contains("flies") && message.contains("moves") && message.contains("bottom"));
        assert!(matches!(Tokenizer.encode("   "), Err(DataError::EmptyText)));
        assert!(matches!(Tokenizer.encode(&"up ".repeat(40)), Err(DataError::TextTooLong { .. })));
    }

    #[test]
    fn punctuation_is_split_and_case_ignored() {
        let ids = Tokenizer.encode("Which digits are there?").unwrap();
        assert_eq!(Tokenizer.decode(&ids), "which digits are there ?");
    }

    #[test]
    fn every_question_kind_has_a_consistent_answer() {
        let w = world(WorldConfig::standard());
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        for i in 0..200 {
            let (_, truth) = w.clip(Split::Test, 3, i);
            for kind in QuestionKind::ALL {
                let (q, a) = question_answer(kind, &truth, &mut rng);
                assert!(Tokenizer.encode(&format!("{q} {a}")).unwrap().len() + 2 <= MAX_TEXT_TOKENS);
                match kind {
                    QuestionKind::HowMany => assert_eq!(a, "two"),
                    QuestionKind::WhichWay => {
                        let d: u8 = q.split(' ').nth(4).unwrap().parse().unwrap();
                        assert_eq!(a, truth.find(d).map_or("none", |t| t.motion.phrase()));
                    }
                    QuestionKind::IsThere => {
                        let d: u8 = q.split(' ').nth(4).unwrap().parse().unwrap();
                        assert_eq!(a == "yes", truth.find(d).is_some());
                    }
                    _ => assert!(!a.is_empty()),
                }
            }
        }
    }

    #[test]
    fn nearest_motion_wraps_around() {
        assert_eq!(Motion::nearest(359.0), Motion::Right);
        assert_eq!(Motion::nearest(135.0), Motion::UpLeft);
        assert_eq!(Motion::nearest(-90.0), Motion::Down);
    }
}
