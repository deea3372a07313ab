#!/usr/bin/env bash
# deploy/install.sh — install Zhili from this checkout onto a Debian 12 machine (docs/deploy.md).
#
#   sudo deploy/install.sh --server-name zhili.example.gov.cn \
#        --database-url 'postgresql+psycopg://zhili:PASSWORD@127.0.0.1:5432/zhili'
#
# The real install (no --prefix): Debian packages, the system user `zhili`, a virtualenv in /opt/zhili/venv,
# /etc/zhili/zhili.env (kept when it exists), the key file, /var/lib/zhili, the systemd units and timers, the nginx
# site, logrotate and journald settings, then `zhili db upgrade` and `zhili check`, and the services enabled.
# Running it again upgrades in place (new code, migrations, units; the env file and keys are left alone).
#
# With --prefix DIR everything goes under DIR (DIR/opt/zhili, DIR/etc/zhili, DIR/var/lib/zhili,
# DIR/etc/systemd/system, DIR/etc/nginx, …) with the paths inside the generated files pointing there; no user is
# created, no package installed, nothing started: the CI test (tests/deploy/test_install.py) checks the result.
set -euo pipefail

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOF'
Options:
  --prefix DIR            install under DIR (no user, no packages, no systemctl)
  --python PY             interpreter for the virtualenv (default: python3; with --deps-from: that venv's)
  --deps-from VENV        take the Python dependencies from an existing virtualenv instead of downloading them
                          (CI, offline machines): the new venv sees VENV's packages; zhili itself is copied
  --database-url URL      ZHILI_DATABASE_URL for a new env file (default: empty = SQLite under the var dir)
  --district-code CODE    ZHILI_DISTRICT_CODE for a new env file (default 330522)
  --server-name NAME      nginx server_name (default: this host's FQDN)
  --http-port N / --https-port N   nginx ports (default 80 / 443)
  --listen ADDR           nginx listens on ADDR only (IPv4; default: every address, IPv4 and IPv6)
  --upstream-port N       the app's loopback port (default 8000)
  --workers N             web worker processes (default: the number of cores)
  --max-upload-bytes N    ZHILI_MAX_UPLOAD_BYTES for a new env file (default 10485760)
  --tls-cert F --tls-key F  certificate (full chain) and key (default /etc/ssl/zhili/{fullchain,privkey}.pem;
                          the real install makes a self-signed pair there when they are missing)
  --with-iot              enable zhili-iot.service (the MQTT ingest) too
  --no-db                 skip `zhili db upgrade` and `zhili check`
EOF
}

unset PYTHONPATH PYTHONHOME VIRTUAL_ENV  # the installed copy is what runs, never a checkout on the path
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHECKOUT="$(dirname "$HERE")"
PREFIX="" PYTHON="" DEPS_FROM="" DATABASE_URL="" DISTRICT_CODE=330522 SERVER_NAME="" HTTP_PORT=80 HTTPS_PORT=443
LISTEN="" UPSTREAM_PORT=8000 WORKERS="" MAX_UPLOAD_BYTES=10485760 TLS_CERT="" TLS_KEY="" WITH_IOT=0 NO_DB=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --prefix) PREFIX="$2"; shift 2 ;;
    --python) PYTHON="$2"; shift 2 ;;
    --deps-from) DEPS_FROM="$2"; shift 2 ;;
    --database-url) DATABASE_URL="$2"; shift 2 ;;
    --district-code) DISTRICT_CODE="$2"; shift 2 ;;
    --server-name) SERVER_NAME="$2"; shift 2 ;;
    --http-port) HTTP_PORT="$2"; shift 2 ;;
    --https-port) HTTPS_PORT="$2"; shift 2 ;;
    --listen) LISTEN="$2"; shift 2 ;;
    --upstream-port) UPSTREAM_PORT="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --max-upload-bytes) MAX_UPLOAD_BYTES="$2"; shift 2 ;;
    --tls-cert) TLS_CERT="$2"; shift 2 ;;
    --tls-key) TLS_KEY="$2"; shift 2 ;;
    --with-iot) WITH_IOT=1; shift ;;
    --no-db) NO_DB=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1 (--help)" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { echo "install.sh: $*" >&2; exit 1; }

