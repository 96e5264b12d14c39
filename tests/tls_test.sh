#!/usr/bin/env bash
# Integration tests of HTTPS in `quire serve`: a CA and server certificates made at test time
# with openssl, real clients (curl --cacert, openssl s_client, raw sockets): SNI, modern suites
# only, redirect and HSTS, plain HTTP on the TLS port, slow handshakes, renewed certificates
# after SIGHUP, access log reopened on SIGUSR1.
# usage: tls_test.sh QUIRE_BINARY TESTS_DIR   (exits 77, "skipped", in a build without TLS)
set -u
QUIRE=$1
FIXTURES=$2/fixtures/plugins
work=$(mktemp -d /tmp/quire-tls-XXXXXX)
master=""
cleanup() { [ -n "$master" ] && kill -9 "$master" 2>/dev/null; pkill -9 -f "__worker --site $work" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
trap '' PIPE
. "$(dirname "$0")/harness.sh"
TEST_NAME=tls

# --- certificates: a CA; a.test (ECDSA P-256, names from its subjectAltName); b.test (RSA,
# chosen by an explicit hosts list)
certs=$work/site/certs
"$QUIRE" init "$work/site" >/dev/null
mkdir -p "$certs" "$work/site/public" "$work/site/logs"
ossl() { openssl "$@" 2>>"$work/openssl.log"; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=Quire Test CA" \
  -keyout "$work/ca.key" -out "$work/ca.pem"
# issue NAME KEYSPEC SANS: a key and a certificate signed by the CA into $certs/NAME.{key,pem}
issue() {
  ossl req -new -newkey "$2" -nodes -subj "/CN=$1" -keyout "$certs/$1.key" -out "$work/$1.csr"
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' "$3" > "$work/ext.cnf"
  ossl x509 -req -in "$work/$1.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
    -extfile "$work/ext.cnf" -out "$certs/$1.pem"
}
issue a.test ec:<(openssl ecparam -name prime256v1) "DNS:a.test,DNS:www.a.test"
issue b.test rsa:2048 "DNS:b.test"
check "certificates made" test -s "$certs/a.test.pem" -a -s "$certs/b.test.pem"

cat >> "$work/site/site.lua" <<LUA
plugins = { "serverfix" }
plugin_path = { "$FIXTURES" }
limits = { header_timeout_ms = 1500, keepalive_timeout_ms = 3000, request_body = 262144, connections_per_ip = 500 }
access_log = "logs/access.log"
tls = {
  listen = { "127.0.0.1:0" },
  certificates = {
    { cert = "certs/a.test.pem", key = "certs/a.test.key" },
    { cert = "certs/b.test.pem", key = "certs/b.test.key", hosts = { "b.test" } },
  },
  redirect_http = true,
  hsts = "max-age=31536000; includeSubDomains",
}
LUA
head -c 100000 /dev/urandom > "$work/site/public/blob.bin"

out=$("$QUIRE" config check --site "$work/site" 2>&1); status=$?
if grep -q 'built without TLS' <<<"$out"; then echo "tls: skipped (built without TLS)"; exit 77; fi
check "config check passes ($out)" test "$status" = 0
check "config check names the certificates" grep -q 'certificate .*a.test.pem: for a.test, www.a.test (the default)' <<<"$out"
cp "$certs/b.test.key" "$work/b.key.saved"; cp "$certs/a.test.key" "$certs/b.test.key"
out=$("$QUIRE" config check --site "$work/site" 2>&1); status=$?
check "config check: a key that does not match its certificate fails ($status)" test "$status" = 1
check "and says so" grep -q 'does not belong to the certificate' <<<"$out"
cp "$work/b.key.saved" "$certs/b.test.key"

start() {
  "$QUIRE" serve --site "$work/site" --listen 127.0.0.1:0 --workers 2 > "$work/serve.log" 2>&1 &
  master=$!
  waitfor 60 started "$work/serve.log"
  port=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1 | cut -d: -f3)
  tport=$(grep -o 'https://127.0.0.1:[0-9]*' "$work/serve.log" | head -1 | cut -d: -f3)
}
start
check "server started with an HTTPS listener (http $port, https $tport)" test -n "$port" -a -n "$tport"

res=(--cacert "$work/ca.pem" --resolve "a.test:$tport:127.0.0.1" --resolve "www.a.test:$tport:127.0.0.1"
     --resolve "b.test:$tport:127.0.0.1" --resolve "c.test:$tport:127.0.0.1" --resolve "a.test:$port:127.0.0.1")
tcurl() { curl -s "${res[@]}" "$@"; }
subject() { curl -sv -o /dev/null -k "${res[@]}" "$1" 2>&1 | sed -n 's/^\* *subject: //p'; }

# --- requests over TLS
check "GET over HTTPS" test "$(tcurl "https://a.test:$tport/hello")" = hello
check "the certificate's second name" test "$(tcurl "https://www.a.test:$tport/hello")" = hello
check "SNI chooses b.test's certificate (verified by curl)" test "$(tcurl "https://b.test:$tport/hello")" = hello
check "b.test is served its own certificate" grep -q 'CN *= *b.test' <<<"$(subject "https://b.test:$tport/hello")"
check "a.test is served its own certificate" grep -q 'CN *= *a.test' <<<"$(subject "https://a.test:$tport/hello")"
check "an unknown name gets the default certificate" grep -q 'CN *= *a.test' <<<"$(subject "https://c.test:$tport/hello")"
hdrs=$(tcurl -D - -o /dev/null "https://a.test:$tport/hello" | tr -d '\r')
check "HSTS on HTTPS responses" grep -q '^Strict-Transport-Security: max-age=31536000; includeSubDomains$' <<<"$hdrs"
check "request id on HTTPS responses" grep -q '^X-Request-Id: ' <<<"$hdrs"
check "static file over TLS (100 KB, several records)" cmp -s <(tcurl "https://a.test:$tport/blob.bin") "$work/site/public/blob.bin"
head -c 150000 /dev/zero | tr '\0' x > "$work/body.txt"
check "POST body over TLS" grep -q '^150000:xxxx' <<<"$(tcurl --data-binary "@$work/body.txt" "https://a.test:$tport/echo")"
gz=$(tcurl -D - -o "$work/big.gz" -H 'Accept-Encoding: gzip' "https://a.test:$tport/big" | tr -d '\r')
check "gzip over TLS" test "$(gunzip -c "$work/big.gz" | wc -c)" = 12000
reuse=$(tcurl -v -o /dev/null -o /dev/null "https://a.test:$tport/hello" "https://a.test:$tport/big" 2>&1 | grep -c 'Re-using existing connection')
check "keep-alive over TLS" test "$reuse" -ge 1
piped=$(printf 'GET /hello HTTP/1.1\r\nHost: a.test\r\n\r\nGET /missing HTTP/1.1\r\nHost: a.test\r\n\r\nGET /hello HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n' |
  timeout 5 openssl s_client -quiet -connect "127.0.0.1:$tport" -servername a.test -CAfile "$work/ca.pem" 2>/dev/null |
  grep -o 'HTTP/1.1 [0-9]*' | awk '{print $2}' | tr '\n' ' ')
check "pipelining over TLS ($piped)" test "$piped" = "200 404 200 "

# --- protocol and suites: TLS 1.2 with ECDHE + AEAD; nothing older, nothing weaker
s_client() { timeout 5 openssl s_client -connect "127.0.0.1:$tport" -servername a.test "$@" </dev/null 2>&1; }
out=$(s_client)
check "TLS 1.2 negotiated" grep -Eq 'Protocol *: TLSv1\.2' <<<"$out"
check "an ECDHE AEAD suite ($(grep -Eo 'Cipher *: [^ ]*' <<<"$out" | head -1))" grep -Eq 'Cipher *: ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$' <<<"$out"
check "ChaCha20-Poly1305 is offered" grep -Eq 'Cipher *: ECDHE-ECDSA-CHACHA20-POLY1305' <<<"$(s_client -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305)"
check "RSA certificate with ECDHE-RSA-AES256-GCM" grep -Eq 'Cipher *: ECDHE-RSA-AES256-GCM-SHA384' <<<"$(timeout 5 openssl s_client -connect "127.0.0.1:$tport" -servername b.test -tls1_2 -cipher ECDHE-RSA-AES256-GCM-SHA384 </dev/null 2>&1)"
check "CBC suites refused" bash -c "! timeout 5 openssl s_client -connect 127.0.0.1:$tport -servername b.test -tls1_2 -cipher ECDHE-RSA-AES128-SHA </dev/null 2>&1 | grep -Eq 'Cipher *: ECDHE'"
check "non-forward-secret RSA key exchange refused" bash -c "! timeout 5 openssl s_client -connect 127.0.0.1:$tport -servername b.test -tls1_2 -cipher AES128-GCM-SHA256 </dev/null 2>&1 | grep -Eq 'Cipher *: AES'"
check "TLS 1.1 refused by the server (protocol_version alert)" grep -q 'alert protocol version' <<<"$(s_client -tls1_1 -cipher 'DEFAULT@SECLEVEL=0')"

# --- HTTP -> HTTPS
r=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: a.test' "http://127.0.0.1:$port/hello?x=1")
check "plain HTTP redirects to HTTPS ($r)" test "$r" = "301 https://a.test:$tport/hello?x=1"
check "following the redirect works" test "$(tcurl -L "http://a.test:$port/hello")" = hello
r=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data x -H 'Host: a.test' "http://127.0.0.1:$port/echo")
check "a POST is redirected with 308 ($r)" test "$r" = 308
check "ACME challenges stay on HTTP" test "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: a.test' "http://127.0.0.1:$port/.well-known/acme-challenge/abc")" = 404
check "no HSTS over plain HTTP" bash -c "! curl -s -D - -o /dev/null -H 'Host: a.test' http://127.0.0.1:$port/hello | grep -qi '^Strict-Transport'"
check "a redirect needs a sane Host" test "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: a b' "http://127.0.0.1:$port/hello")" = 400

