#!/usr/bin/env bash
# A BlockWorld world model from scratch, the whole recipe: record footage, train the tokenizer, train the
# dynamics (with mine_gold reward and termination heads), train the frame fusion on the dynamics' own rollouts,
# measure it on held-out episodes.
#   bash scripts/train_blockworld_model.sh [OUT_DIR] [PROFILE]
# PROFILE cpu (default): the bundled model's architecture (d_model 128, 4 layers, window 8), sized for a 2-core CPU;
#   bf16 where the CPU has it (train.precision=auto), one single-threaded DDP process per core, in stages of STAGE_HOURS (default 2): when a stage's time is
#   up the running step saves a checkpoint and the script exits with status 3; run the same command again and it
#   continues where it stopped (collection keeps finished episodes, training resumes from its checkpoint, finished
#   steps are skipped). STAGE_HOURS=0: no limit.
# PROFILE gpu: d_model 256, 6 layers, window 12 (the DynamicsConfig defaults), bf16, for one large GPU with 16 CPU
#   cores: footage collected on all cores, sizes chosen so that collection, tokenizer, dynamics, fusion and the
#   export take about 9 minutes (estimate and how it was made: docs/training-speed.md). Then the benches.
# Every size below can be overridden from the environment (e.g. EPISODES=20 TOK_STEPS=100 DYN_STEPS=200 for a
# smoke run; MAX_STEPS caps every episode's length, HELDOUT=0 and BENCH=0 skip the held-out footage and the
# benches, TOK_ARGS, DYN_ARGS and FUSION_ARGS add `wm train` overrides). The result is a WorldModel directory, OUT_DIR/fusion/world_model, usable as --model / --world
# (OUT_DIR/dynamics/world_model is the same model without the frame fusion).
set -euo pipefail
out=${1:-runs/blockworld}
profile=${2:-cpu}
case "$profile" in
  cpu) dyn_arch="model.d_model=128 model.n_layers=4 model.n_heads=4 model.context_frames=8"
       : "${EPISODES:=240}" "${TOK_STEPS:=3000}" "${DYN_STEPS:=6000}" "${FUSION_STEPS:=2400}" "${BATCH:=8}"
       : "${TOK_BATCH:=8}" "${FUSION_BATCH:=4}" "${DEVICE:=cpu}" "${WORKERS:=$(nproc)}" "${STAGE_HOURS:=2}"
       : "${HELDOUT:=16}" "${LOADERS:=0}"
       # one single-threaded DDP process per core (batches split between them): as fast as one 2-thread process
       # on a free machine and 3-5x faster on a shared one (docs/training-speed.md)
       : "${PROCS:=$(nproc)}" "${THREADS:=1}" ;;
  gpu) dyn_arch="model.d_model=256 model.n_layers=6 model.n_heads=8 model.context_frames=12"
       : "${EPISODES:=160}" "${TOK_STEPS:=5000}" "${DYN_STEPS:=5000}" "${FUSION_STEPS:=200}" "${BATCH:=64}"
       : "${TOK_BATCH:=64}" "${FUSION_BATCH:=64}" "${DEVICE:=cuda}" "${THREADS:=0}" "${LOADERS:=12}"
       : "${WORKERS:=$(nproc)}" "${STAGE_HOURS:=0}" "${HELDOUT:=16}" "${PROCS:=1}"
       # fewer checkpoints and TensorBoard images: each costs more than a hundred steps there
       : "${TOK_ARGS:=train.ckpt_every=1000 train.media_every=1000}" "${DYN_ARGS:=train.ckpt_every=1000}" ;;
  *) echo "unknown profile '$profile' (cpu or gpu)" >&2; exit 2 ;;
esac
# bf16 autocast where the device has it fast (train.precision=auto). The fusion trains on the frozen model's own
# rollouts: in fp32 they are the rollouts a player sees (bf16 would flip some of their tokens, for a 1.2x step).
: "${PRECISION:=auto}" "${FUSION_PRECISION:=fp32}" "${MAX_STEPS:=0}" "${BENCH:=1}"
# Idle OpenMP threads sleep instead of spinning (where a process runs several threads: THREADS > 1, collection, the
# gpu profile): on a 2-core machine shared with other jobs, spinning made 2-thread steps 3-5x slower than 1-thread
# ones; on a free machine passive waiting costs 5-10% (docs/training-speed.md). Must be set before torch starts.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
data=${DATA:-$out/data}
gold='{"task": "mine_gold"}'
started=$(date +%s)
budget=$(awk -v h="$STAGE_HOURS" 'BEGIN { print int(h * 3600) }')

