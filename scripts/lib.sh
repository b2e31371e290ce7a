# Shared by the project's scripts (sourced, not run).

# ensure_command CMD PACKAGE [APT_FLAGS...]: installs Debian's PACKAGE when CMD is not on PATH.
ensure_command() {
  local cmd=$1 pkg=$2
  shift 2
  command -v "$cmd" >/dev/null 2>&1 && return 0
  echo "$(basename "$0"): installing $pkg"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" "$pkg" >/dev/null
}
