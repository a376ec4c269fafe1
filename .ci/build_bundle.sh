#!/usr/bin/env bash
# Build the Linux CPU bundle and prove it works: frozen --selftest (CLI headless, GUI under Xvfb with OpenGL
# required, GUI offscreen, CLI through the AppDir's AppRun), a broken-on-purpose selftest, then the bundle size (unpacked and .tar.gz) and the
# frozen app's start-up time to its first window. Called by .ci/run; about 10-15 minutes on 2 cores.
#
#   bash .ci/build_bundle.sh            (uses .venv; PYTHON=/path/to/python to pick another interpreter)
#
# The bundle must hold the CPU torch wheel. If the environment has a CUDA torch (PyPI's default on Linux),
# a separate .venv-bundle with the CPU wheel of the same version is made for the build.
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-.venv/bin/python}"
step() { printf '\n=== %s (%ss)\n' "$1" "$SECONDS"; }

step "environment"
torch_cuda="$("$python" -c 'import torch; print(torch.version.cuda or "")')"
if [ -n "$torch_cuda" ]; then
    torch_version="$("$python" -c 'import torch; print(torch.__version__.split("+")[0])')"
    echo "The environment's torch is a CUDA build; making .venv-bundle with the CPU wheel of torch $torch_version."
    [ -x .venv-bundle/bin/python ] || python3 -m venv .venv-bundle
    .venv-bundle/bin/pip install -q "torch==$torch_version" --index-url https://download.pytorch.org/whl/cpu
    python=.venv-bundle/bin/python
fi
"$python" -m pip install -q -e ".[packaging]"

step "build (PyInstaller + .tar.gz)"
rm -rf dist/dit360-desktop
build_started=$SECONDS
"$python" packaging/build.py --target linux --torch cpu --appdir --dist dist --work build
build_seconds=$((SECONDS - build_started))

bundle=dist/dit360-desktop
home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT
# Isolated user folders: the self-test must not depend on (or touch) this machine's settings and models.
export DIT360_HOME="$home/dit360-home" HF_HOME="$home/hf-home"

step "frozen CLI selftest, no display"
env -u DISPLAY -u WAYLAND_DISPLAY -u QT_QPA_PLATFORM \
    "$bundle/dit360" --selftest --selftest-report dist/selftest-cli.json

step "frozen GUI selftest under Xvfb (OpenGL required)"
env -u QT_QPA_PLATFORM xvfb-run -a -s "-screen 0 1600x1000x24" \
    "$bundle/dit360-desktop" --selftest --require-gl --selftest-report dist/selftest-gui-xvfb.json

step "AppDir (the single-file AppImage's content): menu entry, frozen CLI selftest through AppRun"
# The AppImage itself needs the AppImage runtime, which no package registry has: the release workflow
# makes and runs it (docs/packaging.md). Here the AppDir it would contain is checked.
desktop-file-validate dist/DiT360-Desktop.AppDir/dit360-desktop.desktop
env -u DISPLAY -u WAYLAND_DISPLAY -u QT_QPA_PLATFORM \
    dist/DiT360-Desktop.AppDir/AppRun --cli --selftest --skip generation --selftest-report dist/selftest-appdir.json

step "frozen GUI selftest offscreen (OpenGL reported, not required)"
QT_QPA_PLATFORM=offscreen \
    "$bundle/dit360-desktop" --selftest --selftest-report dist/selftest-gui-offscreen.json

step "frozen selftest with a shader removed must fail"
broken="$home/resources"
cp -a "$bundle/_internal/resources" "$broken"
rm "$broken/shaders/view.frag"
set +e
"$bundle/dit360" --selftest --resources-dir "$broken" --skip generation --skip qt --skip depth \
    --selftest-report dist/selftest-broken.json > "$home/broken.out" 2>&1
broken_exit=$?
set -e
cat "$home/broken.out"
if [ "$broken_exit" -ne 4 ] || ! grep -q "missing resource shaders/view.frag" "$home/broken.out"; then
    echo "The self-test did not fail on a missing shader (exit $broken_exit)." >&2
    exit 1
fi

step "start-up time to first window"
env -u QT_QPA_PLATFORM xvfb-run -a -s "-screen 0 1600x1000x24" \
    "$python" tests/benchmarks/bundle_startup.py --bundle "$bundle" --json dist/startup.json

step "summary"
"$python" - "$build_seconds" <<'EOF'
import json
import sys
from pathlib import Path

info = json.loads(Path("dist/build-info.json").read_text())
startup = json.loads(Path("dist/startup.json").read_text())
mib = 1024 * 1024
print(f"bundle:      {info['bundle']}")
print(f"unpacked:    {info['bundle_bytes'] / mib:.0f} MiB")
print(f"compressed:  {info['installer_bytes'] / mib:.0f} MiB ({Path(info['installer']).name})")
print(f"build time:  {sys.argv[1]} s (PyInstaller {info['pyinstaller_seconds']} s, archive {info['installer_seconds']} s)")
print(
    f"first window: cold {startup['frozen_cold']['first_window_s']} s, warm {startup['frozen_warm']['first_window_s']} s, "
    f"source {startup['source_warm']['first_window_s']} s (cold/source {startup['cold_over_source']}x)"
)
for name in ("cli", "gui-xvfb", "gui-offscreen"):
    report = json.loads(Path(f"dist/selftest-{name}.json").read_text())
    qt = next((c for c in report["checks"] if c["name"] == "qt"), None)
    print(f"selftest {name}: {'passed' if report['ok'] else 'FAILED'} in {report['seconds']} s; qt: {qt and qt['detail']}")
EOF
