#!/usr/bin/env bash
# End to end in a real n8n: installs the pinned n8n release (once, into target/n8n-e2e), installs
# this package into a fresh n8n user folder as a community package, and runs e2e.js, which
# imports workflows/ and runs each with `n8n execute` against a sandbox.
#   integrations/n8n/e2e/run.sh
# NODEHOST_BIN=path uses that binary instead of building one; NODEHOST_N8N_E2E_DIR moves the
# scratch folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
package=$(dirname "$here")
root=$(cd "$package/../.." && pwd)
n8n_version=1.123.81
work=${NODEHOST_N8N_E2E_DIR:-$root/target/n8n-e2e}
mkdir -p "$work"

if [[ -z ${NODEHOST_BIN:-} ]]; then
  cargo build --manifest-path "$root/Cargo.toml" -q -p nodehost-cli
  NODEHOST_BIN=$root/target/debug/nodehost
fi

# n8n itself. Its dependency xlsx is fetched from cdn.sheetjs.com, outside the npm registry, so
# it is overridden with the registry's last release; --ignore-scripts because isolated-vm (the
# native module of the "vm" expression engine) needs Node.js 22 to build, so n8n runs with its
# "legacy" engine (N8N_EXPRESSION_ENGINE below), and the one native module n8n needs here,
# sqlite3, is built from source.
if [[ "$(cat "$work/n8n/.installed" 2>/dev/null)" != "$n8n_version" ]]; then
  echo "e2e: installing n8n $n8n_version into $work/n8n (a few minutes, once)" >&2
  rm -rf "$work/n8n" && mkdir -p "$work/n8n"
  cat > "$work/n8n/package.json" <<JSON
{"private": true, "dependencies": {"n8n": "$n8n_version"}, "overrides": {"xlsx": "0.18.5"}}
JSON
  (cd "$work/n8n" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error \
     && npm rebuild sqlite3 --loglevel=error)
  echo "$n8n_version" > "$work/n8n/.installed"
fi

# A fresh n8n user folder with this package installed the way a user installs it by hand.
export N8N_USER_FOLDER=$work/home
rm -rf "$N8N_USER_FOLDER" && mkdir -p "$N8N_USER_FOLDER/.n8n/nodes"
tarball=$(cd "$package" && npm pack --silent --pack-destination "$work")
(cd "$N8N_USER_FOLDER/.n8n/nodes" && echo '{"private": true}' > package.json \
   && npm install --legacy-peer-deps --omit=dev --no-audit --no-fund --loglevel=error "$work/$tarball")

export N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS=false N8N_DIAGNOSTICS_ENABLED=false \
  N8N_VERSION_NOTIFICATIONS_ENABLED=false N8N_PERSONALIZATION_ENABLED=false \
  N8N_EXPRESSION_ENGINE=legacy
export N8N=$work/n8n/node_modules/.bin/n8n NODEHOST_BIN E2E_WORK=$work
node "$here/e2e.js"
