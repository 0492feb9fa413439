#!/usr/bin/env bash
# Train the bundled dynamics on, with the fast CPU path (bf16 autocast, token cache, per-frame attention), on the
# mine_gold store of its model card (scripted seeker, explorer, uniform play over the agent's actions: 92,179
# frames), then write a candidate world model: the bundled model with the new dynamics.
#
#   bash scripts/train_bundled_dynamics_longer.sh OUT_DIR [STEPS]
#
# STEPS (default 22600) more steps on top of the bundled model's 5,650 (22600: 5x in all). EDITS=1 adds 700
# episodes of the explorer's edit behaviour to the store and weighs the tokens a break or placement changes 10x
# (model.edit_weight), so that the dynamics shows edits. Every step resumes:
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
edit_args=()
if [ "${EDITS:-0}" = 1 ]; then  # 700 episodes of the explorer's edit behaviour (break, place, look away and back)
  wm collect --env BlockWorld-v0 --env-kwargs "$gold" --seed 7 --out "$data" --workers "$procs" --policy explorer \
    --policy-kwargs '{"weights": {"edit": 8, "walk": 1.5, "loop": 0.0, "mine": 0.5, "place": 0.2, "idle": 0.3}}' \
    --episodes 1560 --steps 150
  edit_args=(model.edit_weight=10.0)
fi

# 2. the dynamics, warm-started from the bundled one (batch 8 split over the processes)
launch=(wm train)
[ "$procs" -gt 1 ] && launch=(torchrun --standalone --nproc_per_node "$procs" -m worldmodel.cli train)
"${launch[@]}" dynamics run_dir="$out/dynamics" tokenizer_checkpoint=worldmodel/bundled init_from=bundled \
  data.path="$data" data.clip_len=8 data.event_repeat=10 data.pad_end=4 model.reward_weight=5.0 \
  model.term_weight=2.0 train.steps="$steps" train.batch_size=$(( 8 / procs > 0 ? 8 / procs : 1 )) train.lr=3e-4 \
  train.warmup_steps=100 train.threads=1 train.num_workers=0 train.ckpt_every=500 "${edit_args[@]}" ${DYN_ARGS:-}

# 3. the candidate: the bundled model (tokenizer, frame fusion, geometry heads, card) with the new dynamics
python scripts/make_candidate.py "$out/dynamics/world_model" "$out/world_model" \
  "$steps more steps (bf16, token cache) on the seeker, explorer and random_set stages of that store: scripts/train_bundled_dynamics_longer.sh"
echo "compare: wm bench quality --model bundled $out/world_model --data data/bw_heldout --horizons 16 --max-windows 64 --temperature 0 --threads 1"
