"""Frame fusion: show a predicted frame together with the pixels already seen, turned by the camera.

    net.py        FrameFusion, the small U-Net that blends decoded, previous shown and anchor frames (FusionInputs)
    state.py      FusionState, the pixels carried from step to step (shown frame, anchor, camera since, steps since)
    objective.py  FusionObjective / FusionTrainConfig: `wm train fusion`, trained on the engine's own rollouts

The net is held by the tokenizer (`tokenizer.fusion`, weights under `fusion.*` in tokenizer.safetensors), so an
exported world model stays three files; the rollout engine (worldmodel/rollout/) drives it when serving and training.
"""
