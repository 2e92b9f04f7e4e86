"""Checkpoints: a full one in runs/<name>/ (git-ignored) and a compact, committed resume point.

models/<name>/
  model.safetensors     EMA weights, f16 (halves the repository cost; the runtime reads f16/f32)
  config.json           model config + training args + progress
  resume/state.safetensors  raw weights + Adam moments in bf16 (resume point, ~3x model size)
  resume/state.json     step, stream positions, loss scales, schedule
  log.jsonl             the run's per-step log, copied at every save
Resuming from the compact point restores weights (bf16-rounded), EMA (f16-rounded; the EMA of the
training-only heads restarts from their raw weights), Adam moments (bf16), step, data stream
positions and loss scales; the RNG of noise/time sampling restarts from seed+step.
"""
import json
import os
import shutil
import torch
from safetensors.torch import save_file, load_file
from model import AUX_PREFIX


def save(run_dir, model_dir, model, ema, opt, state, cfg, args):
    torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "state": state},
               os.path.join(run_dir, "checkpoint.pt.tmp"))
    os.replace(os.path.join(run_dir, "checkpoint.pt.tmp"), os.path.join(run_dir, "checkpoint.pt"))
    os.makedirs(os.path.join(model_dir, "resume"), exist_ok=True)
    export_weights(ema.state_dict(), os.path.join(model_dir, "model.safetensors"))
    meta = {"model": cfg.to_dict(), "training": {k: v for k, v in vars(args).items() if k != "binary"},
            "step": state["step"], "clips": state["clips"], "seconds": state["seconds"]}
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(meta, f, indent=2)
    compact = {f"model.{k}": v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in opt.param_groups:
        for p in group["params"]:
            s = opt.state.get(p, {})
            for moment in ("exp_avg", "exp_avg_sq"):
                if moment in s:
                    compact[f"{moment}.{names[id(p)]}"] = s[moment].to(torch.bfloat16).contiguous()
    save_file(compact, os.path.join(model_dir, "resume", "state.safetensors"))
    with open(os.path.join(model_dir, "resume", "state.json"), "w") as f:
        json.dump({**state, "adam_step": state["step"]}, f, indent=2)
    # The log travels with the resume point (a later session may be on a fresh machine).
    log = os.path.join(run_dir, "log.jsonl")
    if os.path.exists(log):
        shutil.copyfile(log, os.path.join(model_dir, "log.jsonl"))


def export_weights(weights, path):
    tensors = {k: v.detach().half().contiguous() for k, v in weights.items() if not k.startswith(AUX_PREFIX)}
    save_file(tensors, path, metadata={"format": "univid-f16"})


def load(run_dir, model_dir, model, ema, opt, state):
    full = os.path.join(run_dir, "checkpoint.pt")
    ck = torch.load(full, weights_only=False) if os.path.exists(full) else None
    if ck is not None and ck["model"].keys() == model.state_dict().keys() and \
            [len(g["params"]) for g in ck["opt"]["param_groups"]] == [len(g["params"]) for g in opt.param_groups]:
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        return ck["state"]
    # The compact point also resumes a model that gained a training-only head or a parameter group
    # since it was written (the full checkpoint's optimiser state cannot): a new head starts fresh.
    compact = load_file(os.path.join(model_dir, "resume", "state.safetensors"))
    missing, unexpected = model.load_state_dict(
        {k[6:]: v.float() for k, v in compact.items() if k.startswith("model.")}, strict=False)
    assert not unexpected and all(k.startswith(AUX_PREFIX) for k in missing), (missing, unexpected)
    # The exported EMA lacks the training-only heads: those restart from the raw weights.
    ema_weights = {k: v.float() for k, v in load_file(os.path.join(model_dir, "model.safetensors")).items()}
    ema_weights.update({k: v.clone() for k, v in model.state_dict().items() if k.startswith(AUX_PREFIX)})
    ema.load_state_dict(ema_weights)
    with open(os.path.join(model_dir, "resume", "state.json")) as f:
        saved = json.load(f)
    names = dict(model.named_parameters())
    for name, p in names.items():
        if f"exp_avg.{name}" in compact:
            opt.state[p] = {"step": torch.tensor(float(saved["adam_step"])),
                            "exp_avg": compact[f"exp_avg.{name}"].float(),
                            "exp_avg_sq": compact[f"exp_avg_sq.{name}"].float()}
    saved.pop("adam_step", None)
    return saved


def export_raw(full_checkpoint, model_dir, out_dir):
    """A model folder holding the raw (not EMA) weights of a full checkpoint, for the probes: the
    EMA lags a change in training by ~1 000 steps."""
    os.makedirs(out_dir, exist_ok=True)
    shutil.copyfile(os.path.join(model_dir, "config.json"), os.path.join(out_dir, "config.json"))
    weights = torch.load(full_checkpoint, weights_only=False)["model"]
    export_weights(weights, os.path.join(out_dir, "model.safetensors"))


if __name__ == "__main__":
    # `python3 checkpoint.py models/<name>`: rewrite a model folder's weights as f16 in place.
    # `python3 checkpoint.py runs/<name>/checkpoint.pt models/<name> OUT`: export_raw.
    import sys
    if len(sys.argv) == 4:
        export_raw(*sys.argv[1:])
        sys.exit()
    path = os.path.join(sys.argv[1], "model.safetensors")
    export_weights(load_file(path), path)
