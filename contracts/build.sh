#!/usr/bin/env bash
# Reproducibly compiles contracts/src/*.sol into tests/fixtures/contracts/*.json.
# Installs a pinned solcjs into contracts/.tools (git-ignored); idempotent.
set -euo pipefail

SOLC_VERSION="0.8.28"
EVM_VERSION="${EVM_VERSION:-cancun}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="${SOLC_TOOLS_DIR:-$here/.tools}"
solc_mod="$tools/node_modules/solc"

installed=""
if [[ -f "$solc_mod/package.json" ]]; then
  installed="$(node -p "require('$solc_mod/package.json').version")"
fi
if [[ "$installed" != "$SOLC_VERSION" ]]; then
  echo "installing solc@$SOLC_VERSION into $tools" >&2
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-save --no-audit --no-fund --loglevel=error \
    "solc@$SOLC_VERSION" >&2
fi

node "$here/compile.js" "$solc_mod" "$EVM_VERSION"
