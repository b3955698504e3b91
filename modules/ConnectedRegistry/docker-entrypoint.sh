#!/bin/sh
# The image's entry point. Started as root (the image sets no USER) it makes the data volume the app user's and then
# runs the registry as that user, never as root: on a fresh IoT Edge device the engine creates the deployment's bind
# folder itself, owned by root, and a registry started as the app user could not write it. As in well-kept database
# images, only what the app user does not own yet is handed over (nothing on an ordinary restart; links are changed,
# never followed; other file systems mounted below are left alone). Started as any other user (createOptions "User",
# `docker run --user`), it runs the registry as that user and changes nothing.
set -eu

if [ "$(id -u)" = "0" ]; then
  uid="${APP_UID:-1654}"
  for folder in "${REGISTRY_DATA:-/var/lib/connected-registry}" \
                "$(dirname "${REGISTRY_DESIRED:-/var/lib/connected-registry/twin/desired.json}")" \
                "$(dirname "${REGISTRY_REPORTED:-/var/lib/connected-registry/twin/reported.json}")"; do
    if [ -d "$folder" ] && [ "$(stat -c %u "$folder")" != "$uid" ]; then
      # A folder that cannot be changed (read-only, another owner's network share) is left as it is: the registry then
      # names it, and the fix, in its one line at start.
      find "$folder" -xdev ! -user "$uid" -exec chown -h "$uid:$uid" {} + 2>/dev/null || true
    fi
  done
  HOME="$(getent passwd "$uid" | cut -d: -f6)"
  export HOME="${HOME:-/tmp}"
  exec setpriv --reuid="$uid" --regid="$uid" --clear-groups -- "$@"
fi

exec "$@"
