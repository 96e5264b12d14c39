#!/usr/bin/env bash
# Behind a reverse proxy (trusted_proxies in site.lua): the client's address and scheme come from
# X-Forwarded-For and X-Forwarded-Proto only when the connection comes from a listed proxy; the
# handlers (sign-in and comment limits), the access log and the per-address connection limit see
# the client, not the proxy; a forged or malformed header changes nothing it should not.
# usage: proxy_test.sh QUIRE_BINARY SOURCE_DIR
set -u
QUIRE=$1
SRC=$2
export QUIRE_BUNDLED_PLUGINS=$SRC/plugins
. "$(dirname "$0")/harness.sh"
harness_begin proxy

site=$work/site
"$QUIRE" init "$site" >/dev/null
mkdir -p "$site/plugins/whoami"
cat > "$site/plugins/whoami/plugin.lua" <<'LUA'
return quire.plugin {
  name = "whoami", version = "1.0",
  setup = function(site)
    site:route("GET", "/whoami", function(req, res)
      res:header("Cache-Control", "no-cache")
      return ("%s %s"):format(req.remote, req.secure and "https" or "http")
    end)
  end,
}
LUA
cat >> "$site/site.lua" <<'LUA'
plugins = { "whoami" }
access_log = "access.log"
trusted_proxies = { "127.0.0.0/8", "fd00::/8" }
limits = { connections_per_ip = 2 }
LUA
quiet() { "$@" >/dev/null 2>&1; }
check "quire config check takes the list" quiet "$QUIRE" config check --site "$site"
serve_site "$site" "$work/serve.log" --workers 1 || finish
who() { curl -s "$base/whoami" "$@"; }

# --- through a trusted proxy (this loopback connection)
check "no header: the proxy itself" test "$(who)" = "127.0.0.1 http"
check "the forwarded client" test "$(who -H 'X-Forwarded-For: 203.0.113.7')" = "203.0.113.7 http"
check "trusted hops are skipped from the right" test "$(who -H 'X-Forwarded-For: 198.51.100.9, 127.0.0.5, fd00::1')" = "198.51.100.9 http"
check "an address the client made up before the real one is ignored" test "$(who -H 'X-Forwarded-For: 10.9.9.9, 198.51.100.10')" = "198.51.100.10 http"
check "several headers read as one list, the last header last" test "$(who -H 'X-Forwarded-For: 198.51.100.11' -H 'X-Forwarded-For: 127.0.0.9')" = "198.51.100.11 http"
check "IPv6 clients" test "$(who -H 'X-Forwarded-For: 2001:db8::7')" = "2001:db8::7 http"
check "garbage after the real hop: the hop that vouched for it" test "$(who -H 'X-Forwarded-For: 198.51.100.12, <script>')" = "127.0.0.1 http"
check "an address with a port is not an address" test "$(who -H 'X-Forwarded-For: 198.51.100.13:4444')" = "127.0.0.1 http"
check "https from X-Forwarded-Proto" test "$(who -H 'X-Forwarded-Proto: https')" = "127.0.0.1 https"
check "the last X-Forwarded-Proto item counts" test "$(who -H 'X-Forwarded-Proto: https, http')" = "127.0.0.1 http"
# Sign-in needs a secure context: a TLS terminator in front says so with X-Forwarded-Proto.
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "sign-in over plain HTTP on a public host is refused" test "$(code -H 'Host: news.example' "$base/admin/login")" = 403
check "... and served when the proxy says https" test "$(code -H 'Host: news.example' -H 'X-Forwarded-Proto: https' "$base/admin/login")" = 200
# The access log names the client.
# (a worker writes its access-log lines once per turn of its loop, after the answers went out)
check "the access log names the forwarded client" waitfor 10 grep -q '^203\.0\.113\.7 - - ' "$site/access.log"
# A proxy holds many connections: they are not counted per address (the limit here is 2).
exec 7<>/dev/tcp/127.0.0.1/$port 8<>/dev/tcp/127.0.0.1/$port
check "a third connection from the proxy is served" test "$(code "$base/whoami")" = 200
exec 7<&- 8<&-
kill -TERM "$master"; wait "$master" 2>/dev/null; master=""

# --- the same headers from a connection that is not a listed proxy change nothing
sed -i 's|^trusted_proxies = .*|trusted_proxies = { "10.0.0.0/8" }|' "$site/site.lua"
serve_site "$site" "$work/serve2.log" --workers 1 || finish
check "a forged X-Forwarded-For is ignored" test "$(who -H 'X-Forwarded-For: 203.0.113.7')" = "127.0.0.1 http"
check "a forged X-Forwarded-Proto is ignored" test "$(who -H 'X-Forwarded-Proto: https')" = "127.0.0.1 http"
check "... so sign-in stays refused" test "$(code -H 'Host: news.example' -H 'X-Forwarded-Proto: https' "$base/admin/login")" = 403
exec 7<>/dev/tcp/127.0.0.1/$port 8<>/dev/tcp/127.0.0.1/$port
check "the per-address limit holds for direct clients" test "$(code "$base/whoami")" = 429
exec 7<&- 8<&-
kill -TERM "$master"; wait "$master" 2>/dev/null; master=""

# --- a bad entry is named
sed -i 's|^trusted_proxies = .*|trusted_proxies = { "10.0.0.0/8", "10.0.0/33" }|' "$site/site.lua"
out=$("$QUIRE" config check --site "$site" 2>&1); rc=$?
check "a bad entry fails the check ($rc)" test "$rc" != 0
check "... naming it: $out" grep -q 'trusted_proxies\[2\] = 10.0.0/33 is not an address or a network' <<<"$out"
finish
