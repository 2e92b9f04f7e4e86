//! The browser binding (wasm-bindgen). Thin: it converts JS values and calls the library; the JS
//! side (`www/`) drives loops, progress and cancellation.

use crate::data::{caption, Clip, DataError, Digits, Split, World, WorldConfig};
use crate::model::{run_probe, ModelConfig, ModelError, UniVid, Weights};
use crate::pipelines::{DecodeOptions, Description, GenerateOptions, Progress, StepHandler};
use crate::pack::{Manifest, PackError, StreamingLoad};
use burn::tensor::Device;
use std::cell::{Cell, RefCell};
use std::ops::ControlFlow;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// A JS `Error` named `UniVidError` with a stable machine-readable `code`.
fn typed_error(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("UniVidError");
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

fn data_code(e: &DataError) -> &'static str {
    match e {
        DataError::UnknownWords { .. } => "unknown-words",
        DataError::EmptyText => "empty-text",
        DataError::TextTooLong { .. } => "text-too-long",
        DataError::Grammar(_) | DataError::UnknownQuestion(_) => "grammar",
        DataError::Clip(_) | DataError::Decode(_) => "bad-clip",
        _ => "data",
    }
}

fn model_error(e: ModelError) -> JsValue {
    if let ModelError::Backend(message) = &e {
        if is_device_loss(message) {
            // wgpu's report is a multi-line chain; its last cause says what happened.
            let cause = message.lines().map(str::trim).filter(|l| l.contains(':') && !l.starts_with("Backtrace")).last();
            return typed_error("device-lost", &format!("the WebGPU device was lost ({})", cause.unwrap_or("no reason given")));
        }
    }
    let code = match &e {
        ModelError::NotLoaded { .. } => "not-loaded",
        ModelError::Input(_) => "bad-input",
        ModelError::Data(d) => data_code(d),
        ModelError::Backend(_) => "backend",
        ModelError::Cancelled { .. } => "cancelled",
        _ => "bad-weights",
    };
    typed_error(code, &e.to_string())
}

/// cubecl marks a lost wgpu device as poisoned and fails every later read with that.
fn is_device_loss(message: &str) -> bool {
    let message = message.to_lowercase();
    message.contains("poison") || message.contains("device lost") || message.contains("destroyed")
}

fn pack_error(e: PackError) -> JsValue {
    // A model that cannot be built from verified weights says so in the model's own codes.
    let e = match e {
        PackError::Model(m) => return model_error(m),
        other => other,
    };
    let code = match &e {
        PackError::Manifest(_) => "bad-manifest",
        PackError::Version { .. } => "unsupported-version",
        PackError::TooLarge { .. } => "too-large",
        PackError::ShardSize { .. } => "shard-size",
        PackError::ShardHash { .. } => "shard-hash",
        PackError::GroupNotReady { .. } => "not-loaded",
        _ => "bad-shard",
    };
    typed_error(code, &e.to_string())
}

fn other_error(e: impl std::fmt::Display) -> JsValue {
    typed_error("internal", &e.to_string())
}

/// Plain JS objects (not `Map`s) for every serialised result.
fn to_js(value: &impl serde::Serialize) -> Result<JsValue, JsValue> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(other_error)
}

// Static constructors (the GPU compiler's `inventory` registrations) run once, when the module
// starts. Without an explicit call, wasm-ld treats the module as a "command" and wraps *every*
// export in a call to all of them: measured 0.2–0.4 ms per call into the module — 3 ms per tensor
// read-back, tens of ms per described clip — against 0.04 µs with this call.
#[allow(unsafe_code)]
mod constructors {
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }

    #[wasm_bindgen::prelude::wasm_bindgen(start)]
    fn run_static_constructors_once() {
        // SAFETY: the linker's own constructor list; this start function is the first code to run
        // in the module (and, in the threads build, in each worker, where the constructors —
        // idempotent registrations — are what the linker would otherwise run on every call).
        unsafe { __wasm_call_ctors() }
    }
}

