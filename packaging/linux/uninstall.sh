#!/bin/sh
# Remove DiT360 Desktop installed by install.sh: the app folder, the commands, the menu entry and the icons.
#
#   uninstall.sh [--prefix DIR]     (the same prefix as install.sh; default ~/.local)
#
# Settings, downloaded models and generated panoramas are left in place; their folders are listed at the end.
set -eu

prefix="${HOME}/.local"
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) echo "uninstall.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

app_dir="$prefix/opt/dit360-desktop"
if [ ! -e "$app_dir/.dit360-desktop-install" ]; then
    echo "uninstall.sh: no DiT360 Desktop installation in $app_dir" >&2
    exit 1
fi

for command in dit360-desktop dit360; do
    link="$prefix/bin/$command"
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$app_dir/$command" ]; then
        rm -f "$link"
    fi
done
rm -f "$prefix/share/applications/dit360-desktop.desktop"
for icon in "$prefix"/share/icons/hicolor/*/apps/dit360-desktop.png; do
    [ -e "$icon" ] && rm -f "$icon"
done
rm -rf "$app_dir"

if command -v update-desktop-database >/dev/null 2>&1 && [ -d "$prefix/share/applications" ]; then
    update-desktop-database "$prefix/share/applications" || echo "uninstall.sh: update-desktop-database failed; the menu entry disappears after the next login." >&2
fi

config_home="${XDG_CONFIG_HOME:-$HOME/.config}"
data_home="${XDG_DATA_HOME:-$HOME/.local/share}"
echo "Removed DiT360 Desktop from $app_dir"
echo "Your settings, models and panoramas were kept. To delete them too, remove:"
echo "  $config_home/dit360-desktop  $data_home/dit360-desktop  and the 'DiT360 Desktop' folder in your Pictures"