REAL=1
if [[ -n "$PREFIX" ]]; then
  REAL=0
  mkdir -p "$PREFIX"
  PREFIX="$(cd "$PREFIX" && pwd)"
elif [[ $(id -u) -ne 0 ]]; then
  die "the real install needs root (or use --prefix DIR)"
fi

ROOT="$PREFIX"
APP_DIR="$ROOT/opt/zhili"
CONF_DIR="$ROOT/etc/zhili"
KEY_DIR="$CONF_DIR/keys"
VAR_DIR="$ROOT/var/lib/zhili"
LOG_DIR="$ROOT/var/log/zhili"
BACKUP_DIR="$ROOT/var/backups/zhili"
WAL_ARCHIVE="$ROOT/var/lib/postgresql/wal-archive"
UNIT_DIR="$ROOT/etc/systemd/system"
NGINX_DIR="$ROOT/etc/nginx"
TLS_CERT="${TLS_CERT:-$ROOT/etc/ssl/zhili/fullchain.pem}"
TLS_KEY="${TLS_KEY:-$ROOT/etc/ssl/zhili/privkey.pem}"
WORKERS="${WORKERS:-$(nproc)}"
SERVER_NAME="${SERVER_NAME:-$(hostname -f 2>/dev/null || hostname)}"

# --- packages, user -------------------------------------------------------------------------------------------
if [[ $REAL -eq 1 ]]; then
  say "Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # python3-venv: the virtualenv; nginx, logrotate, openssl: the proxy and its certificate; postgresql-client:
  # pg_dump for `zhili backup`; chromium + fonts-noto-cjk: the 4E PDF report
  apt-get install -y -qq --no-install-recommends python3 python3-venv nginx logrotate openssl postgresql-client \
    chromium fonts-noto-cjk ca-certificates
  if ! id zhili >/dev/null 2>&1; then
    say "system user zhili"
    useradd --system --user-group --home-dir "$VAR_DIR" --no-create-home --shell /usr/sbin/nologin zhili
  fi
fi

# owner[:group] mode path… — chown only on the real install (the prefix belongs to whoever runs the test)
own() { local who="$1" mode="$2"; shift 2; chmod "$mode" "$@"; [[ $REAL -eq 1 ]] && chown "$who" "$@"; return 0; }

say "folders under ${ROOT:-/}"
mkdir -p "$APP_DIR/bin" "$APP_DIR/share/doc" "$APP_DIR/share/postgresql" "$CONF_DIR" "$KEY_DIR" "$VAR_DIR/cache" \
  "$LOG_DIR" "$BACKUP_DIR/daily" "$BACKUP_DIR/keys" "$BACKUP_DIR/base" "$UNIT_DIR" \
  "$NGINX_DIR/sites-available" "$NGINX_DIR/sites-enabled" "$ROOT/etc/logrotate.d" \
  "$ROOT/etc/systemd/journald.conf.d" "$ROOT/usr/local/bin"
own root:zhili 0750 "$CONF_DIR"
own zhili:zhili 0700 "$KEY_DIR"
own zhili:zhili 0750 "$VAR_DIR" "$VAR_DIR/cache" "$BACKUP_DIR/daily" "$BACKUP_DIR/keys"
own zhili:zhili 0711 "$BACKUP_DIR"  # postgres passes through to base/ (zhili-pg-basebackup); no listing for others
own root:adm 0750 "$LOG_DIR"
if [[ $REAL -eq 1 ]] && id postgres >/dev/null 2>&1; then
  mkdir -p "$WAL_ARCHIVE"
  own postgres:postgres 0700 "$WAL_ARCHIVE" "$BACKUP_DIR/base"
fi

# --- the virtualenv -------------------------------------------------------------------------------------------
VENV="$APP_DIR/venv"
if [[ -n "$DEPS_FROM" ]]; then
  [[ -x "$DEPS_FROM/bin/python" ]] || die "--deps-from $DEPS_FROM: no virtualenv there"
  PYTHON="${PYTHON:-$(readlink -f "$DEPS_FROM/bin/python")}"
