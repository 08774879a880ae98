"""KCL-style lease table in DynamoDB: one item per shard, keyed `leaseKey` (the shard id), with
`checkpoint` (a sequence number, or TRIM_HORIZON / LATEST / AT_TIMESTAMP before the first
checkpoint, or SHARD_END), `checkpointSubSequenceNumber`, `leaseOwner`, `leaseCounter` and
`parentShardIds`, as the Java KCL keeps them, so the same table shape serves both."""

from __future__ import annotations

from typing import Any

SHARD_END = "SHARD_END"


class LeaseLost(Exception):
    pass


class LeaseTable:
    def __init__(self, ddb: Any, name: str) -> None:
        self.ddb = ddb
        self.name = name

    def ensure(self) -> None:
        try:
            self.ddb.describe_table(TableName=self.name)
        except self.ddb.exceptions.ResourceNotFoundException:
            self.ddb.create_table(
                TableName=self.name,
                KeySchema=[{"AttributeName": "leaseKey", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "leaseKey", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            self.ddb.get_waiter("table_exists").wait(
                TableName=self.name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50}
            )

    def get(self, shard: str) -> dict[str, Any] | None:
        item = self.ddb.get_item(
            TableName=self.name, Key={"leaseKey": {"S": shard}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        return {
            "checkpoint": item["checkpoint"]["S"],
            "owner": item.get("leaseOwner", {}).get("S"),
            "counter": int(item.get("leaseCounter", {}).get("N", "0")),
            "parents": item.get("parentShardIds", {}).get("SS", []),
        }

    def checkpoint_of(self, shard: str) -> str | None:
        lease = self.get(shard)
        return lease["checkpoint"] if lease else None

    def take(self, shard: str, owner: str, initial: str, parents: list[str]) -> str:
        """Own the shard's lease (creating it at `initial`); returns its checkpoint."""
        lease = self.get(shard)
        if lease is None:
            item: dict[str, Any] = {
                "leaseKey": {"S": shard},
                "checkpoint": {"S": initial},
                "checkpointSubSequenceNumber": {"N": "0"},
                "leaseOwner": {"S": owner},
                "leaseCounter": {"N": "1"},
                "ownerSwitchesSinceCheckpoint": {"N": "0"},
            }
            if parents:
                item["parentShardIds"] = {"SS": parents}
            self.ddb.put_item(TableName=self.name, Item=item)
            return initial
        self.ddb.update_item(
            TableName=self.name,
            Key={"leaseKey": {"S": shard}},
            UpdateExpression="SET leaseOwner = :o, leaseCounter = leaseCounter + :one",
            ExpressionAttributeValues={":o": {"S": owner}, ":one": {"N": "1"}},
        )
        return str(lease["checkpoint"])

    def checkpoint(self, shard: str, owner: str, value: str) -> None:
        try:
            self.ddb.update_item(
                TableName=self.name,
                Key={"leaseKey": {"S": shard}},
                UpdateExpression="SET #c = :c, checkpointSubSequenceNumber = :z, "
                "ownerSwitchesSinceCheckpoint = :z",
                ConditionExpression="leaseOwner = :o",
                ExpressionAttributeNames={"#c": "checkpoint"},
                ExpressionAttributeValues={
                    ":c": {"S": value},
                    ":z": {"N": "0"},
                    ":o": {"S": owner},
                },
            )
        except self.ddb.exceptions.ConditionalCheckFailedException:
            raise LeaseLost(shard) from None
