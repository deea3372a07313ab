#!/usr/bin/env bash
# Make sure an MQTT broker answers at 127.0.0.1:1883 for the IoT tests and the simulator (docs/iot.md): if nothing
# listens there, start the packaged Mosquitto (installed from deploy/apt-packages.txt) — through systemd when it
# runs, else as a daemon with the packaged configuration, else with a minimal local one — and wait up to 10 s.
# Fails (never skips) when no broker comes up.
set -uo pipefail
host=127.0.0.1
port="${ZHILI_TEST_MQTT_PORT:-1883}"

up() { (exec 3<>"/dev/tcp/${host}/${port}") 2>/dev/null; }

up && exit 0
if ! command -v mosquitto >/dev/null 2>&1; then
  echo "mosquitto is not installed (deploy/install-apt.sh deploy/apt-packages.txt installs it)" >&2
  exit 1
fi
SUDO=""
[[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1 && SUDO="sudo -n"
if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
  $SUDO systemctl start mosquitto 2>/dev/null || true
fi
if ! up && [[ -f /etc/mosquitto/mosquitto.conf ]]; then
  $SUDO mkdir -p /run/mosquitto 2>/dev/null && $SUDO chown mosquitto: /run/mosquitto 2>/dev/null
  $SUDO mosquitto -d -c /etc/mosquitto/mosquitto.conf 2>/dev/null || true
fi
if ! up; then  # no packaged configuration usable: a local, anonymous, loopback-only broker for the tests
  conf="${TMPDIR:-/tmp}/zhili-mosquitto.conf"
  printf 'listener %s %s\nallow_anonymous true\npersistence false\n' "$port" "$host" > "$conf"
  mosquitto -d -c "$conf" || true
fi
for _ in $(seq 1 20); do
  up && exit 0
  sleep 0.5
done
echo "no MQTT broker at ${host}:${port} — the IoT tests cannot run" >&2
exit 1
