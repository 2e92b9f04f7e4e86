//! Which words may come next: the caption grammar and each question type's answers as a prefix
//! test, so a decoder that only picks allowed words always writes a caption that
//! [`parse_caption`](super::parse_caption) reads back, or an answer its question can have — whatever
//! the clip (an accessibility tool speaks what the model writes). Also the questions' own grammar
//! ([`parse_question`]) and the answers that follow from a caption alone ([`answer_from_caption`]).

use super::error::{DataError, Result};
use super::language::{list, number_word, QuestionKind, Tokenizer};
use super::world::{Motion, Place, MAX_DIGITS};

/// What a decoder is writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grammar {
    Caption,
    Answer(QuestionKind),
}

/// The end of a sentence, as a word of [`Grammar::next_words`].
pub const END: &str = "<eos>";

impl Grammar {
    /// The words that may follow `said` (the words written so far), [`END`] among them when `said`
    /// is already a whole sentence. Empty when `said` is not the start of any sentence.
    pub fn next_words(self, said: &[&str]) -> Vec<&'static str> {
        let mut next = Vec::new();
        match self {
            Grammar::Caption => match said {
                [] => next.extend(["no", "digit"]),
                ["no"] => next.push("digits"),
                ["no", "digits"] => next.push(END),
                ["no", ..] => {}
                _ => caption_next(said, None, 0, false, &mut next),
            },
            Grammar::Answer(kind) => {
                for answer in answers(kind) {
                    let words: Vec<&'static str> = answer.split(' ').map(vocabulary_word).collect();
                    match words.get(said.len()) {
                        Some(word) if words.starts_with(said) => next.push(*word),
                        None if words == said => next.push(END),
                        _ => {}
                    }
                }
            }
        }
        next.sort_unstable();
        next.dedup();
        next
    }

    /// Whether `text` (words separated by single spaces, as the decoder writes them) is a whole
    /// sentence of this grammar.
    pub fn accepts(self, text: &str) -> bool {
        let words: Vec<&str> = text.split(' ').collect();
        (0..words.len()).all(|i| self.next_words(&words[..i]).contains(&words[i])) && self.next_words(&words).contains(&END)
    }
}

/// Every answer a question of `kind` can have.
fn answers(kind: QuestionKind) -> Vec<String> {
    match kind {
        QuestionKind::WhichDigits | QuestionKind::WhichDigitMoves => digit_sets().iter().map(|set| list(set)).collect(),
        QuestionKind::HowMany => (0..=MAX_DIGITS).map(|n| number_word(n).to_string()).collect(),
        QuestionKind::WhichWay => Motion::ALL.iter().map(|m| m.phrase().to_string()).chain(["none".into()]).collect(),
        QuestionKind::WhereEnd | QuestionKind::WhereStart => {
            Place::ALL.iter().map(|p| p.phrase().to_string()).chain(["none".into()]).collect()
        }
        QuestionKind::IsThere => vec!["yes".into(), "no".into()],
    }
}

/// Every set of at most [`MAX_DIGITS`] distinct digits, each ascending, the empty one included.
fn digit_sets() -> Vec<Vec<String>> {
    let mut sets = vec![Vec::new()];
    for d in 0..10u8 {
        let longer: Vec<Vec<String>> =
            sets.iter().filter(|s| s.len() < MAX_DIGITS).map(|s| [s.clone(), vec![d.to_string()]].concat()).collect();
        sets.extend(longer);
    }
    sets
}

/// The `&'static` spelling of a word of the vocabulary.
fn vocabulary_word(word: &str) -> &'static str {
    Tokenizer.vocabulary().iter().find(|v| **v == word).copied().expect("answers use vocabulary words")
}

const DIGIT_WORDS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Caption grammar (`caption` in language.rs; "no digits" is matched in `next_words`): clauses `digit D moves M`, digits ascending, joined
/// as `c1` / `c1 while c2` / `c1 , c2 while c3`, at most [`MAX_DIGITS`] of them. Walks `rest`
/// from the start of a clause; `last` is the previous clause's digit, `clauses` how many came
/// before, `closed` whether `while` has been said (the clause after it is the last).
fn caption_next(rest: &[&str], last: Option<u8>, clauses: usize, closed: bool, next: &mut Vec<&'static str>) {
    // After a `,` this clause is not the last: a larger digit must be left for the `while` one.
    let room = u8::from(clauses > 0 && !closed);
    let above = |d: u8| last.is_none_or(|l| d > l) && 9 - d >= room;
    match rest {
        [] => next.push("digit"),
        ["digit"] => next.extend((0..10u8).filter(|&d| above(d)).map(|d| DIGIT_WORDS[d as usize])),
        ["digit", d] => {
            if d.parse::<u8>().is_ok_and(|d| d < 10 && above(d)) {
                next.push("moves");
            }
        }
        ["digit", d, "moves", tail @ ..] => {
            let Some(digit) = d.parse::<u8>().ok().filter(|&d| d < 10 && above(d)) else { return };
            for motion in Motion::ALL {
                let phrase: Vec<&'static str> = motion.phrase().split(' ').collect();
                if tail.len() < phrase.len() {
                    if phrase.starts_with(tail) {
                        next.push(phrase[tail.len()]);
                    }
                } else if tail.starts_with(&phrase) {
                    after_clause(&tail[phrase.len()..], digit, clauses + 1, closed, next);
                }
            }
        }
        _ => {}
    }
}

