"""Checkov suppressions, in code, each with its reason: checkov reads
`Metadata.checkov.skip` of a CloudFormation resource."""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import IConstruct


def skip(construct: IConstruct, check: str, reason: str) -> None:
    """Suppress checkov `check` on `construct` (an L1 resource or an L2 with a default child)."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate")
    meta = resource.get_metadata("checkov") or {"skip": []}
    meta["skip"].append({"id": check, "comment": reason})
    resource.add_metadata("checkov", meta)
