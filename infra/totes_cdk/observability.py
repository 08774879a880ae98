"""Observability: alarms on every stage, all to the alert topic, and one dashboard.

| alarm | metric | breaches when |
|---|---|---|
| capture latency | AWS/DMS CDCLatencySource, CDCLatencyTarget | > 60 s for 5 minutes |
| consumers behind | AWS/Kinesis GetRecords.IteratorAgeMilliseconds (max) | > iteratorAgeAlarmSeconds for 5 min |
| dead letters | TotesCdc/DeadLetters (metric filter on the consumers' log) | any in 5 minutes |
| load failures | AWS/States ExecutionsFailed of the load state machine | any in 5 minutes |
| table load failures | TotesCdc/FailedTableLoads (the commit Lambda, EMF): a table failing while the others load | any in 5 minutes |
| quarantined batches | TotesCdc/QuarantinedBatches (the commit Lambda, EMF): a batch refused for its data | any in 5 minutes |
| warehouse freshness | TotesCdc/OldestPendingBatchSeconds (the planner, EMF) | > freshnessAlarmSeconds, or no data |

DMS task metrics are dimensioned by the task's resource id, the last field of its ARN.
"""

from __future__ import annotations

from aws_cdk import Duration, Fn, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from .capture import CaptureStack
from .config import Config
from .consumers import ConsumersStack
from .load import LoadStack

FIVE_MINUTES = Duration.minutes(5)


class ObservabilityStack(Stack):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        cfg: Config,
        alerts: sns.ITopic,
        capture: CaptureStack,
        consumers: ConsumersStack,
        load: LoadStack,
        **kw: object,
    ) -> None:
        super().__init__(scope, cid, **kw)  # type: ignore[arg-type]
        task_id = Fn.select(6, Fn.split(":", capture.task.ref))
        dms_dims = {
            "ReplicationInstanceIdentifier": f"{cfg.prefix}-capture",
            "ReplicationTaskIdentifier": task_id,
        }
        dms_source = cw.Metric(
            namespace="AWS/DMS", metric_name="CDCLatencySource", dimensions_map=dms_dims,
            statistic="Maximum", period=Duration.minutes(1),
        )  # fmt: skip
        dms_target = cw.Metric(
            namespace="AWS/DMS", metric_name="CDCLatencyTarget", dimensions_map=dms_dims,
            statistic="Maximum", period=Duration.minutes(1),
        )  # fmt: skip
        failed = load.state_machine.metric_failed(statistic="Sum", period=FIVE_MINUTES)
        freshness = cw.Metric(
            namespace="TotesCdc", metric_name="OldestPendingBatchSeconds",
            statistic="Maximum", period=Duration.minutes(1),
        )  # fmt: skip
        table_failed, quarantined = (
            cw.Metric(namespace="TotesCdc", metric_name=name, statistic="Sum", period=FIVE_MINUTES)
            for name in ("FailedTableLoads", "QuarantinedBatches")
        )
        self.alarms = [
            self._alarm("CaptureSourceLatency", dms_source, 60, 5, "DMS is behind the source"),
            self._alarm("CaptureTargetLatency", dms_target, 60, 5, "DMS is behind writing Kinesis"),
            self._alarm(
                "ConsumersBehind", consumers.iterator_age, cfg.iteratorAgeAlarmSeconds * 1000, 5,
                "the KCL consumers are behind the stream",
            ),
            self._alarm(
                "DeadLetters", consumers.dead_letter_count, 0, 1,
                "records were dead-lettered: see the dead-letter bucket",
            ),
            self._alarm("LoadFailures", failed, 0, 1, "a warehouse load failed: see the topic"),
            self._alarm(
                "TableLoadFailures", table_failed, 0, 1,
                "a table's load failed (the others go on; it is retried): see the topic",
            ),
            self._alarm(
                "QuarantinedBatches", quarantined, 0, 1,
                "a batch was quarantined for its data: see quarantine/ in the batch bucket",
            ),
            self._alarm(
                "WarehouseFreshness", freshness, cfg.freshnessAlarmSeconds, 5,
                "batches wait too long to be loaded, or the planner stopped running",
                missing=cw.TreatMissingData.BREACHING,
            ),
        ]  # fmt: skip
        for alarm in self.alarms:
            alarm.add_alarm_action(actions.SnsAction(alerts))
            alarm.add_ok_action(actions.SnsAction(alerts))

        dash = cw.Dashboard(self, "Dashboard", dashboard_name=f"{cfg.prefix}")
        dash.add_widgets(
            cw.GraphWidget(title="DMS CDC latency (s)", left=[dms_source, dms_target]),
            cw.GraphWidget(title="Consumers: iterator age (ms)", left=[consumers.iterator_age]),
            cw.GraphWidget(title="Warehouse: oldest pending batch (s)", left=[freshness]),
        )
        dash.add_widgets(
            cw.GraphWidget(title="Dead letters", left=[consumers.dead_letter_count]),
            cw.GraphWidget(
                title="Loads",
                left=[
                    load.state_machine.metric_succeeded(period=FIVE_MINUTES),
                    failed,
                    table_failed,
                    quarantined,
                ],
            ),
            cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms),
        )

    def _alarm(
        self,
        cid: str,
        metric: cw.IMetric,
        threshold: float,
        periods: int,
        what: str,
        missing: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING,
    ) -> cw.Alarm:
        return cw.Alarm(
            self,
            cid,
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=missing,
            alarm_description=f"totes-cdc: {what}",
        )