fi
PYTHON="${PYTHON:-python3}"
say "virtualenv $VENV ($("$PYTHON" -V 2>&1))"
if [[ -n "$DEPS_FROM" ]]; then
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv --without-pip "$VENV"
  site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  deps_site="$("$DEPS_FROM/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  # a plain path line: the other venv's packages come after our own, and its .pth files (an editable install of
  # zhili among them) are not read — so `import zhili` finds the copy below
  echo "$deps_site" > "$site/zz-zhili-deps.pth"
  rm -rf "$site/zhili"
  cp -r "$CHECKOUT/src/zhili" "$site/zhili"
  find "$site/zhili" -name __pycache__ -prune -exec rm -rf {} +
  cat > "$VENV/bin/zhili" <<EOF
#!$VENV/bin/python
import sys
from zhili.cli import app
if __name__ == "__main__":  # the web workers are spawned processes: they import this file again
    sys.exit(app(prog_name="zhili"))
EOF
  chmod 755 "$VENV/bin/zhili"
else
  [[ -x "$VENV/bin/pip" ]] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -c "$CHECKOUT/constraints.txt" "$CHECKOUT"
fi
"$VENV/bin/python" -c 'import zhili' || die "zhili does not import in $VENV"
PY="$VENV/bin/python"

# --- static files: the npm libraries the pages use (zhili.web.assets.VENDOR) ----------------------------------
say "web libraries into $APP_DIR/node_modules"
if [[ ! -d "$CHECKOUT/node_modules" ]]; then
  # the pinned libraries of package-lock.json; on a build machine `npm ci` once, or here with Debian's npm
  [[ $REAL -eq 1 ]] || die "no node_modules in $CHECKOUT: run \`npm ci\` (make install) first"
  command -v npm >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends npm
  (cd "$CHECKOUT" && npm ci --no-audit --no-fund)
fi
VENDOR_LOCATIONS="$("$PY" - "$CHECKOUT/node_modules" "$APP_DIR/node_modules" <<'PY'
import shutil, sys
from pathlib import Path
from zhili.web.assets import VENDOR
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
for lib, (package, folder) in VENDOR.items():
    target = dst / package
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copy2(src / package / "package.json", target / "package.json")
    if folder != ".":
        shutil.copytree(src / package / folder, target / folder)
    else:
        shutil.copytree(src / package, target, dirs_exist_ok=True)
    served = (target / folder).resolve()
    print(f"    location /static/vendor/{lib}/ {{\n        alias {served}/;\n        expires 30d;\n"
          f"        access_log off;\n    }}")
PY
)"
APP_STATIC="$("$PY" -c 'from zhili.web.assets import APP_STATIC; print(APP_STATIC)')"

# --- rendering the templates ------------------------------------------------------------------------------------
# render SRC DST: every @NAME@ replaced by the value of the shell variable NAME (exported to the renderer below);
# a token without a value fails the install
render() {
  "$PY" - "$1" "$2" <<'PY'
import os, re, sys
src, dst = sys.argv[1], sys.argv[2]
text = open(src, encoding="utf-8").read()
missing = sorted({m for m in re.findall(r"@([A-Z][A-Z0-9_]*)@", text) if "T_" + m not in os.environ})
if missing:
    sys.exit(f"render {src}: no value for {', '.join(missing)}")
text = re.sub(r"@([A-Z][A-Z0-9_]*)@", lambda m: os.environ["T_" + m.group(1)], text)
with open(dst, "w", encoding="utf-8") as fh:
    fh.write(text)
PY
}
for v in APP_DIR CONF_DIR KEY_DIR VAR_DIR LOG_DIR BACKUP_DIR WAL_ARCHIVE DATABASE_URL DISTRICT_CODE WORKERS \
         UPSTREAM_PORT MAX_UPLOAD_BYTES SERVER_NAME HTTP_PORT HTTPS_PORT TLS_CERT TLS_KEY APP_STATIC \
         VENDOR_LOCATIONS; do
  export "T_$v=${!v}"