# --- clients that do not speak TLS properly are closed; the workers live on
workers_before=$(pgrep -f "__worker --site $work/site" | sort | tr '\n' ' ')
out=$(curl -s -w ' %{http_code}' --max-time 3 "http://127.0.0.1:$tport/hello")
check "plain HTTP on the TLS port: 400 and close ($out)" grep -q ' 400$' <<<"$out"
exec 5<>/dev/tcp/127.0.0.1/$tport; printf '\x16\x03\x01\x00\x10garbage-garbage!' >&5
t0=$(date +%s%N); timeout 3 cat <&5 >/dev/null; t1=$(date +%s%N); exec 5<&-
check "a broken handshake is closed at once ($(( (t1 - t0) / 1000000 )) ms)" test $(( (t1 - t0) / 1000000 )) -lt 2500
exec 5<>/dev/tcp/127.0.0.1/$tport; head -c 3000 /dev/urandom >&5 2>/dev/null; timeout 3 cat <&5 >/dev/null; exec 5<&-
# 50 clients that start a handshake and stall: closed at the head deadline, others still served
stall=()
for _ in $(seq 50); do exec {fd}<>/dev/tcp/127.0.0.1/$tport && { stall+=("$fd"); printf '\x16\x03' >&"$fd"; }; done
check "served while 50 handshakes stall" test "$(tcurl --max-time 10 "https://a.test:$tport/hello")" = hello
sleep 1.8
closed=0
# (each read ends at the close; the first fd waits until 2.8 s after the stalls began, still
# before the 3 s keep-alive deadline, the later ones longer)
for fd in "${stall[@]}"; do timeout 1 cat <&"$fd" >/dev/null 2>&1 && closed=$((closed + 1)); exec {fd}<&-; done
check "stalled handshakes closed at the deadline ($closed of 50)" test "$closed" = 50
check "still serving HTTPS" test "$(tcurl "https://a.test:$tport/hello")" = hello
check "no worker crashed" test "$(pgrep -f "__worker --site $work/site" | sort | tr '\n' ' ')" = "$workers_before"
check "no crash logged" bash -c "! grep -q 'exited unexpectedly' '$work/serve.log'"

