#!/usr/bin/env bash
# Edge-cache tags (issue 20): with edge_tags = true in site.lua, a page the cache may keep carries
# its cache tags as Surrogate-Key (space-separated) and Cache-Tag (comma-separated), rendered
# or from the page cache; a page that may not be kept (a 404, a form's answer) carries
# none; without the setting, no page does.
# usage: edge_test.sh QUIRE_BINARY
set -u
QUIRE=$1
work=$(mktemp -d /tmp/quire-edge-XXXXXX)
master=""
stop() { [ -n "$master" ] && { kill -TERM "$master" 2>/dev/null; wait "$master" 2>/dev/null; }; master=""; }
trap 'stop; rm -rf "$work"' EXIT
. "$(dirname "$0")/harness.sh"
TEST_NAME=edge

"$QUIRE" init --demo "$work/site" >/dev/null || exit 1
cp "$work/site/site.lua" "$work/site.lua.orig"
start() { # start EDGE_TAGS(true|false)
  stop
  cp "$work/site.lua.orig" "$work/site/site.lua"
  printf 'edge_tags = %s\n' "$1" >> "$work/site/site.lua"
  "$QUIRE" serve --site "$work/site" --listen 127.0.0.1:0 --workers 1 > "$work/serve.log" 2>&1 &
  master=$!
  waitfor 60 started "$work/serve.log"
  port=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1 | cut -d: -f3)
  base="http://127.0.0.1:$port"
}
# head PATH NAME [curl args]: the value of header NAME ("-" when absent)
head_of() {
  local p=$1 name=$2; shift 2
  local v; v=$(curl -s -o /dev/null -D - "$@" "$base$p" | tr -d '\r' | sed -n "s/^$name: //Ip" | head -1)
  echo "${v:--}"
}

start true
echo 'local e = quire.content.query { type = "article", status = "published", limit = 1 }[1] print(e.id .. " " .. quire.content.url(e))' > "$work/url.lua"
story=$("$QUIRE" run --yes --site "$work/site" "$work/url.lua")
id=${story%% *}; path=${story#* }
case $path in http*) path=/${path#*://*/} ;; esac
keys=$(head_of "$path" Surrogate-Key)
check "a story carries its entry's tag in Surrogate-Key ($keys)" grep -qw "entry:$id" <<<"$keys"
tags=$(head_of "$path" Cache-Tag)
check "Cache-Tag is the same list, comma-separated ($tags)" test "$tags" = "$(tr ' ' ',' <<<"$keys")"
check "the cached copy carries them too" test "$(head_of "$path" X-Cache)" = hit
check "... the same keys" test "$(head_of "$path" Surrogate-Key)" = "$keys"
home=$(head_of / Surrogate-Key)
check "the home page carries its list tags ($home)" grep -q "list:" <<<"$home"
check "a 404 carries none" test "$(head_of /no-such-page Surrogate-Key)" = -
check "a form's answer carries none" test "$(head_of "$path" Surrogate-Key --data-raw 'body=x')" = -
start false
check "off unless site.lua asks" test "$(head_of "$path" Surrogate-Key)" = -
finish