done
export T_HARDENING
T_HARDENING="$(sed "s|@VAR_DIR@|$VAR_DIR|g" "$HERE/systemd/hardening.inc")"

# --- configuration: the env file, the key file, the backup passphrase -------------------------------------------
ENV_FILE="$CONF_DIR/zhili.env"
if [[ -f "$ENV_FILE" ]]; then
  say "keeping $ENV_FILE"
else
  say "writing $ENV_FILE"
  render "$HERE/zhili.env.in" "$ENV_FILE"
fi
own root:zhili 0640 "$ENV_FILE"
# app CMD…: run CMD with the settings of the env file and nothing else from this environment (as the services
# will see them), in the var dir, as the user zhili on the real install
app() {
  local cmd=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$VAR_DIR" LANG=C.UTF-8
             bash -c 'set -a; . "$0"; set +a; cd "$1"; shift; exec "$@"' "$ENV_FILE" "$VAR_DIR" "$@")
  if [[ $REAL -eq 1 ]]; then runuser -u zhili -- "${cmd[@]}"; else "${cmd[@]}"; fi
}

KEY_FILE="$(app "$PY" -c 'from zhili.core.settings import get_settings as g; s = g(); print("" if s.keys else s.effective_key_file)')"
if [[ -n "$KEY_FILE" && ! -f "$KEY_FILE" ]]; then
  say "new key material in $KEY_FILE (back it up: docs/deploy.md \"Backups\")"
  app "$PY" -c 'from zhili.core.settings import get_settings, load_key_material; load_key_material(get_settings())'
fi
PASSPHRASE_FILE="$KEY_DIR/backup-passphrase"
if [[ ! -f "$PASSPHRASE_FILE" ]]; then
  say "backup passphrase in $PASSPHRASE_FILE (write it down offline)"
  (umask 077; openssl rand -base64 32 > "$PASSPHRASE_FILE")
fi
own zhili:zhili 0600 "$PASSPHRASE_FILE"

# --- TLS certificate --------------------------------------------------------------------------------------------
if [[ ! -f "$TLS_CERT" || ! -f "$TLS_KEY" ]]; then
  [[ $REAL -eq 1 ]] || die "--prefix: give --tls-cert and --tls-key (files that exist)"
  say "no certificate: a self-signed one for $SERVER_NAME in $(dirname "$TLS_CERT") — replace it"
  mkdir -p "$(dirname "$TLS_CERT")" "$(dirname "$TLS_KEY")"
  (umask 077; openssl req -x509 -newkey rsa:3072 -nodes -days 365 -subj "/CN=$SERVER_NAME" \
    -addext "subjectAltName=DNS:$SERVER_NAME" -keyout "$TLS_KEY" -out "$TLS_CERT" 2>/dev/null)
fi