/// One compute device and (once loaded) one model.
#[wasm_bindgen]
pub struct Engine {
    device: Device,
    backend: String,
    model: RefCell<Option<Rc<UniVid>>>,
    /// The streaming load in progress, tagged so a superseded load's shards are refused.
    loading: RefCell<Option<(u32, StreamingLoad)>>,
    next_load: Cell<u32>,
}

/// Creates an engine on `"webgpu"` or `"cpu"`. WebGPU never falls back silently: if it cannot be
/// initialised this rejects, and the caller decides what to do.
#[wasm_bindgen(js_name = createEngine)]
pub async fn create_engine(backend: String) -> Result<Engine, JsValue> {
    let device = match backend.as_str() {
        "webgpu" => gpu::webgpu_device().await?,
        "cpu" => Device::flex(),
        other => return Err(typed_error("bad-input", &format!("unknown backend '{other}' (webgpu, cpu)"))),
    };
    Ok(Engine { device, backend, model: RefCell::new(None), loading: RefCell::new(None), next_load: Cell::new(1) })
}

/// WebGPU: in the default build. The multi-threaded CPU build (feature `threads`) leaves it out:
/// it is the build for browsers whose CPU path is the fast one, and wgpu's browser types cannot be
/// shared between threads.
#[cfg(feature = "wgpu")]
mod gpu {
    use super::typed_error;
    use burn::tensor::wgpu::wgpu::Device as WgpuDevice;
    use burn::tensor::Device;
    use std::cell::RefCell;
    use wasm_bindgen::JsValue;

    thread_local! {
        /// burn registers one wgpu runtime per thread and refuses a second: every engine of this
        /// thread (a model loaded again after `dispose`) shares the first device.
        /// The raw wgpu device is kept too, for `loseDevice`.
        static WEBGPU: RefCell<Option<(Device, WgpuDevice)>> = const { RefCell::new(None) };
    }

    pub async fn webgpu_device() -> Result<Device, JsValue> {
        if let Some((device, _)) = WEBGPU.with(|d| d.borrow().clone()) {
            return Ok(device);
        }
        let (device, setup) =
            Device::wgpu_options().init_with_setup_async().await.map_err(|e| typed_error("backend", &e.to_string()))?;
        WEBGPU.with(|d| *d.borrow_mut() = Some((device.clone(), setup.device)));
        Ok(device)
    }

    pub fn lose_device() {
        WEBGPU.with(|d| d.borrow().as_ref().map(|(_, raw)| raw.destroy()));
    }
}

#[cfg(not(feature = "wgpu"))]
mod gpu {
    use super::typed_error;
    use burn::tensor::Device;
    use wasm_bindgen::JsValue;

    pub async fn webgpu_device() -> Result<Device, JsValue> {
        Err(typed_error("backend", "this build of UniVid has no WebGPU backend (it is the multi-threaded CPU build)"))
    }

    pub fn lose_device() {}
}

/// Starts `threads` rayon workers sharing this module's memory (the CPU backend's matrix products
/// and reductions then run on all of them). Only the `threads` build has it; call it once, from a
/// worker (the calling thread blocks while the pool works, which a page's main thread may not).
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// How many threads the CPU backend computes on: the rayon pool's size, 1 without one.
#[wasm_bindgen(js_name = threadCount)]
pub fn thread_count() -> usize {
    #[cfg(feature = "threads")]
    return rayon::current_num_threads();
    #[cfg(not(feature = "threads"))]
    1
}

#[wasm_bindgen]
impl Engine {
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// Destroys the WebGPU device under this engine, as a driver reset or an unplugged GPU would
    /// (like WebGL's `WEBGL_lose_context`): for testing an app's recovery. Once the browser has
    /// reported the loss, every call fails with `device-lost`; WebGPU stays lost in this thread.
    #[wasm_bindgen(js_name = loseDevice)]
    pub fn lose_device(&self) -> Result<(), JsValue> {
        if self.backend != "webgpu" {
            return Err(typed_error("bad-input", "only a WebGPU engine has a device to lose"));
        }
        gpu::lose_device();
        Ok(())
    }

