//! `univid`: the command line. Thin: it parses arguments and calls the library.

use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::ops::ControlFlow;
use burn::tensor::Device;
use univid::data::{caption, webvtt, write_record, Clip, Digits, RecordLayout, Split, World, WorldConfig};
use univid::tools::judge::Judge;
use univid::model::{gate_row, run_probe, ModelConfig, UniVid, Weights, GATE_ROLES};
use univid::pipelines::{rank_by_similarity, DecodeOptions, GenerateOptions, Progress};
use univid::pack::{Group, Scheme};

/// Most frames the CLI reads from one clip file (a GIF or a folder of PNG frames).
const MAX_CLI_FRAMES: usize = 10_000;

#[derive(Parser)]
#[command(name = "univid", version, about = "UniVid: understand and generate Moving MNIST video")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write clips of the Captioned Moving MNIST world: GIF + PNG frames + JSON labels, or a
    /// binary record stream for the trainer.
    Data {
        #[arg(long, default_value = "test")]
        split: String,
        #[arg(long, default_value_t = 8)]
        n: u64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// First clip index of the stream.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Output folder (one sub-folder per clip).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write binary training records to stdout instead (`--n 0` = endless).
        #[arg(long)]
        stream: bool,
        /// `standard` (2 digits), `training` (1–2 digits) or `benchmark` (continuous directions).
        #[arg(long, default_value = "standard")]
        world: String,
    },
    /// Print a model config, its parameter count and (with --weights) the learned expert gates.
    Info {
        #[arg(long, default_value = "small")]
        config: String,
        /// A model folder (packed, or config.json + model.safetensors) instead of a preset.
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Run the golden probe (tiny seeded model + a matmul) on a backend and print it as JSON.
    Probe {
        /// `flex` or `wgpu` (Vulkan; lavapipe without a GPU).
        #[arg(long, default_value = "flex")]
        backend: String,
    },
    /// Does a clip (GIF or folder of PNG frames) show what the caption says? Per element.
    Judge {
        clip: PathBuf,
        #[arg(long)]
        caption: String,
        #[arg(long, default_value = "models/judge/classifier.safetensors")]
        classifier: PathBuf,
    },
    /// The judge's agreement with the ground truth on real clips (its ceiling), as JSON.
    JudgeEval {
        #[arg(long, default_value = "test")]
        split: String,
        #[arg(long, default_value_t = 1000)]
        n: u64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value = "models/judge/classifier.safetensors")]
        classifier: PathBuf,
        /// Digits per clip (2 is the standard geometry).
        #[arg(long, default_value_t = 2)]
        digits: usize,
        /// Also write the report here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Evaluate a trained model on the test split (unseen handwriting) and print a JSON report.
    Eval {
        #[arg(long, default_value = "models/univid-small")]
        model: PathBuf,
        /// Clips for understanding (classify, describe, 7 questions each).
        #[arg(long, default_value_t = 1000)]
        n: u64,
        /// Clips for continuation and for text→video, on two-digit and on one-digit prompts (each
        /// text→video clip costs `steps` guided glyph steps).
        #[arg(long, default_value_t = 200)]
        n_generate: u64,
        /// Clips in the retrieval gallery (each embedded once; queries are the distinct captions).
        #[arg(long, default_value_t = 1000)]
        n_retrieve: u64,
        /// Clips of each kind that is not moving digits (noise, camera pans, …), for the
        /// out-of-domain flag; blank clips of several sizes come with them.
        #[arg(long, default_value_t = 100)]
        n_domain: u64,
        #[arg(long, default_value_t = 10)]
        steps: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value = "models/judge/classifier.safetensors")]
        classifier: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Caption a clip (GIF or folder of PNG frames). With `--window N`: describe every N frames of
    /// a longer clip and print WebVTT audio-description cues (times from `--fps`).
    Describe {
        #[arg(long, default_value = "models/univid-small-int8")]
        model: PathBuf,
        clip: PathBuf,
        #[arg(long)]
        window: Option<usize>,
        /// Frames per second of the clip, for the cue times.
        #[arg(long, default_value_t = 10.0)]
        fps: f64,
    },
    /// Text → video: `univid generate --prompt "digit 3 moves left" --out clip.gif` (a GIF, or a
    /// folder of PNG frames when OUT has no .gif extension).
    Generate {
        #[arg(long, default_value = "models/univid-small-int8")]
        model: PathBuf,
        #[arg(long)]
        prompt: String,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        sampling: Sampling,
    },
    /// Keep the first `--frames-in` frames of a clip and generate the rest of the model's length.
    Continue {
        #[arg(long, default_value = "models/univid-small-int8")]
        model: PathBuf,
        clip: PathBuf,
        #[arg(long, default_value_t = 10)]
        frames_in: usize,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        sampling: Sampling,
    },
    /// Rank clips (GIFs or folders of PNG frames) by how well they match a text query, e.g.
    /// `univid search --query "digit 7 moves left" clips/*.gif`.
    Search {
        #[arg(long, default_value = "models/univid-small-int8")]
        model: PathBuf,
        #[arg(long)]
        query: String,
        /// How many to print, best first.
        #[arg(long, default_value_t = 5)]
        k: usize,
        #[arg(required = true)]
        clips: Vec<PathBuf>,
    },
    /// Time every pipeline on one backend (median of --runs after one warm-up call), as JSON.
    Bench {
        #[arg(long, default_value = "models/univid-small-int8")]
        model: PathBuf,
        /// `flex` or `wgpu` (Vulkan; lavapipe without a GPU).
        #[arg(long, default_value = "flex")]
        backend: String,
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Euler steps for generate / continue.
        #[arg(long, default_value_t = 10)]
        steps: usize,
    },
    /// Training throughput of burn itself (autodiff, one clip per task family per step, from random
    /// weights of a preset), as JSON: what the PyTorch twin is measured against.
    BenchTrain {
        #[arg(long, default_value = "small")]
        config: String,
        /// `flex` or `wgpu` (Vulkan; lavapipe without a GPU).
        #[arg(long, default_value = "flex")]
        backend: String,
        #[arg(long, default_value_t = 5)]
        steps: usize,
    },
    /// Pack weights into the shipped format: group-ordered safetensors shards (f32, f16, int8
    /// per-channel or int4 block-32) and a manifest with sizes and sha256 per shard.
    Pack {
        /// A safetensors checkpoint (its folder's config.json gives the model config) or a packed
        /// model folder (re-pack, e.g. f16 → int8).
        #[arg(long, required_unless_present = "random")]
        checkpoint: Option<PathBuf>,
        /// Seeded random weights of a preset instead (scale tests of the runtime and loader).
        #[arg(long, conflicts_with = "checkpoint")]
        random: Option<String>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// With --random: the preset with this many channels (3 = an RGB model).
        #[arg(long, requires = "random")]
        channels: Option<usize>,
        #[arg(long, default_value = "int8")]
        quant: String,
        /// Start a new shard once one holds this many MiB (a tensor is never split).
        #[arg(long, default_value_t = 4.0)]
        shard_mb: f64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a packed model folder: manifest consistency, every shard's size and sha256, every
    /// tensor's dtype, shape and byte range, finite values.
    Verify { dir: PathBuf },
    /// Write the compact digit file the browser loads for sample clips.
    Digits {
        #[arg(long, default_value = "test")]
        split: String,
        #[arg(long)]
        out: PathBuf,
    },
}