left() {  # seconds left of this stage (a large number without a limit)
  if [ "$budget" -eq 0 ]; then echo 999999999; else echo $((budget - $(date +%s) + started)); fi
}
stage_over() {  # $1: the step that was cut short
  echo "stage of STAGE_HOURS=$STAGE_HOURS used up during $1; run the same command again to continue" >&2
  exit 3
}
limited() {  # $1: step name, then the command: run it with the time left, stop the stage if it ran out
  local name=$1 status=0
  shift
  [ "$(left)" -gt 60 ] || stage_over "$name"
  if [ "$budget" -eq 0 ]; then "$@" || status=$?; else timeout --signal=INT --kill-after=60 "$(left)" "$@" || status=$?; fi
  [ "$status" -eq 124 ] && stage_over "$name"
  return "$status"
}
steps() {  # an episode length, capped by MAX_STEPS when set
  if [ "$MAX_STEPS" -gt 0 ] && [ "$MAX_STEPS" -lt "$1" ]; then echo "$MAX_STEPS"; else echo "$1"; fi
}
minutes() {  # train.max_minutes for a training step: the stage's time left less 2 minutes for loading and export
  if [ "$budget" -eq 0 ]; then echo 0; else awk -v s="$(left)" 'BEGIN { m = (s - 120) / 60; print (m > 1 ? m : 1) }'; fi
}
trained() {  # $1 run dir, $2 total steps: true when its newest checkpoint has them all
  local newest
  newest=$(find "$1/checkpoints" -maxdepth 1 -name 'step_*' 2>/dev/null | sort | tail -n 1)
  [ -n "$newest" ] && [ "$((10#${newest##*step_}))" -ge "$2" ]
}
train() {  # $1 target, $2 run dir, $3 total steps, $4 batch (all processes together), then overrides: train unless
           # done, in PROCS DDP processes; stop the stage if cut short
  local target=$1 run=$2 total=$3 batch=$4 launch=(wm train)
  shift 4
  trained "$run" "$total" && return 0
  [ "$(left)" -gt 180 ] || stage_over "wm train $target"
  [ "$PROCS" -gt 1 ] && launch=(torchrun --standalone --nproc_per_node "$PROCS" -m worldmodel.cli train)
  "${launch[@]}" "$target" run_dir="$run" train.steps="$total" train.batch_size=$(( batch > PROCS ? batch / PROCS : 1 )) \
    train.device="$DEVICE" train.threads="$THREADS" train.num_workers="$LOADERS" train.max_minutes="$(minutes)" "$@"
  trained "$run" "$total" || stage_over "wm train $target"
}

# 1. footage, all in the mine_gold world: the noisy scripted seeker (gold hits, rewards, episode ends), the
#    explorer (walking, turning, looking around: most of the frames) and uniform play over the agent's actions.
#    Stages append to one store; a re-run resumes.
#    Last, the explorer's edit behaviour (break a block, place it, look away and back), so that the dynamics sees
#    edits often enough to show them (with model.edit_weight below).
seek=$((EPISODES * 5 / 2)); explore=$((seek + EPISODES)); rand=$((explore + EPISODES * 5 / 6))
edits=$((rand + (EPISODES * 5 / 6 > 0 ? EPISODES * 5 / 6 : 1)))
limited "wm collect (seeker)" wm collect --env BlockWorld-v0 --env-kwargs "$gold" --seed 7 --out "$data" \
  --policy seeker --policy-kwargs '{"noise": 0.3, "wander": 60}' --episodes "$seek" --steps "$(steps 150)" \
  --workers "$WORKERS" --no-progress
limited "wm collect (explorer)" wm collect --env BlockWorld-v0 --env-kwargs "$gold" --seed 7 --out "$data" \
  --policy explorer --episodes "$explore" --steps "$(steps 500)" --workers "$WORKERS" --no-progress
