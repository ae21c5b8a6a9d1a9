# Shared by the stack scripts: idempotent installs that say what they changed.
# shellcheck shell=bash disable=SC2034
# ($installed is read by the scripts that source this file.)
# The helpers are called as plain commands and exit on any failure themselves: bash ignores
# `set -e` inside a function called from `&&`, `||` or `if`, so their result is reported in
# $installed, never through their exit status.
changed=()
installed=no

# install_file SRC DEST MODE: copy SRC to DEST unless identical; sets installed=yes|no.
install_file() {
  local src=$1 dest=$2 mode=$3
  installed=no
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
    return 0
  fi
  install -D -m "$mode" "$src" "$dest" || exit 1
  changed+=("$dest")
  installed=yes
}

# ensure_service NAME RESTART: enable and start a systemd unit; restart it when RESTART=yes.
ensure_service() {
  local name=$1 restart=$2
  systemctl daemon-reload || exit 1
  if ! systemctl is-enabled --quiet "$name"; then
    systemctl enable --quiet "$name" || exit 1
    changed+=("enabled $name")
  fi
  if [ "$restart" = yes ] && systemctl is-active --quiet "$name"; then
    systemctl restart "$name" || exit 1
    changed+=("restarted $name")
  elif ! systemctl is-active --quiet "$name"; then
    systemctl start "$name" || exit 1
    changed+=("started $name")
  fi
}

# report COMPONENT VERSION: one line, "changed: ..." or "unchanged".
report() {
  [ -n "$2" ] || { echo "$1: installed, but it reports no version" >&2; exit 1; }
  mkdir -p /etc/nomad-weave-lab/installed
  echo "$2" >"/etc/nomad-weave-lab/installed/$1"
  if [ ${#changed[@]} -eq 0 ]; then
    echo "$1 $2: unchanged"
  else
    echo "$1 $2: changed: ${changed[*]}"
  fi
}

# binary_from ARTIFACT NAME DEST: install the NAME binary found in a .zip or .deb artifact.
binary_from() {
  local artifact=$1 name=$2 dest=$3 tmp
  tmp=$(mktemp -d) || exit 1
  case "$artifact" in
    # Python's zipfile drops the member's Unix mode on extract (HashiCorp's zips store 0755);
    # restore it, as unzip would, so the -x check below means what it says.
    *.zip) python3 -c 'import os, sys, zipfile
archive, name, dest = sys.argv[1:]
with zipfile.ZipFile(archive) as z:
    if name in z.namelist():
        member = z.getinfo(name)
        os.chmod(z.extract(member, dest), (member.external_attr >> 16) & 0o7777 or 0o644)' \
             "$artifact" "$name" "$tmp" || exit 1 ;;
    # Only the binary: the package's other dependencies (pipexec for its init script) are not needed.
    *.deb) dpkg-deb --fsys-tarfile "$artifact" | tar -x -C "$tmp" --strip-components=3 "./usr/bin/$name" || exit 1 ;;
    *) echo "binary_from: unknown artifact type $artifact" >&2; exit 2 ;;
  esac
  [ -f "$tmp/$name" ] || { echo "binary_from: no $name in $artifact" >&2; exit 1; }
  [ -x "$tmp/$name" ] || { echo "binary_from: $name in $artifact is not executable" >&2; exit 1; }
  install_file "$tmp/$name" "$dest" 0755
  rm -rf "$tmp"
}