    /// The golden probe (see `model::probe`), as a JS object.
    pub async fn probe(&self) -> Result<JsValue, JsValue> {
        let probe = run_probe(&self.device).await.map_err(model_error)?;
        to_js(&probe)
    }

    /// Loads seeded random weights of a preset (for tests and demos without a checkpoint).
    #[wasm_bindgen(js_name = loadRandom)]
    pub fn load_random(&self, preset: &str, seed: u32) -> Result<(), JsValue> {
        let config = ModelConfig::preset(preset).map_err(model_error)?;
        let weights = Weights::random(&config, seed as u64);
        let model = UniVid::load(config, &weights, &self.device).map_err(model_error)?;
        *self.model.borrow_mut() = Some(Rc::new(model));
        Ok(())
    }

    /// Starts a streaming load from a packed model's `manifest.json` bytes (checked before any
    /// shard is fetched). Returns `{ load, manifest }`; `load` tags the shards of this load. The
    /// current model, if any, keeps answering until the new one is ready.
    #[wasm_bindgen(js_name = openManifest)]
    pub fn open_manifest(&self, text: &[u8]) -> Result<JsValue, JsValue> {
        let manifest = Manifest::parse(text).map_err(pack_error)?;
        let load = self.next_load.get();
        self.next_load.set(load + 1);
        let summary = serde_json::json!({ "load": load, "manifest": &manifest, "totalBytes": manifest.total_bytes() });
        *self.loading.borrow_mut() = Some((load, StreamingLoad::new(manifest, self.device.clone())));
        to_js(&summary)
    }

    /// Verifies (size, sha256, structure) and uploads one shard of load `load`. A bad shard
    /// changes nothing and can be sent again. Once `core` + `understand` are in, the model
    /// answers understanding calls; once `generate` is in, it generates too. Returns
    /// `{ tensorsLoaded, tensorsTotal, groupsReady, understandReady, generateReady }`.
    #[wasm_bindgen(js_name = addShard)]
    pub fn add_shard(&self, load: u32, index: usize, bytes: &[u8]) -> Result<JsValue, JsValue> {
        let mut loading = self.loading.borrow_mut();
        let Some((_, streaming)) = loading.as_mut().filter(|(id, _)| *id == load) else {
            return Err(typed_error("superseded", "this load was superseded by a newer one (or disposed)"));
        };
        if let Some(model) = streaming.add_shard(index, bytes).map_err(pack_error)? {
            *self.model.borrow_mut() = Some(Rc::new(model));
        }
        to_js(&streaming.status())
    }

    #[wasm_bindgen(getter, js_name = canGenerate)]
    pub fn can_generate(&self) -> bool {
        self.model.borrow().as_ref().is_some_and(|m| m.can_generate())
    }

    #[wasm_bindgen(getter, js_name = hasModel)]
    pub fn has_model(&self) -> bool {
        self.model.borrow().is_some()
    }

    /// Drops the model and any load in progress; later calls fail with code `no-model`.
    pub fn dispose(&self) {
        *self.model.borrow_mut() = None;
        *self.loading.borrow_mut() = None;
    }

    fn model(&self) -> Result<Rc<UniVid>, JsValue> {
        self.model.borrow().clone().ok_or_else(|| typed_error("no-model", "no model is loaded (or it was disposed)"))
    }

    /// Pixels are luminance (`frames·size²` bytes) or interleaved RGB (three times as many); the
    /// model converts either to its own channels (the JS API already sends the model's).
    fn clip(&self, pixels: Vec<u8>, frames: usize) -> Result<Clip, JsValue> {
        let size = self.model()?.config.size;
        let channels = if pixels.len() == frames * size * size * 3 { 3 } else { 1 };
        Clip::with_channels(frames, size, size, channels, pixels).map_err(|e| typed_error(data_code(&e), &e.to_string()))
    }

