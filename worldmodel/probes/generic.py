"""Look away and back on any Gymnasium env: needs only frames, a camera-turn action and a deterministic reset.

The prompt pans by turning right P-1 steps; the script turns right `away` more steps, turns left back to the
middle of the prompt's pan, and holds. Truth is the env itself (reset with the same seed, same actions); the
oracle replays that. Scored with PSNR / SSIM of the held frames against truth (no ground-truth buffers needed);
headline SSIM, with the same reference rows and normalisation as the BlockWorld families. For envs whose actions
are the canonical dict the turn is `camera` yaw; other envs pass their own turn/noop actions (any predictor that
understands them, e.g. copy-last, works; a WorldModel needs canonical actions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np

from envs.actions import complete_action, noop_action, stack_actions
from worldmodel.probes.adapters import Predictor, make_rows
from worldmodel.probes.famutil import Table, make_strip, spread
from worldmodel.probes.measure import nanmean
from worldmodel.probes.scoring import FamilyResult, summarise
from worldmodel.probes.suite import FORMAT, SCHEMA_VERSION, predict_rows

NAME = "lookback_generic"
AWAY_STEPS = (4, 9, 18, 36)  # about 45/90/180/360 degrees at 10 degrees per step
QUICK_AWAY = (9, 18)
HOLD = 2


@dataclass
class GenericScenario:
    """The parts of a scenario the adapters use."""

    name: str
    seed: int
    prompt_actions: list[Any]
    script: list[Any]
    tags: dict[str, Any] = field(default_factory=dict)


@dataclass
class GenericRun:
    """A generic env episode: frames (P+T, H, W, 3) and the scenario that made it."""

    scenario: GenericScenario
    frames: np.ndarray
    canonical: bool

    @property
    def prompt_len(self) -> int:
        """P."""
        return len(self.scenario.prompt_actions) + 1

    @property
    def prompt_frames(self) -> np.ndarray:
        """(P, H, W, 3)."""
        return self.frames[: self.prompt_len]

    @property
    def script_frames(self) -> np.ndarray:
        """(T, H, W, 3)."""
        return self.frames[self.prompt_len :]

    def prompt_action_arrays(self) -> dict[str, np.ndarray]:
        """Prompt actions as arrays (canonical action envs only)."""
        if not self.canonical:
            raise ValueError(f"{self.scenario.name}: the env's actions are not the canonical dict; a WorldModel "
                             "cannot be prompted with them")
        return stack_actions(self.scenario.prompt_actions)


def frame_of(obs: Any) -> np.ndarray:
    """The image in an observation: the array itself, or obs['pov'] / obs['rgb'] / obs['image']."""
    if isinstance(obs, dict):
        for key in ("pov", "rgb", "image"):
            if key in obs:
                obs = obs[key]
                break
    frame = np.asarray(obs)
    if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"observations must be uint8 (H, W, 3) images, got {frame.dtype} {frame.shape}")
    return frame


def play(make_env: Callable[[], gym.Env], seed: int, actions: Sequence[Any]) -> np.ndarray:
    """Reset with `seed` and play `actions`: frames (1 + len(actions), H, W, 3)."""
    env = make_env()
    try:
        obs, _ = env.reset(seed=int(seed))
        frames = [frame_of(obs)]
        for action in actions:
            obs, *_ = env.step(action)
            frames.append(frame_of(obs))
    finally:
        env.close()
    return np.stack(frames)


class ReplayOracle:
    """The env itself: reset with the scenario's seed and replay prompt + script."""

    name = "oracle"

    def __init__(self, make_env: Callable[[], gym.Env]) -> None:
        self.make_env = make_env

    def predict(self, runs: Sequence[GenericRun], scripts: Sequence[Sequence[Any]],
                progress: Callable[[int], None] | None = None) -> list[np.ndarray]:
        """The recorded frames for the true script, a fresh replay for any other."""
        out = []
        for run, script in zip(runs, scripts):
            if script is run.scenario.script:
                out.append(run.script_frames)
            else:
                frames = play(self.make_env, run.scenario.seed, [*run.scenario.prompt_actions, *script])
                out.append(frames[run.prompt_len :])
        return out


