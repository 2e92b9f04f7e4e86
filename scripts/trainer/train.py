"""Multi-task training of the UniVid twin on CPU (or CUDA with --device cuda).

One step = one micro-batch per task family (understand, text->video, continuation); the losses are
balanced by dividing each by its running mean, so every task pulls with about the same force
whatever its scale. AdamW, linear warm-up then cosine decay, gradient clipping, EMA weights.

Resume: `--resume` continues the same schedule from runs/<name>/checkpoint.pt, or from the compact
resume point committed in models/<name>/ (EMA weights, training-only heads, step, stream
positions, loss scales; see checkpoint.py) when the full checkpoint is not on this machine.

More than one machine or GPU: the same script under torchrun (`torchrun --nproc_per_node N
train.py …`) trains data-parallel: each rank reads its own clips, gradients are averaged across
ranks (NCCL on CUDA, gloo on the CPU) before every update, rank 0 logs and saves, and every save
checks that all ranks still hold the same weights. --batch and friends are per rank.
"""
import argparse
import json
import math
import os
import shutil
import time
import numpy as np
import torch
import torch.distributed as dist
from data import RecordStream, default_binary, vocabulary_of
from model import ModelConfig, UniVid
from tasks import Recipe, understand_loss, generate_loss, continue_loss
import checkpoint

