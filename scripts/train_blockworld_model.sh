#!/usr/bin/env bash
# A BlockWorld world model from scratch, the whole recipe: record footage, train the tokenizer, train the
# dynamics (with mine_gold reward and termination heads), train the frame fusion on the dynamics' own rollouts,
# measure it on held-out episodes.
#   bash scripts/train_blockworld_model.sh [OUT_DIR] [PROFILE]
# PROFILE cpu (default): the bundled model's architecture (d_model 128, 4 layers, window 8), sized for a 2-core CPU.
# PROFILE gpu: d_model 256, 6 layers, window 12 (the DynamicsConfig defaults), bf16, more data and steps; for a GPU.
# Every size below can be overridden from the environment (e.g. DYN_STEPS=200 TOK_STEPS=100 EPISODES=20 for a
# smoke run). The result is a WorldModel directory, OUT_DIR/fusion/world_model, usable as --model / --world
# (OUT_DIR/dynamics/world_model is the same model without the frame fusion).
set -euo pipefail
out=${1:-runs/blockworld}
profile=${2:-cpu}
case "$profile" in
  cpu) dyn_arch="model.d_model=128 model.n_layers=4 model.n_heads=4 model.context_frames=8"
       : "${EPISODES:=240}" "${TOK_STEPS:=3000}" "${DYN_STEPS:=6000}" "${FUSION_STEPS:=2400}" "${BATCH:=8}" "${DEVICE:=cpu}" "${THREADS:=2}" ;;
  gpu) dyn_arch="model.d_model=256 model.n_layers=6 model.n_heads=8 model.context_frames=12"
       : "${EPISODES:=1200}" "${TOK_STEPS:=20000}" "${DYN_STEPS:=40000}" "${FUSION_STEPS:=6000}" "${BATCH:=64}" "${DEVICE:=cuda}" "${THREADS:=0}" ;;
  *) echo "unknown profile '$profile' (cpu or gpu)" >&2; exit 2 ;;
esac
data=${DATA:-$out/data}
gold='{"task": "mine_gold"}'

# 1. footage, all in the mine_gold world: the noisy scripted seeker (gold hits, rewards, episode ends), the
#    explorer (walking, turning, looking around: most of the frames) and uniform play over the agent's actions.
#    Stages append to one store; a re-run resumes.
seek=$((EPISODES * 5 / 2)); explore=$((seek + EPISODES)); rand=$((explore + EPISODES * 5 / 6))
wm collect --env BlockWorld-v0 --env-kwargs "$gold" --seed 7 --out "$data" --policy seeker \
  --policy-kwargs '{"noise": 0.3, "wander": 60}' --episodes "$seek" --steps 150
wm collect --env BlockWorld-v0 --env-kwargs "$gold" --seed 7 --out "$data" --policy explorer \
  --episodes "$explore" --steps 500
wm collect --env BlockWorld-v0 --env-kwargs "$gold" --seed 7 --out "$data" --policy random_set \
  --episodes "$rand" --steps 200
# held-out episodes (other seeds) for the quality and reward-head numbers
wm collect --env BlockWorld-v0 --policy explorer --episodes 16 --steps 300 --seed 100000 --out data/bw_heldout
wm collect --env BlockWorld-v0 --env-kwargs "$gold" --policy seeker --policy-kwargs '{"noise": 0.3, "wander": 60}' \
  --episodes 40 --steps 150 --seed 200000 --out data/gold_heldout

# 2. the FSQ tokenizer (64x64 -> 8x8 tokens of 1000 codes)
wm train tokenizer data.path="$data" run_dir="$out/tokenizer" train.steps="$TOK_STEPS" train.device="$DEVICE" \
  train.threads="$THREADS"

# 3. the dynamics: clips of 8 (gpu: 12) frames; windows holding an event listed 10 more times; windows running up
#    to 4 transitions past an episode's end, so the heads cannot learn where in a clip an episode ends
clip=$([ "$profile" = gpu ] && echo 12 || echo 8)
# shellcheck disable=SC2086  # dyn_arch is a list of overrides
wm train dynamics tokenizer_checkpoint="$out/tokenizer" data.path="$data" data.clip_len="$clip" data.event_repeat=10 \
  data.pad_end=4 $dyn_arch model.reward_weight=5.0 model.term_weight=2.0 train.steps="$DYN_STEPS" \
  train.batch_size="$BATCH" train.device="$DEVICE" train.threads="$THREADS" run_dir="$out/dynamics"

# 4. the frame fusion: trained on the dynamics' own 16-step open-loop rollouts (tokenizer and dynamics frozen)
wm train fusion world="$out/dynamics/world_model" data.path="$data" train.steps="$FUSION_STEPS" \
  train.device="$DEVICE" train.threads="$THREADS" run_dir="$out/fusion"

# 5. the numbers of the model card
wm bench quality --model "$out/dynamics/world_model" "$out/fusion/world_model" --data data/bw_heldout \
  --horizons 16 64 --max-windows 16 --temperature 0 --threads 1 --decoding sample mean --json "$out/quality.json" \
  --plot "$out/quality.png"
python scripts/bench_reward_head.py --model "$out/fusion/world_model" --data data/gold_heldout --contexts 2 4 8 \
  --json "$out/reward_head.json"
wm bench speed --model "$out/fusion/world_model" --batch 1 64 --threads 1 --json "$out/speed.json"
