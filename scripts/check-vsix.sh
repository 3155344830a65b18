#!/usr/bin/env bash
# Checks what the .vsix ships: the bundle, manifest, media, templates and README (vsce stores it as readme.md);
# no sources, tests or source maps; under 1 MB.
set -euo pipefail
vsix=${1:-dist/ml-containers.vsix}
size=$(stat -c %s "$vsix")
listing=$(unzip -Z1 "$vsix" 2>/dev/null || python3 -c 'import sys,zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$vsix")
fail=0
for want in extension/package.json extension/dist/extension.js extension/dist/cli.js extension/dist/dockerode.js extension/dist/protobufjs.js extension/dist/yaml.js extension/dist/proto/auth.proto extension/README.md extension/media/compare/compare.js extension/media/compare/compare.css extension/media/vendor/uPlot.iife.min.js extension/media/vendor/uPlot.min.css; do
  grep -qix "$want" <<<"$listing" || { echo "vsix: missing $want"; fail=1; }
done
for dir in extension/media/walkthrough/ extension/templates/; do
  grep -q "^$dir" <<<"$listing" || { echo "vsix: nothing under $dir"; fail=1; }
done
if grep -E '^extension/(src|test|node_modules|bench|scripts|media/screenshots)/|\.map$|\.ts$' <<<"$listing"; then
  echo "vsix: ships files it should not (above)"; fail=1
fi
if [ "$size" -ge 1048576 ]; then
  echo "vsix: $size bytes, over the 1 MB budget"; fail=1
fi
echo "vsix: $vsix, $size bytes, $(wc -l <<<"$listing") entries"
exit $fail