# --- access log: combined format with the request id, reopened on SIGUSR1
rid=$(tcurl -D - -o /dev/null -A 'tls-test/1.0' -e 'https://ref.example/' "https://a.test:$tport/hello" | tr -d '\r' | sed -n 's/^X-Request-Id: //p')
# (a worker writes its access-log lines once per turn of its loop, after the answers went out)
check "access log line with the request id ($rid)" waitfor 10 grep -q "\"GET /hello HTTP/1.1\" 200 5 \"https://ref.example/\" \"tls-test/1.0\" \"$rid\" " "$work/site/logs/access.log"
mv "$work/site/logs/access.log" "$work/site/logs/access.log.1"
kill -USR1 "$master"
# Each worker reopens when it gets to the signal: probes until both workers (the request id
# starts with the pid) have written to the new file; then every request must go there.
both_reopened() {
  tcurl -o /dev/null "https://a.test:$tport/hello?probe"
  [ "$(sed -n 's/.*"\([0-9a-f]*\)-s*[0-9a-f]*" [0-9.]*$/\1/p' "$work/site/logs/access.log" 2>/dev/null | sort -u | wc -l)" -ge 2 ]
}
check "SIGUSR1: both workers write to a new access log" waitfor 30 both_reopened
for _ in 1 2 3 4; do tcurl -o /dev/null "https://a.test:$tport/hello?after-rotation"; done
check "SIGUSR1 reopens the access log" waitfor 10 grep -q 'after-rotation' "$work/site/logs/access.log"
check "nothing more in the rotated file" bash -c "! grep -q 'after-rotation' '$work/site/logs/access.log.1'"

