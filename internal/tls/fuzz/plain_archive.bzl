"""plain_archive: the static archive of a cc_library built without the
sanitizer flags of --config=asan/tsan/ubsan, plus the headers of |headers|,
as runfiles for a libFuzzer target that clang builds outside Bazel
(//tools/fuzz:run_fuzzer.sh) and instruments itself: gcc's sanitizer
runtime cannot be linked next to clang's. Under a sanitizer config the
library is built once more, in its own output directory."""

def _strip_sanitizers(opts):
    return [o for o in opts if "sanitize" not in o]

def _plain_impl(settings, attr):
    return {
        "//command_line_option:copt": _strip_sanitizers(
            settings["//command_line_option:copt"],
        ),
        "//command_line_option:linkopt": _strip_sanitizers(
            settings["//command_line_option:linkopt"],
        ),
    }

_plain = transition(
    implementation = _plain_impl,
    inputs = [
        "//command_line_option:copt",
        "//command_line_option:linkopt",
    ],
    outputs = [
        "//command_line_option:copt",
        "//command_line_option:linkopt",
    ],
)

def _plain_archive_impl(ctx):
    dep = ctx.attr.lib[0]
    archives = []
    for li in dep[CcInfo].linking_context.linker_inputs.to_list():
        for lib in li.libraries:
            a = lib.pic_static_library or lib.static_library
            if a and (not ctx.attr.only or a.basename.startswith(ctx.attr.only)):
                archives.append(a)
    out = ctx.actions.declare_file(ctx.attr.name + ".a")
    if len(archives) != 1:
        fail("expected one archive from %s, got %d" % (ctx.attr.lib, len(archives)))
    ctx.actions.symlink(output = out, target_file = archives[0])
    hdrs = [h[CcInfo].compilation_context.headers for h in ctx.attr.headers]
    files = depset([out], transitive = hdrs)
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(transitive_files = files))]

plain_archive = rule(
    implementation = _plain_archive_impl,
    attrs = {
        "lib": attr.label(cfg = _plain, providers = [CcInfo]),
        "headers": attr.label_list(providers = [CcInfo]),
        # Of |lib|'s archives and its dependencies', only the one whose
        # name starts with this (e.g. "libssl": not libcrypto as well).
        "only": attr.string(),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
)
