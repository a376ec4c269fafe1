#!/usr/bin/env bash
# Pack an AppDir (made by `packaging/build.py --appdir`) into a single-file AppImage.
#
#   bash packaging/linux/appimage/make_appimage.sh APPDIR OUTPUT.AppImage RUNTIME
#
# An AppImage is the AppImage runtime (a static ELF that mounts what follows it) with a SquashFS image of
# the AppDir appended (https://github.com/AppImage/AppImageSpec, type 2). RUNTIME is that runtime file
# (runtime-x86_64 from AppImage/type2-runtime): it is not in any package registry, so the release
# workflow downloads it and records its SHA-256; mksquashfs comes from squashfs-tools.
set -euo pipefail

if [ $# -ne 3 ]; then
    echo "usage: $0 APPDIR OUTPUT.AppImage RUNTIME" >&2
    exit 2
fi
appdir="$1"
output="$2"
runtime="$3"
for required in AppRun dit360-desktop.desktop dit360-desktop.png usr/lib/dit360-desktop/dit360-desktop; do
    if [ ! -e "$appdir/$required" ]; then
        echo "$appdir is not a DiT360 AppDir: $required is missing" >&2
        exit 2
    fi
done
if ! command -v mksquashfs >/dev/null 2>&1; then
    echo "mksquashfs not found: install squashfs-tools" >&2
    exit 2
fi

image="$(mktemp)"
trap 'rm -f "$image" "$output.tmp"' EXIT
# zstd is what the type 2 runtime reads fastest; root-owned files as appimagetool makes them.
mksquashfs "$appdir" "$image" -root-owned -noappend -comp zstd -quiet
cat "$runtime" "$image" > "$output.tmp"
chmod 755 "$output.tmp"
mv "$output.tmp" "$output"
echo "$output: $(stat -c %s "$output") bytes"
