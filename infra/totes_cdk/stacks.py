"""All stacks of one environment, wired together."""

from __future__ import annotations

import aws_cdk as cdk

from .capture import CaptureStack
from .config import Config
from .consumers import ConsumersStack
from .governance import GovernanceStack
from .lake import LakeStack
from .load import LoadStack
from .network import NetworkStack
from .observability import ObservabilityStack
from .stream import StreamStack
from .warehouse import WarehouseStack


def define(app: cdk.App, cfg: Config) -> dict[str, cdk.Stack]:
    env = cdk.Environment(account=cfg.account, region=cfg.region)
    name = f"TotesCdc-{cfg.env}"
    net = NetworkStack(app, f"{name}-network", cfg=cfg, env=env)
    stream = StreamStack(app, f"{name}-stream", cfg=cfg, key=net.key, env=env)
    lake = LakeStack(app, f"{name}-lake", cfg=cfg, key=net.key, env=env)
    governance = GovernanceStack(app, f"{name}-governance", cfg=cfg, lake=lake, env=env)
    capture = CaptureStack(
        app, f"{name}-capture", cfg=cfg, vpc=net.vpc, key=net.key, stream=stream.stream, env=env
    )
    consumers = ConsumersStack(
        app, f"{name}-consumers", cfg=cfg, vpc=net.vpc, key=net.key, stream=stream.stream,
        batches=lake.batches, dead_letters=lake.dead_letters, env=env,
    )  # fmt: skip
    warehouse = WarehouseStack(
        app, f"{name}-warehouse", cfg=cfg, vpc=net.vpc, key=net.key, batches=lake.batches, env=env
    )
    load = LoadStack(
        app, f"{name}-load", cfg=cfg, key=net.key, batches=lake.batches, alerts=net.alerts,
        copy_role=warehouse.copy_role, workgroup_name=warehouse.workgroup_name,
        workgroup_arn=warehouse.workgroup_arn, env=env,
    )  # fmt: skip
    observability = ObservabilityStack(
        app, f"{name}-observability", cfg=cfg, alerts=net.alerts, capture=capture,
        consumers=consumers, load=load, env=env,
    )  # fmt: skip
    stacks: list[cdk.Stack] = [
        net, stream, lake, governance, capture, consumers, warehouse, load, observability
    ]  # fmt: skip
    for s in stacks:
        cdk.Tags.of(s).add("project", "totes-cdc")
        cdk.Tags.of(s).add("environment", cfg.env)
    return {s.stack_name: s for s in stacks}
