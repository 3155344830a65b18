#!/usr/bin/env bash
# Checks what the .vsix ships: the bundle, manifest, media, templates and README (vsce stores it as readme.md);
# no sources, tests or source maps; every image the README shows (and the icon) inside it, since the Extensions
# view resolves README links against the installed extension (`--no-rewrite-relative-links`); under 1 MB.
set -euo pipefail
vsix=${1:-dist/ml-containers.vsix}
size=$(stat -c %s "$vsix")
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
if command -v unzip >/dev/null; then
  unzip -q "$vsix" -d "$unpacked"
else
  python3 -c 'import sys,zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$vsix" "$unpacked"
fi
listing=$(cd "$unpacked" && find . -type f | sed 's|^\./||' | sort)
fail=0
for want in extension/package.json extension/dist/extension.js extension/dist/cli.js extension/dist/mlc.js extension/dist/dockerode.js extension/dist/dockerode-session.js extension/dist/dockerode-buildkit.js extension/dist/docker-modem-ssh.js extension/dist/protobufjs.js extension/dist/yaml.js extension/dist/tar-stream.js extension/dist/proto/auth.proto extension/README.md extension/CHANGELOG.md extension/media/icon.png extension/media/compare/compare.js extension/media/compare/compare.css extension/media/vendor/uPlot.iife.min.js extension/media/vendor/uPlot.min.css; do
  grep -qix "$want" <<<"$listing" || { echo "vsix: missing $want"; fail=1; }
done
# Every file a shipped bundle requires beside itself at run time (vendored and deferred modules) ships too.
for bundle in "$unpacked"/extension/dist/*.js; do
  for dep in $(grep -oE "require\((\"|')\./[A-Za-z0-9_.-]+\.js(\"|')\)" "$bundle" | sed -E "s/require\(.\.\/(.*)\.js.\)/\1/" | sort -u); do
    [ -f "$unpacked/extension/dist/$dep.js" ] || { echo "vsix: $(basename "$bundle") requires ./$dep.js, which is not in the .vsix"; fail=1; }
  done
done
for dir in extension/media/walkthrough/ extension/templates/; do
  grep -q "^$dir" <<<"$listing" || { echo "vsix: nothing under $dir"; fail=1; }
done
if grep -E '^extension/(src|test|node_modules|bench|scripts)/|\.map$|\.ts$' <<<"$listing"; then
  echo "vsix: ships files it should not (above)"; fail=1
fi

# Every image link in the shipped README: Markdown ![alt](target "title") and HTML <img src="target">.
readme=$(find "$unpacked/extension" -maxdepth 1 -iname readme.md | head -n 1)
images=$( { grep -oE '!\[[^]]*\]\([^)[:space:]]+' "$readme" | sed -E 's/^!\[[^]]*\]\(//'
            grep -oiE '<img[^>]*src="[^"]+"' "$readme" | sed -E 's/.*src="([^"]+)"/\1/I'; } || true)
icon=$(node -e 'process.stdout.write(require(process.argv[1]).icon ?? "")' "$unpacked/extension/package.json")
[ -n "$icon" ] || { echo "vsix: package.json names no icon"; fail=1; }
resolved=0
while IFS= read -r link; do
  [ -n "$link" ] || continue
  target=${link#./}
  if [[ $target =~ ^[a-zA-Z][a-zA-Z0-9+.-]*: || $target == /* ]]; then
    echo "vsix: image $link is not a file inside the .vsix"; fail=1; continue
  fi
  if [ -f "$unpacked/extension/$target" ]; then resolved=$((resolved + 1)); else echo "vsix: image $link is not in the .vsix"; fail=1; fi
done <<<"$images"$'\n'"$icon"

if [ "$size" -gt 1048576 ]; then
  echo "vsix: $size bytes, over the 1 MB budget"; fail=1
fi
echo "vsix: $vsix, $size bytes, $(wc -l <<<"$listing") files, $resolved images (README and icon) inside it"
exit $fail
