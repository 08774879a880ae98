#!/usr/bin/env python3
"""The totes-cdc AWS deployment (AWS CDK, Python).

Through the CDK CLI (from infra/):   npx aws-cdk@2 deploy --all -c env=prod -c sourceHost=...
Without it (offline, what `make synth` does):
    .venv/bin/python infra/app.py [--outdir infra/cdk.out] [-c key=value ...]
Settings: infra/totes_cdk/config.py.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from consumers.errors import StackError  # noqa: E402
from consumers.local.toolchain import find_node  # noqa: E402

# aws_cdk runs its JavaScript core in Node.js through jsii, which starts $JSII_NODE (default
# `node` on PATH) at import: the machine's Node.js, or on a machine without one, PyPI's.
try:
    os.environ["JSII_NODE"] = str(find_node())
except StackError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)

from totes_cdk.config import Config, ConfigError  # noqa: E402


def main() -> int:
    account = os.environ.get("CDK_DEFAULT_ACCOUNT")
    if "CDK_OUTDIR" in os.environ:  # run by the CDK CLI: it passes context and outdir itself
        import aws_cdk as cdk

        app = cdk.App()
    else:
        parser = argparse.ArgumentParser(description="Synthesize the totes-cdc deployment.")
        parser.add_argument("--outdir", default=str(HERE / "cdk.out"))
        parser.add_argument(
            "-c", "--context", action="append", default=[], metavar="KEY=VALUE",
            help="a setting, as `cdk -c` (e.g. env=prod, shardCount=8)",
        )  # fmt: skip
        args = parser.parse_args()
        context = {}
        for item in args.context:
            k, sep, v = item.partition("=")
            if not sep:
                parser.error(f"-c {item}: use KEY=VALUE")
            context[k] = v
        # A bad setting is named before aws_cdk is imported: the import starts Node.js (jsii),
        # 2-3 s of a 2-core machine spent before the error otherwise. These settings are all
        # the context there is outside the CDK CLI, so the check is the same one as below.
        try:
            Config.from_context(context.get, account)
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        import aws_cdk as cdk

        app = cdk.App(outdir=args.outdir, context=context)
    try:
        cfg = Config.from_context(app.node.try_get_context, account)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from totes_cdk.stacks import define

    define(app, cfg)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
