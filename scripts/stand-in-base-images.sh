#!/usr/bin/env bash
# Makes stand-ins for the .NET base images the Dockerfiles name, for a machine that cannot reach their registry:
#   mcr.microsoft.com/dotnet/runtime-deps:10.0   a minimal Debian bookworm (mmdebstrap) with what .NET needs at run
#                                          time, user app (uid 1654): the base of the amd64 image (Dockerfile.amd64, native AOT)
#   mcr.microsoft.com/dotnet/aspnet:10.0   the same root file system + this machine's .NET runtime
#                                          (Microsoft.NETCore.App and Microsoft.AspNetCore.App)
#   mcr.microsoft.com/dotnet/sdk:10.0      the same root file system + this machine's whole .NET SDK, its NuGet
#                                          configuration and its trust store (so a restore reaches the same feed)
# with the environment the real images set (APP_UID, ASPNETCORE_HTTP_PORTS, DOTNET_RUNNING_IN_CONTAINER, ...), so that
# modules/ConnectedRegistry/Dockerfile.amd64 (and .jit) builds unmodified. The images are imported into the Docker engine that
# DOCKER_HOST names (the tests' private dockerd); nothing is pulled.
#
# usage: DOCKER_HOST=unix:///path/docker.sock scripts/stand-in-base-images.sh WORKDIR
# needs: root, mmdebstrap (apt), the docker CLI, the .NET SDK in DOTNET_ROOT (default: where `dotnet` lives).
set -euo pipefail

work=${1:?usage: stand-in-base-images.sh WORKDIR}
docker=${DOCKER:-docker}
dotnet_root=${DOTNET_ROOT:-$(dirname "$(readlink -f "$(command -v dotnet)")")}
suite=${STAND_IN_SUITE:-bookworm}
app_uid=1654

[ "$(id -u)" -eq 0 ] || { echo "stand-in-base-images.sh: needs root (mmdebstrap, file ownership in the images)" >&2; exit 2; }
command -v mmdebstrap >/dev/null || { echo "stand-in-base-images.sh: mmdebstrap not found: apt-get install mmdebstrap" >&2; exit 2; }
[ -x "$dotnet_root/dotnet" ] || { echo "stand-in-base-images.sh: no .NET in $dotnet_root (set DOTNET_ROOT)" >&2; exit 2; }

runtime_version=$(ls "$dotnet_root/shared/Microsoft.NETCore.App" | sort -V | tail -n 1)
aspnet_version=$(ls "$dotnet_root/shared/Microsoft.AspNetCore.App" | sort -V | tail -n 1)
sdk_version=$(ls "$dotnet_root/sdk" | sort -V | tail -n 1)

mkdir -p "$work"
rootfs="$work/rootfs"
if [ ! -f "$rootfs/.complete" ]; then
  rm -rf "$rootfs"
  # minbase: dpkg, apt, coreutils, util-linux (setpriv) and bash; plus what .NET needs at run time. ICU for the SDK
  # (the module itself runs with invariant globalization).
  mmdebstrap --quiet --variant=minbase --include=ca-certificates,libssl3,zlib1g,libicu72,tzdata \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* "$1"/usr/share/man/*' \
    "$suite" "$rootfs"
  # The real images' non-root user: app, uid and gid 1654, home /home/app.
  echo "app:x:$app_uid:" >>"$rootfs/etc/group"
  echo "app:x:$app_uid:$app_uid::/home/app:/bin/sh" >>"$rootfs/etc/passwd"
  echo "app:!:19000::::::" >>"$rootfs/etc/shadow"
  install -d -o "$app_uid" -g "$app_uid" "$rootfs/home/app"
  ln -sf /usr/share/dotnet/dotnet "$rootfs/usr/bin/dotnet"
  touch "$rootfs/.complete"
fi

# Each image's file system: a hard-linked copy of the root file system (cheap) with its own files copied in (never
# through a hard link: --remove-destination replaces a file instead of writing into the root file system's copy).
stage() {
  rm -rf "$work/$1"
  cp -al "$rootfs" "$work/$1"
  rm -f "$work/$1/.complete"
}
stage aspnet
mkdir -p "$work/aspnet/usr/share/dotnet/shared"
for part in dotnet host LICENSE.txt ThirdPartyNotices.txt; do
  [ -e "$dotnet_root/$part" ] && cp -a "$dotnet_root/$part" "$work/aspnet/usr/share/dotnet/"
done
cp -a "$dotnet_root/shared/Microsoft.NETCore.App" "$dotnet_root/shared/Microsoft.AspNetCore.App" "$work/aspnet/usr/share/dotnet/shared/"

stage sdk
cp -a "$dotnet_root" "$work/sdk/usr/share/dotnet"
# The machine's trust store and NuGet configuration: a restore in the build stage reaches the feed this machine does.
cp -aL --remove-destination /etc/ssl/certs/. "$work/sdk/etc/ssl/certs/"
if [ -f "$HOME/.nuget/NuGet/NuGet.Config" ]; then
  mkdir -p "$work/sdk/root/.nuget/NuGet"
  cp "$HOME/.nuget/NuGet/NuGet.Config" "$work/sdk/root/.nuget/NuGet/NuGet.Config"
fi

common_env=(
  --change "ENV APP_UID=$app_uid"
  --change "ENV DOTNET_RUNNING_IN_CONTAINER=true"
  --change "ENV DOTNET_VERSION=$runtime_version"
  --change "ENV ASPNET_VERSION=$aspnet_version"
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

stage runtime-deps
tar --numeric-owner -C "$work/runtime-deps" -c . \
  | "$docker" import "${common_env[@]}" --change "ENV ASPNETCORE_HTTP_PORTS=8080" --change "CMD [\"bash\"]" \
      - mcr.microsoft.com/dotnet/runtime-deps:10.0 >/dev/null

tar --numeric-owner -C "$work/aspnet" -c . \
  | "$docker" import "${common_env[@]}" --change "ENV ASPNETCORE_HTTP_PORTS=8080" --change "CMD [\"bash\"]" \
      - mcr.microsoft.com/dotnet/aspnet:10.0 >/dev/null

sdk_env=(
  --change "ENV ASPNETCORE_HTTP_PORTS=8080"
  --change "ENV DOTNET_SDK_VERSION=$sdk_version"
  --change "ENV DOTNET_USE_POLLING_FILE_WATCHER=true"
  --change "ENV NUGET_XMLDOC_MODE=skip"
  --change "ENV DOTNET_CLI_TELEMETRY_OPTOUT=1"
  --change "ENV DOTNET_NOLOGO=1"
)
# Settings of this machine's own NuGet client that a restore needs here too.
[ -n "${NUGET_CERT_REVOCATION_MODE:-}" ] && sdk_env+=(--change "ENV NUGET_CERT_REVOCATION_MODE=$NUGET_CERT_REVOCATION_MODE")

tar --numeric-owner -C "$work/sdk" -c . \
  | "$docker" import "${common_env[@]}" "${sdk_env[@]}" --change "CMD [\"bash\"]" \
      - mcr.microsoft.com/dotnet/sdk:10.0 >/dev/null

rm -rf "$work/runtime-deps" "$work/aspnet" "$work/sdk"
echo "stand-in base images: mcr.microsoft.com/dotnet/runtime-deps:10.0, mcr.microsoft.com/dotnet/aspnet:10.0 (runtime $runtime_version, ASP.NET Core $aspnet_version), mcr.microsoft.com/dotnet/sdk:10.0 (SDK $sdk_version)"
