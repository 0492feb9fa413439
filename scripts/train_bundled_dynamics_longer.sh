#!/usr/bin/env bash
# Train the bundled dynamics on, with the fast CPU path (bf16 autocast, token cache, per-frame attention), on the
# mine_gold store of its model card (scripted seeker, explorer, uniform play over the agent's actions: 92,179
# frames), then write a candidate world model: the bundled model with the new dynamics.
#
#   bash scripts/train_bundled_dynamics_longer.sh OUT_DIR [STEPS]
#
# STEPS (default 22600) more steps on top of the bundled model's 5,650 (22600: 5x in all). Every step resumes:
# collection keeps finished episodes, `wm train` continues from OUT_DIR/dynamics/checkpoints. One single-threaded
# DDP process per core (PROCS, default: all cores; measured 0.29 s a step with 2 on the 2-core CPU, about 1 h 50
# for 22,600 steps). Compare before / after on the same held-out windows with the printed `wm bench quality` line.
set -euo pipefail
out=${1:?usage: train_bundled_dynamics_longer.sh OUT_DIR [STEPS]}
steps=${2:-22600}
procs=${PROCS:-$(nproc)}
data="$out/data"
gold='{"task": "mine_gold"}'
export OMP_WAIT_POLICY=PASSIVE

# 1. the store (deterministic: the same episodes as the model card's first three stages)
wm collect --env BlockWorld-v0 --env-kwargs "$gold" --seed 7 --out "$data" --workers "$procs" \
  --policy seeker --policy-kwargs '{"noise": 0.3, "wander": 60}' --episodes 600 --steps 150
wm collect --env BlockWorld-v0 --env-kwargs "$gold" --seed 7 --out "$data" --workers "$procs" \
  --policy explorer --episodes 660 --steps 300
wm collect --env BlockWorld-v0 --env-kwargs "$gold" --seed 7 --out "$data" --workers "$procs" \
  --policy agents.policies.random_set:RandomSetPolicy --episodes 860 --steps 200

# 2. the dynamics, warm-started from the bundled one (batch 8 split over the processes)
launch=(wm train)
[ "$procs" -gt 1 ] && launch=(torchrun --standalone --nproc_per_node "$procs" -m worldmodel.cli train)
"${launch[@]}" dynamics run_dir="$out/dynamics" tokenizer_checkpoint=worldmodel/bundled init_from=bundled \
  data.path="$data" data.clip_len=8 data.event_repeat=10 data.pad_end=4 model.reward_weight=5.0 \
  model.term_weight=2.0 train.steps="$steps" train.batch_size=$(( 8 / procs > 0 ? 8 / procs : 1 )) train.lr=3e-4 \
  train.warmup_steps=100 train.threads=1 train.num_workers=0 train.ckpt_every=500 ${DYN_ARGS:-}

# 3. the candidate: the bundled model (tokenizer, frame fusion, geometry heads, card) with the new dynamics
python - "$out" "$steps" <<'PY'
import json, shutil, sys
from pathlib import Path
from worldmodel import bundled
out, steps = Path(sys.argv[1]), int(sys.argv[2])
new, target = out / "dynamics" / "world_model", out / "world_model"
temp = out / ".world_model.tmp"
shutil.rmtree(temp, ignore_errors=True)
shutil.copytree(bundled.BUNDLED_DIR, temp, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
shutil.copy2(new / "dynamics.safetensors", temp / "dynamics.safetensors")
config = json.loads((temp / "config.json").read_text())
config["dynamics"] = json.loads((new / "config.json").read_text())["dynamics"]
config["card"]["trained"] += (f"; then {steps:,} more steps (bf16, token cache) on the seeker, explorer and "
                              f"random_set stages of that store: scripts/train_bundled_dynamics_longer.sh")
(temp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
shutil.rmtree(target, ignore_errors=True)
temp.rename(target)
print(f"candidate: {target}")
PY
echo "compare: wm bench quality --model bundled $out/world_model --data data/bw_heldout --horizons 16 --max-windows 64 --temperature 0 --threads 1"
