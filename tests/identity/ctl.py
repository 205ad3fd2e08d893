"""echoctl from the identity tests: the raw call, a --json reply's
result, one metric sample read through the admin socket."""

import json
import re

from tests.lib import echod


def echoctl(sock, *args, check=True):
    return echod.run_tool([echod.binary("cmd/echoctl"), "--socket", sock] +
                          list(args), timeout=60, check=check)


def admin(sock, *args):
    """echoctl --json ARGS: the reply's result."""
    reply = json.loads(echoctl(sock, "--json", *args).stdout)
    assert reply["ok"] is True, reply
    return reply["result"]


def metric(sock, name, labels):
    text = admin(sock, "metrics")["text"]
    m = re.search(r"^%s\{%s\} (\S+)$" % (re.escape(name), re.escape(labels)),
                  text, re.M)
    assert m, "no %s{%s} in the metrics" % (name, labels)
    return float(m.group(1))
