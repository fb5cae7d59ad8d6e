#!/usr/bin/env bash
# The programs the test suite runs besides Node, installed with Debian's apt-get when missing
# (as root, or through sudo without a password); `pnpm test` and .ci/run call it first. Where it
# cannot install (another system, no rights), it names what is missing and the suite still runs:
# the tests that need it fail (the compose file's check is skipped).
set -euo pipefail

# Each program, and the Debian package that provides it.
PROGRAMS=(
  "redis-server redis-server"              # every test's Redis (test/support/global-setup.ts)
  "/usr/bin/chromium chromium"             # the dashboards, in a real browser (playwright-core)
  "tmux tmux"                              # the CLI's terminal test types into a real terminal
  "prometheus prometheus"                  # the observability tests' real Prometheus
  "promtool prometheus"                    # and its rule checks
  "/usr/share/fonts/truetype/dejavu fonts-dejavu-core" # OCR test images render text with DejaVu
  "perf linux-perf"                        # the bench's profile by owner, on a real process
  "docker-compose docker-compose"          # the compose file's `config` check (no engine starts)
)

present() {
  case "$1" in
    /*) [ -e "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

missing=()
for entry in "${PROGRAMS[@]}"; do
  read -r program package <<<"$entry"
  present "$program" || missing+=("$package")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
# One package may provide several programs.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}
if ! command -v apt-get >/dev/null 2>&1 || ! as_root true 2>/dev/null; then
  echo "test-deps: missing ${missing[*]}; the tests that need them will fail." >&2
  echo "test-deps: on Debian or Ubuntu: sudo apt-get install -y ${missing[*]}" >&2
  exit 0
fi
echo "test-deps: installing ${missing[*]} (apt-get)"
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