    pub async fn classify(&self, pixels: Vec<u8>) -> Result<JsValue, JsValue> {
        let model = self.model()?;
        let clip = self.clip(pixels, model.config.frames)?;
        let result = model.classify(&clip).await.map_err(model_error)?;
        to_js(&result)
    }

    /// `{ text, confidence, outOfDomain, spoken }` (`pipelines::Description` and what to say aloud).
    pub async fn describe(&self, pixels: Vec<u8>) -> Result<JsValue, JsValue> {
        #[derive(serde::Serialize)]
        struct Said {
            #[serde(flatten)]
            description: Description,
            spoken: String,
        }
        let model = self.model()?;
        let clip = self.clip(pixels, model.config.frames)?;
        let description = model.describe(&clip, DecodeOptions::default()).await.map_err(model_error)?;
        to_js(&Said { spoken: description.spoken(), description })
    }

    pub async fn ask(&self, pixels: Vec<u8>, question: String) -> Result<String, JsValue> {
        let model = self.model()?;
        let clip = self.clip(pixels, model.config.frames)?;
        model.ask(&clip, &question, DecodeOptions::default()).await.map_err(model_error)
    }

    /// The clip's unit retrieval vector (`Float32Array`), comparable by dot product with
    /// [`embed_query`](Self::embed_query).
    #[wasm_bindgen(js_name = embedClip)]
    pub async fn embed_clip(&self, pixels: Vec<u8>) -> Result<Vec<f32>, JsValue> {
        let model = self.model()?;
        let clip = self.clip(pixels, model.config.frames)?;
        model.embed_clip(&clip).await.map_err(model_error)
    }

    /// A text query's unit retrieval vector.
    #[wasm_bindgen(js_name = embedQuery)]
    pub async fn embed_query(&self, query: String) -> Result<Vec<f32>, JsValue> {
        self.model()?.embed_query(&query).await.map_err(model_error)
    }

    /// Text → video; `on_step(step, steps, preview)` is called after every Euler step, with the
    /// step's clean-sample estimate (pixels) when `preview` is true.
    pub async fn generate(&self, prompt: String, steps: usize, guidance: f32, seed: u32, preview: bool, on_step: Option<js_sys::Function>) -> Result<Vec<u8>, JsValue> {
        let model = self.model()?;
        let options = GenerateOptions { steps, guidance, seed: seed as u64 };
        let mut report = progress(on_step, preview);
        let clip = model.generate(&prompt, options, &mut report).await.map_err(model_error)?;
        Ok(clip.pixels)
    }

    /// Keeps the first `frames_in` frames of `pixels` and generates the rest.
    #[wasm_bindgen(js_name = continueClip)]
    pub async fn continue_clip(&self, pixels: Vec<u8>, frames_in: usize, steps: usize, seed: u32, preview: bool, on_step: Option<js_sys::Function>) -> Result<Vec<u8>, JsValue> {
        let model = self.model()?;
        let size = model.config.size;
        let frames = pixels.len() / (size * size * model.config.channels);
        let clip = self.clip(pixels, frames)?;
        let options = GenerateOptions { steps, guidance: 1.0, seed: seed as u64 };
        let mut report = progress(on_step, preview);
        let out = model.continue_clip(&clip, frames_in, options, &mut report).await.map_err(model_error)?;
        Ok(out.pixels)
    }
}

/// `on_step(step, steps, preview)` after every Euler step (`preview`: the step's clean-sample
/// estimate as pixels when asked for, else undefined); returning `false` stops the generation (it
/// then rejects with code `cancelled`). A throwing callback does not stop it.
fn progress(on_step: Option<js_sys::Function>, preview: bool) -> BrowserSteps {
    BrowserSteps { on_step, preview }
}

struct BrowserSteps {
    on_step: Option<js_sys::Function>,
    preview: bool,
}

