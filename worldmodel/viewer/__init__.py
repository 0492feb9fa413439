"""The keyboard viewer (`wm play`): a pygame loop that plays any env with the canonical action Dict.

Modules: `keys` (pygame events -> action), `loop` (ViewerLoop: tick / run), `history` (rewind buffer: step
back, branch, bookmark), `compare` (ground-truth BlockWorld beside the dream, live PSNR), `record` (mp4 / gif
writer), `cli` (`wm play`, env factories). Nothing is imported here, so `import worldmodel.viewer` stays cheap.
"""
