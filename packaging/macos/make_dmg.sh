#!/usr/bin/env bash
# Wrap "DiT360 Desktop.app" in a compressed, drag-to-install disk image.
#
#   packaging/macos/make_dmg.sh "dist/DiT360 Desktop.app" dist/DiT360-Desktop-0.1.0-macos-arm64-mps.dmg
#
# Optional environment:
#   DIT360_CODESIGN_IDENTITY  "Developer ID Application: ..." to sign the image (the .app itself is signed by
#                             PyInstaller from the same variable, see packaging/dit360.spec)
#   DIT360_NOTARY_PROFILE     a notarytool keychain profile (xcrun notarytool store-credentials) to notarize
#                             and staple the image
#   DMG_FORMAT                hdiutil image format, default UDZO (zlib, readable on every macOS); ULFO
#                             (lzfse) is smaller and needs macOS 10.11+
#
# Runs on macOS only (hdiutil, codesign, xcrun); not exercised by this project's Linux CI.
# References: hdiutil(1) "create -srcfolder ... -volname ... -format", codesign(1), and Apple's
# "Notarizing macOS software before distribution" (notarytool submit --wait, stapler staple).
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 <path/to/App.app> <output.dmg>" >&2
    exit 2
fi
app="$1"
dmg="$2"
if [[ "$(uname -s)" != "Darwin" ]]; then
    echo "make_dmg.sh needs macOS (hdiutil); build the .dmg on a Mac." >&2
    exit 2
fi
if [[ ! -d "$app/Contents/MacOS" ]]; then
    echo "$app is not an application bundle (no Contents/MacOS)." >&2
    exit 2
fi

volume_name="$(basename "$app" .app)"
staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT

# ditto keeps the bundle's symlinks, extended attributes and code signature intact.
ditto "$app" "$staging/$(basename "$app")"
ln -s /Applications "$staging/Applications"

mkdir -p "$(dirname "$dmg")"
hdiutil create \
    -volname "$volume_name" \
    -srcfolder "$staging" \
    -fs HFS+ \
    -format "${DMG_FORMAT:-UDZO}" \
    -ov \
    "$dmg"

if [[ -n "${DIT360_CODESIGN_IDENTITY:-}" ]]; then
    codesign --force --timestamp --sign "$DIT360_CODESIGN_IDENTITY" "$dmg"
    if [[ -n "${DIT360_NOTARY_PROFILE:-}" ]]; then
        xcrun notarytool submit "$dmg" --keychain-profile "$DIT360_NOTARY_PROFILE" --wait
        xcrun stapler staple "$dmg"
    fi
fi

hdiutil verify "$dmg"
echo "$dmg"