TASK_FAMILIES = ["understand", "generate", "continue"]
POSITION_HEAD_LR_SCALE = 10.0
LOSS_NAMES = ["classify", "describe", "ask", "retrieve", "locate", "stem", "position", "generate", "continue"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", default="univid-small")
    p.add_argument("--config", default="small", choices=["tiny", "small", "large"])
    p.add_argument("--steps", type=int, default=20000, help="length of the cosine schedule")
    p.add_argument("--stop-after", type=float, default=0, help="stop after this many minutes (0 = run the schedule)")
    p.add_argument("--batch", type=int, default=8, help="clips per task family per step")
    p.add_argument("--understand-batch", type=int, default=0, help="clips for the understanding family (0 = --batch)")
    p.add_argument("--continue-batch", type=int, default=0, help="clips for the continuation family (0 = --batch)")
    p.add_argument("--questions", type=int, default=1, choices=range(1, 8),
                   help="questions asked per understanding clip, each of a different kind")
    p.add_argument("--families", default=",".join(TASK_FAMILIES), help="task families trained (for ablations)")
    p.add_argument("--untrained-losses", default="",
                   help="comma-separated losses kept out of the gradient (still computed and logged)")
    p.add_argument("--stem-channels", type=int, default=-1, help="override the preset's conv stem width (ablations)")
    p.add_argument("--stem-context", type=int, default=-1, help="override the preset's residual context convs in the stem")
    p.add_argument("--flow-time-shift", type=float, default=0.0,
                   help="mean of the logit-normal flow times (> 0: more training at high noise)")
    p.add_argument("--pure-noise", type=float, default=0.0,
                   help="share of generated and continued clips trained at t = 1, the sampler's first step")
    p.add_argument("--reinit", default="", help="comma-separated tensor prefixes a warm start keeps freshly initialised")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--stem-lr-scale", type=float, default=3.0, help="learning-rate multiplier of the conv stem")
    p.add_argument("--decoder-lr-scale", type=float, default=1.0,
                   help="learning-rate multiplier of the video decoder (a fresh decoder on a trained trunk: "
                        "the trunk's rate would take it thousands of steps, a decoder's rate unlearns understanding)")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    # bf16 autocast measured 20-40x slower than f32 here (slow bf16 matmul backward in this torch
    # build on this CPU), so f32 is the default; try --bf16 on hardware with fast bf16 GEMMs.
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--init-from", default="", help="start from these weights (safetensors); tensors the file lacks keep their fresh init")
    p.add_argument("--save-every", type=int, default=250)
    p.add_argument("--runs", default="runs")
    p.add_argument("--models", default="models")
    p.add_argument("--binary", default=default_binary())
    return p.parse_args()


def learning_rate(step, args, rewarm_from=0):
    """Linear warm-up, then cosine decay to 5 % of the peak; after a resume with fresh Adam moments
    (`rewarm_from`: its step) the rate warms up again over the same number of steps."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
    rewarm = min(1.0, (step - rewarm_from + 1) / max(1, args.warmup))
    return rewarm * args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def join_ranks(device):
    """Under torchrun (WORLD_SIZE set) joins the process group and returns (rank, ranks, device),
    the device being this rank's GPU on CUDA; otherwise (0, 1, device)."""
    if "WORLD_SIZE" not in os.environ:
        return 0, 1, device
    cuda = device.startswith("cuda")
    if cuda:
        device = f"cuda:{os.environ['LOCAL_RANK']}"
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def average_gradients(model, ranks):
    """Data parallelism by hand (what DistributedDataParallel does, without wrapping the model:
    the losses call its methods, not forward): every rank ends with the mean gradient."""
    params = list(model.parameters())
    for p in params:  # a loss can skip a head on one rank (no target in its batch): same layout on all
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ranks
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def check_ranks_agree(model):
    """Raises if any rank's weights differ from rank 0's (a desynchronised run would otherwise go on
    silently, each rank training its own model)."""
    flat = torch.cat([p.detach().reshape(-1).double() for p in model.parameters()])
    weights = (torch.arange(flat.numel(), device=flat.device) % 9973).double()
    mine = torch.stack([flat.sum(), (flat * weights).sum()])  # a fingerprint, not the whole model
    theirs = mine.clone()
    dist.broadcast(theirs, 0)
    disagree = torch.tensor([float(not torch.equal(mine, theirs))], device=flat.device)
    dist.all_reduce(disagree)
    if disagree.item():
        raise RuntimeError("ranks hold different weights: data-parallel training desynchronised")


def warm_start(model, ema, path, reinit=()):
    """Loads matching tensors from an earlier checkpoint; new parts keep their initialisation.
    A new residual input branch starts with a zero output projection so the loaded network's
    function is unchanged at step 0."""
    from safetensors.torch import load_file
    loaded = {k: v.float() for k, v in load_file(path).items() if not k.startswith(tuple(reinit))}
    missing, unexpected = model.load_state_dict(loaded, strict=False)
    if unexpected:
        raise RuntimeError(f"{path} has tensors this config lacks: {unexpected}")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in missing and name.startswith("stem.proj"):
                p.zero_()
    ema.load_state_dict(model.state_dict())
    print(f"warm start from {path}; freshly initialised: {missing}", flush=True)


def main():
    args = parse_args()
    rank, ranks, args.device = join_ranks(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = ModelConfig.preset(args.config)
    if args.stem_channels >= 0:
        cfg.stem_channels = args.stem_channels
    if args.stem_context >= 0:
        cfg.stem_context = args.stem_context
    saved_config = os.path.join(args.models, args.name, "config.json")
    if args.resume and os.path.exists(saved_config):  # a run keeps its whole architecture
        with open(saved_config) as f:
            saved = json.load(f)["model"]
        cfg = ModelConfig(**saved)
    vocab = vocabulary_of(args.binary)
    if args.resume and os.path.exists(saved_config):
        if cfg.vocab != len(vocab):
            raise SystemExit(f"the run was trained on {cfg.vocab} words and the world now has {len(vocab)}: "
                             "start a new run (--init-from keeps what still fits)")
    else:
        cfg.vocab = len(vocab)  # the world's words, as the record stream lists them
    recipe = Recipe(vocab, args.flow_time_shift, args.pure_noise)
    families = args.families.split(",")
    untrained = {name for name in args.untrained_losses.split(",") if name}
    assert untrained <= set(LOSS_NAMES), f"unknown losses: {untrained - set(LOSS_NAMES)}"
    understand_batch = args.understand_batch or args.batch
    continue_batch = args.continue_batch or args.batch
    model = UniVid(cfg).to(args.device)
    ema = UniVid(cfg).to(args.device)
    ema.load_state_dict(model.state_dict())
    decay, no_decay, stem, position_head, decoder, decoder_no_decay = [], [], [], [], [], []
    for name, p in model.named_parameters():
        if name.startswith("decoder."):
            (decoder_no_decay if p.ndim < 2 or name == "decoder.pos" else decoder).append(p)
        elif name.startswith(("stem.", "aux_stem.")):
            stem.append(p)
        elif name.startswith("aux_position."):
            position_head.append(p)
        else:
            (no_decay if p.ndim < 2 or "emb" in name or "pos" in name or "gate" in name else decay).append(p)
    # The conv stem learns digit shapes with a higher learning rate (measured: 2e-3 alone starts
    # recognising within ~100 steps); the transformer keeps the base rate.
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0},
                             {"params": stem, "weight_decay": args.weight_decay, "lr_scale": args.stem_lr_scale},
                             # added to a trained trunk late in its schedule: a linear head at the
                             # decayed base rate would take thousands of steps to mean anything
                             {"params": position_head, "weight_decay": 0.0, "lr_scale": POSITION_HEAD_LR_SCALE},
                             {"params": decoder, "weight_decay": args.weight_decay, "lr_scale": args.decoder_lr_scale},
                             {"params": decoder_no_decay, "weight_decay": 0.0, "lr_scale": args.decoder_lr_scale}],
                            lr=args.lr, betas=(0.9, 0.95))
    state = {"step": 0, "clips": {"training": 0, "benchmark": 0}, "loss_scale": {k: None for k in LOSS_NAMES},
             "seconds": 0.0}
    run_dir = os.path.join(args.runs, args.name)
    model_dir = os.path.join(args.models, args.name)
    os.makedirs(run_dir, exist_ok=True)
    if args.init_from and not args.resume:
        warm_start(model, ema, args.init_from, [p for p in args.reinit.split(",") if p])
    if args.resume:
        # Under torchrun every rank resumes from the same kind of point (Adam moments differ
        # otherwise), and rank 0's state (step, stream positions) is everyone's.
        use_full = os.path.exists(os.path.join(run_dir, "checkpoint.pt"))
        if ranks > 1:
            everyone = torch.tensor([float(use_full)], device=args.device)
            dist.all_reduce(everyone, op=dist.ReduceOp.MIN)
            use_full = bool(everyone.item())
        state = checkpoint.load(run_dir, model_dir, model, ema, opt, state, use_full)
        if ranks > 1:
            shared = [state]
            dist.broadcast_object_list(shared, 0)
            state = shared[0]
        if rank == 0:
            print(f"resumed at step {state['step']}", flush=True)
    if ranks > 1:  # every rank starts from rank 0's weights
        for p in list(model.parameters()) + list(ema.parameters()):
            dist.broadcast(p.data, 0)
    # Noise, flow times and query sampling: a fresh stream per (seed, starting step, rank).
    torch.manual_seed(args.seed + state["step"] + 7919 * rank)
    np.random.seed(args.seed + state["step"] + 7919 * rank)
    params = sum(p.numel() for p in model.parameters())
    if rank == 0:
        print(f"{args.config}: {params / 1e6:.2f} M parameters" + (f", {ranks} ranks" if ranks > 1 else ""), flush=True)

    # Two streams: captioned clips (1-2 digits, compass directions) for understanding and
    # text->video, and the benchmark generator (continuous directions) for continuation. Each rank
    # reads its own clips (its own seed) and as many as rank 0, so rank 0's stream positions resume
    # every rank.
    data_seed = args.seed + 1000 * rank
    captioned = RecordStream(args.binary, "train", "training", data_seed, state["clips"]["training"])
    benchmark = RecordStream(args.binary, "train", "benchmark", data_seed + 1, state["clips"]["benchmark"])
    log_path = os.path.join(run_dir, "log.jsonl")
    committed_log = os.path.join(model_dir, "log.jsonl")
    if rank == 0 and args.resume and not os.path.exists(log_path) and os.path.exists(committed_log):
        # Resuming from the committed point on a fresh machine: continue the run's log, not a new one
        # (each save copies this file over the committed one).
        shutil.copyfile(committed_log, log_path)
    log = open(log_path if rank == 0 else os.devnull, "a")
    started = time.time()
    autocast = torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16, enabled=args.bf16)
    clips_per_step = sum({"understand": understand_batch, "continue": continue_batch}.get(f, args.batch) for f in families)
    while state["step"] < args.steps:
        t0 = time.time()
        lr = learning_rate(state["step"], args, state.get("rewarm_from", 0))
        for group in opt.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        with autocast:
            losses = {}
            if "understand" in families:
                losses.update(understand_loss(model, captioned.batch(understand_batch), recipe, args.questions))
            if "generate" in families:
                losses.update(generate_loss(model, captioned.batch(args.batch), recipe))
            if "continue" in families:
                losses.update(continue_loss(model, benchmark.batch(continue_batch), recipe))
        values = {k: v.item() for k, v in losses.items()}
        if ranks > 1:  # every rank weighs the losses alike and rank 0 logs the mean over ranks
            mean = torch.tensor(list(values.values()), device=args.device)
            dist.all_reduce(mean)
            values = dict(zip(values, (mean / ranks).tolist()))
        total = 0.0
        for k, v in losses.items():
            scale = state["loss_scale"].get(k)  # None for a loss newer than the resume point
            scale = values[k] if scale is None else 0.99 * scale + 0.01 * values[k]
            state["loss_scale"][k] = scale
            if k not in untrained:
                total = total + v / max(scale, 1e-4)
        opt.zero_grad(set_to_none=True)
        total.backward()
        if ranks > 1:
            average_gradients(model, ranks)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0).item()
        opt.step()
        with torch.no_grad():
            d = min(args.ema, (1 + state["step"]) / (10 + state["step"]))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - d)
        state["step"] += 1
        state["clips"] = {"training": captioned.position, "benchmark": benchmark.position}
        dt = time.time() - t0
        state["seconds"] += dt
        entry = {"step": state["step"], "lr": lr, "grad_norm": grad_norm, "clips_per_s": clips_per_step / dt,
                 "seconds": round(state["seconds"], 1), **{k: round(v, 5) for k, v in values.items()}}
        log.write(json.dumps(entry) + "\n")
        if state["step"] % 10 == 0 and rank == 0:
            log.flush()
            print(json.dumps(entry), flush=True)
        out_of_time = bool(args.stop_after and time.time() - started > args.stop_after * 60)
        if ranks > 1:  # rank 0's clock decides for all, or one rank would wait for ever
            stop = torch.tensor([float(out_of_time)], device=args.device)
            dist.broadcast(stop, 0)
            out_of_time = bool(stop.item())
        if state["step"] % args.save_every == 0 or out_of_time or state["step"] == args.steps:
            if ranks > 1:
                check_ranks_agree(model)
            if rank == 0:
                log.flush()  # the save copies the log next to the resume point
                checkpoint.save(run_dir, model_dir, model, ema, opt, state, cfg, args)
        if out_of_time:
            break
    captioned.close()
    benchmark.close()
    if ranks > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
