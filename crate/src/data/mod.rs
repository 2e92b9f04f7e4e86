//! The Captioned Moving MNIST world: real handwritten digits bouncing in a 64×64 box, with
//! ground truth, captions, questions and answers — all pure functions of (config, split, seed).
//!
//! Everything the model sees in training, in tests and in the browser comes from here, so the
//! CLI, the trainer (which reads what `univid data --stream` writes) and the page share one world.

mod clip;
mod digits;
mod error;
mod grammar;
mod language;
mod records;
mod vtt;
mod world;

pub use clip::Clip;
pub use digits::{Digits, Split, DIGIT_SIDE};
pub use error::{DataError, Result};
pub use grammar::{answer_from_caption, parse_question, Grammar, Question, END as END_OF_SENTENCE};
pub use language::{
    parse_caption, EOS as EOS_TOKEN,
    caption, question_answer, QuestionKind, Token, Tokenizer, MAX_TEXT_TOKENS, NO_DIGITS,
};
pub use records::{write_record, RecordLayout};
pub use vtt::{webvtt, Cue};
pub use world::{DigitTruth, Motion, MotionSampling, Place, Truth, World, WorldConfig, MAX_DIGITS};