def generic_lookback(make_env: Callable[[], gym.Env], model: Predictor | None, tokenizer: Any | None = None,
                     seeds: Sequence[int] = (0, 1, 2), prompt_len: int = 12, quick: bool = False,
                     turn_right: Any = None, turn_left: Any = None, noop: Any = None, bootstrap: int = 1000,
                     seed: int = 0) -> tuple[dict[str, Any], FamilyResult]:
    """Run the generic look-away-and-back probe; model None = the oracle (the env). Returns (summary, raw)."""
    canonical = turn_right is None
    right = turn_right if not canonical else complete_action({"camera": np.array([0.0, 10.0], np.float32)})
    left = turn_left if not canonical else complete_action({"camera": np.array([0.0, -10.0], np.float32)})
    still = noop if not canonical else noop_action()
    half = (prompt_len - 1) // 2
    runs = []
    for s in seeds:
        for away in (QUICK_AWAY if quick else AWAY_STEPS):
            sc = GenericScenario(f"away{away}_seed{s}", int(s), [right] * (prompt_len - 1),
                                 [right] * away + [left] * (away + half) + [still] * HOLD, {"away_steps": away})
            frames = play(make_env, s, [*sc.prompt_actions, *sc.script])
            again = play(make_env, s, [*sc.prompt_actions, *sc.script])
            sc.tags["deterministic"] = bool(np.array_equal(frames, again))
            runs.append(GenericRun(sc, frames, canonical))
    truth = ReplayOracle(make_env)
    rows = make_rows(model or truth, tokenizer, seed, truth=truth, geometry=False)
    preds = predict_rows(rows, runs, None)  # type: ignore[arg-type]
    table = Table()
    table.declare("ssim", True, "SSIM of the frames after returning to a view seen in the prompt")
    table.declare("psnr", True, "PSNR (dB) of the frames after returning to a view seen in the prompt")
    from worldmodel.metrics import psnr, ssim
    import torch

    for j, run in enumerate(runs):
        truth = torch.as_tensor(run.frames[-HOLD - 1 :])
        for row, clips in preds.items():
            pred = torch.as_tensor(clips[j][-HOLD - 1 :])
            table.add("ssim", row, nanmean(ssim(pred, truth).numpy()))
            table.add("psnr", row, nanmean(psnr(pred, truth).numpy()))
    strips = [make_strip(runs[0].scenario.name, runs[0], preds["model"][0],  # type: ignore[arg-type]
                         [half, prompt_len - 1] + spread(prompt_len, len(runs[0].frames) - 1, 6))] if runs else []
    extras = {"deterministic_reset": all(r.scenario.tags["deterministic"] for r in runs)}
    result = FamilyResult(NAME, "ssim", table.metrics(), [r.scenario.name for r in runs], extras=extras,
                          strips=strips)
    return {"letter": "B*", **summarise(result, seed, bootstrap)}, result


def run_generic_cli(args: Any, model: Predictor, tokenizer: Any | None, cfg: Any) -> int:
    """`wm probe --env ID --suite lookback`: run the generic probe and write the report."""
    import time

    from worldmodel.probes.adapters import Oracle
    from worldmodel.probes.report import write_report

    start = time.time()
    import envs  # noqa: F401  (registers BlockWorld-v0)

    make_env = lambda: gym.make(args.env, render_mode="rgb_array")  # noqa: E731
    predictor = None if isinstance(model, Oracle) else model
    seeds = [cfg.seed + k for k in range(cfg.n_seeds)]
    summary, raw = generic_lookback(make_env, predictor, tokenizer, seeds, cfg.prompt_len, cfg.quick,
                                    bootstrap=cfg.bootstrap, seed=cfg.seed)
    results = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "model": args.model, "env": args.env, "suites": [NAME],
               "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
               "rows": list(raw.metrics["ssim"].values),
               "aux": {"segmenter": {}, "idm": {}}, "runtime_s": round(time.time() - start, 2),
               "families": {NAME: summary}}
    paths = write_report(args.out, results, {NAME: raw})
    print(f"{NAME}: model {summary['model']} truth {summary['raw']['truth']} normalised {summary['normalised']}")
    print(f"wrote {paths['results']} and {paths['report']}")
    return 0