# --- systemd units ----------------------------------------------------------------------------------------------
say "systemd units into $UNIT_DIR"
UNITS=()
for t in "$HERE"/systemd/*.service.in "$HERE"/systemd/*.timer; do
  name="$(basename "$t" .in)"
  render "$t" "$UNIT_DIR/$name"
  chmod 0644 "$UNIT_DIR/$name"
  UNITS+=("$name")
done

# --- scripts ----------------------------------------------------------------------------------------------------
for s in zhili-manage zhili-backup zhili-pg-basebackup; do
  render "$HERE/bin/$s.in" "$APP_DIR/bin/$s"
  chmod 0755 "$APP_DIR/bin/$s"
done
cp "$HERE/bin/zhili-keys" "$APP_DIR/bin/zhili-keys"
chmod 0644 "$APP_DIR/bin/zhili-keys"
ln -sfn "$APP_DIR/bin/zhili-manage" "$ROOT/usr/local/bin/zhili-manage"
cp "$CHECKOUT/docs/deploy.md" "$APP_DIR/share/doc/deploy.md"

# --- nginx ------------------------------------------------------------------------------------------------------
say "nginx site $NGINX_DIR/sites-available/zhili.conf"
MARGIN=$((256 * 1024))  # zhili.http.bodylimit.MARGIN: multipart framing around a file
max_upload="$(app "$PY" -c 'from zhili.core.settings import get_settings; print(get_settings().max_upload_bytes)')"
# the largest body an ordinary route takes (zhili.http.bodylimit; the CI test checks these against the app):
# three photos on one form (PHOTO_LIMIT × ZHILI_MAX_UPLOAD_BYTES), an IoT device list (20 MiB), a GeoJSON boundary
general=$((3 * max_upload + MARGIN))
for n in $((20 * 1024 * 1024 + MARGIN)) $((8 * 1024 * 1024)); do (( n > general )) && general=$n; done
T_CLIENT_MAX_BODY="$general"
# the data hub's file imports take up to 1 GiB (zhili.datahub.imports.UPLOAD_LIMIT): streamed to the app
# unbuffered, with time for a slow link
hub=$((1024 * 1024 * 1024 + MARGIN))
T_LARGE_UPLOAD_LOCATIONS=""
for path in /api/v1/hub/imports /console/hub/imports/new; do
  T_LARGE_UPLOAD_LOCATIONS+="    location = $path {
        client_max_body_size $hub;
        client_body_timeout 300s;
        proxy_request_buffering off;
        proxy_send_timeout 600s;
        proxy_read_timeout 600s;
        proxy_pass http://zhili_app;
    }
"
done
T_UPSTREAM_HOST=127.0.0.1
if [[ -n "$LISTEN" ]]; then T_LISTEN_PREFIX="$LISTEN:"; else T_LISTEN_PREFIX=""; fi
if [[ "$HTTPS_PORT" == 443 ]]; then T_HTTPS_PORT_SUFFIX=""; else T_HTTPS_PORT_SUFFIX=":$HTTPS_PORT"; fi
export T_CLIENT_MAX_BODY T_LARGE_UPLOAD_LOCATIONS T_UPSTREAM_HOST T_LISTEN_PREFIX T_HTTPS_PORT_SUFFIX
SITE="$NGINX_DIR/sites-available/zhili.conf"
render "$HERE/nginx/zhili.conf.in" "$SITE"
[[ -n "$LISTEN" ]] && sed -i '/# ipv6$/d' "$SITE"
ln -sfn "$SITE" "$NGINX_DIR/sites-enabled/zhili.conf"

# --- logs, PostgreSQL settings ----------------------------------------------------------------------------------
render "$HERE/logrotate/zhili.in" "$ROOT/etc/logrotate.d/zhili"
chmod 0644 "$ROOT/etc/logrotate.d/zhili"
cp "$HERE/journald/zhili.conf" "$ROOT/etc/systemd/journald.conf.d/zhili.conf"
render "$HERE/postgresql/zhili.conf" "$APP_DIR/share/postgresql/zhili.conf"
cp "$HERE/postgresql/autovacuum.sql" "$APP_DIR/share/postgresql/autovacuum.sql"

# --- the database -----------------------------------------------------------------------------------------------
if [[ $NO_DB -eq 0 ]]; then
  say "zhili db upgrade, zhili check"
  app "$VENV/bin/zhili" db upgrade
  app "$VENV/bin/zhili" check
fi

# --- start ------------------------------------------------------------------------------------------------------
if [[ $REAL -eq 1 ]]; then
  rm -f /etc/nginx/sites-enabled/default  # Debian's placeholder site would answer on port 80 as default_server
  nginx -t
  if [[ -d /run/systemd/system ]]; then
    say "enabling the services"
    systemctl daemon-reload
    systemctl restart systemd-journald || true
    systemctl enable --now zhili-web.service zhili-backup.timer zhili-audit-anchor.timer
    systemctl restart zhili-web.service
    [[ $WITH_IOT -eq 1 ]] && systemctl enable --now zhili-iot.service && systemctl restart zhili-iot.service
    if [[ "$(app "$PY" -c 'from zhili.core.settings import get_settings as g; print(g().effective_database_url)')" == postgresql* ]] \
       && id postgres >/dev/null 2>&1; then
      systemctl enable --now zhili-pg-basebackup.timer
    fi
    systemctl reload nginx || systemctl restart nginx
  else
    echo "systemd is not running: start the services yourself (docs/deploy.md)"
  fi
fi
say "done: ${UNITS[*]}"