fn world_config(name: &str) -> Result<WorldConfig, String> {
    match name {
        "standard" => Ok(WorldConfig::standard()),
        "training" => Ok(WorldConfig::training()),
        "benchmark" => Ok(WorldConfig::benchmark()),
        other => Err(format!("unknown world '{other}' (standard, training, benchmark)")),
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Data { split, n, seed, start, out, stream, world } => {
            let split = Split::parse(&split)?;
            let world = World::new(world_config(&world)?, Digits::locate()?)?;
            if stream {
                return stream_records(&world, split, seed, start, n);
            }
            let out = out.ok_or("--out DIR is required unless --stream is given")?;
            for index in start..start + n {
                let (clip, truth) = world.clip(split, seed, index);
                let dir = out.join(format!("{:?}-{seed}-{index:06}", split).to_lowercase());
                clip.write_gif_and_pngs(&dir)?;
                let labels = serde_json::json!({ "caption": caption(&truth), "truth": truth });
                std::fs::write(dir.join("labels.json"), serde_json::to_string_pretty(&labels)?)?;
                println!("{}  {}", dir.display(), caption(&truth));
            }
        }
        Command::Info { config, model } => info(&config, model.as_deref())?,
        Command::Probe { backend } => {
            println!("{}", serde_json::to_string(&pollster::block_on(run_probe(&device(&backend)?))?)?);
        }
        Command::Describe { model, clip, window, fps } => {
            let (config, univid, _) = load_model_dir(&model)?;
            let clip = Clip::read(&clip, MAX_CLI_FRAMES, config.channels)?;
            match window {
                None => {
                    let clip = clip.resized(config.frames, config.size, config.size)?;
                    let said = pollster::block_on(univid.describe(&clip, DecodeOptions::default()))?;
                    println!("{}", said.text);
                    match said.out_of_domain {
                        false => println!("confidence {:.2}", said.confidence),
                        true => println!("confidence {:.2}, out of domain: {}", said.confidence, univid::pipelines::NOT_MOVING_DIGITS),
                    }
                }
                Some(n) => print!("{}", webvtt(&pollster::block_on(univid.describe_windows(&clip, n, fps))?)),
            }
        }
        Command::Generate { model, prompt, out, sampling } => {
            let (_, univid, _) = load_model_dir(&model)?;
            let mut on_step = sampling.previews()?;
            write_clip(&pollster::block_on(univid.generate(&prompt, sampling.options(), &mut on_step))?, &out)?;
        }
        Command::Continue { model, clip, frames_in, out, sampling } => {
            let (config, univid, _) = load_model_dir(&model)?;
            let clip = Clip::read(&clip, MAX_CLI_FRAMES, config.channels)?;
            let mut on_step = sampling.previews()?;
            write_clip(&pollster::block_on(univid.continue_clip(&clip, frames_in, sampling.options(), &mut on_step))?, &out)?;
        }
        Command::Search { model, query, k, clips } => {
            let (config, univid, _) = load_model_dir(&model)?;
            let q = pollster::block_on(univid.embed_query(&query))?;
            let mut embeddings = Vec::new();
            for path in &clips {
                let clip = Clip::read(path, MAX_CLI_FRAMES, config.channels)?.resized(config.frames, config.size, config.size)?;
                embeddings.push(pollster::block_on(univid.embed_clip(&clip))?);
            }
            for (i, score) in rank_by_similarity(&q, &embeddings).into_iter().take(k) {
                println!("{score:.3}  {}", clips[i].display());
            }
        }
        Command::Bench { model, backend, runs, steps } => {
            let (config, weights, _) = univid::pack::read_model(&model)?;
            let loaded_at = std::time::Instant::now();
            let univid = UniVid::load(config, &weights, &device(&backend)?)?;
            let load_ms = loaded_at.elapsed().as_secs_f64() * 1e3;
            let world = World::new(WorldConfig::standard(), Digits::locate()?)?;
            let clock = std::time::Instant::now();
            let now = || clock.elapsed().as_secs_f64() * 1e3;
            let latency = pollster::block_on(univid::tools::bench::latency(&univid, &world, runs.max(1), steps, &now))?;
            let report = serde_json::json!({ "backend": backend, "model": model, "upload_ms": load_ms, "latency": latency });
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::BenchTrain { config, backend, steps } => {
            let world = World::new(WorldConfig::training(), Digits::locate()?)?;
            let config = ModelConfig::preset(&config)?;
            let report = univid::tools::bench::train::throughput(&config, &world, &device(&backend)?, steps.max(1))?;
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "backend": backend, "autodiff": report }))?);
        }
        Command::Judge { clip, caption, classifier } => {
            let judge = Judge::load(&std::fs::read(classifier)?, &Device::flex())?;
            // The judge reads luminance whatever the clip's colours.
            let clip = Clip::read(&clip, MAX_CLI_FRAMES, 1)?.resized(20, 64, 64)?;
            let verdict = pollster::block_on(judge.check(&clip, &caption))?;
            println!("{}", serde_json::to_string_pretty(&verdict)?);
        }
        Command::JudgeEval { split, n, seed, classifier, digits, out } => {
            let judge = Judge::load(&std::fs::read(classifier)?, &Device::flex())?;
            let config = WorldConfig { min_digits: digits, max_digits: digits, ..WorldConfig::standard() };
            let world = World::new(config, Digits::locate()?)?;
            let split = Split::parse(&split)?;
            let mut report = pollster::block_on(univid::tools::eval::judge_ceiling(&judge, &world, split, n, seed))?;
            report["command"] = format!("univid judge-eval --split {split:?} --n {n} --seed {seed} --digits {digits}").to_lowercase().into();
            let text = serde_json::to_string_pretty(&report)?;
            println!("{text}");
            if let Some(out) = out {
                std::fs::write(out, text)?;
            }
        }
        Command::Eval { model, n, n_generate, n_retrieve, n_domain, steps, seed, classifier, out } => {
            let (_, univid, meta) = load_model_dir(&model)?;
            let judge = Judge::load(&std::fs::read(classifier)?, &Device::flex())?;
            let digits = Digits::locate()?;
            let standard = World::new(WorldConfig::standard(), digits.clone())?;
            let benchmark = World::new(WorldConfig::benchmark(), digits.clone())?;
            let one_digit = World::new(WorldConfig { min_digits: 1, max_digits: 1, ..WorldConfig::standard() }, digits)?;
            // A model folder's config.json has `step`; a packed folder keeps that file under `training`.
            let steps_trained = meta.get("step").or_else(|| meta["training"].get("step")).cloned();
            let report = serde_json::json!({
                "model": model, "trained_steps": steps_trained, "split": "test", "seed": seed,
                "command": format!("univid eval --model {} --n {n} --n-generate {n_generate} --n-retrieve {n_retrieve} --n-domain {n_domain} --steps {steps} --seed {seed}", model.display()),
                "understanding": pollster::block_on(univid::tools::eval::understanding(&univid, &standard, n, seed))?,
                "continuation_10_to_10": pollster::block_on(univid::tools::eval::continuation(&univid, &judge, &benchmark, n_generate, seed, steps))?,
                "text_to_video": pollster::block_on(univid::tools::eval::text_to_video(&univid, &judge, &standard, n_generate, seed, steps))?,
                "text_to_video_one_digit": pollster::block_on(univid::tools::eval::text_to_video(&univid, &judge, &one_digit, n_generate, seed, steps))?,
                "retrieval": pollster::block_on(univid::tools::eval::retrieval(&univid, &standard, n_retrieve, seed))?,
                "domain": pollster::block_on(univid::tools::eval::domain(&univid, n_domain, seed))?,
            });
            let text = serde_json::to_string_pretty(&report)?;
            println!("{text}");
            if let Some(out) = out {
                std::fs::write(out, text)?;
            }
        }
        Command::Pack { checkpoint, random, seed, channels, quant, shard_mb, out } => {
            let scheme = Scheme::parse(&quant).ok_or_else(|| format!("unknown --quant '{quant}' (f32, f16, int8, int4)"))?;
            let (config, weights, meta) = match (&checkpoint, &random) {
                (Some(path), _) => univid::pack::read_model(path)?,
                (None, Some(preset)) => {
                    let preset_config = ModelConfig::preset(preset)?;
                    let channels = channels.unwrap_or(preset_config.channels);
                    // The slot head reads grayscale glyphs: an RGB model has none (it cannot continue).
                    let slots = if channels == 1 { preset_config.slots } else { 0 };
                    let config = ModelConfig { channels, slots, ..preset_config };
                    config.validate()?;
                    let weights = Weights::random(&config, seed);
                    (config, weights, serde_json::json!({ "random": preset, "seed": seed }))
                }
                (None, None) => return Err("give --checkpoint or --random".into()),
            };
            let meta = serde_json::json!({ "source": checkpoint, "training": meta });
            let packed = univid::pack::pack(&weights, &config, scheme, (shard_mb * 1048576.0) as usize, meta)?;
            univid::pack::write_dir(&packed, &out)?;
            let bytes: usize = packed.shards.iter().map(|(_, b)| b.len()).sum();
            println!("{}: {} shards, {bytes} bytes, {quant}", out.display(), packed.shards.len());
        }
        Command::Verify { dir } => {
            let loader = univid::pack::read_dir(&dir)?;
            let m = loader.manifest();
            let groups: Vec<serde_json::Value> = Group::ALL.iter().map(|g| serde_json::json!({
                "group": g.name(),
                "shards": m.shards_of(*g).count(),
                "bytes": m.shards_of(*g).map(|i| m.shards[i].bytes).sum::<u64>(),
                "tensors": m.tensors.values().filter(|t| t.group == *g).count(),
            })).collect();
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({
                "dir": dir, "ok": true, "version": m.version, "quant": m.quant,
                "parameters": m.model.parameter_count(), "bytes": m.total_bytes(), "groups": groups,
            }))?);
        }
        Command::Digits { split, out } => {
            let digits = Digits::locate()?.only(Split::parse(&split)?);
            std::fs::write(&out, digits.to_bytes())?;
        }
    }
    Ok(())
}