/// After the `clauses`-th clause (its digit `digit`): the end, `while` before the last clause, or
/// `,` before a middle one — each only where enough larger digits and clause slots remain.
fn after_clause(rest: &[&str], digit: u8, clauses: usize, closed: bool, next: &mut Vec<&'static str>) {
    let digits_left = 9 - digit as usize;
    let can_while = !closed && clauses < MAX_DIGITS && digits_left >= 1;
    let can_comma = !closed && clauses + 2 <= MAX_DIGITS && digits_left >= 2;
    let can_end = closed || clauses == 1;
    match rest {
        [] => {
            next.extend(can_end.then_some(END));
            next.extend(can_while.then_some("while"));
            next.extend(can_comma.then_some(","));
        }
        ["while", more @ ..] if can_while => caption_next(more, Some(digit), clauses, true, next),
        [",", more @ ..] if can_comma => caption_next(more, Some(digit), clauses, false, next),
        _ => {}
    }
}

/// A question of one of the templated kinds, with the digit or direction it asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question {
    pub kind: QuestionKind,
    pub digit: Option<u8>,
    pub motion: Option<Motion>,
}

/// Reads a question written as `question_answer` writes them (case, spacing and the final `?`
/// are free); any other question is an error that lists the ones the model knows.
pub fn parse_question(text: &str) -> Result<Question> {
    let lower = text.to_lowercase();
    let mut words = Tokenizer::split(&lower);
    if words.last() == Some(&"?") {
        words.pop();
    }
    let ask = |kind, digit, motion| Some(Question { kind, digit, motion });
    let question = match words.as_slice() {
        ["which", "digits", "are", "there"] => ask(QuestionKind::WhichDigits, None, None),
        ["how", "many", "digits", "are", "there"] => ask(QuestionKind::HowMany, None, None),
        ["which", "way", "does", "digit", d, "move"] => digit_word(d).and_then(|d| ask(QuestionKind::WhichWay, Some(d), None)),
        ["which", "digit", "moves", phrase @ ..] => Motion::ALL
            .into_iter()
            .find(|m| m.phrase().split(' ').eq(phrase.iter().copied()))
            .and_then(|m| ask(QuestionKind::WhichDigitMoves, None, Some(m))),
        ["where", "does", "digit", d, "end", "up"] => digit_word(d).and_then(|d| ask(QuestionKind::WhereEnd, Some(d), None)),
        ["where", "does", "digit", d, "start"] => digit_word(d).and_then(|d| ask(QuestionKind::WhereStart, Some(d), None)),
        ["is", "there", "a", "digit", d] => digit_word(d).and_then(|d| ask(QuestionKind::IsThere, Some(d), None)),
        _ => None,
    };
    question.ok_or_else(|| DataError::UnknownQuestion(text.trim().to_string()))
}

fn digit_word(word: &str) -> Option<u8> {
    word.parse::<u8>().ok().filter(|d| *d < 10)
}

