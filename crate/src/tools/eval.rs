//! `univid eval`: the shipped model's report on held-out data (test split: handwriting never seen
//! in training). Every figure in the model card comes from here.

pub mod frame_quality;
pub mod unfamiliar;

use crate::data::{caption, question_answer, Clip, Motion, QuestionKind, Split, Tokenizer, Truth, World, NO_DIGITS};
use crate::tools::judge::{frechet_distance, Judge, Tally};
use crate::model::{Result, UniVid};
use crate::pipelines::{no_progress, rank_by_similarity, AnswerSource, Appearance, DecodeOptions, Description, GenerateOptions, Progress};
use rand::SeedableRng;
use serde_json::{json, Value};
use std::ops::ControlFlow;

/// Understanding: digit set, motions, captions, and every question type — answered as `ask` does
/// (`qa_accuracy`) and, for comparison, every answer decoded by the model (`qa_model_only`).
pub async fn understanding(model: &UniVid, world: &World, n: u64, seed: u64) -> Result<Value> {
    let (mut set_ok, mut motion_ok, mut motions, mut caption_ok, mut tokens_ok, mut tokens) = (0, 0, 0, 0, 0, 0);
    let mut qa = vec![(0u32, 0u32); QuestionKind::ALL.len()];
    let mut qa_model = qa.clone();
    let mut described: Vec<(Description, bool, Appearance)> = Vec::new();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0xE7A1);
    for index in 0..n {
        let (clip, truth) = world.clip(Split::Test, seed, index);
        let classes = model.classify(&clip).await?;
        let predicted: Vec<u8> = classes.digits.iter().map(|d| d.digit).collect();
        let actual: Vec<u8> = truth.digits.iter().map(|d| d.digit).collect();
        set_ok += (predicted == actual) as u32;
        for d in &truth.digits {
            motions += 1;
            motion_ok += classes.digits.iter().any(|g| g.digit == d.digit && g.motion == d.motion) as u32;
        }
        let asked: Vec<(QuestionKind, String, String)> = QuestionKind::ALL
            .into_iter()
            .map(|kind| {
                let (question, answer) = question_answer(kind, &truth, &mut rng);
                (kind, question, answer)
            })
            .collect();
        let questions: Vec<&str> = asked.iter().map(|(_, q, _)| q.as_str()).collect();
        let (said, replies) = model.describe_and_ask(&clip, &questions, DecodeOptions::default()).await?;
        let expected = caption(&truth);
        described.push((said.clone(), said.text == expected, Appearance::of(&clip)));
        let said = said.text;
        caption_ok += (said == expected) as u32;
        let (a, b) = (Tokenizer.encode(&said).unwrap_or_default(), Tokenizer.encode(&expected)?);
        tokens += b.len().max(a.len()) as u32;
        tokens_ok += a.iter().zip(&b).filter(|(x, y)| x == y).count() as u32;
        let by_model = DecodeOptions { answers: AnswerSource::Model, ..DecodeOptions::default() };
        let (_, model_replies) = model.describe_and_ask(&clip, &questions, by_model).await?;
        for (tally, replies) in [(&mut qa, &replies), (&mut qa_model, &model_replies)] {
            for ((kind, _, answer), reply) in asked.iter().zip(replies) {
                tally[kind.id()].0 += (reply == answer) as u32;
                tally[kind.id()].1 += 1;
            }
        }
    }
    let rate = |k: u32, of: u32| k as f64 / of.max(1) as f64;
    let per_type = |qa: &[(u32, u32)]| -> serde_json::Map<String, Value> {
        QuestionKind::ALL
            .iter()
            .map(|k| (serde_json::to_value(k).unwrap().as_str().unwrap().to_string(), json!(rate(qa[k.id()].0, qa[k.id()].1))))
            .collect()
    };
    let total = |qa: &[(u32, u32)]| qa.iter().fold((0, 0), |a, q| (a.0 + q.0, a.1 + q.1));
    let (qa_total, model_total) = (total(&qa), total(&qa_model));
    Ok(json!({
        "clips": n,
        "digit_set_accuracy": rate(set_ok, n as u32),
        "motion_accuracy": rate(motion_ok, motions),
        "caption_exact_match": rate(caption_ok, n as u32),
        "caption_token_accuracy": rate(tokens_ok, tokens),
        "qa_accuracy": rate(qa_total.0, qa_total.1),
        "qa_accuracy_per_type": per_type(&qa),
        "qa_model_only": { "accuracy": rate(model_total.0, model_total.1), "per_type": per_type(&qa_model) },
        "caption_confidence": calibration(&described),
        "flagged_out_of_domain": described.iter().filter(|(d, _, _)| d.out_of_domain).count() as f64 / n.max(1) as f64,
        "said_no_digits": described.iter().filter(|(d, _, _)| d.text == NO_DIGITS).count() as f64 / n.max(1) as f64,
        "appearance": appearance_summary(described.iter().map(|(d, _, a)| (d, a))),
    }))
}

