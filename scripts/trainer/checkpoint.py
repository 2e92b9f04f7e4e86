"""Checkpoints: a full one in runs/<name>/ (git-ignored) and a compact, committed resume point.

models/<name>/
  model.safetensors     EMA weights, f16 (the shipped checkpoint and the resume point's weights)
  config.json           model config + training args + progress
  locate.safetensors    the locate head (aux_locate, f32), which the runtime also uses
  resume/state.safetensors  the training-only heads (raw, bf16): a few hundred KB
  resume/state.json     step, stream positions, loss scales, schedule
  log.jsonl             the run's per-step log, copied at every save
Each replacement of the committed point must stay well under the repository's 15 MB per session,
and raw weights plus Adam moments in bf16 were 3x the model (41 MB). So resuming from the compact
point starts the raw weights from the EMA (f16), drops the Adam moments (they restart at zero, and
the learning rate warms up again over --warmup steps from the resume: `rewarm_from`), and keeps
the step, data stream positions and loss scales; the RNG of noise/time sampling restarts from
seed+step.
"""
import argparse
import json
import os
import shutil
import torch
from safetensors.torch import save_file, load_file
from model import AUX_PREFIX, ModelConfig, UniVid


def load_model(model_dir):
    """An exported model folder (its training-only heads absent) as a twin in eval mode, f32."""
    with open(os.path.join(model_dir, "config.json")) as f:
        model = UniVid(ModelConfig(**json.load(f)["model"]))
    weights = {k: v.float() for k, v in load_file(os.path.join(model_dir, "model.safetensors")).items()}
    locate = os.path.join(model_dir, LOCATE_FILE)
    if model.cfg.locate and os.path.exists(locate):
        weights.update({"aux_" + k: v.float() for k, v in load_file(locate).items()})
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert not unexpected and all(k.startswith(AUX_PREFIX) for k in missing), (missing, unexpected)
    return model.eval()


LOCATE_FILE = "locate.safetensors"


def export_locate(model, model_dir):
    """The training-only locate head as the runtime's `locate.*` (which cell holds a digit's centre,
    which digit): where-start / where-end answers read it."""
    tensors = {k[len("aux_"):]: v.detach().float().contiguous() for k, v in model.state_dict().items() if k.startswith("aux_locate.")}
    save_file(tensors, os.path.join(model_dir, LOCATE_FILE))


def head_trainer(description, add_arguments):
    """The command line of a head trained on a frozen trunk (slots.py, text_slots.py): the model
    folder, `add_arguments`' own flags, resume, learning rate, seed, threads, a log. Returns the
    arguments, the frozen trunk and a `write(row)` that prints each row (and appends it to --log)."""
    from data import default_binary
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="models/univid-small", help="model folder: its trunk (frozen) and where the head is written")
    add_arguments(p)
    p.add_argument("--resume", action="store_true", help="start from the head's file in the model folder")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0, help="also chooses the training clips (another seed, other clips)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--log", default="", help="append every row (JSON) to this file too")
    p.add_argument("--binary", default=default_binary())
    args = p.parse_args()
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    log = open(args.log, "a") if args.log else None

    def write(row):
        print(json.dumps(row), flush=True)
        if log:
            log.write(json.dumps(row) + "\n")
            log.flush()

    return args, load_model(args.model).requires_grad_(False), write


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
    if cfg.locate:
        export_locate(model, model_dir)
    aux = {k: v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items() if k.startswith(AUX_PREFIX)}
    save_file(aux, os.path.join(model_dir, "resume", "state.safetensors"))
    with open(os.path.join(model_dir, "resume", "state.json"), "w") as f:
        json.dump(state, f, indent=2)
    # The log travels with the resume point (a later session may be on a fresh machine).
    log = os.path.join(run_dir, "log.jsonl")
    if os.path.exists(log):
        shutil.copyfile(log, os.path.join(model_dir, "log.jsonl"))


def export_weights(weights, path):
    tensors = {k: v.detach().half().contiguous() for k, v in weights.items() if not k.startswith(AUX_PREFIX)}
    save_file(tensors, path, metadata={"format": "univid-f16"})


def load(run_dir, model_dir, model, ema, opt, state, use_full=True):
    """Resumes from the full checkpoint when there is a usable one (and `use_full`), else from the
    compact point. The optimiser's group settings (learning-rate scales, weight decay) stay the
    ones this run was started with, not the saved ones."""
    full = os.path.join(run_dir, "checkpoint.pt")
    device = next(model.parameters()).device
    ck = torch.load(full, weights_only=False, map_location=device) if use_full and os.path.exists(full) else None
    if ck is not None and ck["model"].keys() == model.state_dict().keys() and \
            [len(g["params"]) for g in ck["opt"]["param_groups"]] == [len(g["params"]) for g in opt.param_groups]:
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        settings = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
        opt.load_state_dict(ck["opt"])
        for group, wanted in zip(opt.param_groups, settings):
            group.update(wanted)
        return ck["state"]
    # The compact point: weights from the EMA, the training-only heads from their raw copy, fresh
    # Adam moments (so the learning rate warms up again). It also resumes a model that gained a
    # head since it was written: a new head starts fresh.
    weights = {k: v.float() for k, v in load_file(os.path.join(model_dir, "model.safetensors"), device=str(device)).items()}
    aux = load_file(os.path.join(model_dir, "resume", "state.safetensors"), device=str(device))
    weights.update({k: v.float() for k, v in aux.items()})
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert not unexpected and all(k.startswith(AUX_PREFIX) for k in missing), (missing, unexpected)
    ema.load_state_dict(model.state_dict())
    with open(os.path.join(model_dir, "resume", "state.json")) as f:
        saved = json.load(f)
    saved.pop("adam_step", None)  # written by points that carried the moments
    return {**saved, "rewarm_from": saved["step"]}


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
