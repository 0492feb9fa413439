#!/usr/bin/env bash
# Crafter end to end on a CPU: record random play, fine-tune the bundled tokenizer on it, train an
# action-conditioned world model (warm-started from the bundled dynamics), train an agent only in its dream,
# and report the Crafter score in the real game beside Crafter's random policy.
#   bash scripts/crafter_end_to_end.sh [OUT_DIR] [AGENT_MINUTES]
# Needs the crafter extra (pip install -e '.[crafter]'). The README's Crafter numbers come from this recipe.
set -euo pipefail
out=${1:-runs/crafter}
minutes=${2:-12}
data=data/crafter_rand

# 1. 400 episodes of the uniform random policy (each runs until the player dies; ~67k frames)
wm collect --env Crafter-v0 --policy random --episodes 400 --steps 500 --seed 0 --workers 2 --out "$data"
# held-out episodes for the quality numbers (other seeds)
wm collect --env Crafter-v0 --policy random --episodes 16 --steps 300 --seed 100000 --out data/crafter_heldout

# 2. tokenizer: the bundled BlockWorld tokenizer fine-tuned on Crafter frames
wm train tokenizer data=crafter data.path="$data" init_from=bundled run_dir="$out/tokenizer" \
  train.steps=1500 train.lr=1e-3 train.warmup_steps=50 train.threads=2 train.num_workers=0

# 3. dynamics with reward and termination heads (Crafter's achievements and deaths), the bundled architecture
wm train dynamics tokenizer_checkpoint="$out/tokenizer" init_from=bundled data=crafter data.path="$data" \
  data.clip_len=8 data.event_repeat=3 model.d_model=128 model.n_layers=4 model.n_heads=4 model.context_frames=8 \
  model.reward_weight=5.0 model.term_weight=2.0 train.steps=1500 train.lr=5e-4 train.batch_size=8 \
  train.warmup_steps=50 train.threads=1 train.num_workers=0 run_dir="$out/world"
wm bench quality --model "$out/world/world_model" --data data/crafter_heldout --horizons 16 64 --max-windows 16 \
  --temperature 0 --threads 1 --json "$out/quality.json"

# 4. an agent trained only in the dream: Crafter's 17 actions; predicted rewards with |r| < 0.3 (health changes,
#    the head's noise) count as 0; entropy 0.03 keeps it trying many achievements (the log-mean score pays for breadth)
wm agent train --world "$out/world/world_model" --contexts "$data" --action-set crafter --reward-floor 0.3 \
  --entropy-coef 0.03 --minutes "$minutes" --run-dir "$out/agent"

# 5. the Crafter score in the real game (episodes run until the player dies, Crafter's 10,000-step limit):
#    the agent vs the uniform random policy over the 17 actions
wm agent eval --env Crafter-v0 --episodes 100 --agent "$out/agent" --json "$out/eval.json"
# 6. how far the dream lies: return over the first 100 steps, real vs dreamed from recorded Crafter contexts
wm agent eval --env Crafter-v0 --episodes 50 --max-steps 100 --agent "$out/agent" --baselines none \
  --dream "$out/world/world_model" --contexts "$data" --reward-floor 0.3 --json "$out/gap.json"