/// `clip` drawn at `side × side` by bilinear interpolation (pixel centres aligned), as a video
/// player or an editor enlarges a small clip.
pub fn smoothly_enlarged(clip: &Clip, side: usize) -> Clip {
    let (h, w) = (clip.height, clip.width);
    let mut pixels = Vec::with_capacity(clip.frames * side * side);
    for f in 0..clip.frames {
        let frame = clip.frame(f);
        let at = |y: usize, x: usize| frame[y * w + x] as f32;
        for y in 0..side {
            let sy = ((y as f32 + 0.5) * h as f32 / side as f32 - 0.5).clamp(0.0, (h - 1) as f32);
            let (y0, fy) = (sy.floor() as usize, sy.fract());
            let y1 = (y0 + 1).min(h - 1);
            for x in 0..side {
                let sx = ((x as f32 + 0.5) * w as f32 / side as f32 - 0.5).clamp(0.0, (w - 1) as f32);
                let (x0, fx) = (sx.floor() as usize, sx.fract());
                let x1 = (x0 + 1).min(w - 1);
                let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
                let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
                pixels.push((top * (1.0 - fy) + bottom * fy).round() as u8);
            }
        }
    }
    Clip::new(clip.frames, side, side, pixels).expect("sizes match")
}

/// How well the caption's confidence predicts that it is exactly right: the mean confidence and
/// the rate of exact captions in ten confidence bins, and the expected calibration error (the
/// bins' |confidence − accuracy| weighted by their share of clips).
fn calibration(described: &[(Description, bool, Appearance)]) -> Value {
    let mut bins = vec![(0u32, 0f64, 0u32); 10];
    for (d, exact, _) in described {
        let bin = &mut bins[((d.confidence * 10.0) as usize).min(9)];
        bin.0 += 1;
        bin.1 += d.confidence as f64;
        bin.2 += *exact as u32;
    }
    let n = described.len().max(1) as f64;
    let ece: f64 = bins.iter().filter(|b| b.0 > 0).map(|b| (b.1 / b.0 as f64 - b.2 as f64 / b.0 as f64).abs() * b.0 as f64 / n).sum();
    let rows: Vec<Value> = bins
        .iter()
        .enumerate()
        .filter(|(_, b)| b.0 > 0)
        .map(|(i, b)| json!({ "bin": format!("{:.1}–{:.1}", i as f64 / 10.0, (i + 1) as f64 / 10.0), "clips": b.0,
                               "mean_confidence": b.1 / b.0 as f64, "exact": b.2 as f64 / b.0 as f64 }))
        .collect();
    json!({ "expected_calibration_error": ece, "bins": rows })
}

