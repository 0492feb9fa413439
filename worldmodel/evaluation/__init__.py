"""Evaluation of a world model: `wm bench speed` and `wm bench quality`, and the references they print.

- cli.py: the `wm bench` command (argparse), printing and the JSON file.
- loading.py: what a benchmark runs on: a model by name (`build_model`) and held-out windows (`load_windows`).
- scores.py: per-frame MSE and SSIM of uint8 frames, PSNR from MSE (pooled and per step).
- speed.py: frames/s of whole `WorldModel.step`s at a batch size.
- quality.py: teacher-forced and open-loop rollouts over held-out windows -> per-window errors.
- quality_table.py: those errors -> PSNR/SSIM per horizon (windowed mean and pooled), the printed table.
- regions.py: error split into pixels visible from the last context frame and unseen ones.
- reprojection.py: reprojection references built from BlockWorld's ground truth (depth, pose, block ids).
- references.py: copy-last and the reprojection references per horizon, as `wm bench quality` reports them.
- plot.py: open-loop PSNR per step of several models in one PNG.

Submodules are imported directly (`from worldmodel.evaluation.quality import bench_quality`); this file imports
nothing, so `wm bench --help` stays cheap.
"""