fn stream_records(world: &World, split: Split, seed: u64, start: u64, n: u64) -> Result<(), Box<dyn std::error::Error>> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    RecordLayout::new(world.config.frames, world.config.size).write_header(&mut out)?;
    let end = if n == 0 { u64::MAX } else { start + n };
    for index in start..end {
        let (clip, truth) = world.clip(split, seed, index);
        if let Err(e) = write_record(&mut out, &clip, &truth) {
            // The reader closing the pipe is the normal end of an endless stream.
            if matches!(&e, univid::data::DataError::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe) {
                return Ok(());
            }
            return Err(e.into());
        }
    }
    out.flush()?;
    Ok(())
}

fn info(preset: &str, model_dir: Option<&std::path::Path>) -> Result<(), Box<dyn std::error::Error>> {
    let Some(dir) = model_dir else {
        let config = ModelConfig::preset(preset)?;
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({
            "preset": preset, "parameters": config.parameter_count(), "config": config,
        }))?);
        return Ok(());
    };
    let (config, model, _) = load_model_dir(dir)?;
    let gates: Vec<serde_json::Value> = model
        .gate_weights()
        .iter()
        .enumerate()
        .map(|(layer, rows)| {
            let by_role: serde_json::Map<String, serde_json::Value> = GATE_ROLES
                .iter()
                .map(|(name, task, modality)| (name.to_string(), serde_json::json!(rows[gate_row(*task, *modality)])))
                .collect();
            serde_json::json!({ "layer": layer, "experts_per_role": by_role })
        })
        .collect();
    println!("{}", serde_json::to_string_pretty(&serde_json::json!({
        "model": dir, "parameters": config.parameter_count(), "config": config, "gates": gates,
    }))?);
    Ok(())
}

