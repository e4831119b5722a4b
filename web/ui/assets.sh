#!/usr/bin/env bash
# Copies the UI's third-party files from npm into static/vendor/, with their
# licences. The copies are committed and embedded in the binary (go:embed): nothing
# is fetched at build or run time. Run it again only to change a version.
set -euo pipefail
cd "$(dirname "$0")"
HTMX=2.0.11
ECHARTS=6.1.0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm init -y >/dev/null && npm install --no-audit --no-fund "htmx.org@$HTMX" "echarts@$ECHARTS" >/dev/null)
m="$tmp/node_modules"
out=static/vendor
rm -rf "$out" && mkdir -p "$out/licenses"
cp "$m/htmx.org/dist/htmx.min.js" "$out/"
# The common build has the bar, line and pie charts the dashboard draws.
cp "$m/echarts/dist/echarts.common.min.js" "$out/"
cp "$m/htmx.org/LICENSE" "$out/licenses/htmx-LICENSE"
cp "$m/echarts/LICENSE" "$out/licenses/echarts-LICENSE"
cp "$m/echarts/NOTICE" "$out/licenses/echarts-NOTICE"
cp "$m/echarts/licenses/LICENSE-d3" "$out/licenses/echarts-LICENSE-d3"
cp "$m/zrender/LICENSE" "$out/licenses/zrender-LICENSE"
cat > "$out/VERSIONS" <<END
htmx.org $HTMX (0BSD) — htmx.min.js
echarts $ECHARTS (Apache-2.0, with zrender $(node -p "require('$m/zrender/package.json').version") BSD-3-Clause) — echarts.common.min.js
END
(cd "$out" && sha256sum htmx.min.js echarts.common.min.js >> VERSIONS)
echo "copied into web/ui/$out"
