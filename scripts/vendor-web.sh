#!/bin/sh
# vendor-web.sh - refresh the web UI's third-party assets from the npm registry (npm pack; no
# build step). The files land in internal/capitain/web/assets/vendor and are embedded in chaos.
set -eu
HTMX=2.0.11
UPLOT=1.6.32
ANSIUP=6.0.6
dest=$(cd "$(dirname "$0")/.." && pwd)/internal/capitain/web/assets/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "htmx.org@$HTMX" "uplot@$UPLOT" "ansi_up@$ANSIUP" >/dev/null
mkdir htmx uplot ansiup
tar -xzf "htmx.org-$HTMX.tgz" -C htmx
tar -xzf "uplot-$UPLOT.tgz" -C uplot
tar -xzf "ansi_up-$ANSIUP.tgz" -C ansiup
mkdir -p "$dest"
cp htmx/package/dist/htmx.min.js "$dest/htmx.min.js"
cp htmx/package/LICENSE "$dest/htmx.LICENSE"
cp uplot/package/dist/uPlot.iife.min.js "$dest/uPlot.iife.min.js"
cp uplot/package/dist/uPlot.min.css "$dest/uPlot.min.css"
cp uplot/package/LICENSE "$dest/uplot.LICENSE"
printf 'htmx.org %s\nuplot %s\n' "$HTMX" "$UPLOT" > "$dest/VERSIONS"
cp ansiup/package/ansi_up.js "$dest/ansi_up.js"
cp ansiup/package/LICENSE* "$dest/ansi_up.LICENSE" 2>/dev/null || true
printf 'ansi_up %s\n' "$ANSIUP" >> "$dest/VERSIONS"
