//! WebVTT, the text-track format `<track kind="descriptions">` carries: audio description cues
//! for a video, one caption per time window (`univid describe --window`, and the JS API's
//! `describeTimeline`, which writes the same text).

/// One description: `start`–`end` seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Cue {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// The WebVTT file of `cues`, numbered from 1; `-->` inside a text (never produced by the
/// grammar) is replaced so a cue cannot end early.
pub fn webvtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n");
    for (i, cue) in cues.iter().enumerate() {
        out += &format!("\n{}\n{} --> {}\n{}\n", i + 1, timestamp(cue.start), timestamp(cue.end), cue.text.replace("-->", "→"));
    }
    out
}

fn timestamp(seconds: f64) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cues_are_numbered_with_hour_minute_second_millisecond_times() {
        let cues = [
            Cue { start: 0.0, end: 2.0, text: "digit 3 moves left".into() },
            Cue { start: 2.0, end: 3725.5, text: "a --> b".into() },
        ];
        assert_eq!(
            webvtt(&cues),
            "WEBVTT\n\n1\n00:00:00.000 --> 00:00:02.000\ndigit 3 moves left\n\n2\n00:00:02.000 --> 01:02:05.500\na → b\n"
        );
    }
}