limited "wm collect (random_set)" wm collect --env BlockWorld-v0 --env-kwargs "$gold" --seed 7 --out "$data" \
  --policy agents.policies.random_set:RandomSetPolicy --episodes "$rand" --steps "$(steps 200)" --workers "$WORKERS" --no-progress
limited "wm collect (edits)" wm collect --env BlockWorld-v0 --env-kwargs "$gold" --seed 7 --out "$data" \
  --policy explorer --policy-kwargs '{"weights": {"edit": 8, "walk": 1.5, "loop": 0.0, "mine": 0.5, "place": 0.2, "idle": 0.3}}' \
  --episodes "$edits" --steps "$(steps 150)" --workers "$WORKERS" --no-progress
# held-out episodes (other seeds) for the quality and reward-head numbers
if [ "$HELDOUT" -gt 0 ]; then
  limited "wm collect (held-out)" wm collect --env BlockWorld-v0 --policy explorer --episodes "$HELDOUT" \
    --steps "$(steps 300)" --seed 100000 --out data/bw_heldout --workers "$WORKERS" --no-progress
  limited "wm collect (gold held-out)" wm collect --env BlockWorld-v0 --env-kwargs "$gold" --policy seeker \
    --policy-kwargs '{"noise": 0.3, "wander": 60}' --episodes $((HELDOUT * 5 / 2)) --steps "$(steps 150)" \
    --seed 200000 --out data/gold_heldout --workers "$WORKERS" --no-progress
fi

# 2. the FSQ tokenizer (64x64 -> 8x8 tokens of 1000 codes)
# shellcheck disable=SC2086  # *_ARGS: extra overrides, e.g. TOK_ARGS="model.channels=16"
train tokenizer "$out/tokenizer" "$TOK_STEPS" "$TOK_BATCH" data.path="$data" train.precision="$PRECISION" ${TOK_ARGS:-}

# 3. the dynamics: clips of 8 (gpu: 12) frames; windows holding an event listed 10 more times; windows running up
#    to 4 transitions past an episode's end, so the heads cannot learn where in a clip an episode ends
#    (the tokens a break or placement changes weigh 10x in the token loss: model.edit_weight)
clip=$([ "$profile" = gpu ] && echo 12 || echo 8)
# shellcheck disable=SC2086  # dyn_arch is a list of overrides
train dynamics "$out/dynamics" "$DYN_STEPS" "$BATCH" tokenizer_checkpoint="$out/tokenizer" data.path="$data" \
  data.clip_len="$clip" data.event_repeat=10 data.pad_end=4 $dyn_arch model.reward_weight=5.0 model.term_weight=2.0 \
  model.edit_weight=10.0 train.precision="$PRECISION" ${DYN_ARGS:-}

# 4. the frame fusion: trained on the dynamics' own 16-step open-loop rollouts (tokenizer and dynamics frozen); its
#    world_model/ is the finished bundle
train fusion "$out/fusion" "$FUSION_STEPS" "$FUSION_BATCH" world="$out/dynamics/world_model" data.path="$data" \
  train.precision="$FUSION_PRECISION" ${FUSION_ARGS:-}
echo "world model: $out/fusion/world_model ($(( $(date +%s) - started )) s in this run)" >&2

# 5. the numbers of the model card (each skipped once its file exists)
[ "$BENCH" -eq 1 ] && [ "$HELDOUT" -gt 0 ] || exit 0
[ -f "$out/quality.json" ] || limited "wm bench quality" wm bench quality --model "$out/dynamics/world_model" \
  "$out/fusion/world_model" --data data/bw_heldout --horizons 16 64 --max-windows 16 --temperature 0 --threads 1 \
  --decoding sample mean --json "$out/quality.json" --plot "$out/quality.png"
[ -f "$out/reward_head.json" ] || limited "bench_reward_head" python scripts/bench_reward_head.py \
  --model "$out/fusion/world_model" --data data/gold_heldout --contexts 2 4 8 --json "$out/reward_head.json"
[ -f "$out/speed.json" ] || limited "wm bench speed" wm bench speed --model "$out/fusion/world_model" \
  --batch 1 64 --threads 1 --json "$out/speed.json"
