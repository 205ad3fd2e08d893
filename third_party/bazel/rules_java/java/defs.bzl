"""Re-exports Bazel 4.2.3's native Java rules as @rules_java//java:defs.bzl.

Only @bazel_tools loads these; echod has no Java. Offline stand-in.
"""

java_binary = native.java_binary
java_import = native.java_import
java_library = native.java_library
java_proto_library = native.java_proto_library
java_runtime = native.java_runtime
java_test = native.java_test
java_toolchain = native.java_toolchain
