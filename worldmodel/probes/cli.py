"""`wm probe`: run probe suites against ground truth; `wm probe train-aux`: train the segmenter and IDM.

    wm probe --model bundled|oracle|copy-last|frozen-first|PATH --suite all --out DIR [--seeds N] [--quick]
    wm probe --env ID --suite lookback --model PATH --out DIR     # generic look-away-and-back on any env
    wm probe --data STORE --model bundled --out DIR               # revisits in recorded footage
    wm probe train-aux [--aux-dir DIR] [--steps N] [--run-dir DIR]
    wm probe compare DIR1 DIR2 ... [--plot PNG]                   # runs side by side on the fixed scale
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

EPILOG = """suites: permanence (A), lookback (B), loop (C), edits (D), actions (E), drift (F), all; comma lists work.
examples:
  wm probe --model oracle --suite all --quick --out /tmp/probe_oracle
  wm probe --model mypkg.models:make --suite lookback --quick --out /tmp/probe_mine
  wm probe --model bundled --suite permanence,lookback --seeds 5 --out runs/probe
  wm probe --env BlockWorld-v0 --suite lookback --model copy-last --out /tmp/generic
  wm probe --data data/bw --model bundled --out /tmp/revisits
  wm probe train-aux --steps 3000 --aux-dir ~/.cache/worldmodel/probes
  wm probe compare runs/probe_a runs/probe_b --plot compare.png"""


def build_parser(prog: str) -> argparse.ArgumentParser:
    """Options of `wm probe`."""
    parser = argparse.ArgumentParser(prog=prog, description="Probe a world model against BlockWorld ground truth: "
                                     "permanence, look-back, loop closure, edits, action following, drift.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="bundled", metavar="M",
                        help="bundled (default), oracle, copy-last, frozen-first, a WorldModel directory, "
                        "pkg.module:factory (any model speaking the protocol of worldmodel/probes/protocol.py), "
                        "or random (untrained default-size model: times the suite, scores mean nothing)")
    parser.add_argument("--suite", default="all", metavar="S", help="suite name(s), comma-separated, or all")
    parser.add_argument("--out", type=Path, default=Path("probe_results"), metavar="DIR",
                        help="output directory for results.json, report.md and plots/ (default ./probe_results)")
    parser.add_argument("--seeds", type=int, default=3, metavar="N", help="worlds per sweep point (default 3)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="base seed (worlds, sampling, bootstrap)")
    parser.add_argument("--quick", action="store_true", help="one world per point, fewest sweep points (CI)")
    parser.add_argument("--context", type=int, default=None, metavar="F",
                        help="context window in frames for family A's gap sweep (default: the model's, else 12)")
    parser.add_argument("--prompt", type=int, default=12, metavar="F", help="prompt frames (default 12)")
    parser.add_argument("--batch", type=int, default=16, metavar="B", help="worlds per batched model rollout")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, or auto")
    parser.add_argument("--aux-dir", type=Path, default=None, metavar="DIR",
                        help="where segmenter/IDM weights are looked for first (and cached when trained)")
    parser.add_argument("--data", type=Path, default=None, metavar="STORE",
                        help="revisit scoring on a recorded episode store (BlockWorld, or imported MineRL/VPT/video): "
                        "the model rolls the recorded actions to each revisit of an earlier view and is scored "
                        "against the recorded frame (worldmodel/probes/revisit.py)")
    parser.add_argument("--max-revisits", type=int, default=40, metavar="N",
                        help="--data: score at most N revisits (default 40; 10 with --quick)")
    parser.add_argument("--revisit-by", choices=("pose", "camera"), default="pose",
                        help="--data: find revisits from recorded poses where the store has them (default) or "
                        "from the summed camera actions, as for footage without poses")
    parser.add_argument("--env", default=None, metavar="ID",
                        help="generic look-away-and-back probe on any Gymnasium env with the canonical camera action")
    parser.add_argument("--corruption", action="store_true",
                        help="also run the corruption harness (damaged truth must lose a stated share of each "
                        "family's truth-to-floor gap; exit status 1 when a corruption is not caught)")
    parser.add_argument("--threads", type=int, default=1, metavar="N",
                        help="torch CPU threads (default 1: on a busy machine more threads can be 10x slower; "
                        "try 2 on an idle 2-core CPU)")
    parser.add_argument("--no-fusion", action="store_true",
                        help="show the model's frames from its tokens alone, without its frame-fusion net")
    parser.add_argument("--no-progress", action="store_true", help="no progress lines (results are still printed)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors and the output paths")
    parser.add_argument("--no-reference-tokenizer", action="store_true",
                        help="leave out the reference_tokenizer row (the truth through the bundled tokenizer)")
    return parser


def train_parser(prog: str) -> argparse.ArgumentParser:
    """Options of `wm probe train-aux`: each maps onto a field of the models' training configs
    (worldmodel/probes/auxtrain.py, where the defaults live)."""
    from worldmodel.probes.auxtrain import IDMTrainConfig, SegmenterTrainConfig

    seg, idm = SegmenterTrainConfig().train, IDMTrainConfig().train
    parser = argparse.ArgumentParser(prog=f"{prog} train-aux", description="Train the probes' block-id segmenter "
                                     "and inverse dynamics model on freshly rendered BlockWorld data.")
    parser.add_argument("--aux-dir", type=Path, default=None, metavar="DIR",
                        help="where to save (default: the user cache, ~/.cache/worldmodel/probes)")
    parser.add_argument("--only", choices=("segmenter", "idm"), default=None, help="train just one of them")
    parser.add_argument("--steps", type=int, default=None, metavar="N",
                        help=f"optimiser steps per model: train.steps (default {seg.steps} segmenter, "
                        f"{idm.steps} idm)")
    parser.add_argument("--seed", type=int, default=None, metavar="S",
                        help=f"seed of the weights and the rendered data: train.seed (default {seg.seed})")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="torch CPU threads: train.threads (default: torch's)")
    parser.add_argument("--run-dir", type=Path, default=None, metavar="DIR",
                        help="keep each model's training run (checkpoints, TensorBoard, config.json) in DIR/<model> "
                        "and resume from it (default: a temporary dir)")
    return parser


def train_main(argv: list[str], prog: str) -> int:
    """`wm probe train-aux`."""
    from worldmodel.probes.auxstore import cache_dir, save_aux
    from worldmodel.probes.auxtrain import train_aux

    args = train_parser(prog).parse_args(argv)
    target = args.aux_dir or cache_dir()
    for kind in ([args.only] if args.only else ["segmenter", "idm"]):
        run_dir = args.run_dir / kind if args.run_dir else None
        try:
            model, metrics = train_aux(kind, args.steps, args.seed, log=print, run_dir=run_dir, threads=args.threads)
        except ValueError as error:
            print(f"{prog} train-aux: {error}", file=sys.stderr)
            return 2
        path = save_aux(kind, model, metrics, target)
        print(f"{kind}: {path} {({k: round(v, 4) for k, v in metrics.items()})}")
    return 0


def main(argv: list[str], prog: str = "wm probe") -> int:
    """Entry point of `wm probe`."""
    if argv and argv[0] == "train-aux":
        return train_main(argv[1:], prog)
    if argv and argv[0] == "compare":
        from worldmodel.probes.compare import main as compare_main

        return compare_main(argv[1:], f"{prog} compare")
    args = build_parser(prog).parse_args(argv)
    import torch

    from worldmodel.probes.adapters import load_model
    from worldmodel.probes.auxstore import load_all
    from worldmodel.probes.config import SuiteConfig
    from worldmodel.probes.references import load_reference_tokenizer
    from worldmodel.probes.report import write_report
    from worldmodel.probes.scenario import EnvPool
    from worldmodel.probes.suite import parse_suites, run_suite

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        suites = parse_suites(args.suite)
        pool = EnvPool()
        model, tokenizer, context, size = load_model(args.model, args.device, args.batch, args.seed, pool,
                                                          fusion=not args.no_fusion)
        cfg = SuiteConfig(seeds=args.seeds, seed=args.seed, quick=args.quick, prompt_len=args.prompt,
                          context=args.context or context or 12,
                          height=size[0] if size else 64, width=size[1] if size else 64,
                          fov_deg=float(getattr(getattr(model, "model", None), "fov_deg", 70.0)))
        if args.data is not None:
            return run_revisits(args, model, cfg, prog)
        if args.env is not None:
            from worldmodel.probes.generic import run_generic_cli

            return run_generic_cli(args, model, tokenizer, cfg)
        aux = load_all(args.aux_dir, log=None if args.quiet else (lambda s: print(s, file=sys.stderr)))
        reference = None if args.no_reference_tokenizer else load_reference_tokenizer()
    except (ValueError, FileNotFoundError) as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    start = time.time()
    results, raw = run_suite(model, tokenizer, suites, cfg, aux, args.model,
                             progress=not (args.no_progress or args.quiet), reference_tokenizer=reference)
    if args.corruption:
        from worldmodel.probes.corruption import run_harness

        results["corruption"] = run_harness(suites, cfg, aux, reference)
    results["runtime_s"] = round(time.time() - start, 2)
    paths = write_report(args.out, results, raw)
    if not args.quiet:
        for name, fam in results["families"].items():
            raw_means = fam["raw"]
            print(f"{fam['letter']} {name:<11} {fam['headline']:<24} model {_num(fam['model'])} truth "
                  f"{_num(raw_means.get('truth'))} copy-last {_num(raw_means.get('copy_last'))} "
                  f"normalised {_num(fam['normalised'])}")
        reader = results["aux"]["action_reader"]
        if reader["macro_f1_truth"] is not None:
            print(f"action reader (IDM) macro-F1 on the true frames: {_num(reader['macro_f1_truth'])}")
    print(f"wrote {paths['results']} and {paths['report']} ({results['runtime_s']:.1f} s)")
    return 0 if results.get("corruption", {}).get("ok", True) else 1


def run_revisits(args: argparse.Namespace, model: object, cfg: object, prog: str) -> int:
    """`wm probe --data STORE`: revisit scoring; writes results.json and report.md into --out."""
    import json

    from worldmodel.checkpoint import write_atomic_text
    from worldmodel.probes.auxstore import load_all
    from worldmodel.probes.revisit import RevisitConfig, markdown, score_revisits

    if args.model == "oracle":
        raise ValueError("--data: the oracle needs BlockWorld scenarios; use a model, copy-last or frozen-first")
    if not (args.data / "index.json").is_file() and not (args.data / "episodes").is_dir():
        raise FileNotFoundError(f"--data {args.data}: not an episode store (no index.json or episodes/)")
    rcfg = RevisitConfig(prompt_len=args.prompt, limit=10 if args.quick else args.max_revisits,
                         use_pose=args.revisit_by == "pose")
    aux = load_all(args.aux_dir, log=None if args.quiet else (lambda s: print(s, file=sys.stderr)))
    start = time.time()
    results = score_revisits(args.data, model, rcfg, aux.segmenter, args.seed)
    results["model"], results["runtime_s"] = args.model, round(time.time() - start, 2)
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomic_text(args.out / "results.json", json.dumps(results, indent=1, allow_nan=False) + "\n")
    write_atomic_text(args.out / "report.md", markdown(results, args.model))
    if not args.quiet:
        for name, m in results["metrics"].items():
            raw = m["raw"]
            print(f"revisit {name:<5} model {_num(raw.get('model'))} copy-last {_num(raw.get('copy_last'))} "
                  f"earlier view {_num(raw.get('earlier_view'))} normalised {_num(m['normalised'])} "
                  f"({results['n_revisits']} revisits)")
    print(f"wrote {args.out / 'results.json'} and {args.out / 'report.md'} ({results['runtime_s']:.1f} s)")
    return 0


def _num(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "n/a"