impl StepHandler for BrowserSteps {
    fn step(&mut self, p: Progress<'_>) -> ControlFlow<()> {
        let pixels = match self.preview {
            true => JsValue::from(js_sys::Uint8Array::from((p.estimate)().pixels.as_slice())),
            false => JsValue::UNDEFINED,
        };
        let (step, steps) = (JsValue::from(p.step as u32), JsValue::from(p.steps as u32));
        let verdict = self.on_step.as_ref().and_then(|f| f.call3(&JsValue::NULL, &step, &steps, &pixels).ok());
        match verdict {
            Some(v) if v == JsValue::FALSE => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }
    }

    /// A macrotask turn (`setTimeout(0)`) between steps: microtasks alone would not deliver the
    /// worker's messages, so an abort could not arrive mid-generation.
    fn pause(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
        Box::pin(async {
            let promise = js_sys::Promise::new(&mut |resolve, _| {
                let global = js_sys::global();
                let set_timeout = js_sys::Reflect::get(&global, &"setTimeout".into()).ok().and_then(|f| f.dyn_into::<js_sys::Function>().ok());
                match set_timeout {
                    Some(f) => drop(f.call2(&global, &resolve, &JsValue::from(0))),
                    None => drop(resolve.call0(&JsValue::NULL)),
                }
            });
            let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        })
    }
}

/// A clip of the Captioned Moving MNIST world, made in the page from the compact digit file.
#[wasm_bindgen(js_name = sampleClip)]
pub fn sample_clip(digits: &[u8], split: &str, seed: u32, index: u32) -> Result<JsValue, JsValue> {
    let data = |e: DataError| typed_error(data_code(&e), &e.to_string());
    let split = Split::parse(split).map_err(data)?;
    let digits = Digits::from_bytes(digits).map_err(data)?;
    let world = World::new(WorldConfig::standard(), digits).map_err(data)?;
    let (clip, truth) = world.clip(split, seed as u64, index as u64);
    let out = serde_json::json!({ "caption": caption(&truth), "truth": truth, "frames": clip.frames, "size": clip.width });
    let value = to_js(&out)?;
    js_sys::Reflect::set(&value, &"pixels".into(), &js_sys::Uint8Array::from(clip.pixels.as_slice()))
        .map_err(|_| typed_error("internal", "cannot attach pixels"))?;
    Ok(value)
}

/// Research hooks for comparing this runtime with another one op by op and output by output
/// (`scripts/peer`, run by `scripts/bench`): built with the `dev` feature only, so the product
/// and the npm package do not carry them.
#[cfg(feature = "dev")]
mod dev {
    use super::{data_code, model_error, typed_error};
    use crate::data::Tokenizer;
    use burn::tensor::Device;
    use wasm_bindgen::prelude::*;

    /// The model's token ids for `text` (no `<bos>`/`<eos>`): what a prompt becomes, e.g. to feed the
    /// same words to another runtime.
    #[wasm_bindgen]
    pub fn tokenize(text: &str) -> Result<Vec<u16>, JsValue> {
        Tokenizer.encode(text).map_err(|e| typed_error(data_code(&e), &e.to_string()))
    }

    /// One operation of the model at its real shapes on the CPU backend, for per-op timing next to
    /// another runtime (`crate::tools::bench::ops`; `scripts/peer`).
    #[wasm_bindgen(js_name = OpBench)]
    pub struct WebOpBench(crate::tools::bench::ops::OpBench);

    #[wasm_bindgen(js_class = OpBench)]
    impl WebOpBench {
        /// `op`: one of `OpBench.names()`.
        #[wasm_bindgen(constructor)]
        pub fn new(op: &str) -> Result<WebOpBench, JsValue> {
            crate::tools::bench::ops::OpBench::new(op, &Device::flex()).map(WebOpBench).map_err(|e| typed_error("bad-input", &e))
        }

        pub fn names() -> Vec<String> {
            crate::tools::bench::ops::OPS.iter().map(|s| s.to_string()).collect()
        }

        /// Runs the op once and returns its output, flattened.
        pub async fn run(&self) -> Result<Vec<f32>, JsValue> {
            crate::model::read(self.0.run()).await.map_err(model_error)
        }
    }
}
