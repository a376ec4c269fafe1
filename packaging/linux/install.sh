#!/bin/sh
# Install DiT360 Desktop from the unpacked .tar.gz, for the current user (no root needed).
#
#   ./install.sh                  installs under ~/.local (app in ~/.local/opt/dit360-desktop)
#   ./install.sh --prefix DIR     installs under DIR instead (e.g. sudo ./install.sh --prefix /usr/local)
#
# Adds the menu entry (freedesktop .desktop file), the hicolor icons and the commands dit360-desktop and
# dit360 in PREFIX/bin. Settings, models and the picture library are kept in the XDG user folders, never in
# the install folder, so reinstalling or uninstall.sh never touches them.
set -eu

prefix="${HOME}/.local"
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

here="$(cd "$(dirname "$0")" && pwd)"
bundle="$here/dit360-desktop"
if [ ! -x "$bundle/dit360-desktop" ] || [ ! -x "$bundle/dit360" ]; then
    echo "install.sh: $bundle/dit360-desktop not found; run this script from the unpacked archive." >&2
    exit 2
fi
case "$prefix" in
    /*) ;;
    *) prefix="$(pwd)/$prefix" ;;
esac
# The .desktop Exec key quotes the path; these characters would need escaping there, so refuse them.
case "$prefix" in
    *[\"\`\$\\%]*) echo "install.sh: the prefix must not contain \" \` \$ \\ or %: $prefix" >&2; exit 2 ;;
esac

app_dir="$prefix/opt/dit360-desktop"
bin_dir="$prefix/bin"
share_dir="$prefix/share"
desktop_file="$share_dir/applications/dit360-desktop.desktop"
marker=".dit360-desktop-install"

if [ -e "$app_dir" ] && [ ! -e "$app_dir/$marker" ]; then
    echo "install.sh: $app_dir exists but was not made by this installer; move it away first." >&2
    exit 1
fi

# Copy next to the target and swap in, so an interrupted upgrade leaves the old version working.
mkdir -p "$prefix/opt"
staging="$(mktemp -d "$prefix/opt/.dit360-desktop-new.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
cp -a "$bundle/." "$staging/"
cp "$here/uninstall.sh" "$staging/uninstall.sh"
chmod 755 "$staging/uninstall.sh"
: > "$staging/$marker"
if [ -e "$app_dir" ]; then
    rm -rf "$app_dir"
fi
mv "$staging" "$app_dir"
trap - EXIT

mkdir -p "$bin_dir"
ln -sf "$app_dir/dit360-desktop" "$bin_dir/dit360-desktop"
ln -sf "$app_dir/dit360" "$bin_dir/dit360"

for icon in "$here"/icons/dit360-*.png; do
    size="$(basename "$icon" .png)"
    size="${size#dit360-}"
    mkdir -p "$share_dir/icons/hicolor/${size}x${size}/apps"
    cp "$icon" "$share_dir/icons/hicolor/${size}x${size}/apps/dit360-desktop.png"
done

mkdir -p "$share_dir/applications"
sed "s|@EXEC@|$app_dir/dit360-desktop|g" "$here/dit360-desktop.desktop.in" > "$desktop_file"
chmod 644 "$desktop_file"

# Refresh the menu and icon caches where the tools exist; desktops without them rescan on their own.
if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database "$share_dir/applications" || echo "install.sh: update-desktop-database failed; the menu entry appears after the next login." >&2
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$share_dir/icons/hicolor/index.theme" ]; then
    gtk-update-icon-cache -q -t "$share_dir/icons/hicolor" || echo "install.sh: gtk-update-icon-cache failed; the icon appears after the next login." >&2
fi

echo "Installed DiT360 Desktop in $app_dir"
echo "Menu entry: $desktop_file"
echo "Commands: $bin_dir/dit360-desktop, $bin_dir/dit360"
echo "Check the installation with: $bin_dir/dit360 --selftest"
echo "Uninstall with: $app_dir/uninstall.sh --prefix $prefix"
