#!/bin/sh
# Bazel --workspace_status_command (.bazelrc): the stamp keys of a build.
# Only //internal/version:stamp_h reads them (a genrule with stamp = 1), so
# a new commit recompiles one file and relinks the five tools; nothing else
# is rebuilt. Without git (a tarball, the container builder) the commit is
# "unknown"; this script never fails the build.
cd "$(dirname "$0")/../.." 2>/dev/null || exit 0
commit=$(git rev-parse --short HEAD 2>/dev/null) || commit=
echo "STABLE_ECHOD_COMMIT ${commit:-unknown}"
rev=$(sed -n 's/^revision=\([0-9a-f]\{8\}\).*/\1/p' \
	third_party/boringssl/VERSION 2>/dev/null)
echo "STABLE_ECHOD_BORINGSSL_REVISION ${rev:-unknown}"
exit 0