/// Quantiles of each statistic the out-of-domain decision reads, so its thresholds can be checked
/// against real clips and the unfamiliar kinds side by side.
fn appearance_summary<'a>(items: impl Iterator<Item = (&'a Description, &'a Appearance)>) -> Value {
    let items: Vec<_> = items.collect();
    let quantiles = |mut v: Vec<f64>| -> Value {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v.get(((v.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
        json!({ "min": at(0.0), "p1": at(0.01), "p5": at(0.05), "median": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": at(1.0) })
    };
    json!({
        "marks": quantiles(items.iter().map(|(_, a)| a.marks as f64).collect()),
        "background": quantiles(items.iter().map(|(_, a)| a.background as f64).collect()),
        "dark": quantiles(items.iter().map(|(_, a)| a.dark as f64).collect()),
        "midtones": quantiles(items.iter().map(|(_, a)| a.midtones as f64).collect()),
        "pieces": quantiles(items.iter().map(|(_, a)| a.pieces as f64).collect()),
        "dim": quantiles(items.iter().map(|(_, a)| a.dim as f64).collect()),
        "confidence": quantiles(items.iter().map(|(d, _)| d.confidence as f64).collect()),
    })
}

/// Clips that are not moving digits (`unfamiliar`), `n` of each kind, and blank clips of several
/// sizes and greys: how often each is flagged out of domain or said to hold no digits.
pub async fn domain(model: &UniVid, n: u64, seed: u64) -> Result<Value> {
    let (frames, side) = (model.config.frames, model.config.size);
    let mut report = serde_json::Map::new();
    for kind in unfamiliar::Kind::ALL {
        let clips: Vec<Clip> = (0..n).map(|index| unfamiliar::clip(kind, seed, index, frames, side)).collect();
        report.insert(json!(kind).as_str().unwrap_or_default().to_string(), described_report(model, &clips).await?);
    }
    // Real test clips as a user's video of them would come: drawn larger with smoothing (bilinear),
    // then resampled to the model's size as every input is.
    let world = World::new(crate::data::WorldConfig::standard(), crate::data::Digits::locate()?)?;
    for larger in [128, 200] {
        let clips = (0..n)
            .map(|index| Ok(smoothly_enlarged(&world.clip(Split::Test, seed, index).0, larger).resized(frames, side, side)?))
            .collect::<Result<Vec<Clip>>>()?;
        report.insert(format!("real-test-clips-from-{larger}px"), described_report(model, &clips).await?);
    }
    let mut blank_ok = (0, 0);
    for (frames_in, h, w) in [(1, 3, 3), (20, 64, 64), (7, 64, 640), (2, 1080, 1920)] {
        for grey in [0u8, 128, 255] {
            let clip = Clip::new(frames_in, h, w, vec![grey; frames_in * h * w])?.resized(frames, side, side)?;
            blank_ok.0 += (model.describe(&clip, DecodeOptions::default()).await?.text == NO_DIGITS) as u32;
            blank_ok.1 += 1;
        }
    }
    report.insert("blank".into(), json!({ "clips": blank_ok.1, "said_no_digits": blank_ok.0 as f64 / blank_ok.1 as f64 }));
    Ok(Value::Object(report))
}

/// Each clip described: how many were flagged out of domain or said to hold no digits, and the
/// quantiles of what the flag reads.
async fn described_report(model: &UniVid, clips: &[Clip]) -> Result<Value> {
    let mut described = Vec::with_capacity(clips.len());
    for clip in clips {
        described.push((model.describe(clip, DecodeOptions::default()).await?, Appearance::of(clip)));
    }
    let share = |keep: &dyn Fn(&Description) -> bool| described.iter().filter(|(d, _)| keep(d)).count() as f64 / clips.len().max(1) as f64;
    Ok(json!({
        "clips": clips.len(),
        "flagged_out_of_domain": share(&|d| d.out_of_domain),
        "said_no_digits": share(&|d| d.text == NO_DIGITS),
        "appearance": appearance_summary(described.iter().map(|(d, a)| (d, a))),
    }))
}

/// OpenSTL's per-frame figures, averaged over the predicted frames: squared and absolute error
/// summed over the frame's pixels (values in [0, 1]), SSIM and PSNR.
#[derive(Default, Clone, Copy)]
struct FrameScores {
    mse: f64,
    mae: f64,
    ssim: f64,
    psnr: f64,
}

impl std::ops::Add for FrameScores {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self { mse: self.mse + o.mse, mae: self.mae + o.mae, ssim: self.ssim + o.ssim, psnr: self.psnr + o.psnr }
    }
}

impl FrameScores {
    fn scaled(self, k: f64) -> Self {
        Self { mse: self.mse * k, mae: self.mae * k, ssim: self.ssim * k, psnr: self.psnr * k }
    }
}

fn frame_scores(predicted: &Clip, truth: &Clip, from: usize) -> FrameScores {
    assert_eq!(truth.channels, 1, "continuation clips are greyscale");
    let mut sum = FrameScores::default();
    for f in from..truth.frames {
        let (p, t) = (predicted.frame(f), truth.frame(f));
        for (a, b) in p.iter().zip(t) {
            let d = (*a as f64 - *b as f64) / 255.0;
            sum.mse += d * d;
            sum.mae += d.abs();
        }
        sum.ssim += frame_quality::ssim(p, t, truth.height, truth.width);
        sum.psnr += frame_quality::psnr(p, t);
    }
    sum.scaled(1.0 / (truth.frames - from) as f64)
}

/// 10 → 10 continuation on the benchmark generator, with the all-black and copy-last-frame
/// baselines computed by the same code: one future sampled with `steps` Euler steps, and the
/// one-step clean-sample estimate (the conditional mean: blurred where the future is uncertain,
/// the MSE-optimal guess the benchmark's MSE rewards; what `continue` returns with `steps: 1`).
/// The judge reads the sampled future alone: does each digit stay itself and keep moving the way
/// the real future does (`future_caption`)? The same judge on the real future is its ceiling here.
pub async fn continuation(model: &UniVid, judge: &Judge, world: &World, n: u64, seed: u64, steps: usize) -> Result<Value> {
    let frames_in = model.config.frames / 2; // `continue` takes the half split it was trained on
    let mut totals = [FrameScores::default(); 4];
    let (mut sampled_tally, mut real_tally) = (Tally::default(), Tally::default());
    for index in 0..n {
        let (clip, truth) = world.clip(Split::Test, seed, index);
        let options = GenerateOptions { steps, guidance: 1.0, seed: index };
        let context = clip.slice(0, frames_in)?;
        // The sampler's first step starts from the same noise as a one-step run: its estimate is what
        // `steps: 1` returns, so one run gives both.
        let mut first = None;
        let predicted = model.continue_clip(&context, frames_in, options, &mut |p: Progress<'_>| {
            if p.step == 1 {
                first = Some((p.estimate)());
            }
            ControlFlow::Continue(())
        }).await?;
        let estimate = first.expect("a continuation makes at least one step");
        let black = Clip::blank(clip.frames, clip.height, clip.width, clip.channels);
        let mut last = clip.clone();
        for f in frames_in..clip.frames {
            let previous = clip.frame(frames_in - 1).to_vec();
            last.frame_mut(f).copy_from_slice(&previous);
        }
        for (total, guess) in totals.iter_mut().zip([&predicted, &black, &last, &estimate]) {
            *total = *total + frame_scores(guess, &clip, frames_in);
        }
        let expected = future_caption(&truth, frames_in);
        sampled_tally.add(&judge.check(&predicted.slice(frames_in, clip.frames)?, &expected).await?);
        real_tally.add(&judge.check(&clip.slice(frames_in, clip.frames)?, &expected).await?);
    }
    let per = |t: FrameScores| {
        let t = t.scaled(1.0 / n as f64);
        json!({ "mse": t.mse, "mae": t.mae, "ssim": t.ssim, "psnr": t.psnr })
    };
    let mut judged = sampled_tally.rates("consistency");
    merge(&mut judged, json!({ "real_future": real_tally.rates("consistency"),
        "what": "the judge reads the sampled future frames alone against the real future's caption (each digit's identity and its direction from the first future frame on, after any bounce); real_future: the same judge on the real future frames, its ceiling here" }));
    Ok(json!({ "clips": n, "steps": steps, "frames_in": frames_in, "model": per(totals[0]), "model_one_step": per(totals[3]),
        "all_black": per(totals[1]), "copy_last_frame": per(totals[2]), "sampled_judged": judged }))
}

/// The caption of a clip's frames from `from` on: the same digits, each moving the way it sets off
/// at frame `from` (a digit that bounced before then moves the other way in that part).
fn future_caption(truth: &Truth, from: usize) -> String {
    let mut future = truth.clone();
    for digit in &mut future.digits {
        let ((x0, y0), (x1, y1)) = (digit.trajectory[from], digit.trajectory[from + 1]);
        digit.motion = Motion::nearest((y0 - y1).atan2(x1 - x0).to_degrees().rem_euclid(360.0));
    }
    caption(&future)
}

/// Text → video: generate from held-out captions and let the judge check each element; beside it
/// (`real_clips`) the same judge on the prompts' real clips, its ceiling on these prompts.
pub async fn text_to_video(model: &UniVid, judge: &Judge, world: &World, n: u64, seed: u64, steps: usize) -> Result<Value> {
    // The same judge on the prompts' real clips: its ceiling on these prompts.
    let (mut tally, mut real_tally) = (Tally::default(), Tally::default());
    let (mut real, mut generated_features, mut other_real) = (Vec::new(), Vec::new(), Vec::new());
    for index in 0..n {
        let (clip, truth) = world.clip(Split::Test, seed, index);
        let prompt = caption(&truth);
        let options = GenerateOptions { steps, guidance: 2.0, seed: index };
        let generated = model.generate(&prompt, options, &mut no_progress).await?;
        tally.add(&judge.check(&generated, &prompt).await?);
        real_tally.add(&judge.check(&clip, &prompt).await?);
        let k = truth.digits.len();
        generated_features.push(judge.features(&generated, k).await?);
        real.push(judge.features(&clip, k).await?);
        // A second real set of the same size: the distance two real samples already have at this n.
        let (other, other_truth) = world.clip(Split::Test, seed, n + index);
        other_real.push(judge.features(&other, other_truth.digits.len()).await?);
    }
    let mut report = json!({
        "clips": n, "steps": steps, "guidance": 2.0,
        "judge_frechet": {
            "generated_vs_real": frechet_distance(&generated_features, &real),
            "real_vs_real": frechet_distance(&other_real, &real),
            "what": "Fréchet distance between judge features (22: digit probabilities, motion histogram, physics fit, ink statistics) of the generated clips and their prompts' real test clips; not FVD",
        },
    });
    merge(&mut report, tally.rates("faithfulness"));
    report["real_clips"] = real_tally.rates("faithfulness");
    Ok(report)
}

/// How many clips the judge's ceiling report lists where it disagrees with the ground truth (to
/// look at: `univid data --split … --start INDEX --n 1`).
const MAX_LISTED_DISAGREEMENTS: usize = 20;

/// The judge on real clips against their true captions: the ceiling for generated video.
pub async fn judge_ceiling(judge: &Judge, world: &World, split: Split, n: u64, seed: u64) -> Result<Value> {
    let mut tally = Tally::default();
    let mut disagreements = Vec::new();
    for index in 0..n {
        let (clip, truth) = world.clip(split, seed, index);
        let verdict = judge.check(&clip, &caption(&truth)).await?;
        tally.add(&verdict);
        if !verdict.faithful && disagreements.len() < MAX_LISTED_DISAGREEMENTS {
            disagreements.push(json!({ "index": index, "caption": caption(&truth), "elements": verdict.elements }));
        }
    }
    let mut report = json!({
        "data": { "split": split, "seed": seed, "clips": n,
                  "world": format!("standard geometry, {} digit(s), compass directions", world.config.max_digits) },
        "disagreements": disagreements,
    });
    merge(&mut report, tally.rates("agreement"));
    Ok(report)
}

/// Text ↔ video retrieval over `n` test clips: Recall@1/5/10 and median rank both ways (a text
/// query is answered by any clip with the same caption), and precision of attribute queries
/// ("digit 7 moves left": every clip where that holds is relevant).
pub async fn retrieval(model: &UniVid, world: &World, n: u64, seed: u64) -> Result<Value> {
    let (mut clips, mut truths) = (Vec::new(), Vec::new());
    for index in 0..n {
        let (clip, truth) = world.clip(Split::Test, seed, index);
        clips.push(model.embed_clip(&clip).await?);
        truths.push(truth);
    }
    let captions: Vec<String> = truths.iter().map(caption).collect();
    let mut distinct = captions.clone();
    distinct.sort();
    distinct.dedup();
    let mut texts = Vec::new();
    for text in &distinct {
        texts.push(model.embed_query(text).await?);
    }
    // text → video: for each clip's caption, the rank of the first clip with that caption.
    let t2v: Vec<usize> = captions
        .iter()
        .map(|c| {
            let query = &texts[distinct.binary_search(c).expect("listed")];
            first_relevant_rank(query, &clips, |j| &captions[j] == c)
        })
        .collect();
    // video → text: for each clip, the rank of its caption among the distinct captions.
    let v2t: Vec<usize> = (0..clips.len())
        .map(|i| first_relevant_rank(&clips[i], &texts, |j| distinct[j] == captions[i]))
        .collect();
    let mut attribute = (0.0, 0.0, 0u32);
    for digit in 0..10u8 {
        for motion in Motion::ALL {
            let holds = |t: &Truth| t.digits.iter().any(|d| d.digit == digit && d.motion == motion);
            let relevant = truths.iter().filter(|t| holds(t)).count();
            if relevant == 0 {
                continue;
            }
            let query = model.embed_query(&format!("digit {digit} moves {}", motion.phrase())).await?;
            let order = ranked(&query, &clips);
            let hits_at = |k: usize| order.iter().take(k).filter(|&&j| holds(&truths[j])).count();
            attribute.0 += hits_at(10) as f64 / 10f64.min(relevant as f64);
            attribute.1 += hits_at(relevant) as f64 / relevant as f64;
            attribute.2 += 1;
        }
    }
    Ok(json!({
        "clips": n, "distinct_captions": distinct.len(),
        "text_to_video": recall_report(&t2v),
        "video_to_text": recall_report(&v2t),
        "attribute_queries": {
            "queries": attribute.2,
            "precision_at_10": attribute.0 / attribute.2.max(1) as f64,
            "r_precision": attribute.1 / attribute.2.max(1) as f64,
        },
    }))
}

/// Candidates by descending dot product with `query`.
fn ranked(query: &[f32], candidates: &[Vec<f32>]) -> Vec<usize> {
    rank_by_similarity(query, candidates).into_iter().map(|(i, _)| i).collect()
}

/// 1-based rank of the first candidate `relevant` accepts.
fn first_relevant_rank(query: &[f32], candidates: &[Vec<f32>], relevant: impl Fn(usize) -> bool) -> usize {
    ranked(query, candidates).iter().position(|&j| relevant(j)).map_or(candidates.len() + 1, |p| p + 1)
}

fn recall_report(ranks: &[usize]) -> Value {
    let recall = |k: usize| ranks.iter().filter(|&&r| r <= k).count() as f64 / ranks.len().max(1) as f64;
    let mut sorted = ranks.to_vec();
    sorted.sort();
    json!({ "recall_at_1": recall(1), "recall_at_5": recall(5), "recall_at_10": recall(10),
            "median_rank": sorted.get(sorted.len() / 2).copied().unwrap_or(0) })
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}