/// The answer a caption's (digit, motion) pairs give to `question`, as `question_answer` would
/// write it; `None` for questions a caption cannot answer (where a named digit starts or ends).
pub fn answer_from_caption(question: &Question, caption: &[(u8, Motion)]) -> Option<String> {
    let digits = |keep: &dyn Fn(&(u8, Motion)) -> bool| -> Vec<String> {
        let mut found: Vec<u8> = caption.iter().filter(|c| keep(c)).map(|(d, _)| *d).collect();
        found.sort_unstable();
        found.iter().map(u8::to_string).collect()
    };
    let motion_of = |d: Option<u8>| caption.iter().find(|(c, _)| Some(*c) == d).map(|(_, m)| *m);
    Some(match question.kind {
        QuestionKind::WhichDigits => list(&digits(&|_| true)),
        QuestionKind::HowMany => number_word(caption.len()).to_string(),
        QuestionKind::WhichWay => motion_of(question.digit).map_or("none", Motion::phrase).to_string(),
        QuestionKind::WhichDigitMoves => list(&digits(&|(_, m)| Some(*m) == question.motion)),
        QuestionKind::IsThere => (if motion_of(question.digit).is_some() { "yes" } else { "no" }).to_string(),
        // Where a named digit is needs the clip; a digit the caption does not name is nowhere.
        QuestionKind::WhereEnd | QuestionKind::WhereStart => match motion_of(question.digit) {
            Some(_) => return None,
            None => "none".to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::language::{caption, parse_caption, question_answer};
    use crate::data::world::tests::world;
    use crate::data::{Split, WorldConfig};
    use rand::{Rng, SeedableRng};

    /// A random sentence of `grammar`: a decoder that may pick any allowed word.
    fn random_sentence(grammar: Grammar, rng: &mut impl Rng) -> String {
        let mut said: Vec<&str> = Vec::new();
        loop {
            let next = grammar.next_words(&said);
            assert!(!next.is_empty(), "dead end after {said:?}");
            let word = next[rng.random_range(0..next.len())];
            if word == END {
                return said.join(" ");
            }
            said.push(word);
            assert!(said.len() < 30, "runaway sentence {said:?}");
        }
    }

    #[test]
    fn every_caption_of_the_world_is_in_the_grammar() {
        let w = world(WorldConfig { min_digits: 1, max_digits: 3, ..WorldConfig::standard() });
        for i in 0..300 {
            let (_, truth) = w.clip(Split::Train, 5, i);
            assert!(Grammar::Caption.accepts(&caption(&truth)), "{}", caption(&truth));
        }
    }

    #[test]
    fn every_sentence_the_grammar_allows_parses_as_a_caption() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut lengths = std::collections::BTreeSet::new();
        for _ in 0..3000 {
            let text = random_sentence(Grammar::Caption, &mut rng);
            let parsed = parse_caption(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(parsed.windows(2).all(|w| w[0].0 < w[1].0), "digits ascending: {text}");
            assert!(Tokenizer.encode(&text).unwrap().len() + 2 <= crate::data::MAX_TEXT_TOKENS);
            lengths.insert(parsed.len());
        }
        assert_eq!(lengths, (0..=MAX_DIGITS).collect(), "no digits and one to three digits are all reachable");
    }

    #[test]
    fn what_the_grammar_refuses() {
        for text in ["digit 3 moves", "digit 3 moves up digit", "digit 7 moves up while digit 3 moves left",
            "digit 1 moves up , digit 2 moves left", "digit 1 moves up while digit 2 moves up while digit 3 moves up",
            "digit 3 moves up and", "digit 9 moves up while digit 9 moves left", "no", "no digits while digit 3 moves up",
            "digit 3 moves up while no digits"] {
            assert!(!Grammar::Caption.accepts(text), "{text}");
        }
        assert_eq!(Grammar::Caption.next_words(&["digit", "9", "moves", "up"]), vec![END, "and"]);
        assert!(Grammar::Caption.next_words(&["moves"]).is_empty());
        assert!(Grammar::Caption.accepts(crate::data::NO_DIGITS));
    }

    #[test]
    fn every_answer_the_world_writes_is_allowed_and_every_allowed_answer_is_well_formed() {
        let w = world(WorldConfig { min_digits: 1, max_digits: 3, ..WorldConfig::standard() });
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        for i in 0..200 {
            let (_, truth) = w.clip(Split::Test, 3, i);
            for kind in QuestionKind::ALL {
                let (question, answer) = question_answer(kind, &truth, &mut rng);
                assert!(Grammar::Answer(kind).accepts(&answer), "{question} {answer}");
                let sentence = random_sentence(Grammar::Answer(kind), &mut rng);
                assert!(answers(kind).contains(&sentence), "{sentence}");
            }
        }
        assert!(!Grammar::Answer(QuestionKind::IsThere).accepts("yes yes"));
        assert!(!Grammar::Answer(QuestionKind::WhichDigits).accepts("7 and 3"));
    }

    #[test]
    fn every_question_the_world_asks_parses_back_and_others_are_refused() {
        let w = world(WorldConfig { min_digits: 1, max_digits: 3, ..WorldConfig::standard() });
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for i in 0..200 {
            let (_, truth) = w.clip(Split::Test, 4, i);
            let pairs: Vec<(u8, Motion)> = truth.digits.iter().map(|d| (d.digit, d.motion)).collect();
            for kind in QuestionKind::ALL {
                let (text, answer) = question_answer(kind, &truth, &mut rng);
                let question = parse_question(&text).unwrap();
                assert_eq!(question.kind, kind, "{text}");
                // From the true caption, the grammar gives the world's own answer.
                if let Some(derived) = answer_from_caption(&question, &pairs) {
                    assert_eq!(derived, answer, "{text}");
                }
            }
        }
        // "no digits": every question has its "nothing there" answer.
        let nothing: Vec<String> = ["which digits are there ?", "how many digits are there ?", "which way does digit 3 move ?",
            "which digit moves up ?", "where does digit 3 end up ?", "where does digit 3 start ?", "is there a digit 3 ?"]
            .iter()
            .map(|q| answer_from_caption(&parse_question(q).unwrap(), &parse_caption(crate::data::NO_DIGITS).unwrap()).unwrap())
            .collect();
        assert_eq!(nothing, ["none", "none", "none", "none", "none", "none", "no"]);
        assert_eq!(parse_question("Which digits are there?").unwrap().kind, QuestionKind::WhichDigits);
        for text in ["why ?", "which digit moves sideways ?", "is there a digit 12 ?", "which digits are there there ?"] {
            assert!(matches!(parse_question(text), Err(DataError::UnknownQuestion(_))), "{text}");
        }
    }
}
