#!/usr/bin/env bash
# Screenshots of `wm play` and `wm play --compare` for the docs, taken under a virtual display:
#
#     scripts/make_screenshots.sh [OUT_DIR]      # default docs/images -> play.png, play_compare.png
#
# Each shot: start the viewer (BlockWorld seed 0; the bundled dream), wait for its window, hold W for a second
# (walking shows more than the prompt does, and the HUD has counted some steps), then grab the window with
# ImageMagick's `import`, quit with Esc. The same recipe as /work/shared/tools/play-screens, cut to one shot per
# picture. Needs Debian's xvfb, xdotool and imagemagick (installed with apt-get if missing) and `wm` on PATH.
# Starts its own X server on a free display and stops only the processes it started. Writes each PNG to a
# temporary name first, then renames it into place.
set -euo pipefail
out=${1:-"$(cd "$(dirname "$0")/.." && pwd)/docs/images"}
mkdir -p "$out"
command -v wm >/dev/null || { echo "wm is not on PATH: install the project first (pip install -e .)" >&2; exit 1; }
need=()
command -v Xvfb >/dev/null || need+=(xvfb)
command -v xdotool >/dev/null || need+=(xdotool)
command -v import >/dev/null || need+=(imagemagick)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq >/dev/null 2>&1; apt-get install -y -qq "${need[@]}" >/dev/null 2>&1; fi

display=90
while [ -e /tmp/.X11-unix/X$display ] || [ -e /tmp/.X$display-lock ]; do display=$((display + 1)); done
Xvfb :$display -screen 0 1280x800x24 >/dev/null 2>&1 &
xvfb_pid=$!
play_pid=""
trap 'kill $play_pid $xvfb_pid 2>/dev/null || true' EXIT
export DISPLAY=:$display SDL_AUDIODRIVER=dummy
sleep 2

# shot NAME [wm play args...]: one screenshot of `wm play ARGS` after walking a second, to OUT/NAME.png.
shot() {
  local name=$1 window="" log="$out/.$1.log"
  shift
  wm play --seed 0 "$@" >"$log" 2>&1 &
  play_pid=$!
  for _ in $(seq 60); do
    kill -0 $play_pid 2>/dev/null || { echo "wm play $* exited; its output:" >&2; cat "$log" >&2; exit 1; }
    window=$(xdotool search --class wm 2>/dev/null | tail -1) && [ -n "$window" ] && break
    sleep 1
  done
  [ -n "$window" ] || { echo "no window of wm play $* appeared; its output:" >&2; cat "$log" >&2; exit 1; }
  xdotool windowactivate --sync "$window" 2>/dev/null || true
  xdotool windowfocus "$window" 2>/dev/null || true
  sleep 1
  xdotool keydown w; sleep 1; xdotool keyup w
  sleep 0.3
  import -window "$window" "$out/.$name.tmp.png"
  mv "$out/.$name.tmp.png" "$out/$name.png"
  xdotool key Escape 2>/dev/null || true
  for _ in $(seq 10); do kill -0 $play_pid 2>/dev/null || break; sleep 0.5; done
  kill $play_pid 2>/dev/null || true
  wait $play_pid 2>/dev/null || true
  play_pid=""
  rm -f "$log"
  echo "wrote $out/$name.png ($(($(stat -c %s "$out/$name.png") / 1024)) KB)"
}

shot play
shot play_compare --compare
