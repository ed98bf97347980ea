/**
 * The `systemctl` stand-in the fake VM puts first on its PATH in systemd mode (a bash script, since the VM
 * has no Deno of its own before setup). It keeps what `systemctl` does for this project: `daemon-reload`
 * loads the unit files (and runs `systemd-analyze verify` on each, where Debian's systemd package provides
 * it), `start`/`restart` run the LOADED unit's `ExecStart` with its `WorkingDirectory`, `Environment` and
 * `StandardOutput`/`StandardError=append:` in a fresh environment and a session of its own, and restart it
 * after a failure per `Restart=`/`RestartSec=`; `stop` kills the service's whole process group (systemd kills
 * the cgroup). See tests/fakes/README.md for what is assumed.
 *
 * @module
 */

/** Where the stand-in keeps its state on the VM (loaded units, process groups). */
export const STANDIN_STATE = "/run/systemd-standin";

/** The service's restart loop, `systemd-standin-run-loop PIDFILE RESTART RESTART_SEC COMMAND…`. */
export const RUN_LOOP = `#!/bin/bash
pidfile=$1; restart=$2; sec=$3; shift 3
echo $$ > "$pidfile.tmp" && mv "$pidfile.tmp" "$pidfile"
while :; do
  "$@"
  code=$?
  # systemd counts exit 0 and the clean signals (HUP, INT, PIPE, TERM) as success.
  case $code in 0 | 129 | 130 | 141 | 143) exit 0 ;; esac
  case $restart in on-failure | always | on-abnormal) ;; *) exit "$code" ;; esac
  echo "systemctl stand-in: main process exited with $code; restarting in $sec s" >&2
  sleep "$sec"
done
`;

/** The script itself. */
export const SYSTEMCTL_STANDIN = `#!/bin/bash
# systemctl stand-in of the Morph double (tests/fakes/systemctl_standin.ts).
set -u
state=${STANDIN_STATE}
units=/etc/systemd/system
mkdir -p "$state/loaded"
verb=\${1:-}
unit=\${2:-}

value() { sed -n "s/^$1=//p" "$state/loaded/$unit" | tail -n 1; }

daemon_reload() {
  rm -f "$state/loaded/"*
  for f in "$units"/*.service; do
    [ -f "$f" ] || continue
    grep -q '^ExecStart=/' "$f" || { echo "$f: ExecStart= is missing or not an absolute path" >&2; return 1; }
    if command -v systemd-analyze >/dev/null 2>&1; then
      out=$(systemd-analyze verify "$f" 2>&1) || { echo "systemd-analyze verify $f: $out" >&2; return 1; }
      if printf '%s' "$out" | grep -Eq 'Failed to parse|Unknown key|Unknown section|not executable|Invalid'; then
        echo "systemd-analyze verify $f: $out" >&2
        return 1
      fi
    fi
    cp "$f" "$state/loaded/$(basename "$f")"
  done
}

stop_unit() {
  pg=$(cat "$state/$unit.pgid" 2>/dev/null || true)
  case "$pg" in "" | 0 | 1 | *[!0-9]*) pg="" ;; esac
  if [ -n "$pg" ]; then
    kill -TERM -"$pg" 2>/dev/null || true
    i=0; while kill -0 -"$pg" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL -"$pg" 2>/dev/null || true
  fi
  rm -f "$state/$unit.pgid"
}

start_unit() {
  if [ ! -f "$state/loaded/$unit" ]; then
    if [ -f "$units/$unit" ]; then echo "Unit $unit changed on disk or is new: run 'systemctl daemon-reload'" >&2; fi
    echo "Failed to start $unit: Unit $unit not found." >&2
    return 5
  fi
  if ! cmp -s "$units/$unit" "$state/loaded/$unit"; then
    echo "Warning: The unit file of $unit changed on disk. Run 'systemctl daemon-reload' to reload units." >&2
  fi
  exec_start=$(value ExecStart)
  wd=$(value WorkingDirectory)
  restart=$(value Restart)
  sec=$(value RestartSec)
  out=$(value StandardOutput)
  err=$(value StandardError)
  envs=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8)
  # The double's own network settings and instance marker reach the service as the VM's network would.
  for name in MORPH_FAKE_INSTANCE HTTPS_PROXY HTTP_PROXY NO_PROXY https_proxy http_proxy no_proxy; do
    if [ -n "\${!name:-}" ]; then envs+=("$name=\${!name}"); fi
  done
  while IFS= read -r line; do envs+=("$line"); done < <(sed -n 's/^Environment=//p' "$state/loaded/$unit")
  outfile=/dev/null; errfile=/dev/null
  case "$out" in append:*) outfile=\${out#append:} ;; esac
  case "$err" in append:*) errfile=\${err#append:} ;; esac
  rm -f "$state/$unit.pgid"
  # shellcheck disable=SC2086 # ExecStart is split on spaces, as systemd splits an unquoted command line.
  (cd "\${wd:-/}" && exec env -i "\${envs[@]}" setsid bash /usr/local/sbin/systemd-standin-run-loop "$state/$unit.pgid" "\${restart:-no}" "\${sec:-0.1}" $exec_start) >>"$outfile" 2>>"$errfile" </dev/null &
  i=0; while [ ! -s "$state/$unit.pgid" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  [ -s "$state/$unit.pgid" ] || { echo "Job for $unit failed." >&2; return 1; }
}

case "$verb" in
  daemon-reload) daemon_reload ;;
  enable | disable) [ -f "$units/$unit" ] || { echo "Unit file $unit does not exist." >&2; exit 1; } ;;
  start) start_unit ;;
  stop) stop_unit ;;
  restart) stop_unit; start_unit ;;
  is-active)
    pg=$(cat "$state/$unit.pgid" 2>/dev/null || true)
    if [ -n "$pg" ] && kill -0 -"$pg" 2>/dev/null; then echo active; else echo inactive; exit 3; fi ;;
  *) echo "systemctl stand-in: unsupported verb '$verb'" >&2; exit 1 ;;
esac
`;