# --- renewed certificates: SIGHUP makes new workers read them; a broken one keeps the old workers
serial() { timeout 5 openssl s_client -connect "127.0.0.1:$tport" -servername a.test </dev/null 2>/dev/null | openssl x509 -noout -serial; }
old=$(serial)
issue a.test ec:<(openssl ecparam -name prime256v1) "DNS:a.test,DNS:www.a.test"
new=$(openssl x509 -noout -serial -in "$certs/a.test.pem")
check "a new certificate was issued ($old -> $new)" test -n "$old" -a "$old" != "$new"
check "the old one is served until the reload" test "$(serial)" = "$old"
check "reloaded, the old workers gone" reload_site "$work/serve.log" 2
check "renewed certificate served after SIGHUP ($(serial))" test "$(serial)" = "$new"
check "and it verifies" test "$(tcurl "https://a.test:$tport/hello")" = hello
cp "$certs/b.test.pem" "$work/b.pem.saved"; echo "not a certificate" > "$certs/b.test.pem"
kill -HUP "$master"
check "a broken certificate fails the reload" waitfor 30 grep -q 'reload failed: cannot read the certificate .*b.test.pem' "$work/serve.log"
check "the running workers keep serving HTTPS" test "$(tcurl "https://b.test:$tport/hello")" = hello
cp "$work/b.pem.saved" "$certs/b.test.pem"

# --- drain and exit
kill -TERM "$master"; wait "$master"; status=$?; master=""
check "clean exit ($status)" test "$status" = 0
check "workers gone" test "$(pgrep -f "__worker --site $work/site" | wc -l)" = 0

finish
