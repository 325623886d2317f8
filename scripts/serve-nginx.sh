#!/bin/bash
# Serve a directory (an OSTree repository, say) with nginx on 127.0.0.1, as
# a plain static web server: what real OSTree servers are.
#
#   scripts/serve-nginx.sh start DIR STATE    prints the URL, e.g. http://127.0.0.1:41234
#   scripts/serve-nginx.sh stop STATE
#
# STATE is a directory of the caller's for nginx's configuration, pid file
# and logs (STATE/access.log records every request with its status, bytes
# sent and Range header). The port is picked free by the kernel. Only ever
# listens on the loopback address. NGINX_LIMIT_RATE=N (bytes per second, per
# response; nginx suffixes k and m work) slows responses down, for tests
# that interrupt a download half way. NGINX_TLS=DIR serves HTTPS with
# DIR/server.crt and DIR/server.key (the URL then starts with https://), and
# when DIR/client-ca.crt exists, asks every client for a certificate that CA
# signed (a request without one gets 400).
set -euo pipefail

die() { echo "serve-nginx.sh: $*" >&2; exit 1; }

NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {
  local dir state port user_line="" listen_opts="" tls_lines="" scheme=http
  dir=$(cd "$1" && pwd) || die "no such directory: $1"
  mkdir -p "$2"
  state=$(cd "$2" && pwd)
  [ -x "$NGINX" ] || die "nginx not found (apt-get install nginx-light)"
  # nginx started as root serves as 'nobody' unless told otherwise, and
  # repositories made by root are often not readable by nobody.
  [ "$(id -u)" = 0 ] && user_line="user root;"
  if [ -n "${NGINX_TLS:-}" ]; then
    local tls
    tls=$(cd "$NGINX_TLS" && pwd) || die "no such directory: $NGINX_TLS"
    listen_opts=" ssl"
    scheme=https
    tls_lines="ssl_certificate $tls/server.crt; ssl_certificate_key $tls/server.key;"
    if [ -e "$tls/client-ca.crt" ]; then
      tls_lines="$tls_lines ssl_client_certificate $tls/client-ca.crt; ssl_verify_client on;"
    fi
  fi
  local tries=0
  while :; do
    port=$(free_port)
    cat >"$state/nginx.conf" <<EOF
$user_line
worker_processes 2;
pid $state/nginx.pid;
error_log $state/error.log;
events { worker_connections 1024; }
http {
  default_type application/octet-stream;
  log_format ranges '\$remote_addr "\$request" \$status \$body_bytes_sent "\$http_range"';
  access_log $state/access.log ranges;
  client_body_temp_path $state/tmp-body;
  proxy_temp_path $state/tmp-proxy;
  fastcgi_temp_path $state/tmp-fastcgi;
  uwsgi_temp_path $state/tmp-uwsgi;
  scgi_temp_path $state/tmp-scgi;
  sendfile on;
  keepalive_requests 100000;
  limit_rate ${NGINX_LIMIT_RATE:-0};
  server {
    listen 127.0.0.1:$port$listen_opts;
    $tls_lines
    root $dir;
  }
}
EOF
    if "$NGINX" -p "$state" -c "$state/nginx.conf" 2>"$state/start.err"; then
      break
    fi
    tries=$((tries + 1))
    # Someone took the port between our probe and nginx's bind: again.
    [ $tries -lt 5 ] && grep -q "Address already in use" "$state/start.err" && continue
    cat "$state/start.err" >&2
    die "nginx did not start"
  done
  for _ in $(seq 50); do
    [ -s "$state/nginx.pid" ] && break
    sleep 0.1
  done
  echo "$scheme://127.0.0.1:$port"
}

stop() {
  local state=$1
  [ -s "$state/nginx.pid" ] || return 0
  kill "$(cat "$state/nginx.pid")" 2>/dev/null || true
  for _ in $(seq 50); do
    [ -e "$state/nginx.pid" ] || return 0
    sleep 0.1
  done
}

case "${1:-}" in
  start) [ $# = 3 ] || die "usage: $0 start DIR STATE"; start "$2" "$3" ;;
  stop) [ $# = 2 ] || die "usage: $0 stop STATE"; stop "$2" ;;
  *) die "usage: $0 start DIR STATE | stop STATE" ;;
esac
