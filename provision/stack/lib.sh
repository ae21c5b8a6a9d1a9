# Shared by the stack scripts: idempotent installs that say what they changed.
# shellcheck shell=bash
changed=()

# install_file SRC DEST MODE: copy SRC to DEST unless identical; records a change.
install_file() {
  local src=$1 dest=$2 mode=$3
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
    return 1
  fi
  install -D -m "$mode" "$src" "$dest"
  changed+=("$dest")
}

# ensure_service NAME RESTART: enable and start a systemd unit; restart it when RESTART=yes.
ensure_service() {
  local name=$1 restart=$2
  systemctl daemon-reload
  if ! systemctl is-enabled --quiet "$name"; then
    systemctl enable --quiet "$name"
    changed+=("enabled $name")
  fi
  if [ "$restart" = yes ] && systemctl is-active --quiet "$name"; then
    systemctl restart "$name"
    changed+=("restarted $name")
  elif ! systemctl is-active --quiet "$name"; then
    systemctl start "$name"
    changed+=("started $name")
  fi
}

# report COMPONENT VERSION: one line, "changed: ..." or "unchanged".
report() {
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
  tmp=$(mktemp -d)
  case "$artifact" in
    *.zip) python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])' \
             "$artifact" "$name" "$tmp" ;;
    # Only the binary: the package's other dependencies (pipexec for its init script) are not needed.
    *.deb) dpkg-deb --fsys-tarfile "$artifact" | tar -x -C "$tmp" --strip-components=3 "./usr/bin/$name" ;;
    *) echo "binary_from: unknown artifact type $artifact" >&2; return 2 ;;
  esac
  local rc=0
  install_file "$tmp/$name" "$dest" 0755 || rc=$?
  rm -rf "$tmp"
  return "$rc"
}
