"""Re-exports Bazel 4.2.3's native C/C++ rules as @rules_cc//cc:defs.bzl.

Bazel's own @bazel_tools loads these names; the real rules_cc would be
downloaded, and Debian's bazel-rules-cc is too new for Bazel 4.2.3.
"""

cc_binary = native.cc_binary
cc_import = native.cc_import
cc_library = native.cc_library
cc_proto_library = native.cc_proto_library
cc_test = native.cc_test
cc_toolchain = native.cc_toolchain
cc_toolchain_suite = native.cc_toolchain_suite
objc_library = native.objc_library