fn device(backend: &str) -> Result<Device, Box<dyn std::error::Error>> {
    match backend {
        "flex" => Ok(Device::flex()),
        "wgpu" => Ok(Device::wgpu_options().init()?),
        other => Err(format!("unknown backend '{other}' (flex, wgpu)").into()),
    }
}

/// Sampling options shared by `generate` and `continue`.
#[derive(clap::Args)]
struct Sampling {
    /// `generate`: Euler steps of each digit's glyph. `continue`: 1 = the expected future (each
    /// digit spread over the places it may be in), more = one sharp future drawn by `--seed`.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Classifier-free guidance scale (1 = none; `continue` has no prompt and ignores it).
    #[arg(long, default_value_t = 2.0)]
    guidance: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write each step's clean-sample estimate (the live preview) to DIR/step-NN.gif.
    #[arg(long, value_name = "DIR")]
    preview: Option<PathBuf>,
}

impl Sampling {
    fn options(&self) -> GenerateOptions {
        GenerateOptions { steps: self.steps, guidance: self.guidance, seed: self.seed }
    }

    /// The per-step callback: with `--preview`, writes the step's estimate (a failed write stops
    /// the generation rather than leaving a gap in the strip).
    fn previews(&self) -> std::io::Result<impl FnMut(Progress<'_>) -> ControlFlow<()> + '_> {
        if let Some(dir) = &self.preview {
            std::fs::create_dir_all(dir)?;
        }
        Ok(move |p: Progress<'_>| {
            let Some(dir) = &self.preview else { return ControlFlow::Continue(()) };
            let path = dir.join(format!("step-{:02}.gif", p.step));
            match (p.estimate)().to_gif().map_err(|e| e.to_string()).and_then(|gif| std::fs::write(&path, gif).map_err(|e| e.to_string())) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    eprintln!("cannot write {}: {e}", path.display());
                    ControlFlow::Break(())
                }
            }
        })
    }
}

fn write_clip(clip: &Clip, out: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    if out.extension().is_some_and(|e| e.eq_ignore_ascii_case("gif")) {
        std::fs::write(out, clip.to_gif()?)?;
    } else {
        clip.write_gif_and_pngs(out)?;
    }
    println!("{}", out.display());
    Ok(())
}

fn load_model_dir(dir: &std::path::Path) -> Result<(ModelConfig, UniVid, serde_json::Value), Box<dyn std::error::Error>> {
    let (config, weights, meta) = univid::pack::read_model(dir)?;
    let model = UniVid::load(config.clone(), &weights, &Device::flex())?;
    Ok((config, model, meta))
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("univid: {e}");
        std::process::exit(1);
    }
}
